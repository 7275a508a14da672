/* Quantized matrix-vector (decode) and matrix-matrix (prefill) products, computed the way ggml's
 * CPU backend computes them: the activation row is converted to the weight type's vec_dot_type
 * (quants.c), then each weight row is dotted with it block by block.
 *
 * Layout: dot kernels per weight type and ISA (scalar, AVX2, AVX512-VNNI, AVX-512), a dispatch
 * table, the row-parallel drivers run on the thread pool, and the checked entry points.
 *
 * Every kernel computes, per block, an exact integer dot product of the weight quants with the
 * activation quants and scales it in float32 (ggml's vec_dot formulas). For the K-quants and
 * IQ4_XS the integer sums of a whole 256-block, already weighted by the 6/8-bit sub-block
 * scales, stay in int32 and are scaled once; offsets (Q2_K/Q4_K/Q5_K mins, Q3_K's -4, Q6_K's
 * -32) are applied through the activation's bsums, so the SIMD inner loops multiply unsigned
 * quants only. Only the float accumulation order differs between ISAs (~1e-7 of sum |w*a|).
 *
 * Design notes (measured in native/dev/bench_matvec_q.c):
 *   - Batch 1 is memory-bound once the kernel keeps up with DRAM. The plain per-block loop spent
 *     most of its time on two fp16->f32 conversions, a multiply and a broadcast per 32 elements,
 *     so Q4_0/Q8_0/Q5_0/IQ4_NL reduce eight blocks' int32 sums into one vector and scale them with
 *     one multiply; the activation scales (as float) and quant sums sit in side arrays after the
 *     ggml blocks in the work buffer. Q4_0 then multiplies unsigned nibbles and subtracts
 *     8 * sum(a), with no sign fix-ups.
 *   - At the AVX-512 level a CPU with AVX512-VNNI runs Q4_0 and Q8_0 through the row-interleaved
 *     tile kernels (16 rows x up to 8 tokens, 512-bit, see "Row-interleaved tiles" below) for
 *     matvec and matmul alike: the weights are transposed in registers so that no horizontal
 *     reduction is needed, and prefill reuses each transposed block for 8 tokens. In cache, one
 *     thread, 2048 x 2048 x 64 tokens: 54 GMAC/s with the 4-token reduce-per-block kernels below,
 *     145-180 GMAC/s with the tiles (CPU time; the development box was shared). Their per-row
 *     float order (one fma per block) differs from the eight-block kernels', so at that level
 *     results differ from the AVX2 level by float rounding only.
 *   - Otherwise (AVX2, or AVX-512 without VNNI) Q4_0/Q8_0 run the eight-block kernels, matmul
 *     through the four-token kernels. The 512-bit block kernels written first (two 32-blocks, or two 64-element K-quant
 *     chunks, per register) were slower on the development machine (AMD EPYC, AVX-512) than the
 *     256-bit eight-block / scales-in-registers kernels that replaced them, so the quantized
 *     types run 256-bit code at the AVX-512 level; the float types (F32, F16, BF16) use 512-bit
 *     kernels.
 *   - Packed Q4_0 / Q8_0 (llmj_matmul_q_pack, at load): the tiles' transposed form stored once, so
 *     the kernels load 64-byte vectors with no inserts, shuffles or scale gathers. Decode (one token)
 *     reads PGROUPS = 4 groups of 16 rows side by side: one group is one sequential stream, and a
 *     single core did not keep enough DRAM reads in flight for it (software prefetch at 0.5-8 KiB
 *     ahead, to L1 or L2, gained little); with 4 streams, one thread, weights from DRAM, llama-1b
 *     shapes, the shared box at load ~1: Q4_0 23-33 GB/s (unpacked tiles 13-20), Q8_0 31-36 GB/s
 *     (unpacked 20-27); 8 groups was no better than 4. The 4 streams are 4 contiguous runs of a work
 *     item's groups (long sequential runs rather than 4 adjacent groups at a time), Q4_0's high nibbles
 *     are multiplied in place (16 x, the int32 sum shifted back exactly) and the activation offsets start
 *     the integer chains: a few % more, single thread (the box was too busy for a clean 2-thread figure).
 *     Tried later and not kept (a llama-1b decode's products, 16 layers' q/k/v, o, gate/up and down packed
 *     Q4_0, 2 threads, alternating in one process with a 256 MiB read probe; the dev VM's bandwidth sits at
 *     ~33 GB/s and at times ~55-62 GB/s, where this kernel reads 66-78% of the probe against 90-97% at
 *     ~33 GB/s): PGROUPS 1 / 2 / 8 (worse in both states: 44 / 59 / 51% against 73% at ~62 GB/s); each
 *     block's scales stored next to its quants, in pairs of blocks (91.5% against 89.1% at ~33 GB/s, 69-72%
 *     against 69-70% at ~60: the noise); 4 groups interleaved block by block into one stream (68% against
 *     72%, 90% against 93%); half the integer work dropped (wrong sums, 70-73% against 69-70%: at ~60 GB/s
 *     the product is not compute-bound); work items shrinking towards a job's end (guided; 90 / 72% against
 *     93 / 72%). Reading the same matrices with llmj_memory_read, one call per matrix as the products
 *     dispatch, gets 91-97% of the probe in both states.
 *     Later (one 5632 x 2048 packed matrix cycled over 512 MiB, 2 threads, variants alternating in one process,
 *     each pass against a probe pass right after it; mean ratios, ~33 GB/s / ~60 GB/s states): this kernel
 *     0.90-0.93 / 0.65-0.67; the same loads with no arithmetic 0.89-0.90 / 0.59-0.65, so at ~60 GB/s it is
 *     the access pattern, not the arithmetic; those loads with static halves instead of claimed items 0.88
 *     (slow state), with a step's four groups read one after another in 18 KiB runs 0.49-0.59 (fast), one group
 *     at a time through a work item 0.83-0.84 (slow); llmj_memory_read per matrix 0.95-0.97 / 0.82; software
 *     prefetch 0.5-4 KiB ahead in this kernel 0.60-0.69 against 0.74 without (mixed states).
 *   - Packed at the AVX2 level (AVX2 VM, AMD EPYC Zen 3, 2 cores, no AVX-512; "Packed Q4_0 / Q8_0 at the AVX2
 *     level" below): 256-bit halves of the packed groups, vpmaddubsw + vpmaddwd, ptile_packed_s's bits. Kernel
 *     lab, one thread, 64 tokens, cache-resident llama-1b shapes: Q4_0 1.58-1.66x the unpacked four-token
 *     kernels (e.g. 2048 x 2048: 6.66 -> 4.01 ms), Q8_0 1.32-1.40x; one token from DRAM (1 thread) Q4_0
 *     1.65-1.75x, Q8_0 1.2-1.6x (one outlier 0.62x on a busy box). llmj bench llama-1b, 2 threads, packed vs
 *     unpacked alternating in one run (3 rounds, medians; the VM was shared and noisy, ranges wide): Q4_0 pp64
 *     92.0 vs 59.7 t/s, tg128 35.0 vs 23.0; Q8_0 pp64 63.3 vs 55.1, tg128 18.4 vs 15.8. So packing is
 *     recommended from the AVX2 level up; there the unpacked kernels' eight-block order differs, so packed and
 *     unpacked results differ by float rounding (packed prefill and decode still agree bit for bit).
 *     Later series (three-way with llama-bench, 3 rounds each, medians; the first at 277ff79, the second with the
 *     two-pass Q4_0 tile below): in a fast state of the VM Q4_0 pp64 84.8
 *     (packed) / 69.7 (unpacked) / 63.1 (llama.cpp), tg128 35.1 / 28.3 / 28.3; Q8_0 pp64 67.5 / 56.4 / 53.2,
 *     tg128 19.6 / 16.4 / 15.7. In a slow state Q4_0 pp64 68.3 / 51.3 / 54.4, tg128 28.9 / 20.6 / 20.9; Q8_0
 *     pp64 52.9 / 43.6 / 43.7, but tg128 10.3 / 12.9 / 12.4, and in a packed / unpacked tg128 series right after
 *     (5 and 4 rounds) 10.8 / 12.5 t/s, 53-74% / 65-73% of the bandwidth measured around each run: Q8_0's
 *     one-token packed product is erratic here (kernel lab, 2 threads, one token from DRAM, two runs: 0.69-1.24x
 *     the unpacked one for the same shapes, Q4_0 1.21-1.43x), with 4 groups read side by side. With 2 (pgroups_streams)
 *     Q8_0's one-token product is steady (0.97-1.29x), and the three-way series gave Q8_0 pp64 64.6 / 47.9 / 48.6,
 *     tg128 17.9 / 13.8 / 14.2 (packed ahead of unpacked in each of the 3 rounds).
 *   - K-quant sub-block scales are decoded and broadcast in registers (storing them to a byte
 *     array and reloading them as a vector costs a store-forwarding stall per super-block). */
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "quants.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LLMJ_X86 1
#endif

typedef float (*qdot_fn)(const void * w, const void * a, int64_t nb);

enum { TILE_R = 16, TILE_T = 8 };   /* rows x tokens of the row-interleaved tile kernels */
enum { PGROUPS = 4 };                /* packed matrices, one token: 16-row groups read side by side */

static inline float h2f(uint16_t h) { return llmj_fp16_to_fp32(h); }

/* Q8_0 activations in the work buffer carry three side arrays after the ggml blocks (which stay
 * byte-identical to ggml's): the block scales widened to float, the integer sums of each
 * block's quants, and Q4_0's offset pair per block (int16 -8 x the sum of the quants at columns
 * 0, 1 mod 4 in the low half, at 2, 3 mod 4 in the high half: the AVX2 Q4_0 tile starts its int16
 * lanes from it). The fast Q4_0 / Q8_0 kernels use them to scale eight blocks with one vector
 * multiply and to apply Q4_0's -8 offset (and the VNNI kernels' +128 bias) without sign tricks. */
static inline size_t q8_0_side_offset(int64_t nb) { return ((size_t) nb * sizeof(block_q8_0) + 63) & ~(size_t) 63; }
static inline size_t q8_0_act_bytes(int64_t nb) { return q8_0_side_offset(nb) + (size_t) nb * 12; }
static inline const float * q8_0_side_d(const void * a, int64_t nb) { return (const float *) ((const char *) a + q8_0_side_offset(nb)); }
static inline const int32_t * q8_0_side_s(const void * a, int64_t nb) { return (const int32_t *) (q8_0_side_d(a, nb) + nb); }
static inline const int32_t * q8_0_side_o(const void * a, int64_t nb) { return q8_0_side_s(a, nb) + nb; }

/* Q8_1 side arrays: d and s widened to float */
static inline size_t q8_1_side_offset(int64_t nb) { return ((size_t) nb * sizeof(block_q8_1) + 63) & ~(size_t) 63; }
static inline size_t q8_1_act_bytes(int64_t nb) { return q8_1_side_offset(nb) + (size_t) nb * 8; }
static inline const float * q8_1_side_d(const void * a, int64_t nb) { return (const float *) ((const char *) a + q8_1_side_offset(nb)); }
static inline const float * q8_1_side_s(const void * a, int64_t nb) { return q8_1_side_d(a, nb) + nb; }

static void q8_1_fill_side(void * a, int64_t nb, int64_t first, int64_t last) {
    const block_q8_1 * q = a;
    float * d = (float *) q8_1_side_d(a, nb), * sm = (float *) q8_1_side_s(a, nb);
    for (int64_t b = first; b < last; b++) { d[b] = h2f(q[b].d); sm[b] = h2f(q[b].s); }
}

/* activation row bytes in the work buffer, side arrays included */
static size_t act_stride(int vt, int64_t cols) {
    if (vt == LLMJ_TYPE_Q8_0) return q8_0_act_bytes((cols + QK8_0 - 1) / QK8_0);
    if (vt == LLMJ_TYPE_Q8_1) return q8_1_act_bytes((cols + QK8_1 - 1) / QK8_1);
    const llmj_type_info * at = llmj_type_get(vt);
    return (size_t) ((cols + at->block_size - 1) / at->block_size) * (size_t) at->block_bytes;
}

/* Packed Q4_0 / Q8_0 matrices (llmj_matmul_q_pack; layout under "Packed" below): quant bytes per
 * 16-row block column and bytes per 16-row group */
static inline int pack_qbytes(int type) { return type == LLMJ_TYPE_Q4_0 ? 256 : 512; }
static inline size_t pack_group_bytes(int type, int64_t nb) {
    return ((size_t) nb * (size_t) (pack_qbytes(type) + 32) + 63) & ~(size_t) 63;
}

static void q8_0_fill_side(void * a, int64_t nb, int64_t first, int64_t last) {
    const block_q8_0 * q = a;
    float * d = (float *) q8_0_side_d(a, nb);
    int32_t * sm = (int32_t *) q8_0_side_s(a, nb), * off = (int32_t *) q8_0_side_o(a, nb);
    for (int64_t b = first; b < last; b++) {
        int s01 = 0, s23 = 0;
        for (int j = 0; j < QK8_0; j += 4) { s01 += q[b].qs[j] + q[b].qs[j + 1]; s23 += q[b].qs[j + 2] + q[b].qs[j + 3]; }
        d[b] = h2f(q[b].d);
        sm[b] = s01 + s23;
        off[b] = (int32_t) (((uint32_t) (uint16_t) (int16_t) (-8 * s23) << 16) | (uint16_t) (int16_t) (-8 * s01));
    }
}

/* ==== scalar kernels (ggml's scalar vec_dot, integer sums per block) ====================== */

static float dot_f32_s(const void * wv, const void * av, int64_t n) {
    const float * w = wv, * a = av;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += w[i] * a[i]; s1 += w[i + 1] * a[i + 1]; s2 += w[i + 2] * a[i + 2]; s3 += w[i + 3] * a[i + 3];
    }
    for (; i < n; i++) s0 += w[i] * a[i];
    return (s0 + s1) + (s2 + s3);
}

static float dot_f16_s(const void * wv, const void * av, int64_t n) {
    const uint16_t * w = wv, * a = av;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) { s0 += h2f(w[i]) * h2f(a[i]); s1 += h2f(w[i + 1]) * h2f(a[i + 1]); }
    for (; i < n; i++) s0 += h2f(w[i]) * h2f(a[i]);
    return s0 + s1;
}

static float dot_bf16_s(const void * wv, const void * av, int64_t n) {
    const uint16_t * w = wv, * a = av;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += llmj_bf16_to_fp32(w[i]) * llmj_bf16_to_fp32(a[i]);
        s1 += llmj_bf16_to_fp32(w[i + 1]) * llmj_bf16_to_fp32(a[i + 1]);
    }
    for (; i < n; i++) s0 += llmj_bf16_to_fp32(w[i]) * llmj_bf16_to_fp32(a[i]);
    return s0 + s1;
}

static float dot_q4_0_s(const void * wv, const void * av, int64_t nb) {
    const block_q4_0 * w = wv; const block_q8_0 * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        s += (float) sumi * (h2f(w[b].d) * h2f(a[b].d));
    }
    return s;
}

static float dot_q4_1_s(const void * wv, const void * av, int64_t nb) {
    const block_q4_1 * w = wv; const block_q8_1 * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        s += (h2f(w[b].d) * h2f(a[b].d)) * (float) sumi + h2f(w[b].m) * h2f(a[b].s);
    }
    return s;
}

static float dot_q5_0_s(const void * wv, const void * av, int64_t nb) {
    const block_q5_0 * w = wv; const block_q8_0 * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint32_t qh; memcpy(&qh, w[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int v0 = ((w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
            int v1 = ((w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += v0 * a[b].qs[j] + v1 * a[b].qs[j + 16];
        }
        s += (float) sumi * (h2f(w[b].d) * h2f(a[b].d));
    }
    return s;
}

static float dot_q5_1_s(const void * wv, const void * av, int64_t nb) {
    const block_q5_1 * w = wv; const block_q8_1 * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint32_t qh; memcpy(&qh, w[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int v0 = (w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            int v1 = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            sumi += v0 * a[b].qs[j] + v1 * a[b].qs[j + 16];
        }
        s += (h2f(w[b].d) * h2f(a[b].d)) * (float) sumi + h2f(w[b].m) * h2f(a[b].s);
    }
    return s;
}

static float dot_q8_0_s(const void * wv, const void * av, int64_t nb) {
    const block_q8_0 * w = wv; const block_q8_0 * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += w[b].qs[j] * a[b].qs[j];
        s += (float) sumi * (h2f(w[b].d) * h2f(a[b].d));
    }
    return s;
}

static float dot_iq4_nl_s(const void * wv, const void * av, int64_t nb) {
    const block_iq4_nl * w = wv; const block_q8_0 * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += llmj_kvalues_iq4nl[w[b].qs[j] & 0xF] * a[b].qs[j] + llmj_kvalues_iq4nl[w[b].qs[j] >> 4] * a[b].qs[j + 16];
        }
        s += (float) sumi * (h2f(w[b].d) * h2f(a[b].d));
    }
    return s;
}

/* Q4_K / Q5_K: 8 six-bit scales and 8 six-bit mins packed into 12 bytes. */
static inline void k4_scales(const uint8_t * q, uint8_t * sc, uint8_t * mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 0xF) | ((q[j] >> 6) << 4);
        mn[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
    }
}

/* Q3_K: 16 six-bit scales packed into 12 bytes, returned minus 32. */
static inline void k3_scales(const uint8_t * q, int8_t * sc) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (q[j] & 0xF) : (q[j - 8] >> 4);
        int hi = (q[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        sc[j] = (int8_t) ((lo | (hi << 4)) - 32);
    }
}

static float dot_q2_K_s(const void * wv, const void * av, int64_t nb) {
    const block_q2_K * w = wv; const block_q8_K * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int summ = 0, isum = 0;
        for (int g = 0; g < 16; g++) summ += (w[b].scales[g] >> 4) * a[b].bsums[g];
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (w[b].qs[32 * h + l] >> (2 * j)) & 3;
            isum += (w[b].scales[e / 16] & 0xF) * q * a[b].qs[e];
        }
        s += a[b].d * h2f(w[b].d) * (float) isum - a[b].d * h2f(w[b].dmin) * (float) summ;
    }
    return s;
}

static float dot_q3_K_s(const void * wv, const void * av, int64_t nb) {
    const block_q3_K * w = wv; const block_q8_K * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int8_t sc[16];
        k3_scales(w[b].scales, sc);
        int isum = 0;
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = ((w[b].qs[32 * h + l] >> (2 * j)) & 3) - (((w[b].hmask[l] >> (4 * h + j)) & 1) ? 0 : 4);
            isum += sc[e / 16] * q * a[b].qs[e];
        }
        s += (a[b].d * h2f(w[b].d)) * (float) isum;
    }
    return s;
}

static float dot_q4_K_s(const void * wv, const void * av, int64_t nb) {
    const block_q4_K * w = wv; const block_q8_K * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        k4_scales(w[b].scales, sc, mn);
        int summ = 0, isum = 0;
        for (int j = 0; j < 8; j++) summ += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        for (int e = 0; e < QK_K; e++) {
            int c = e / 64, l = e % 32, hi = (e % 64) >= 32;
            int q = hi ? (w[b].qs[32 * c + l] >> 4) : (w[b].qs[32 * c + l] & 0xF);
            isum += sc[e / 32] * q * a[b].qs[e];
        }
        s += a[b].d * h2f(w[b].d) * (float) isum - a[b].d * h2f(w[b].dmin) * (float) summ;
    }
    return s;
}

static float dot_q5_K_s(const void * wv, const void * av, int64_t nb) {
    const block_q5_K * w = wv; const block_q8_K * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        k4_scales(w[b].scales, sc, mn);
        int summ = 0, isum = 0;
        for (int j = 0; j < 8; j++) summ += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        for (int e = 0; e < QK_K; e++) {
            int c = e / 64, l = e % 32, hi = (e % 64) >= 32;
            int q = hi ? (w[b].qs[32 * c + l] >> 4) : (w[b].qs[32 * c + l] & 0xF);
            q |= ((w[b].qh[l] >> (e / 32)) & 1) << 4;
            isum += sc[e / 32] * q * a[b].qs[e];
        }
        s += a[b].d * h2f(w[b].d) * (float) isum - a[b].d * h2f(w[b].dmin) * (float) summ;
    }
    return s;
}

static float dot_q6_K_s(const void * wv, const void * av, int64_t nb) {
    const block_q6_K * w = wv; const block_q8_K * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int isum = 0;
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            int ql = w[b].ql[64 * h + 32 * (k & 1) + l];
            ql = k >= 2 ? ql >> 4 : ql & 0xF;
            int qh = (w[b].qh[32 * h + l] >> (2 * k)) & 3;
            isum += w[b].scales[e / 16] * ((ql | (qh << 4)) - 32) * a[b].qs[e];
        }
        s += (a[b].d * h2f(w[b].d)) * (float) isum;
    }
    return s;
}

static inline int iq4xs_scale(const block_iq4_xs * w, int ib) {
    return (((w->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((w->scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

static float dot_iq4_xs_s(const void * wv, const void * av, int64_t nb) {
    const block_iq4_xs * w = wv; const block_q8_K * a = av;
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t * qs = w[b].qs + 16 * ib;
            const int8_t * q8 = a[b].qs + 32 * ib;
            int sumi = 0;
            for (int j = 0; j < 16; j++) {
                sumi += llmj_kvalues_iq4nl[qs[j] & 0xF] * q8[j] + llmj_kvalues_iq4nl[qs[j] >> 4] * q8[j + 16];
            }
            isum += iq4xs_scale(&w[b], ib) * sumi;
        }
        s += (a[b].d * h2f(w[b].d)) * (float) isum;
    }
    return s;
}

#ifdef LLMJ_X86
/* ==== AVX2 + FMA + F16C =================================================================== */
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* s + p in int16 / int32 lanes, as asm statements so that the compiler keeps a chain of additions instead of
 * re-associating it into a tree of live products (GCC -O3 did, and the packed kernels below spilled) */
AVX2 static inline __attribute__((always_inline)) __m256i a2_acc16(__m256i s, __m256i p) {
    __asm__("vpaddw %1, %0, %0" : "+x"(s) : "x"(p));
    return s;
}
AVX2 static inline __attribute__((always_inline)) __m256i a2_acc32(__m256i s, __m256i p) {
    __asm__("vpaddd %1, %0, %0" : "+x"(s) : "x"(p));
    return s;
}

AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2 static inline int hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* signed int8 x signed int8 -> 8 int32 partial sums (pairs stay within int16: |w| <= 128, |a| <= 127) */
AVX2 static inline __m256i dot_ss(__m256i w, __m256i a) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* unsigned (<= 127) x signed int8 -> 8 int32 */
AVX2 static inline __m256i dot_us(__m256i w, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31) */
AVX2 static inline __m256i nibbles32(const uint8_t * qs) {
    /* broadcast the 16 bytes to both lanes, shift the upper lane's qwords right by 4, mask:
     * three instructions (the broadcast is a load) instead of shift + insert + mask */
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *) qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set (byte i <- bit i) */
AVX2 static inline __m256i bits32(const uint8_t * p) {
    uint32_t x; memcpy(&x, p, 4);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int) x),
        _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0));
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7FBFDFEFF7FBFDFELL));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

AVX2 static inline __m256i load32(const void * p) { return _mm256_loadu_si256((const __m256i *) p); }

AVX2 static float dot_f32_a2(const void * wv, const void * av, int64_t n) {
    const float * w = wv, * x = av;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

AVX2 static inline __m256 ld_h8(const uint16_t * p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p)); }
AVX2 static inline __m256 ld_b8(const uint16_t * p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p)), 16));
}

AVX2 static float dot_f16_a2(const void * wv, const void * av, int64_t n) {
    const uint16_t * w = wv, * x = av;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(ld_h8(w + i), ld_h8(x + i), a0);
        a1 = _mm256_fmadd_ps(ld_h8(w + i + 8), ld_h8(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(ld_h8(w + i + 16), ld_h8(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(ld_h8(w + i + 24), ld_h8(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(ld_h8(w + i), ld_h8(x + i), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += _cvtsh_ss(w[i]) * _cvtsh_ss(x[i]);
    return s;
}

AVX2 static float dot_bf16_a2(const void * wv, const void * av, int64_t n) {
    const uint16_t * w = wv, * x = av;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(ld_b8(w + i), ld_b8(x + i), a0);
        a1 = _mm256_fmadd_ps(ld_b8(w + i + 8), ld_b8(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(ld_b8(w + i + 16), ld_b8(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(ld_b8(w + i + 24), ld_b8(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(ld_b8(w + i), ld_b8(x + i), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += llmj_bf16_to_fp32(w[i]) * llmj_bf16_to_fp32(x[i]);
    return s;
}



/* 16 int16 sub-block scales -> the pair for 32-element chunk g: [sc[2g] x 8 | sc[2g+1] x 8] */
AVX2 static inline __m256i pair_bcast(__m256i sc16, int g) {
    const __m256i m = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                       2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(g)), m);
}

/* sum_g bsums[g] * sc16[g] */
AVX2 static inline int bsum_dot16(const int16_t * bsums, __m256i sc16) {
    return hsum8i(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) bsums), sc16));
}

/* Q4_K / Q5_K: 8 scales (int16 lanes 0..7) and 8 mins (lanes 8..15) decoded in registers */
AVX2 static inline __m128i k4_scales_mins(const uint8_t * q, __m128i * mins) {
    uint32_t u[4];
    memcpy(u, q, 12);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    /* ggml's utmp shuffle: u[0..1] become the 8 scales, u[2..3] the 8 mins */
    u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
    const uint32_t m01 = u[1] & k1;
    u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
    u[2] = m01;
    u[0] &= k1;
    __m128i v = _mm_setr_epi32((int) u[0], (int) u[1], (int) u[2], (int) u[3]);
    *mins = _mm_cvtepu8_epi16(_mm_srli_si128(v, 8));
    return _mm_cvtepu8_epi16(v);
}

/* int16 lane k of v broadcast to 16 lanes */
AVX2 static inline __m256i bcast16(__m128i v, int k) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(v), _mm256_set1_epi16((short) (0x0100 + 0x0202 * k)));
}

/* sum_j mins[j] * (bsums[2j] + bsums[2j+1]) */
AVX2 static inline int k4_min_dot(const int16_t * bsums, __m128i mins) {
    __m128i p = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *) bsums), _mm_loadu_si128((const __m128i *) (bsums + 8)));
    __m128i d = _mm_madd_epi16(p, mins);
    d = _mm_add_epi32(d, _mm_shuffle_epi32(d, 0x4E));
    d = _mm_add_epi32(d, _mm_shuffle_epi32(d, 0xB1));
    return _mm_cvtsi128_si32(d);
}

AVX2 static float dot_q4_K_a2(const void * wv, const void * av, int64_t nb) {
    const block_q4_K * w = wv; const block_q8_K * a = av;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t b = 0; b < nb; b++) {
        __m128i mn;
        const __m128i sc = k4_scales_mins(w[b].scales, &mn);
        const int sm = k4_min_dot(a[b].bsums, mn);
        const float dd = a[b].d * _cvtsh_ss(w[b].d);
        summ += a[b].d * _cvtsh_ss(w[b].dmin) * (float) sm;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = load32(w[b].qs + 32 * c);
            __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), load32(a[b].qs + 64 * c));
            __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), load32(a[b].qs + 64 * c + 32));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(lo, bcast16(sc, 2 * c)));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(hi, bcast16(sc, 2 * c + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    return hsum8(acc) - summ;
}

AVX2 static float dot_q5_K_a2(const void * wv, const void * av, int64_t nb) {
    const block_q5_K * w = wv; const block_q8_K * a = av;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t b = 0; b < nb; b++) {
        __m128i mn;
        const __m128i sc = k4_scales_mins(w[b].scales, &mn);
        const int sm = k4_min_dot(a[b].bsums, mn);
        const float dd = a[b].d * _cvtsh_ss(w[b].d);
        summ += a[b].d * _cvtsh_ss(w[b].dmin) * (float) sm;
        const __m256i qh = load32(w[b].qh);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = load32(w[b].qs + 32 * c);
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4);
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
            __m256i lo = _mm256_maddubs_epi16(q0, load32(a[b].qs + 64 * c));
            __m256i hi = _mm256_maddubs_epi16(q1, load32(a[b].qs + 64 * c + 32));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(lo, bcast16(sc, 2 * c)));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(hi, bcast16(sc, 2 * c + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    return hsum8(acc) - summ;
}

/* Q6_K: per 32 values one vpmaddubsw of q (0..63) against the activation, one vpmaddwd with the two 16-value scales
 * (a vpshufb of the half's eight scales), the -32 offset subtracted lane by lane (32 x bsums . scales, so no
 * horizontal sum per block). Measured against the kernel before (two shuffles per scale pair, the high bits shifted
 * down and up, the offset summed horizontally each block; dev VM, alternating, 3 rounds): one thread, 1024 x 2048 in
 * L2, 9.56-12.04 against 12.88-15.63 ns per block; two threads, 32000 x 2048 (llama-1b's output) from memory,
 * 20.6-22.5 against 19.7-20.4 GB/s. The float sums differ from that kernel's in their last bits (the offset sits in
 * other lanes). */
AVX2 static float dot_q6_K_a2(const void * wv, const void * av, int64_t nb) {
    const block_q6_K * w = wv; const block_q8_K * a = av;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    /* byte masks for vpshufb: int16 scale 2g' (low lane) and 2g' + 1 (high lane) of a lane holding 8 scales */
    static const int8_t SEL[4][32] __attribute__((aligned(32))) = {
        {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
        {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
        {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
        {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15}};
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) w[b].scales));
        /* the -32 offset, lane by lane: the lanes of (s0 + s1 - off) add up to the block's integer sum */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) a[b].bsums), sc16), 5);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i sch = _mm256_permute4x64_epi64(sc16, h ? 0xEE : 0x44);   /* scales 8h..8h+7 in both lanes */
            const __m256i l0 = load32(w[b].ql + 64 * h), l1 = load32(w[b].ql + 64 * h + 32);
            const __m256i qh = load32(w[b].qh + 32 * h);
            const int8_t * q8 = a[b].qs + 128 * h;
            /* q = low 4 bits | 2 high bits << 4; the high bits masked in place (16-bit shifts move no wanted bit
             * across a byte) */
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            s0 = a2_acc32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(q0, load32(q8)), _mm256_shuffle_epi8(sch, _mm256_load_si256((const __m256i *) SEL[0]))));
            s1 = a2_acc32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(q1, load32(q8 + 32)), _mm256_shuffle_epi8(sch, _mm256_load_si256((const __m256i *) SEL[1]))));
            s0 = a2_acc32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(q2, load32(q8 + 64)), _mm256_shuffle_epi8(sch, _mm256_load_si256((const __m256i *) SEL[2]))));
            s1 = a2_acc32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(q3, load32(q8 + 96)), _mm256_shuffle_epi8(sch, _mm256_load_si256((const __m256i *) SEL[3]))));
        }
        const __m256i si = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), off);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * _cvtsh_ss(w[b].d)), _mm256_cvtepi32_ps(si), acc);
    }
    return hsum8(acc);
}

/* Q2_K / Q3_K share a layout of 2-bit fields: element 128h + 32j + l sits in bits 2j..2j+1 of
 * qs[32h + l]; scale index is element / 16. */
AVX2 static float dot_q2_K_a2(const void * wv, const void * av, int64_t nb) {
    const block_q2_K * w = wv; const block_q8_K * a = av;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t b = 0; b < nb; b++) {
        const __m128i raw = _mm_loadu_si128((const __m128i *) w[b].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
        summ += a[b].d * _cvtsh_ss(w[b].dmin) * (float) bsum_dot16(a[b].bsums, mn16);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = load32(w[b].qs + 32 * h);
            const int8_t * q8 = a[b].qs + 128 * h;
            for (int j = 0; j < 4; j += 2) {
                __m256i u0 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j + 2), m3);
                s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(u0, load32(q8 + 32 * j)), pair_bcast(sc16, 4 * h + j)));
                s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(u1, load32(q8 + 32 * j + 32)), pair_bcast(sc16, 4 * h + j + 1)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * _cvtsh_ss(w[b].d)), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    return hsum8(acc) - summ;
}

/* Q3_K's 16 six-bit scales (minus 32) as int16, decoded in registers (see k3_scales) */
AVX2 static inline __m256i k3_scales16(const uint8_t * q) {
    uint64_t lo8; uint32_t hi4;
    memcpy(&lo8, q, 8);
    memcpy(&hi4, q + 8, 4);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i l = _mm_cvtsi64_si128((long long) lo8);
    __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(l, m4), _mm_and_si128(_mm_srli_epi16(l, 4), m4));
    __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int) hi4), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    __m128i sc = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(sc);
}

AVX2 static float dot_q3_K_a2(const void * wv, const void * av, int64_t nb) {
    const block_q3_K * w = wv; const block_q8_K * a = av;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256i sc16 = k3_scales16(w[b].scales);
        const int off = 4 * bsum_dot16(a[b].bsums, sc16);
        const __m256i hm = load32(w[b].hmask);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = load32(w[b].qs + 32 * h);
            const int8_t * q8 = a[b].qs + 128 * h;
            for (int j = 0; j < 4; j++) {
                /* unsigned 0..7 = low 2 bits + 4 * high bit; the -4 goes through bsums */
                __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), one), 2);
                __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3), hb);
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, load32(q8 + 32 * j)), pair_bcast(sc16, 4 * h + j));
                if (j & 1) s1 = _mm256_add_epi32(s1, p); else s0 = _mm256_add_epi32(s0, p);
            }
        }
        __m256i si = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_setr_epi32(off, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * _cvtsh_ss(w[b].d)), _mm256_cvtepi32_ps(si), acc);
    }
    return hsum8(acc);
}

AVX2 static float dot_iq4_xs_a2(const void * wv, const void * av, int64_t nb) {
    const block_iq4_xs * w = wv; const block_q8_K * a = av;
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *) llmj_kvalues_iq4nl));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2) {
            __m256i w0 = _mm256_shuffle_epi8(lut, nibbles32(w[b].qs + 16 * ib));
            __m256i w1 = _mm256_shuffle_epi8(lut, nibbles32(w[b].qs + 16 * ib + 16));
            __m256i a0 = load32(a[b].qs + 32 * ib), a1 = load32(a[b].qs + 32 * ib + 32);
            __m256i p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(a0, w0));
            __m256i p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(a1, w1));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, _mm256_set1_epi16((short) iq4xs_scale(&w[b], ib))));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, _mm256_set1_epi16((short) iq4xs_scale(&w[b], ib + 1))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * _cvtsh_ss(w[b].d)), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    return hsum8(acc);
}

/* Q4_0 / Q8_0, eight blocks per step: the eight blocks' int32 partial sums are reduced into one
 * vector (block b in lane b) and scaled by d_w (eight fp16 gathered into one vector) times d_a
 * (from the side array) with one multiply; the per-block scalar conversions of the plain kernel
 * dominated its inner loop. Q4_0 multiplies unsigned nibbles and subtracts 8 * sum(a) per block. */
AVX2 static inline __m256i reduce8(__m256i p0, __m256i p1, __m256i p2, __m256i p3,
                                   __m256i p4, __m256i p5, __m256i p6, __m256i p7) {
    __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
    __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p4, p5), _mm256_hadd_epi32(p6, p7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

#define LOAD_D8(w, b) _mm256_cvtph_ps(_mm_setr_epi16((short) w[(b)].d, (short) w[(b) + 1].d, (short) w[(b) + 2].d, \
    (short) w[(b) + 3].d, (short) w[(b) + 4].d, (short) w[(b) + 5].d, (short) w[(b) + 6].d, (short) w[(b) + 7].d))

#define BLOCK8_LOOP(BLOCK_DOT, OFFSET8)                                                          \
    const float * ad = q8_0_side_d(av, nb);                                                    \
    const int32_t * as = q8_0_side_s(av, nb);                                                  \
    (void) as;                                                                                 \
    __m256 acc = _mm256_setzero_ps();                                                          \
    int64_t b = 0;                                                                             \
    for (; b + 8 <= nb; b += 8) {                                                              \
        __m256i s8 = reduce8(BLOCK_DOT(b), BLOCK_DOT(b + 1), BLOCK_DOT(b + 2), BLOCK_DOT(b + 3), \
                             BLOCK_DOT(b + 4), BLOCK_DOT(b + 5), BLOCK_DOT(b + 6), BLOCK_DOT(b + 7)); \
        s8 = OFFSET8(s8, b);                                                                   \
        __m256 sc = _mm256_mul_ps(LOAD_D8(w, b), _mm256_loadu_ps(ad + b));                     \
        acc = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(s8), acc);                                \
    }                                                                                          \
    float tail = 0;                                                                            \
    for (; b < nb; b++) {                                                                      \
        int v = hsum8i(BLOCK_DOT(b));                                                          \
        tail += (float) (v - OFFSET1(b)) * (_cvtsh_ss(w[b].d) * ad[b]);                        \
    }                                                                                          \
    return hsum8(acc) + tail;

#define NO_OFFSET8(s8, b) (s8)
#define SUB8_OFFSET8(s8, b) _mm256_sub_epi32(s8, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *) (as + (b))), 3))

AVX2 static float dot_q4_0_b8_a2(const void * wv, const void * av, int64_t nb) {
    const block_q4_0 * w = wv; const block_q8_0 * a = av;
#define BD(b) dot_us(nibbles32(w[b].qs), load32(a[b].qs))
#define OFFSET1(b) (8 * as[b])
    BLOCK8_LOOP(BD, SUB8_OFFSET8)
#undef OFFSET1
#undef BD
}

AVX2 static float dot_q8_0_b8_a2(const void * wv, const void * av, int64_t nb) {
    const block_q8_0 * w = wv; const block_q8_0 * a = av;
#define BD(b) dot_ss(load32(w[b].qs), load32(a[b].qs))
#define OFFSET1(b) 0
    BLOCK8_LOOP(BD, NO_OFFSET8)
#undef OFFSET1
#undef BD
}

AVX2 static float dot_q5_0_b8_a2(const void * wv, const void * av, int64_t nb) {
    const block_q5_0 * w = wv; const block_q8_0 * a = av;
    const __m256i f0 = _mm256_set1_epi8((char) 0xF0);
    /* value = nibble | (bit ? 0 : 0xF0) read as int8 = nibble + 16 * bit - 16 */
#define BD(b) dot_ss(_mm256_or_si256(nibbles32(w[b].qs), _mm256_andnot_si256(bits32(w[b].qh), f0)), load32(a[b].qs))
#define OFFSET1(b) 0
    BLOCK8_LOOP(BD, NO_OFFSET8)
#undef OFFSET1
#undef BD
}

AVX2 static float dot_iq4_nl_b8_a2(const void * wv, const void * av, int64_t nb) {
    const block_iq4_nl * w = wv; const block_q8_0 * a = av;
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *) llmj_kvalues_iq4nl));
#define BD(b) dot_ss(_mm256_shuffle_epi8(lut, nibbles32(w[b].qs)), load32(a[b].qs))
#define OFFSET1(b) 0
    BLOCK8_LOOP(BD, NO_OFFSET8)
#undef OFFSET1
#undef BD
}

/* The same with AVX512-VNNI on 256-bit registers (vpdpbusd: unsigned x signed bytes straight
 * into int32). Q8_0 weights are biased to unsigned (w + 128) and 128 * sum(a) is subtracted. */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

VNNI static float dot_q4_0_vnni(const void * wv, const void * av, int64_t nb) {
    const block_q4_0 * w = wv; const block_q8_0 * a = av;
#define BD(b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles32(w[b].qs), load32(a[b].qs))
#define OFFSET1(b) (8 * as[b])
    BLOCK8_LOOP(BD, SUB8_OFFSET8)
#undef OFFSET1
#undef BD
}

#define SUB128_OFFSET8(s8, b) _mm256_sub_epi32(s8, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *) (as + (b))), 7))
VNNI static float dot_q8_0_vnni(const void * wv, const void * av, int64_t nb) {
    const block_q8_0 * w = wv; const block_q8_0 * a = av;
    const __m256i bias = _mm256_set1_epi8((char) 0x80);
#define BD(b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_xor_si256(load32(w[b].qs), bias), load32(a[b].qs))
#define OFFSET1(b) (128 * as[b])
    BLOCK8_LOOP(BD, SUB128_OFFSET8)
#undef OFFSET1
#undef BD
}

/* Q4_1 / Q5_1 x Q8_1, eight blocks per step: sum_b d_w*d_a*dot_b + m_w*s_a with d_w and m_w
 * gathered eight at a time and d_a, s_a from the side arrays. */
#define LOAD_M8(w, b) _mm256_cvtph_ps(_mm_setr_epi16((short) w[(b)].m, (short) w[(b) + 1].m, (short) w[(b) + 2].m, \
    (short) w[(b) + 3].m, (short) w[(b) + 4].m, (short) w[(b) + 5].m, (short) w[(b) + 6].m, (short) w[(b) + 7].m))
#define MIN_LOOP(BLOCK_DOT)                                                                      \
    const float * ad = q8_1_side_d(av, nb), * sa = q8_1_side_s(av, nb);                        \
    __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();                               \
    int64_t b = 0;                                                                             \
    for (; b + 8 <= nb; b += 8) {                                                              \
        __m256i s8 = reduce8(BLOCK_DOT(b), BLOCK_DOT(b + 1), BLOCK_DOT(b + 2), BLOCK_DOT(b + 3), \
                             BLOCK_DOT(b + 4), BLOCK_DOT(b + 5), BLOCK_DOT(b + 6), BLOCK_DOT(b + 7)); \
        acc = _mm256_fmadd_ps(_mm256_mul_ps(LOAD_D8(w, b), _mm256_loadu_ps(ad + b)), _mm256_cvtepi32_ps(s8), acc); \
        macc = _mm256_fmadd_ps(LOAD_M8(w, b), _mm256_loadu_ps(sa + b), macc);                  \
    }                                                                                          \
    float tail = 0;                                                                            \
    for (; b < nb; b++) {                                                                      \
        tail += (float) hsum8i(BLOCK_DOT(b)) * (_cvtsh_ss(w[b].d) * ad[b]) + _cvtsh_ss(w[b].m) * sa[b]; \
    }                                                                                          \
    return hsum8(acc) + hsum8(macc) + tail;

AVX2 static float dot_q4_1_a2(const void * wv, const void * av, int64_t nb) {
    const block_q4_1 * w = wv;
    const block_q8_1 * a = av;
#define BD(b) dot_us(nibbles32(w[b].qs), load32(a[b].qs))
    MIN_LOOP(BD)
#undef BD
}

AVX2 static float dot_q5_1_a2(const void * wv, const void * av, int64_t nb) {
    const block_q5_1 * w = wv;
    const block_q8_1 * a = av;
    const __m256i x10 = _mm256_set1_epi8(0x10);
#define BD(b) dot_us(_mm256_or_si256(nibbles32(w[b].qs), _mm256_and_si256(bits32(w[b].qh), x10)), load32(a[b].qs))
    MIN_LOOP(BD)
#undef BD
}

/* Prefill: one weight row against four tokens. Each weight block is loaded and decoded once and
 * multiplied with four activation blocks; per token the integer sums and every float operation
 * are exactly those of the one-token kernel above, so results are bit-identical to the matvec. */
typedef void (*qdot4_fn)(const void * w, const void * a, size_t a_stride, int64_t nb, float * out);

#define DEFINE_DOT4(NAME, TARGET, WTYPE, WDEC, PROD, OFF8, OFF1)                                   \
TARGET static void NAME(const void * wv, const void * av, size_t a_stride, int64_t nb, float * out) { \
    const WTYPE * w = wv;                                                                          \
    const block_q8_0 * a[4]; const float * ad[4]; const int32_t * as[4];                          \
    for (int k = 0; k < 4; k++) {                                                                  \
        const char * ak = (const char *) av + (size_t) k * a_stride;                               \
        a[k] = (const block_q8_0 *) ak; ad[k] = q8_0_side_d(ak, nb); as[k] = q8_0_side_s(ak, nb); \
    }                                                                                              \
    (void) as;                                                                                     \
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() }; \
    int64_t b = 0;                                                                                 \
    for (; b + 8 <= nb; b += 8) {                                                                  \
        __m256i q[2][4];                                                                           \
        for (int half = 0; half < 2; half++) {                                                     \
            __m256i hA[4];                                                                         \
            for (int pr = 0; pr < 2; pr++) {                                                       \
                const int64_t bb = b + 4 * half + 2 * pr;                                          \
                const __m256i w0 = WDEC(bb), w1 = WDEC(bb + 1);                                    \
                for (int k = 0; k < 4; k++) {                                                      \
                    __m256i h = _mm256_hadd_epi32(PROD(w0, a[k][bb].qs), PROD(w1, a[k][bb + 1].qs)); \
                    if (pr == 0) hA[k] = h; else q[half][k] = _mm256_hadd_epi32(hA[k], h);         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        const __m256 dw = LOAD_D8(w, b);                                                           \
        for (int k = 0; k < 4; k++) {                                                              \
            __m256i s8 = _mm256_add_epi32(_mm256_permute2x128_si256(q[0][k], q[1][k], 0x20),       \
                                          _mm256_permute2x128_si256(q[0][k], q[1][k], 0x31));      \
            s8 = OFF8(s8, k, b);                                                                   \
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_loadu_ps(ad[k] + b)), _mm256_cvtepi32_ps(s8), acc[k]); \
        }                                                                                          \
    }                                                                                              \
    for (int k = 0; k < 4; k++) {                                                                  \
        float tail = 0;                                                                            \
        for (int64_t t = b; t < nb; t++) {                                                         \
            int v = hsum8i(PROD(WDEC(t), a[k][t].qs));                                             \
            tail += (float) (v - OFF1(k, t)) * (_cvtsh_ss(w[t].d) * ad[k][t]);                     \
        }                                                                                          \
        out[k] = hsum8(acc[k]) + tail;                                                             \
    }                                                                                              \
}

#define W_NIB(b) nibbles32(w[b].qs)
#define W_LOAD(b) load32(w[b].qs)
#define W_BIAS(b) _mm256_xor_si256(load32(w[b].qs), _mm256_set1_epi8((char) 0x80))
#define P_US(wv, aq) dot_us(wv, load32(aq))
#define P_SS(wv, aq) dot_ss(wv, load32(aq))
#define P_VNNI(wv, aq) _mm256_dpbusd_epi32(_mm256_setzero_si256(), wv, load32(aq))
#define O8_NONE(s8, k, b) (s8)
#define O8_SUB8(s8, k, b) _mm256_sub_epi32(s8, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *) (as[k] + (b))), 3))
#define O8_SUB128(s8, k, b) _mm256_sub_epi32(s8, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *) (as[k] + (b))), 7))
#define O1_NONE(k, t) 0
#define O1_SUB8(k, t) (8 * as[k][t])
#define O1_SUB128(k, t) (128 * as[k][t])

DEFINE_DOT4(dot4_q4_0_a2, AVX2, block_q4_0, W_NIB, P_US, O8_SUB8, O1_SUB8)
DEFINE_DOT4(dot4_q8_0_a2, AVX2, block_q8_0, W_LOAD, P_SS, O8_NONE, O1_NONE)
DEFINE_DOT4(dot4_q4_0_vnni, VNNI, block_q4_0, W_NIB, P_VNNI, O8_SUB8, O1_SUB8)
DEFINE_DOT4(dot4_q8_0_vnni, VNNI, block_q8_0, W_BIAS, P_VNNI, O8_SUB128, O1_SUB128)

/* ==== AVX-512 (F/BW/VL/DQ): float weights, 16 lanes per register ============================ */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

/* two blocks' 16-byte nibble arrays -> 64 bytes: [lo(b0) hi(b0) lo(b1) hi(b1)] */

AVX512 static inline __m512 ld_h16(const uint16_t * p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) p)); }
AVX512 static inline __m512 ld_b16(const uint16_t * p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *) p)), 16));
}

#define FLOAT_LOOP512(LD, T, SCALAR)                                                            \
    const T * w = wv, * x = av;                                                                \
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps(); \
    int64_t i = 0;                                                                             \
    for (; i + 64 <= n; i += 64) {                                                             \
        a0 = _mm512_fmadd_ps(LD(w + i), LD(x + i), a0);                                        \
        a1 = _mm512_fmadd_ps(LD(w + i + 16), LD(x + i + 16), a1);                              \
        a2 = _mm512_fmadd_ps(LD(w + i + 32), LD(x + i + 32), a2);                              \
        a3 = _mm512_fmadd_ps(LD(w + i + 48), LD(x + i + 48), a3);                              \
    }                                                                                          \
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(LD(w + i), LD(x + i), a0);               \
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
    for (; i < n; i++) s += SCALAR(w[i]) * SCALAR(x[i]);                                       \
    return s;

static inline float id_f(float v) { return v; }

AVX512 static float dot_f32_a5(const void * wv, const void * av, int64_t n) { FLOAT_LOOP512(_mm512_loadu_ps, float, id_f) }
AVX512 static float dot_f16_a5(const void * wv, const void * av, int64_t n) { FLOAT_LOOP512(ld_h16, uint16_t, _cvtsh_ss) }
AVX512 static float dot_bf16_a5(const void * wv, const void * av, int64_t n) { FLOAT_LOOP512(ld_b16, uint16_t, llmj_bf16_to_fp32) }


/* ==== Row-interleaved tiles (AVX512-VNNI, 512-bit): 16 weight rows x up to 8 tokens ==========
 * Q4_0 / Q8_0 weights of 16 rows are transposed in registers so that 32-bit lane i holds four
 * consecutive quants of row i; vpdpbusd with an activation dword broadcast to every lane then
 * accumulates 16 rows' block dot products at once, with no horizontal reduction. The transposed
 * block is reused for every token of the tile, so prefill decodes each weight block once per 8
 * tokens; decode (one token) runs the same code.
 *
 * Float order (per row and token, the same for any tile size, thread count or call): for block
 * b = 0..nb-1, acc = fma(fl(d_w[b] * d_a[b]), (float) isum[b], acc), acc starting at 0; isum is
 * the exact integer block dot product. matvec and matmul therefore agree bit for bit. */
#define VNNI512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

/* 16 rows x 16 bytes at byte offset `off` of each row's block -> T[k] (k = 0..3): lane i = dword k
 * of row i */
#define TRANSPOSE16x4(T, wr, off) do {                                                                  \
    __m512i z_[4];                                                                                      \
    for (int j_ = 0; j_ < 4; j_++) {                                                                    \
        __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *) ((wr)[j_] + (off))));      \
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *) ((wr)[j_ + 4] + (off))), 1);        \
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *) ((wr)[j_ + 8] + (off))), 2);        \
        z_[j_] = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *) ((wr)[j_ + 12] + (off))), 3); \
    }                                                                                                   \
    __m512i t0_ = _mm512_unpacklo_epi32(z_[0], z_[1]), t1_ = _mm512_unpackhi_epi32(z_[0], z_[1]);      \
    __m512i t2_ = _mm512_unpacklo_epi32(z_[2], z_[3]), t3_ = _mm512_unpackhi_epi32(z_[2], z_[3]);      \
    (T)[0] = _mm512_unpacklo_epi64(t0_, t2_); (T)[1] = _mm512_unpackhi_epi64(t0_, t2_);                \
    (T)[2] = _mm512_unpacklo_epi64(t1_, t3_); (T)[3] = _mm512_unpackhi_epi64(t1_, t3_);                \
} while (0)
/* (128-bit lane L of z_[j] holds row j + 4L, so after the 4x4 transposes lane 4L + j is row j + 4L) */

/* the 16 rows' fp16 block scales in lane order */
VNNI512 static inline __m512 tile_dw(const char * const * wr, size_t off) {
    uint16_t h[16];
    for (int i = 0; i < 16; i++) memcpy(&h[i], wr[i] + off, 2);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) h));
}

#ifndef LLMJ_TILE_PF
#define LLMJ_TILE_PF 256   /* bytes ahead in each of the 16 rows: on a busy shared box, single-thread DRAM
                              * matvec (bytes / CPU time) was higher with 256 than with 1024 or none, clearest
                              * for Q8_0; re-measure on a quiet machine */
#endif
#define TILE_PREFETCH(wr, off) do { if (LLMJ_TILE_PF) for (int i_ = 0; i_ < TILE_R; i_++) _mm_prefetch((wr)[i_] + (off) + LLMJ_TILE_PF, _MM_HINT_T0); } while (0)

/* out[t * TILE_R + lane] for T tokens; a points at token 0's activation row, a_stride apart */
/* One block of one token in the tile kernels: acc + (dw * d_a) * (w[0..3] . qa[0..3] + w[4..7] . qa[4..7] - off),
 * two dpbusd chains, with w the 16 rows' unsigned quants (Q4_0: low then high nibbles, off = 8 sum(a); Q8_0:
 * w + 128, off = 128 sum(a)). Shared by the row-interleaved and the packed kernels, so their bits agree. */
VNNI512 static inline __attribute__((always_inline)) __m512 tile_block(const __m512i * w, const int32_t * qa, int32_t off,
                                                                      __m512 dw, float da, __m512 acc) {
    __m512i c0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], _mm512_set1_epi32(qa[0]));
    __m512i c1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[4], _mm512_set1_epi32(qa[4]));
    for (int k = 1; k < 4; k++) {
        c0 = _mm512_dpbusd_epi32(c0, w[k], _mm512_set1_epi32(qa[k]));
        c1 = _mm512_dpbusd_epi32(c1, w[4 + k], _mm512_set1_epi32(qa[4 + k]));
    }
    const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(c0, c1), _mm512_set1_epi32(off));
    return _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da)), _mm512_cvtepi32_ps(sum), acc);
}

VNNI512 static inline __attribute__((always_inline)) void tile_q4_0_impl(const char * const * wr, int64_t nb,
        const char * a, size_t a_stride, float * out, const int T) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const float * ad[TILE_T]; const int32_t * as[TILE_T]; const block_q8_0 * aq[TILE_T];
    __m512 acc[TILE_T];
    for (int t = 0; t < T; t++) {
        const char * at = a + (size_t) t * a_stride;
        aq[t] = (const block_q8_0 *) at; ad[t] = q8_0_side_d(at, nb); as[t] = q8_0_side_s(at, nb);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t) b * sizeof(block_q4_0);
        TILE_PREFETCH(wr, off);
        __m512i q[4], lo[4], hi[4];
        TRANSPOSE16x4(q, wr, off + 2);
        for (int k = 0; k < 4; k++) {
            lo[k] = _mm512_and_si512(q[k], m4);
            hi[k] = _mm512_and_si512(_mm512_srli_epi16(q[k], 4), m4);
        }
        const __m512 dw = tile_dw(wr, off);
        const __m512i w[8] = {lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]};
        for (int t = 0; t < T; t++) {
            acc[t] = tile_block(w, (const int32_t *) aq[t][b].qs, 8 * as[t][b], dw, ad[t][b], acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + t * TILE_R, acc[t]);
}

VNNI512 static inline __attribute__((always_inline)) void tile_q8_0_impl(const char * const * wr, int64_t nb,
        const char * a, size_t a_stride, float * out, const int T) {
    const __m512i bias = _mm512_set1_epi8((char) 0x80);
    const float * ad[TILE_T]; const int32_t * as[TILE_T]; const block_q8_0 * aq[TILE_T];
    __m512 acc[TILE_T];
    for (int t = 0; t < T; t++) {
        const char * at = a + (size_t) t * a_stride;
        aq[t] = (const block_q8_0 *) at; ad[t] = q8_0_side_d(at, nb); as[t] = q8_0_side_s(at, nb);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t) b * sizeof(block_q8_0);
        TILE_PREFETCH(wr, off);
        __m512i q[8];
        TRANSPOSE16x4(q, wr, off + 2);
        TRANSPOSE16x4(q + 4, wr, off + 18);
        for (int k = 0; k < 8; k++) q[k] = _mm512_xor_si512(q[k], bias);   /* w + 128, unsigned */
        const __m512 dw = tile_dw(wr, off);
        for (int t = 0; t < T; t++) {
            acc[t] = tile_block(q, (const int32_t *) aq[t][b].qs, 128 * as[t][b], dw, ad[t][b], acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + t * TILE_R, acc[t]);
}

/* NAME(w, nb, a, a_stride, out, T): IMPL with T a constant 1..8, so the always-inline impls unroll per
 * token count. TARGET: the ISA attribute; W: the weights' parameter type (row pointers, or one packed group). */
#define DEFINE_TILE(TARGET, NAME, IMPL, W)                                                               \
TARGET static void NAME(W w, int64_t nb, const char * a, size_t a_stride, float * out, int T) {         \
    switch (T) {                                                                                         \
    case 8: IMPL(w, nb, a, a_stride, out, 8); break;                                                     \
    case 7: IMPL(w, nb, a, a_stride, out, 7); break;                                                     \
    case 6: IMPL(w, nb, a, a_stride, out, 6); break;                                                     \
    case 5: IMPL(w, nb, a, a_stride, out, 5); break;                                                     \
    case 4: IMPL(w, nb, a, a_stride, out, 4); break;                                                     \
    case 3: IMPL(w, nb, a, a_stride, out, 3); break;                                                     \
    case 2: IMPL(w, nb, a, a_stride, out, 2); break;                                                     \
    default: IMPL(w, nb, a, a_stride, out, 1); break;                                                    \
    }                                                                                                    \
}
DEFINE_TILE(VNNI512, tile_q4_0_vnni512, tile_q4_0_impl, const char * const *)
DEFINE_TILE(VNNI512, tile_q8_0_vnni512, tile_q8_0_impl, const char * const *)

/* ==== Packed (row-interleaved at load) Q4_0 / Q8_0: the tiles above, without the transposes ======
 * llmj_matmul_q_pack stores each group of TILE_R = 16 rows as the tile kernels see them after
 * TRANSPOSE16x4: per block, the 16 rows' quants as 64-byte vectors whose 32-bit lane i holds four
 * consecutive quant bytes of row i (Q4_0: 4 vectors, the nibbles still packed; Q8_0: 8 vectors, biased
 * to unsigned, w + 128), and apart from them the 16 rows' fp16 scales per block. A group is read as
 * two contiguous streams, with no gathers, inserts or shuffles; the arithmetic and its order are the
 * tile kernels' exactly, so packed and unpacked products agree bit for bit.
 *
 * Group layout (group_bytes = pack_group_bytes(type, nb), a multiple of 64; groups back to back):
 *   [nb x qbytes quants: block b at b * qbytes, vector k at + 64 k] [nb x 32 bytes: block b's 16 scales]
 * Rows past the end of the matrix (the last group's padding) are zero (scale 0). */

VNNI512 static inline __attribute__((always_inline)) void ptile_q4_0_impl(const char * g, int64_t nb,
        const char * a, size_t a_stride, float * out, const int T) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const uint16_t * sc = (const uint16_t *) (g + (size_t) nb * 256);
    const float * ad[TILE_T]; const int32_t * as[TILE_T]; const block_q8_0 * aq[TILE_T];
    __m512 acc[TILE_T];
    for (int t = 0; t < T; t++) {
        const char * at = a + (size_t) t * a_stride;
        aq[t] = (const block_q8_0 *) at; ad[t] = q8_0_side_d(at, nb); as[t] = q8_0_side_s(at, nb);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const __m512i * q = (const __m512i *) (g + (size_t) b * 256);
        __m512i lo[4], hi[4];
        for (int k = 0; k < 4; k++) {
            const __m512i v = _mm512_load_si512(q + k);
            lo[k] = _mm512_and_si512(v, m4);
            hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) (sc + 16 * b)));
        const __m512i w[8] = {lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]};
        for (int t = 0; t < T; t++) {
            acc[t] = tile_block(w, (const int32_t *) aq[t][b].qs, 8 * as[t][b], dw, ad[t][b], acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + t * TILE_R, acc[t]);
}

VNNI512 static inline __attribute__((always_inline)) void ptile_q8_0_impl(const char * g, int64_t nb,
        const char * a, size_t a_stride, float * out, const int T) {
    const uint16_t * sc = (const uint16_t *) (g + (size_t) nb * 512);
    const float * ad[TILE_T]; const int32_t * as[TILE_T]; const block_q8_0 * aq[TILE_T];
    __m512 acc[TILE_T];
    for (int t = 0; t < T; t++) {
        const char * at = a + (size_t) t * a_stride;
        aq[t] = (const block_q8_0 *) at; ad[t] = q8_0_side_d(at, nb); as[t] = q8_0_side_s(at, nb);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const __m512i * q = (const __m512i *) (g + (size_t) b * 512);
        __m512i w[8];
        for (int k = 0; k < 8; k++) w[k] = _mm512_load_si512(q + k);
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) (sc + 16 * b)));
        for (int t = 0; t < T; t++) {
            acc[t] = tile_block(w, (const int32_t *) aq[t][b].qs, 128 * as[t][b], dw, ad[t][b], acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(out + t * TILE_R, acc[t]);
}

/* One token over G groups at once (G independent streams in flight; per group the arithmetic of
 * ptile_*_impl with T = 1). out[gi * TILE_R + lane]. */
VNNI512 static inline __attribute__((always_inline)) void pgroups_q4_0_impl(const char * const * gs, int64_t nb,
        const char * a, float * out, const int G) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const block_q8_0 * aq = (const block_q8_0 *) a;
    const float * ad = q8_0_side_d(a, nb); const int32_t * as = q8_0_side_s(a, nb);
    __m512 acc[PGROUPS];
    for (int gi = 0; gi < G; gi++) acc[gi] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int32_t * qa = (const int32_t *) aq[b].qs;
        const __m512 da = _mm512_set1_ps(ad[b]);
        const __m512i noff = _mm512_set1_epi32(-8 * as[b]);
        for (int gi = 0; gi < G; gi++) {
            const __m512i * q = (const __m512i *) (gs[gi] + (size_t) b * 256);
            const uint16_t * sc = (const uint16_t *) (gs[gi] + (size_t) nb * 256);
            /* low nibbles as bytes; high nibbles left in place (16 x the value, so their sum is shifted
             * back exactly); the -8 * sum(a) offset starts the low chain */
            __m512i c0 = noff, c1 = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_load_si512(q + k);
                c0 = _mm512_dpbusd_epi32(c0, _mm512_and_si512(v, m4), _mm512_set1_epi32(qa[k]));
                c1 = _mm512_dpbusd_epi32(c1, _mm512_andnot_si512(m4, v), _mm512_set1_epi32(qa[4 + k]));
            }
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) (sc + 16 * b)));
            __m512i s = _mm512_add_epi32(c0, _mm512_srai_epi32(c1, 4));
            acc[gi] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(s), acc[gi]);
        }
    }
    for (int gi = 0; gi < G; gi++) _mm512_storeu_ps(out + gi * TILE_R, acc[gi]);
}

VNNI512 static inline __attribute__((always_inline)) void pgroups_q8_0_impl(const char * const * gs, int64_t nb,
        const char * a, float * out, const int G) {
    const block_q8_0 * aq = (const block_q8_0 *) a;
    const float * ad = q8_0_side_d(a, nb); const int32_t * as = q8_0_side_s(a, nb);
    __m512 acc[PGROUPS];
    for (int gi = 0; gi < G; gi++) acc[gi] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int32_t * qa = (const int32_t *) aq[b].qs;
        const __m512 da = _mm512_set1_ps(ad[b]);
        const __m512i noff = _mm512_set1_epi32(-128 * as[b]);
        for (int gi = 0; gi < G; gi++) {
            const __m512i * q = (const __m512i *) (gs[gi] + (size_t) b * 512);
            const uint16_t * sc = (const uint16_t *) (gs[gi] + (size_t) nb * 512);
            __m512i c0 = noff, c1 = _mm512_setzero_si512();   /* the +128 bias's -128 * sum(a) starts one chain */
            for (int k = 0; k < 4; k++) {
                c0 = _mm512_dpbusd_epi32(c0, _mm512_load_si512(q + k), _mm512_set1_epi32(qa[k]));
                c1 = _mm512_dpbusd_epi32(c1, _mm512_load_si512(q + 4 + k), _mm512_set1_epi32(qa[4 + k]));
            }
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) (sc + 16 * b)));
            __m512i s = _mm512_add_epi32(c0, c1);
            acc[gi] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(s), acc[gi]);
        }
    }
    for (int gi = 0; gi < G; gi++) _mm512_storeu_ps(out + gi * TILE_R, acc[gi]);
}

/* NAME(gs, nb, a, out, G): IMPL with G (1..4 groups) a constant, so that its loops over the groups unroll */
#define DEFINE_PGROUPS(TARGET, NAME, IMPL)                                                              \
TARGET static void NAME(const char * const * gs, int64_t nb, const char * a, float * out, int G) {      \
    switch (G) {                                                                                        \
    case 4: IMPL(gs, nb, a, out, 4); break;                                                             \
    case 3: IMPL(gs, nb, a, out, 3); break;                                                             \
    case 2: IMPL(gs, nb, a, out, 2); break;                                                             \
    default: IMPL(gs, nb, a, out, 1); break;                                                            \
    }                                                                                                   \
}
DEFINE_PGROUPS(VNNI512, pgroups_q4_0_vnni512, pgroups_q4_0_impl)
DEFINE_PGROUPS(VNNI512, pgroups_q8_0_vnni512, pgroups_q8_0_impl)

DEFINE_TILE(VNNI512, ptile_q4_0_vnni512, ptile_q4_0_impl, const char *)
DEFINE_TILE(VNNI512, ptile_q8_0_vnni512, ptile_q8_0_impl, const char *)

/* ==== Packed Q4_0 / Q8_0 at the AVX2 level (no VNNI): the packed layout above in 256-bit halves =====
 * Each 64-byte packed vector holds rows 0..7 in its low 32 bytes and rows 8..15 in its high 32, so a
 * half (8 rows) is one ymm per vector. vpmaddubsw (unsigned x signed bytes -> int16 pairs) then vpmaddwd
 * with ones -> int32 per row. Per row and token the integer block sum is exact and the float operations
 * are ptile_packed_s's (product of the scales rounded, one fma per block, from 0), so every kernel here
 * equals the portable one bit for bit.
 *   Q4_0: nibbles 0..15 against activations in -127..127: a pair is at most 2 x 15 x 127 = 3810 and a
 *         block's eight pair sums per int16 lane at most 30480, so the block is summed in int16 and
 *         widened once; the int16 sums start from the block's offset pair (q8_0_side_o), which
 *         applies the -8 (see ptile_q4_0_a2_impl).
 *   Q8_0: the stored w + 128 would saturate a pair (2 x 255 x 127), so the weights are unbiased (xor 0x80)
 *         and multiplied as ggml's AVX2 Q8_0 kernel does: |w| (unsigned, up to 128) against a with w's
 *         sign (|a| <= 127): a pair is at most 32512, widened per vector. */
#define A2P __attribute__((target("avx2,fma,f16c")))

/* Q4_0 tile: 16 rows (both halves of the packed group) x T <= 3 tokens per pass, each activation broadcast serving
 * the 16 rows. Per block and k = 0..7 (k < 4: the low nibbles of vector k, columns 4k..4k+3; k >= 4: the high nibbles,
 * columns 16 + 4(k-4)..) the two halves' weights are decoded once and multiplied into every token's two int16 sums.
 * Each sum starts from the token's offset pair (q8_0_side_o: -8 x the sums of the quants that the even and the odd
 * int16 lanes multiply), so after the eight products a lane holds its exact part of sum (q - 8) a (|part| <= 16 x 8 x
 * 128, so the wrapping int16 additions end exact; no pair saturates: 2 x 15 x 128), and vpmaddwd gives the int32
 * block sum: the integer the VNNI and portable kernels compute, with their float operations in their order, so the
 * output is theirs bit for bit. 2T int16 sums, 2T float sums, two weight vectors and a broadcast about fill the 16 ymm
 * registers at T = 3. The int16 additions go through a2_acc16: written as intrinsics, GCC -O3 re-associated each
 * chain into a tree of live products and spilled them (why this shape measured slower than the one-half kernel one
 * session earlier, also on 2026-11-25: 4.22-4.65 against 4.00-4.19 ns per 8 rows x block x token).
 * Measured (this Zen 3 VM, 1 thread, llmj_matmul_q_packed best of 20-50 calls, variants alternating in one process;
 * ns per 8 rows x block x token; the VM switched between a quiet and a contended state during the runs):
 * 2048 x 2048, 64 tokens, 6 rounds: 2.97-3.72 (3.99 in the one contended round) against 3.82-3.94 (5.29) for the
 * one-half kernel it replaces (each half's block decoded into 8 registers, 8 broadcasts per half and token,
 * 8 x sum(a) subtracted in int32, passes of 4 tokens), and 3.30-3.58 (5.25) for this shape with T = 4 and the float
 * sums in memory (2T int16 sums take 8 registers); 2, 3, 4, 5, 8, 13 and 64 tokens, 2 rounds: 2.98-4.32 against
 * 3.61-5.79. Measured and not kept earlier (same VM and method): weights outer, each weight vector decoded once and
 * multiplied into the tokens' sums before the next, 4.53-4.60 against the one-half kernel's 4.23 (128 x 2048). */
enum { Q4_TT = 3 };   /* tokens per pass */
A2P static inline __attribute__((always_inline)) void ptile_q4_0_a2_impl(const char * g, int64_t nb,
        const char * a, size_t a_stride, float * out, const int T) {
    const uint16_t * sc = (const uint16_t *) (g + (size_t) nb * 256);
    const size_t soff = q8_0_side_offset(nb);
    __m256 acc[Q4_TT][2];
    for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        const char * q = g + (size_t) b * 256;
        const char * qa = a + (size_t) b * sizeof(block_q8_0) + 2;     /* token 0's quants of block b */
        const char * sd = a + soff + 4 * (size_t) b;                   /* token 0's d of block b */
        const char * so = sd + 8 * (size_t) nb;                        /* token 0's offset pair */
        __m256i s[Q4_TT][2];
        for (int t = 0; t < T; t++) s[t][0] = s[t][1] = _mm256_set1_epi32(*(const int32_t *) (so + t * a_stride));
        for (int k = 0; k < 8; k++) {
            const __m256i * v = (const __m256i *) (q + 64 * (k & 3));
            __m256i w0, w1;
            if (k < 4) { w0 = _mm256_and_si256(_mm256_load_si256(v), m4); w1 = _mm256_and_si256(_mm256_load_si256(v + 1), m4); }
            else { w0 = _mm256_and_si256(_mm256_srli_epi16(_mm256_load_si256(v), 4), m4); w1 = _mm256_and_si256(_mm256_srli_epi16(_mm256_load_si256(v + 1), 4), m4); }
            for (int t = 0; t < T; t++) {
                const __m256i bc = _mm256_set1_epi32(*(const int32_t *) (qa + t * a_stride + 4 * k));
                s[t][0] = a2_acc16(s[t][0], _mm256_maddubs_epi16(w0, bc));
                s[t][1] = a2_acc16(s[t][1], _mm256_maddubs_epi16(w1, bc));
            }
        }
        const __m256i ones = _mm256_set1_epi16(1);
        const __m256 dw0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b)));
        const __m256 dw1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b + 8)));
        for (int t = 0; t < T; t++) {
            const __m256 da = _mm256_set1_ps(*(const float *) (sd + t * a_stride));
            acc[t][0] = _mm256_fmadd_ps(_mm256_mul_ps(dw0, da), _mm256_cvtepi32_ps(_mm256_madd_epi16(s[t][0], ones)), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(_mm256_mul_ps(dw1, da), _mm256_cvtepi32_ps(_mm256_madd_epi16(s[t][1], ones)), acc[t][1]);
        }
    }
    for (int t = 0; t < T; t++) { _mm256_storeu_ps(out + t * TILE_R, acc[t][0]); _mm256_storeu_ps(out + t * TILE_R + 8, acc[t][1]); }
}
/* up to 8 tokens as passes of Q4_TT = 3 (3 + 3 + 2 for a full tile); the same float order per row and token whatever the split */
A2P static void ptile_q4_0_a2(const char * w, int64_t nb, const char * a, size_t a_stride, float * out, int T) {
    while (T > 0) {
        const int n = T > Q4_TT ? Q4_TT : T;
        if (n == 3) ptile_q4_0_a2_impl(w, nb, a, a_stride, out, 3);
        else if (n == 2) ptile_q4_0_a2_impl(w, nb, a, a_stride, out, 2);
        else ptile_q4_0_a2_impl(w, nb, a, a_stride, out, 1);
        a += n * a_stride; out += n * TILE_R; T -= n;
    }
}

/* Q8_0 tile: Q4_0's shape (both halves per k, at most Q8_TT = 2 tokens per pass: 2T int32 sums, 2T float sums and four
 * weight vectors about fill the registers) with Q8_0's products: per vector |w| against a with w's sign, each pair sum
 * (at most 32512) widened at once (two would overflow int16). Bit for bit the portable kernel's output, as Q4_0's.
 * Measured (this Zen 3 VM, 1 thread, 2048 x 2048, llmj_matmul_q_packed best of 20-130 calls, alternating, 3 rounds;
 * ns per 8 rows x block x token): 64 tokens 5.93-6.26 against 7.01-7.32 for the one-half kernel it replaces (each
 * half's 8 weight vectors decoded once for up to 8 tokens: 16 registers of weights, which spilled), 8 tokens 6.53-7.40
 * against 7.46-8.70, 5 tokens 7.98-8.39 against 9.07-9.99; with 3 tokens per pass 5.99-6.40, 6.35-7.36 and 7.47-7.85. */
enum { Q8_TT = 2 };
A2P static inline __attribute__((always_inline)) void ptile_q8_0_a2_impl(const char * g, int64_t nb,
        const char * a, size_t a_stride, float * out, const int T) {
    const uint16_t * sc = (const uint16_t *) (g + (size_t) nb * 512);
    const size_t soff = q8_0_side_offset(nb);
    __m256 acc[Q8_TT][2];
    for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    const __m256i bias = _mm256_set1_epi8((char) 0x80);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const char * q = g + (size_t) b * 512;
        const char * qa = a + (size_t) b * sizeof(block_q8_0) + 2;
        const char * sd = a + soff + 4 * (size_t) b;
        __m256i s[Q8_TT][2];
        for (int t = 0; t < T; t++) s[t][0] = s[t][1] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            const __m256i sw0 = _mm256_xor_si256(_mm256_load_si256((const __m256i *) (q + 64 * k)), bias);
            const __m256i sw1 = _mm256_xor_si256(_mm256_load_si256((const __m256i *) (q + 64 * k + 32)), bias);
            const __m256i aw0 = _mm256_abs_epi8(sw0), aw1 = _mm256_abs_epi8(sw1);
            for (int t = 0; t < T; t++) {
                const __m256i bc = _mm256_set1_epi32(*(const int32_t *) (qa + t * a_stride + 4 * k));
                s[t][0] = a2_acc32(s[t][0], _mm256_madd_epi16(_mm256_maddubs_epi16(aw0, _mm256_sign_epi8(bc, sw0)), ones));
                s[t][1] = a2_acc32(s[t][1], _mm256_madd_epi16(_mm256_maddubs_epi16(aw1, _mm256_sign_epi8(bc, sw1)), ones));
            }
        }
        const __m256 dw0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b)));
        const __m256 dw1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b + 8)));
        for (int t = 0; t < T; t++) {
            const __m256 da = _mm256_set1_ps(*(const float *) (sd + t * a_stride));
            acc[t][0] = _mm256_fmadd_ps(_mm256_mul_ps(dw0, da), _mm256_cvtepi32_ps(s[t][0]), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(_mm256_mul_ps(dw1, da), _mm256_cvtepi32_ps(s[t][1]), acc[t][1]);
        }
    }
    for (int t = 0; t < T; t++) { _mm256_storeu_ps(out + t * TILE_R, acc[t][0]); _mm256_storeu_ps(out + t * TILE_R + 8, acc[t][1]); }
}
A2P static void ptile_q8_0_a2(const char * w, int64_t nb, const char * a, size_t a_stride, float * out, int T) {
    while (T > 0) {
        const int n = T > Q8_TT ? Q8_TT : T;
        if (n == 2) ptile_q8_0_a2_impl(w, nb, a, a_stride, out, 2);
        else ptile_q8_0_a2_impl(w, nb, a, a_stride, out, 1);
        a += n * a_stride; out += n * TILE_R; T -= n;
    }
}

/* One token over G groups side by side (pgroups_*_vnni512's streams). Q4_0: the tile's arithmetic (offset pair, both
 * halves, asm chains) with the activation's 8 broadcasts shared by every group and half; each weight vector loaded
 * once for its low and high nibbles; Q8_0 below likewise with Q8_0's products. Measured (this Zen 3 VM, best of
 * 30-2000 calls, alternating with the kernels they replace, which took each group's halves in turn with 8 decoded
 * vectors and their own broadcasts and spilled; 3 rounds): one thread on 256 x 2048 (in L2), ns per 8 rows x block,
 * Q4_0 3.82-4.55 against 4.63-5.41, Q8_0 6.00-6.72 against 8.10-10.87; two threads streaming from memory, Q4_0 65536 x
 * 2048 in 3.03-3.44 ms against 3.60-4.00, Q8_0 32768 x 2048 in 2.84-3.15 ms against 3.67-3.99: decode on this VM is
 * partly bound by these kernels' instructions, not only by the memory. */
A2P static inline __attribute__((always_inline)) void pgroups_q4_0_a2_impl(const char * const * gs, int64_t nb,
        const char * a, float * out, const int G) {
    const block_q8_0 * aq = (const block_q8_0 *) a;
    const float * ad = q8_0_side_d(a, nb); const int32_t * ao = q8_0_side_o(a, nb);
    __m256 acc[PGROUPS][2];
    for (int gi = 0; gi < G; gi++) acc[gi][0] = acc[gi][1] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        const int32_t * qa = (const int32_t *) aq[b].qs;
        __m256i s[PGROUPS][2];
        const __m256i off = _mm256_set1_epi32(ao[b]);
        for (int gi = 0; gi < G; gi++) s[gi][0] = s[gi][1] = off;
        for (int j = 0; j < 4; j++) {
            const __m256i bl = _mm256_set1_epi32(qa[j]), bh = _mm256_set1_epi32(qa[4 + j]);
            for (int gi = 0; gi < G; gi++) {
                const __m256i * v = (const __m256i *) (gs[gi] + (size_t) b * 256 + 64 * j);
                const __m256i v0 = _mm256_load_si256(v), v1 = _mm256_load_si256(v + 1);
                s[gi][0] = a2_acc16(s[gi][0], _mm256_maddubs_epi16(_mm256_and_si256(v0, m4), bl));
                s[gi][1] = a2_acc16(s[gi][1], _mm256_maddubs_epi16(_mm256_and_si256(v1, m4), bl));
                s[gi][0] = a2_acc16(s[gi][0], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), bh));
                s[gi][1] = a2_acc16(s[gi][1], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4), bh));
            }
        }
        const __m256 da = _mm256_set1_ps(ad[b]);
        const __m256i ones = _mm256_set1_epi16(1);
        for (int gi = 0; gi < G; gi++) {
            const uint16_t * sc = (const uint16_t *) (gs[gi] + (size_t) nb * 256);
            const __m256 dw0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b)));
            const __m256 dw1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b + 8)));
            acc[gi][0] = _mm256_fmadd_ps(_mm256_mul_ps(dw0, da), _mm256_cvtepi32_ps(_mm256_madd_epi16(s[gi][0], ones)), acc[gi][0]);
            acc[gi][1] = _mm256_fmadd_ps(_mm256_mul_ps(dw1, da), _mm256_cvtepi32_ps(_mm256_madd_epi16(s[gi][1], ones)), acc[gi][1]);
        }
    }
    for (int gi = 0; gi < G; gi++) {
        _mm256_storeu_ps(out + gi * TILE_R, acc[gi][0]); _mm256_storeu_ps(out + gi * TILE_R + 8, acc[gi][1]);
    }
}
/* Q8_0, one token over G groups: Q8_0's products (ptile_q8_0_a2_impl) with each broadcast shared by every group and half */
A2P static inline __attribute__((always_inline)) void pgroups_q8_0_a2_impl(const char * const * gs, int64_t nb,
        const char * a, float * out, const int G) {
    const block_q8_0 * aq = (const block_q8_0 *) a;
    const float * ad = q8_0_side_d(a, nb);
    __m256 acc[PGROUPS][2];
    for (int gi = 0; gi < G; gi++) acc[gi][0] = acc[gi][1] = _mm256_setzero_ps();
    const __m256i bias = _mm256_set1_epi8((char) 0x80);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const int32_t * qa = (const int32_t *) aq[b].qs;
        __m256i s[PGROUPS][2];
        for (int gi = 0; gi < G; gi++) s[gi][0] = s[gi][1] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            const __m256i bc = _mm256_set1_epi32(qa[k]);
            for (int gi = 0; gi < G; gi++) {
                const __m256i * v = (const __m256i *) (gs[gi] + (size_t) b * 512 + 64 * k);
                const __m256i sw0 = _mm256_xor_si256(_mm256_load_si256(v), bias);
                const __m256i sw1 = _mm256_xor_si256(_mm256_load_si256(v + 1), bias);
                s[gi][0] = a2_acc32(s[gi][0], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(sw0), _mm256_sign_epi8(bc, sw0)), ones));
                s[gi][1] = a2_acc32(s[gi][1], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(sw1), _mm256_sign_epi8(bc, sw1)), ones));
            }
        }
        const __m256 da = _mm256_set1_ps(ad[b]);
        for (int gi = 0; gi < G; gi++) {
            const uint16_t * sc = (const uint16_t *) (gs[gi] + (size_t) nb * 512);
            const __m256 dw0 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b)));
            const __m256 dw1 = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (sc + 16 * b + 8)));
            acc[gi][0] = _mm256_fmadd_ps(_mm256_mul_ps(dw0, da), _mm256_cvtepi32_ps(s[gi][0]), acc[gi][0]);
            acc[gi][1] = _mm256_fmadd_ps(_mm256_mul_ps(dw1, da), _mm256_cvtepi32_ps(s[gi][1]), acc[gi][1]);
        }
    }
    for (int gi = 0; gi < G; gi++) {
        _mm256_storeu_ps(out + gi * TILE_R, acc[gi][0]); _mm256_storeu_ps(out + gi * TILE_R + 8, acc[gi][1]);
    }
}

DEFINE_PGROUPS(A2P, pgroups_q4_0_a2, pgroups_q4_0_a2_impl)
DEFINE_PGROUPS(A2P, pgroups_q8_0_a2, pgroups_q8_0_a2_impl)

#endif /* LLMJ_X86 */

/* ==== packed layout, portable: the reference for the packed kernels and the fallback below the
 * AVX2 level. Per row and token the same integer block sums and the same float operations in the
 * same order as the tile kernels (product of the two scales rounded, then one fused multiply-add per
 * block), so every ISA computes packed products bit for bit alike. */

/* byte j (0..3) of the dword that holds row i's quants 4k..4k+3 in packed vector k */
static inline uint8_t packed_byte(const uint8_t * blk, int k, int i, int j) { return blk[64 * k + 4 * i + j]; }

static void ptile_packed_s(int type, const char * g, int64_t nb, const char * a, size_t a_stride, float * out, int T) {
    const int qb = pack_qbytes(type);
    const uint16_t * sc = (const uint16_t *) (g + (size_t) nb * (size_t) qb);
    for (int t = 0; t < T; t++) {
        const char * at = a + (size_t) t * a_stride;
        const block_q8_0 * aq = (const block_q8_0 *) at;
        const float * ad = q8_0_side_d(at, nb);
        for (int i = 0; i < TILE_R; i++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t * blk = (const uint8_t *) g + (size_t) b * (size_t) qb;
                int isum = 0;
                if (type == LLMJ_TYPE_Q4_0) {
                    for (int k = 0; k < 4; k++) {
                        for (int j = 0; j < 4; j++) {
                            const int v = packed_byte(blk, k, i, j);
                            isum += ((v & 0xF) - 8) * aq[b].qs[4 * k + j] + ((v >> 4) - 8) * aq[b].qs[16 + 4 * k + j];
                        }
                    }
                } else {
                    for (int k = 0; k < 8; k++) {
                        for (int j = 0; j < 4; j++) isum += (packed_byte(blk, k, i, j) - 128) * aq[b].qs[4 * k + j];
                    }
                }
                const float d = h2f(sc[16 * b + i]) * ad[b];
                acc = fmaf(d, (float) isum, acc);
            }
            out[t * TILE_R + i] = acc;
        }
    }
}
static void ptile_q4_0_s(const char * g, int64_t nb, const char * a, size_t a_stride, float * out, int T) {
    ptile_packed_s(LLMJ_TYPE_Q4_0, g, nb, a, a_stride, out, T);
}
static void ptile_q8_0_s(const char * g, int64_t nb, const char * a, size_t a_stride, float * out, int T) {
    ptile_packed_s(LLMJ_TYPE_Q8_0, g, nb, a, a_stride, out, T);
}

/* ==== dispatch ============================================================================ */

enum { SLOT_SCALAR, SLOT_AVX2, SLOT_AVX512, SLOT_VNNI, N_SLOTS };

typedef struct { int type; qdot_fn fn[N_SLOTS]; } kernel_row;

#ifdef LLMJ_X86
#define K(t, s, a2, a5) { t, { s, a2, a5, NULL } }
#define KV(t, s, a2, a5, vn) { t, { s, a2, a5, vn } }
#else
#define K(t, s, a2, a5) { t, { s, NULL, NULL, NULL } }
#define KV(t, s, a2, a5, vn) { t, { s, NULL, NULL, NULL } }
#endif

static const kernel_row KERNELS[] = {
    K(LLMJ_TYPE_F32,    dot_f32_s,    dot_f32_a2,    dot_f32_a5),
    K(LLMJ_TYPE_F16,    dot_f16_s,    dot_f16_a2,    dot_f16_a5),
    K(LLMJ_TYPE_BF16,   dot_bf16_s,   dot_bf16_a2,   dot_bf16_a5),
    KV(LLMJ_TYPE_Q4_0,  dot_q4_0_s,   dot_q4_0_b8_a2, dot_q4_0_b8_a2, dot_q4_0_vnni),
    K(LLMJ_TYPE_Q4_1,   dot_q4_1_s,   dot_q4_1_a2,   NULL),
    K(LLMJ_TYPE_Q5_0,   dot_q5_0_s,   dot_q5_0_b8_a2, NULL),
    K(LLMJ_TYPE_Q5_1,   dot_q5_1_s,   dot_q5_1_a2,   NULL),
    KV(LLMJ_TYPE_Q8_0,  dot_q8_0_s,   dot_q8_0_b8_a2, dot_q8_0_b8_a2, dot_q8_0_vnni),
    K(LLMJ_TYPE_Q2_K,   dot_q2_K_s,   dot_q2_K_a2,   NULL),
    K(LLMJ_TYPE_Q3_K,   dot_q3_K_s,   dot_q3_K_a2,   NULL),
    K(LLMJ_TYPE_Q4_K,   dot_q4_K_s,   dot_q4_K_a2,   NULL),
    K(LLMJ_TYPE_Q5_K,   dot_q5_K_s,   dot_q5_K_a2,   NULL),
    K(LLMJ_TYPE_Q6_K,   dot_q6_K_s,   dot_q6_K_a2,   NULL),
    K(LLMJ_TYPE_IQ4_NL, dot_iq4_nl_s, dot_iq4_nl_b8_a2, NULL),
    K(LLMJ_TYPE_IQ4_XS, dot_iq4_xs_s, dot_iq4_xs_a2, NULL),
};

/* The kernel for `type` at the active ISA; an AVX-512 slot left NULL uses the AVX2 kernel
 * (where 512-bit registers gained nothing measurable, the 256-bit kernel is the AVX-512 one).
 * At the AVX-512 level a CPU with AVX512-VNNI uses the VNNI kernel where there is one. */
static qdot_fn select_kernel(int type) {
    int isa = llmj_cpu_active_isa();
    for (size_t i = 0; i < sizeof KERNELS / sizeof KERNELS[0]; i++) {
        if (KERNELS[i].type != type) continue;
        int slot = isa == LLMJ_ISA_AVX512 ? SLOT_AVX512 : isa == LLMJ_ISA_AVX2 ? SLOT_AVX2 : SLOT_SCALAR;
        if (slot == SLOT_AVX512 && (llmj_cpu_features() & LLMJ_CPU_AVX512VNNI) && KERNELS[i].fn[SLOT_VNNI]) slot = SLOT_VNNI;
        while (slot > SLOT_SCALAR && KERNELS[i].fn[slot] == NULL) slot--;
        return KERNELS[i].fn[slot];
    }
    return NULL;
}

/* The four-token kernel that matches select_kernel(type) bit for bit, or NULL. */
static qdot4_fn select_kernel4(int type, qdot_fn one) {
#ifdef LLMJ_X86
    if (type == LLMJ_TYPE_Q4_0) {
        if (one == dot_q4_0_vnni) return dot4_q4_0_vnni;
        if (one == dot_q4_0_b8_a2) return dot4_q4_0_a2;
    }
    if (type == LLMJ_TYPE_Q8_0) {
        if (one == dot_q8_0_vnni) return dot4_q8_0_vnni;
        if (one == dot_q8_0_b8_a2) return dot4_q8_0_a2;
    }
#else
    (void) type; (void) one;
#endif
    return NULL;
}

typedef void (*qtile_fn)(const char * const * wr, int64_t nb, const char * a, size_t a_stride, float * out, int T);

/* The row-interleaved tile kernel for `type` (used for matvec and matmul alike), or NULL. */
static qtile_fn select_tile(int type) {
#ifdef LLMJ_X86
    if (llmj_cpu_active_isa() == LLMJ_ISA_AVX512 && (llmj_cpu_features() & LLMJ_CPU_AVX512VNNI)) {
        if (type == LLMJ_TYPE_Q4_0) return tile_q4_0_vnni512;
        if (type == LLMJ_TYPE_Q8_0) return tile_q8_0_vnni512;
    }
#else
    (void) type;
#endif
    return NULL;
}

typedef void (*qptile_fn)(const char * g, int64_t nb, const char * a, size_t a_stride, float * out, int T);
typedef void (*qpgroups_fn)(const char * const * gs, int64_t nb, const char * a, float * out, int G);

static qpgroups_fn select_pgroups(int type) {
#ifdef LLMJ_X86
    if (llmj_cpu_active_isa() == LLMJ_ISA_AVX512 && (llmj_cpu_features() & LLMJ_CPU_AVX512VNNI)) {
        if (type == LLMJ_TYPE_Q4_0) return pgroups_q4_0_vnni512;
        if (type == LLMJ_TYPE_Q8_0) return pgroups_q8_0_vnni512;
    }
    if (llmj_cpu_active_isa() >= LLMJ_ISA_AVX2) {   /* AVX2, or AVX-512 without VNNI */
        if (type == LLMJ_TYPE_Q4_0) return pgroups_q4_0_a2;
        if (type == LLMJ_TYPE_Q8_0) return pgroups_q8_0_a2;
    }
#endif
    (void) type;
    return NULL;
}

/* Groups a packed one-token product reads side by side (f: its select_pgroups kernel): PGROUPS, but 2 for Q8_0 at
 * the AVX2 level. There, kernel lab (2 threads, one token, 512 MiB cycled, 3 runs alternating G = 4 / 1 / 2), packed
 * against unpacked time for the four llama-1b shapes: G = 4 0.60-1.22x (four of twelve under 0.85x), G = 1
 * 0.97-1.14x, G = 2 0.97-1.29x; Q4_0 G = 4 1.06-1.81x, G = 2 1.24-1.55x (the same mean: Q4_0 keeps 4). */
static int pgroups_streams(qpgroups_fn f) {
#ifdef LLMJ_X86
    if (f == pgroups_q8_0_a2) return 2;
#endif
    (void) f;
    return PGROUPS;
}

/* The kernel for packed Q4_0 / Q8_0 at the active ISA: AVX512-VNNI, AVX2 (also AVX-512 without VNNI),
 * else the portable one. */
static qptile_fn select_ptile(int type) {
#ifdef LLMJ_X86
    if (llmj_cpu_active_isa() == LLMJ_ISA_AVX512 && (llmj_cpu_features() & LLMJ_CPU_AVX512VNNI)) {
        if (type == LLMJ_TYPE_Q4_0) return ptile_q4_0_vnni512;
        if (type == LLMJ_TYPE_Q8_0) return ptile_q8_0_vnni512;
    }
    if (llmj_cpu_active_isa() >= LLMJ_ISA_AVX2) {
        if (type == LLMJ_TYPE_Q4_0) return ptile_q4_0_a2;
        if (type == LLMJ_TYPE_Q8_0) return ptile_q8_0_a2;
    }
#endif
    if (type == LLMJ_TYPE_Q4_0) return ptile_q4_0_s;
    if (type == LLMJ_TYPE_Q8_0) return ptile_q8_0_s;
    return NULL;
}

/* ==== drivers ============================================================================= */

typedef struct {
    qdot_fn dot;
    qdot4_fn dot4;            /* NULL: tokens one at a time */
    qtile_fn tile;            /* non-NULL: 16-row x 8-token tiles for every call */
    qptile_fn ptile;          /* non-NULL: the same tiles over a packed matrix (w = its first group) */
    size_t group_bytes;       /* packed: bytes per 16-row group */
    qpgroups_fn pgroups;      /* packed, one token: several groups at once, or NULL */
    int n_groups;             /* groups per pgroups call */
    int vt;
    const char * w;
    size_t row_bytes;
    const float * x;
    size_t x_stride;          /* floats */
    float * y;
    size_t y_stride;          /* floats */
    char * act;               /* converted activations, act_bytes per token */
    size_t act_bytes;
    int64_t rows, cols, nb, n_tokens;
    int64_t act_blocks;       /* activation blocks per token */
    int act_bs;               /* activation block size (elements) */
    int64_t chunk;            /* rows per work item */
    int n_mats;               /* > 0: packed matrices sharing the input (mats[]), instead of w / rows / y */
    struct {
        const char * w;
        int64_t rows, chunk, items;   /* items: work items (chunks) of this matrix */
        float * y;                    /* token t at y + t * rows */
    } mats[LLMJ_MATMUL_MULTI_MAX];
    _Atomic int64_t next;     /* next work item to claim */
    int64_t q_chunk;          /* activation blocks per quantization work item */
    _Atomic int64_t q_next;
    _Atomic int64_t q_done;   /* activation blocks converted so far */
} job;

/* Phase 1: convert activations; (token, block) ranges claimed from a counter. */
static void job_quantize(void * ctx, int ith, int nth) {
    (void) ith; (void) nth;
    job * j = ctx;
    const int64_t total = j->n_tokens * j->act_blocks;
    const size_t blk_bytes = (size_t) llmj_type_get(j->vt)->block_bytes;
    for (;;) {
        int64_t b0 = atomic_fetch_add_explicit(&j->q_next, 1, memory_order_relaxed) * j->q_chunk;
        if (b0 >= total) break;
        int64_t b1 = b0 + j->q_chunk < total ? b0 + j->q_chunk : total;
        const int64_t claimed = b1 - b0;
        while (b0 < b1) {
            int64_t t = b0 / j->act_blocks, first = b0 % j->act_blocks;
            int64_t last = t == b1 / j->act_blocks ? b1 % j->act_blocks : j->act_blocks;
            char * row = j->act + (size_t) t * j->act_bytes;
            llmj_quantize_act(j->vt, j->x + (size_t) t * j->x_stride + first * j->act_bs,
                              row + (size_t) first * blk_bytes, (last - first) * j->act_bs);
            if (j->vt == LLMJ_TYPE_Q8_0) q8_0_fill_side(row, j->act_blocks, first, last);
            if (j->vt == LLMJ_TYPE_Q8_1) q8_1_fill_side(row, j->act_blocks, first, last);
            b0 += last - first;
        }
        atomic_fetch_add_explicit(&j->q_done, claimed, memory_order_release);
    }
}

/* Both phases in one dispatch of the pool (one wake-up per product instead of two): a thread
 * converts what it can claim, then waits until every claimed range has been converted (only
 * threads that are running a claimed range are waited for, so a late or absent worker cannot stall
 * it), then takes rows. */
static void job_dot(void * ctx, int ith, int nth);
static void job_quantize_dot(void * ctx, int ith, int nth) {
    job * j = ctx;
    job_quantize(ctx, ith, nth);
    const int64_t total = j->n_tokens * j->act_blocks;
    for (int spins = 0; atomic_load_explicit(&j->q_done, memory_order_acquire) < total; spins++) {
#ifdef LLMJ_X86
        _mm_pause();
#endif
        if (spins > 2000) sched_yield();
    }
    job_dot(ctx, ith, nth);
}

/* Phase 2: threads claim chunks of rows from an atomic counter (about 8 per thread), so a thread
 * that is descheduled or slower does not hold up the others; which thread computes a row does
 * not change its value (each row is one full-length dot product, identical to the matvec).
 * Prefill: a tile of ROW_TILE weight rows (tens to hundreds of KiB) is read from memory once and
 * stays in L2 while every token's activation row (a few KiB, in L1) is dotted with it. */
#define ROW_TILE 32

/* Tile kernels: groups of TILE_R rows (the last group of a chunk repeats its last row in the
 * unused lanes, whose results are dropped) against groups of up to TILE_T tokens. A group's
 * weights (16 rows, ~74 KiB for a 4096-wide Q4_0 row) stay in L2 across the token groups. */
static void job_tiles(job * j, const char * act) {
    float out[TILE_T * TILE_R];   /* also PGROUPS x TILE_R */
    for (;;) {
        int64_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        const char * w = j->w;
        float * y = j->y;
        size_t y_stride = j->y_stride;
        int64_t rows = j->rows, chunk = j->chunk;
        if (j->n_mats > 0) {   /* items run through the matrices in order */
            int k = 0;
            while (k < j->n_mats && item >= j->mats[k].items) item -= j->mats[k++].items;
            if (k == j->n_mats) break;
            w = j->mats[k].w; y = j->mats[k].y; rows = j->mats[k].rows; y_stride = (size_t) rows; chunk = j->mats[k].chunk;
        }
        int64_t c0 = item * chunk;
        if (c0 >= rows) break;
        int64_t c1 = c0 + chunk < rows ? c0 + chunk : rows;
        if (j->pgroups && j->n_tokens == 1) {
            /* the chunk's groups in PGROUPS contiguous runs walked side by side: each run is one long
             * sequential stream (groups are back to back), so the prefetchers stay on it */
            const int64_t g0 = c0 / TILE_R, ng = (c1 - c0 + TILE_R - 1) / TILE_R;
            const int np = j->n_groups;
            const int64_t per = (ng + np - 1) / np;
            for (int64_t i = 0; i < per; i++) {
                const char * gs[PGROUPS];
                int64_t gid[PGROUPS];
                int G = 0;
                for (int k = 0; k < np; k++) {
                    const int64_t g = k * per + i;
                    if (g < ng) { gid[G] = g0 + g; gs[G] = w + (size_t) (g0 + g) * j->group_bytes; G++; }
                }
                j->pgroups(gs, j->nb, act, out, G);
                for (int k = 0; k < G; k++) {
                    const int64_t r0 = gid[k] * TILE_R, n = c1 - r0 < TILE_R ? c1 - r0 : TILE_R;
                    memcpy(y + r0, out + k * TILE_R, sizeof(float) * (size_t) n);
                }
            }
            continue;
        }
        for (int64_t r0 = c0; r0 < c1; r0 += TILE_R) {
            const int nr = (int) (c1 - r0 < TILE_R ? c1 - r0 : TILE_R);
            const char * wr[TILE_R];
            const char * g = w + (size_t) (r0 / TILE_R) * j->group_bytes;
            if (!j->ptile) {
                for (int i = 0; i < TILE_R; i++) wr[i] = w + (size_t) (r0 + (i < nr ? i : nr - 1)) * j->row_bytes;
            }
            for (int64_t t0 = 0; t0 < j->n_tokens; t0 += TILE_T) {
                const int nt = (int) (j->n_tokens - t0 < TILE_T ? j->n_tokens - t0 : TILE_T);
                if (j->ptile) j->ptile(g, j->nb, act + (size_t) t0 * j->act_bytes, j->act_bytes, out, nt);
                else j->tile(wr, j->nb, act + (size_t) t0 * j->act_bytes, j->act_bytes, out, nt);
                for (int t = 0; t < nt; t++) {
                    float * yt = y + (size_t) (t0 + t) * y_stride + r0;
                    for (int i = 0; i < nr; i++) yt[i] = out[t * TILE_R + i];
                }
            }
        }
    }
}

/* One token over unpacked rows walks each chunk's rows in order. Tried for Q6_K (llama-1b's output, 32000 x 2048,
 * 2 threads, bench_matvec_q): the chunk's rows as 2 or 4 runs read side by side, as the packed products do, gave
 * 72% of the streaming bandwidth against 73-76% in order, which points at the kernel (one thread: about 60 cycles per
 * block at 2.55 GHz) rather than the access pattern; dot_q6_K_a2 was made leaner since. */
static void job_dot(void * ctx, int ith, int nth) {
    (void) ith; (void) nth;
    job * j = ctx;
    const char * act = j->act ? j->act : (const char *) j->x;
    if (j->tile || j->ptile) {
        job_tiles(j, act);
        return;
    }
    for (;;) {
        int64_t c0 = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * j->chunk;
        if (c0 >= j->rows) break;
        int64_t c1 = c0 + j->chunk < j->rows ? c0 + j->chunk : j->rows;
        for (int64_t r0 = c0; r0 < c1; r0 += ROW_TILE) {
            int64_t r1 = r0 + ROW_TILE < c1 ? r0 + ROW_TILE : c1;
            int64_t t = 0;
            if (j->dot4) {
                for (; t + 4 <= j->n_tokens; t += 4) {
                    const char * at = act + (size_t) t * j->act_bytes;
                    float * yt = j->y + (size_t) t * j->y_stride;
                    for (int64_t r = r0; r < r1; r++) {
                        float o[4];
                        j->dot4(j->w + (size_t) r * j->row_bytes, at, j->act_bytes, j->nb, o);
                        for (int k = 0; k < 4; k++) yt[(size_t) k * j->y_stride + r] = o[k];
                    }
                }
            }
            for (; t < j->n_tokens; t++) {
                const char * at = act + (size_t) t * j->act_bytes;
                float * yt = j->y + (size_t) t * j->y_stride;
                for (int64_t r = r0; r < r1; r++) yt[r] = j->dot(j->w + (size_t) r * j->row_bytes, at, j->nb);
            }
        }
    }
}

/* packed: w is a packed matrix of packed_bytes (llmj_matmul_q_pack), row_bytes is unused */
/* n_mats > 1: packed matrices m_w[k] (m_bytes[k] bytes, m_rows[k] rows, outputs m_y[k] with stride
 * m_rows[k]) share x; w / packed_bytes / rows / y / y_stride are those of matrix 0 */
static int run_multi(const char * fn, llmj_threadpool * pool, int type, const void * w, size_t row_bytes, int packed,
               size_t packed_bytes, const float * x, size_t x_stride, float * y, size_t y_stride,
               int64_t rows, int64_t cols, int64_t n_tokens, void * work, size_t work_bytes,
               int n_mats, const void * const * m_w, const size_t * m_bytes, const int64_t * m_rows, float * const * m_y) {
    const llmj_type_info * ti = llmj_type_get(type);
    qdot_fn dot = select_kernel(type);
    if (!ti || !dot) {
        return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, fn, "weight type %d has no product kernel", type);
    }
    if (rows < 0 || cols < 0 || n_tokens < 0) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "negative shape rows=%lld cols=%lld n_tokens=%lld",
                                  (long long) rows, (long long) cols, (long long) n_tokens);
    }
    if (cols % ti->block_size != 0) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "cols %lld is not a multiple of the block size %d of type %d",
                                  (long long) cols, ti->block_size, type);
    }
    if (rows == 0 || n_tokens == 0) return LLMJ_OK;
    if (!w || !x || !y) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "null pointer (w=%p x=%p y=%p)", w, (const void *) x, (void *) y);
    }
    const int64_t nb = cols / ti->block_size;
    qptile_fn ptile = NULL;
    if (packed) {
        ptile = select_ptile(type);
        if (!ptile) return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, fn, "weight type %d has no packed layout", type);
        const size_t need = llmj_matmul_q_packed_size(type, rows, cols);
        if (packed_bytes < need) {
            return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "packed_bytes %zu is less than the %zu of a %lld x %lld matrix",
                                      packed_bytes, need, (long long) rows, (long long) cols);
        }
        if (((uintptr_t) w & 63) != 0) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "packed matrix %p is not 64-byte aligned", w);
    } else if (row_bytes < (size_t) nb * (size_t) ti->block_bytes) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "row_bytes %zu is less than %lld blocks x %d bytes",
                                  row_bytes, (long long) nb, ti->block_bytes);
    }
    if (n_tokens > 1 && (x_stride < (size_t) cols || y_stride < (size_t) rows)) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "x_stride %zu < cols %lld or y_stride %zu < rows %lld",
                                  x_stride, (long long) cols, y_stride, (long long) rows);
    }
    const int vt = ti->vec_dot_type;
    const llmj_type_info * at = llmj_type_get(vt);
    const size_t act_bytes = act_stride(vt, cols);
    job j = {
        .dot = dot, .dot4 = select_kernel4(type, dot), .vt = vt, .w = w, .row_bytes = row_bytes, .x = x, .x_stride = x_stride, .y = y,
        .y_stride = y_stride, .act = NULL, .act_bytes = act_bytes, .rows = rows, .cols = cols, .nb = nb,
        .n_tokens = n_tokens, .act_blocks = cols / at->block_size, .act_bs = at->block_size,
    };
    void * owned = NULL;
    int fused = 0;
    if (vt == LLMJ_TYPE_F32) {
        j.act_bytes = x_stride * sizeof(float);     /* dot straight from x */
    } else {
        size_t need = act_bytes * (size_t) n_tokens;
        if (!work) {
            owned = malloc(need);
            if (!owned) return llmj_internal_fail(LLMJ_ERR_OUT_OF_MEMORY, fn, "work allocation of %zu bytes failed", need);
            work = owned;
        } else if (work_bytes < need) {
            return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, fn, "work_bytes %zu is less than the %zu needed", work_bytes, need);
        }
        j.act = work;
        const int64_t total = n_tokens * j.act_blocks;
        const int nthq = llmj_threadpool_size(pool);
        j.q_chunk = total < 64 || nthq == 1 ? total : (total + 4 * nthq - 1) / (4 * nthq);
        atomic_init(&j.q_next, 0);
        atomic_init(&j.q_done, 0);
        if (total > 0 && total < 64) job_quantize(&j, 0, 1);      /* small: the caller converts it */
        else if (total > 0) fused = 1;
    }
    const int nth = llmj_threadpool_size(pool);
    j.chunk = nth == 1 ? rows : (rows + 8 * nth - 1) / (8 * nth);
    j.tile = packed ? NULL : select_tile(type);
    j.ptile = ptile;
    if (ptile) {
        j.dot = NULL; j.dot4 = NULL; j.group_bytes = pack_group_bytes(type, nb);
        j.pgroups = select_pgroups(type);
        j.n_groups = pgroups_streams(j.pgroups);
        if (j.pgroups) j.chunk = (j.chunk + PGROUPS * TILE_R - 1) / (PGROUPS * TILE_R) * (PGROUPS * TILE_R);
    }
    if (j.tile || j.ptile) j.chunk = (j.chunk + TILE_R - 1) / TILE_R * TILE_R;
    (void) m_bytes;     /* checked by the caller, with the rest of each matrix */
    if (n_mats > 1) {   /* checked by the caller: packed, rows > 0 */
        j.n_mats = n_mats;
        const int64_t unit = j.pgroups ? (int64_t) PGROUPS * TILE_R : TILE_R;
        for (int k = 0; k < n_mats; k++) {
            int64_t c = nth == 1 ? m_rows[k] : (m_rows[k] + 8 * nth - 1) / (8 * nth);
            c = (c + unit - 1) / unit * unit;
            j.mats[k].w = m_w[k]; j.mats[k].rows = m_rows[k]; j.mats[k].y = m_y[k];
            j.mats[k].chunk = c; j.mats[k].items = (m_rows[k] + c - 1) / c;
        }
    }
    atomic_init(&j.next, 0);
    if (n_tokens == 1) {   /* decode: idle workers read ahead into the product that follows this one */
        const void * rp[LLMJ_MATMUL_MULTI_MAX];
        size_t rl[LLMJ_MATMUL_MULTI_MAX];
        int rn = 0;
        if (n_mats > 1) {
            for (int k = 0; k < n_mats; k++) { rp[rn] = m_w[k]; rl[rn++] = m_bytes[k]; }   /* n_mats <= MAX: checked */
        } else {
            rp[rn] = w; rl[rn++] = packed ? packed_bytes : (size_t) rows * row_bytes;
        }
        llmj_threadpool_readahead(pool, rp, rl, rn);
    }
    llmj_threadpool_run(pool, fused ? job_quantize_dot : job_dot, &j);
    free(owned);
    return LLMJ_OK;
}

static int run(const char * fn, llmj_threadpool * pool, int type, const void * w, size_t row_bytes, int packed,
               size_t packed_bytes, const float * x, size_t x_stride, float * y, size_t y_stride,
               int64_t rows, int64_t cols, int64_t n_tokens, void * work, size_t work_bytes) {
    return run_multi(fn, pool, type, w, row_bytes, packed, packed_bytes, x, x_stride, y, y_stride, rows, cols, n_tokens,
                     work, work_bytes, 1, NULL, NULL, NULL, NULL);
}

size_t llmj_matvec_work_size(int type, int64_t cols) { return llmj_matmul_work_size(type, cols, 1); }

size_t llmj_matmul_work_size(int type, int64_t cols, int64_t n_tokens) {
    const llmj_type_info * ti = llmj_type_get(type);
    if (!ti || ti->vec_dot_type < 0 || !select_kernel(type) || cols < 0 || n_tokens < 0) return 0;
    if (ti->vec_dot_type == LLMJ_TYPE_F32) return 0;
    return act_stride(ti->vec_dot_type, cols) * (size_t) n_tokens;
}

int llmj_matvec_q(llmj_threadpool * pool, int type, const void * w, size_t row_bytes,
                  const float * x, float * y, int64_t rows, int64_t cols, void * work, size_t work_bytes) {
    return run(__func__, pool, type, w, row_bytes, 0, 0, x, (size_t) cols, y, (size_t) rows, rows, cols, 1, work, work_bytes);
}

int llmj_matmul_q(llmj_threadpool * pool, int type, const void * w, size_t row_bytes,
                  const float * x, size_t x_stride, float * y, size_t y_stride,
                  int64_t rows, int64_t cols, int64_t n_tokens, void * work, size_t work_bytes) {
    return run(__func__, pool, type, w, row_bytes, 0, 0, x, x_stride, y, y_stride, rows, cols, n_tokens, work, work_bytes);
}

/* ---- packed Q4_0 / Q8_0 ---- */

size_t llmj_matmul_q_packed_size(int type, int64_t rows, int64_t cols) {
    if ((type != LLMJ_TYPE_Q4_0 && type != LLMJ_TYPE_Q8_0) || rows <= 0 || cols <= 0 || cols % 32 != 0) return 0;
    return (size_t) ((rows + TILE_R - 1) / TILE_R) * pack_group_bytes(type, cols / 32);
}

/* AVX2 and up: the packed kernels beat the unpacked ones for prefill and decode (Q8_0's decode reading 2 groups side
 * by side at the AVX2 level: pgroups_streams; design notes above). */
int llmj_matmul_q_pack_recommended(int type) {
    if (type != LLMJ_TYPE_Q4_0 && type != LLMJ_TYPE_Q8_0) return 0;
    return llmj_cpu_active_isa() >= LLMJ_ISA_AVX2 ? 1 : 0;
}

typedef struct {
    int type;
    const char * w;
    size_t row_bytes;
    char * dst;
    int64_t rows, nb, groups;
    size_t group_bytes;
    _Atomic int64_t next;
} pack_job;

/* one 16-row group: each source row is read once, block by block, and its quant dwords and scale
 * scattered into the group (a few KiB to tens of KiB, in cache) */
static void pack_group(const pack_job * p, int64_t gi) {
    char * g = p->dst + (size_t) gi * p->group_bytes;
    const int qb = pack_qbytes(p->type);
    uint16_t * sc = (uint16_t *) (g + (size_t) p->nb * (size_t) qb);
    memset(g, 0, p->group_bytes);
    for (int i = 0; i < TILE_R; i++) {
        const int64_t r = gi * TILE_R + i;
        if (r >= p->rows) break;
        const char * row = p->w + (size_t) r * p->row_bytes;
        for (int64_t b = 0; b < p->nb; b++) {
            uint8_t * blk = (uint8_t *) g + (size_t) b * (size_t) qb;
            if (p->type == LLMJ_TYPE_Q4_0) {
                const block_q4_0 * src = (const block_q4_0 *) row + b;
                sc[16 * b + i] = src->d;
                for (int k = 0; k < 4; k++) memcpy(blk + 64 * k + 4 * i, src->qs + 4 * k, 4);
            } else {
                const block_q8_0 * src = (const block_q8_0 *) row + b;
                sc[16 * b + i] = src->d;
                for (int k = 0; k < 8; k++) {
                    uint32_t v; memcpy(&v, src->qs + 4 * k, 4);
                    v ^= 0x80808080u;                       /* w + 128 as unsigned bytes */
                    memcpy(blk + 64 * k + 4 * i, &v, 4);
                }
            }
        }
    }
}

static void job_pack(void * ctx, int ith, int nth) {
    (void) ith; (void) nth;
    pack_job * p = ctx;
    for (;;) {
        int64_t gi = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (gi >= p->groups) break;
        pack_group(p, gi);
    }
}

int llmj_matmul_q_pack(llmj_threadpool * pool, int type, const void * w, size_t row_bytes, int64_t rows, int64_t cols,
                       void * packed, size_t packed_bytes) {
    if (type != LLMJ_TYPE_Q4_0 && type != LLMJ_TYPE_Q8_0) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d has no packed layout (Q4_0 and Q8_0 have)", type);
    }
    if (rows <= 0 || cols <= 0 || cols % 32 != 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "shape rows=%lld cols=%lld (both positive, cols a multiple of 32)",
                         (long long) rows, (long long) cols);
    }
    if (!w || !packed) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer (w=%p packed=%p)", w, packed);
    if (((uintptr_t) packed & 63) != 0) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "packed %p is not 64-byte aligned", packed);
    const int64_t nb = cols / 32;
    const size_t blk = type == LLMJ_TYPE_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    if (row_bytes < (size_t) nb * blk) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "row_bytes %zu is less than %lld blocks x %zu bytes", row_bytes, (long long) nb, blk);
    }
    const size_t need = llmj_matmul_q_packed_size(type, rows, cols);
    if (packed_bytes < need) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "packed_bytes %zu is less than the %zu needed", packed_bytes, need);
    }
    pack_job p = { .type = type, .w = w, .row_bytes = row_bytes, .dst = packed, .rows = rows, .nb = nb,
                   .groups = (rows + TILE_R - 1) / TILE_R, .group_bytes = pack_group_bytes(type, nb) };
    atomic_init(&p.next, 0);
    llmj_threadpool_run(pool, job_pack, &p);
    return LLMJ_OK;
}

int llmj_matmul_q_packed(llmj_threadpool * pool, int type, const void * packed, size_t packed_bytes,
                         const float * x, size_t x_stride, float * y, size_t y_stride,
                         int64_t rows, int64_t cols, int64_t n_tokens, void * work, size_t work_bytes) {
    return run(__func__, pool, type, packed, 0, 1, packed_bytes, x, x_stride, y, y_stride, rows, cols, n_tokens, work, work_bytes);
}

int llmj_matmul_q_packed_multi(llmj_threadpool * pool, int type, int n_mats, const void * const * packed,
                               const size_t * packed_bytes, const int64_t * rows, const float * x, size_t x_stride,
                               float * const * ys, int64_t cols, int64_t n_tokens, void * work, size_t work_bytes) {
    if (n_mats < 1 || n_mats > LLMJ_MATMUL_MULTI_MAX || !packed || !packed_bytes || !rows || !ys) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "n_mats %d (1..%d) or a null array", n_mats, LLMJ_MATMUL_MULTI_MAX);
    }
    for (int k = 0; k < n_mats; k++) {   /* each matrix as llmj_matmul_q_packed would check it */
        const size_t need = llmj_matmul_q_packed_size(type, rows[k], cols);
        if (rows[k] <= 0 || need == 0 || packed_bytes[k] < need || !packed[k] || ((uintptr_t) packed[k] & 63) != 0 || !ys[k]) {
            return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "matrix %d: type %d, %lld x %lld, %zu bytes at %p (need %zu, 64-byte aligned), y %p",
                             k, type, (long long) rows[k], (long long) cols, packed_bytes[k], packed[k], need, (void *) ys[k]);
        }
    }
    return run_multi(__func__, pool, type, packed[0], 0, 1, packed_bytes[0], x, x_stride, ys[0], (size_t) rows[0], rows[0],
                     cols, n_tokens, work, work_bytes, n_mats, packed, packed_bytes, rows, ys);
}
