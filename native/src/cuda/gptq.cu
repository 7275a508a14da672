// GPTQ products on the GPU, on llmj's repacked layout (llmj_gptq_matrix in llmj.h,
// io.llmj.quant.gptq.GptqMatrix): decode/short-batch matmul with integer block dots, and the F16
// dequantization that feeds the cuBLAS prefill GEMM. CPU reference: src/cpu/gptq.c (llmj_gptq_matmul).
//
// Arithmetic (as the CPU): each token's activation is permuted (x'[j] = x[perm[j]]), zero-padded to
// whole 32-column blocks and converted to Q8_0 blocks by quantize.cu's quantizer (the same integers and
// fp16 d as llmj_quantize_act); each block contributes
//     (float) (sum_i q_i * xq_i - (z + 1) * sum_i xq_i) * (fp16(scale) * d)
// with the bracket an exact int32 (dp4a; 8-bit quants through dp4a.u32.s32). Only the order of the
// float additions differs from the CPU.
//
// Matmul kernel, built for the weight stream: groups of KS warps of a 4-warp thread block own ROWS rows (KS = 4:
// the warps split each row's blocks; KS = 1: each warp its own ROWS rows); lane l of the row's 32 * KS lanes takes
// blocks l, l + 32 * KS, ..., so one warp step reads 32 consecutive 16-byte (4-bit) or 32-byte (8-bit)
// blocks of a row: fully coalesced 16-byte streaming loads (rows are 16-byte aligned: every section of the
// segment starts at a multiple of 64 bytes, block bytes are 16 or 32). U blocks per row are loaded before
// any is used. The activation blocks (int8 quants and their d / sum) are read through L1 (ld_act) and shared by
// the rows. Up to 8 tokens share one pass over the weights (each token's sum in the same order whatever the
// grouping). One launch can cover up to 4 matrices that share the activation (llmj_cuda_gptq_matmul_multi:
// q/k/v, gate/up), which converts the activation once and fills the GPU with one grid. On sm_90 the kernel
// is a programmatic dependent of the activation conversion: its first weight loads are issued before it
// waits for that kernel (as matvec_q.cu does). Act-order and padded columns: the gather is fused into the
// conversion (gptq_quantize_kernel), one kernel before the product. Symmetric matrices (zeros NULL) read no
// zero points: Q4_0 and Q8_0 repacked into this layout (llmj_cuda_gptq_repack_q) run here, with ggml's
// block dots (Q4_0: d (q - 8) as q with zero point 8; Q8_0: q + 128 with zero point 128, the same integer).
//
// Measured (native/tests/cuda/test_cuda_gptq.c --bench-only, H100 80GB HBM3, same run's D2D cudaMemcpy
// 2990 GB/s read + write; one call including the activation conversion; GB/s of weight bytes, quants +
// scales + zeros), shape {2, 2, 4}: 4-bit asym 4096x11008 1975, 11008x4096 2046, act-order 1978; 8-bit
// asym 2307 / 2461 / 2406; more shapes and the defaults at VARIANTS below. Eight tokens in one pass: 4-bit 40.7 us, 8-bit
// 39.1 us. Dequantize to F16 (prefill): 2558 GB/s of input + output in order, 179 GB/s with act-order (the
// output is scattered by perm). Accuracy against llmj_gptq_matmul: max |gpu - cpu| / sum |w * a| < 1e-8.
// The product can add into its output (llmj_cuda_gptq_matmul_act_add: the residual add after a layer's down
// projection, one kernel fewer per layer), and also write the next RMS norm's input unnormalized, the norm's
// reduction deferred to the products that read it (llmj_cuda_gptq_matmul_act_add_norm / _norm_act: the norm kernel
// gone; launch_add_norm has the measurements), and the gate / up products of such a norm's output can apply the GLU and
// convert it for the down projection (llmj_cuda_gptq_matmul_norm_glu: the GLU kernel gone; launch_glu_fmt).
// Q4_K, Q5_K and Q6_K matrices repacked into this layout (llmj_cuda_kquant_repack; llmj_gptq_matrix.format) run the same
// kernel with K-quant block dots: the activation is Q8_K (quants as above, a float d per 256 columns and int16 sums of
// 16, from llmj_cuda_kquant_quantize_q8k or the fused llmj_cuda_rms_norm_q8k / llmj_cuda_glu_q8k), each block
// contributes (float) (sc * sum q xq) * (d * dx) - (float) (m * sum xq) * (dmin * dx) (Q4_K, Q5_K) or
// (float) (sc_lo * sum_lo (q - 32) xq + sc_hi * sum_hi (q - 32) xq) * (d * dx) (Q6_K), the brackets exact int32:
// the CPU's and llmj_cuda_matmul's K-quant products up to float order. A launch may mix them (FMT_KMIX).
// Measured (test_cuda_kquants --bench, H100, the product with its Q8_K conversion, GB/s of repacked bytes):
// Q4_K 11008x4096 2266-2374, 4096x11008 2173-2193; Q6_K 2469-2487 / 2409-2417; ggml's blocks (llmj_cuda_matmul):
// 1751-1767 / 1744-1751 and 1960 / 1833-1839.
// With llmj_gptq_matrix.act32 (CudaBackend's default) the K-quant products read Q8_0 blocks instead (A32): a d per
// 32 columns (q8_act_meta: d, the quant sum and the first 16 quants' sum for Q6_K's halves), each block's contribution
// the same expression with its own dx, as llama.cpp's CUDA backend reads Q8_1 blocks. A layer's norms, GLU and attention
// then convert for them as for Q4_0 (the attention could not write Q8_K: a 256-value block spans two heads), one
// kernel fewer, and the one-token kernels take fewer registers (ptxas, sm_90: Q4_K 77 against 90, the Q4_K + Q6_K mix
// 96 against 121; Q6_K 96 against 91). H100, llama2-7b synth Q4_K_M tg128, norms not folded, same runs: 526-529 t/s
// against 484-487 with Q8_K (-Dllmj.cuda.kquantQ8K=true), three runs. They fold the norms too (launch_add_norm).
// kernel -> launcher -> C entry points (llmj_cuda_gptq_work_size, llmj_cuda_gptq_matmul(_multi, _act, _act_add),
// llmj_cuda_gptq_dequantize_f16, llmj_cuda_gptq_get_rows, llmj_cuda_gptq_repack_q, llmj_cuda_kquant_repack).
#include <type_traits>

#include "matvec_q.cuh"
#include "kquants.cuh"

namespace {

constexpr int WARP = 32;
constexpr int WARPS = 4;         // warps per thread block
constexpr int MAX_TOKENS = 8;    // tokens per pass over the weights
constexpr int THREADS = 256;     // element-wise kernels

// Work buffer: the Q8_0 activation blocks of the permuted rows padded to cols32 = whole blocks
// (launch_quantize_q8_act's layout, matvec_q.cuh).
inline int64_t padded_cols(int64_t cols) { return (cols + 31) / 32 * 32; }

// a (4 bytes, unsigned) . b (4 bytes, signed) + c
static __device__ __forceinline__ int dp4a_us(uint32_t a, int b, int c) {
    int r;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

// Formats of llmj_gptq_matrix: GPTQ (and Q4_0 / Q8_0 repacked by llmj_cuda_gptq_repack_q), and the K-quants
// repacked by llmj_cuda_kquant_repack (llmj.h spells out their layout).
constexpr int FMT_GPTQ = 0;
constexpr int FMT_Q4K = LLMJ_TYPE_Q4_K;
constexpr int FMT_Q5K = LLMJ_TYPE_Q5_K;
constexpr int FMT_Q6K = LLMJ_TYPE_Q6_K;
// Q4_K and Q5_K: 6-bit scale and min per block, d and dmin per super-block; bits 4 / 5 / 6.
template <int FMT> __host__ __device__ constexpr bool has_min() { return FMT == FMT_Q4K || FMT == FMT_Q5K; }

// The weight bytes of one block: 4 bits: one uint4 (byte i = column i | column i + 16 << 4);
// 8 bits: two (byte i = column i); 5 and 6 bits (Q5_K, Q6_K): the 4-bit low parts as 4 bits, and h, the high
// bits (Q5_K: h.x, bit c = column c; Q6_K: h.x and h.y, llmj_cuda_kquant_repack's 2-bit order).
template <int BITS> struct wq { uint4 v[BITS == 8 ? 2 : 1]; uint2 h; };

template <int BITS>
static __device__ __forceinline__ int block_isum(const wq<BITS> & w, const int4 xa, const int4 xb) {
    if (BITS == 4 || BITS == 5 || BITS == 6) {
        const uint32_t q[4] = {w.v[0].x, w.v[0].y, w.v[0].z, w.v[0].w};
        const int xl[4] = {xa.x, xa.y, xa.z, xa.w};
        const int xh[4] = {xb.x, xb.y, xb.z, xb.w};
        int s = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            s = __dp4a((int) (q[k] & 0x0F0F0F0Fu), xl[k], s);          // columns 4k .. 4k + 3
            s = __dp4a((int) ((q[k] >> 4) & 0x0F0F0F0Fu), xh[k], s);   // columns 16 + 4k ..
        }
        return s;
    } else {
        const uint32_t q[8] = {w.v[0].x, w.v[0].y, w.v[0].z, w.v[0].w, w.v[BITS / 8].x, w.v[BITS / 8].y,
                               w.v[BITS / 8].z, w.v[BITS / 8].w};
        const int xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
        int s = 0;
#pragma unroll
        for (int k = 0; k < 8; k++) s = dp4a_us(q[k], xv[k], s);
        return s;
    }
}

// Q6_K block: sum over both halves of sc_half * sum_i (q_i - 32) * xq_i, q_i = low | high << 4 in 0..63
// (exact in int32). xlo, xhi: the sums of the block's first and last 16 activation quants (Q8_K's bsums).
static __device__ __forceinline__ int block_isum_q6k(const wq<6> & w, const int4 xa, const int4 xb, int xlo, int xhi, unsigned meta) {
    const uint32_t ql[4] = {w.v[0].x, w.v[0].y, w.v[0].z, w.v[0].w};
    const uint32_t qh[2] = {w.h.x, w.h.y};
    const int xl[4] = {xa.x, xa.y, xa.z, xa.w};
    const int xh[4] = {xb.x, xb.y, xb.z, xb.w};
    int sl = 0, sh = 0;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const uint32_t h = qh[k & 1] >> (2 * (k >> 1));
        const uint32_t lo = (ql[k] & 0x0F0F0F0Fu) | ((h & 0x03030303u) << 4);               // columns 4k .. 4k + 3
        const uint32_t hi = ((ql[k] >> 4) & 0x0F0F0F0Fu) | (((h >> 4) & 0x03030303u) << 4);  // columns 16 + 4k ..
        sl = __dp4a((int) lo, xl[k], sl);
        sh = __dp4a((int) hi, xh[k], sh);
    }
    const int scl = (int) (int8_t) (meta & 0xFFu), sch = (int) (int8_t) (meta >> 8);
    return scl * (sl - 32 * xlo) + sch * (sh - 32 * xhi);
}

// Q5_K block: sum_i q_i * xq_i with q_i = low | high << 4 in 0..31 (the high bit of column c: bit c of w.h.x).
// spread4: bits 0..3 of x to bit 0 of bytes 0..3.
static __device__ __forceinline__ uint32_t spread4(uint32_t x) { return (x * 0x00204081u) & 0x01010101u; }
static __device__ __forceinline__ int block_isum_q5k(const wq<5> & w, const int4 xa, const int4 xb) {
    const uint32_t ql[4] = {w.v[0].x, w.v[0].y, w.v[0].z, w.v[0].w};
    const int xl[4] = {xa.x, xa.y, xa.z, xa.w};
    const int xh[4] = {xb.x, xb.y, xb.z, xb.w};
    const uint32_t h = w.h.x;
    int s = 0;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const uint32_t lo = (ql[k] & 0x0F0F0F0Fu) | spread4((h >> (4 * k)) & 15u) << 4;             // columns 4k ..
        const uint32_t hi = ((ql[k] >> 4) & 0x0F0F0F0Fu) | spread4((h >> (16 + 4 * k)) & 15u) << 4;  // columns 16 + 4k ..
        s = __dp4a((int) lo, xl[k], s);
        s = __dp4a((int) hi, xh[k], s);
    }
    return s;
}

// ---- the matmul kernel -------------------------------------------------------------------------
// One launch multiplies up to MAX_PARTS matrices that share the activation (a layer's q/k/v, gate/up):
// thread blocks [end[k-1], end[k]) work on part k, each part writes its own y.
constexpr int MAX_PARTS = 4;
struct gptq_part {
    const uint8_t * qs;
    const unsigned short * sc;
    const uint8_t * z;           // NULL: symmetric (every zero point 2^(bits-1))
    const unsigned short * sup;  // K-quant formats: per row and super-block d (, dmin)
    float * y;
    int64_t rows;
    int fmt;                     // the matrix's format (read where a launch mixes Q4_K and Q6_K: FMT_KMIX)
    int gshift;                  // GPTQ: log2 of the blocks per scale / zero entry (llmj_gptq_matrix.group_blocks)
};
struct gptq_parts {
    gptq_part p[MAX_PARTS];
    unsigned end[MAX_PARTS];     // cumulative thread-block counts
    int count;
    int accumulate;              // 1: y += W x (the residual add of llmj_cuda_gptq_matmul_act_add), 0: y = W x
    // Non-NULL: the activation is a deferred RMS norm (llmj_cuda_gptq_matmul_norm_act): token t's sums are scaled by
    // rsqrt(sum_b rpart[t * nb + b] / cols + reps), the partial sums of squares written with it.
    const float * rpart;
    float reps;
};

// The epilogue of llmj_cuda_gptq_matmul_act_add_norm: after y += W x, each 32-row block of y (one thread block's rows)
// times the next norm's gain goes to aq / am as one Q8 block with an unrounded float d, and its sum of squares to part.
struct norm_out {
    const float * gain;
    float gain_offset;
    int8_t * aq;
    q8_act_meta * am;
    float * part;
};

// The epilogue of llmj_cuda_gptq_matmul_norm_glu: a thread block's 32 gate rows and the same 32 up rows become 32 values
// of silu(gate) * up (or gelu), written to out and, converted as glu_kernel converts them (one Q8 block), to aq / am.
struct glu_out {
    float * out;
    int8_t * aq;
    q8_act_meta * am;
    int gelu;
};

// A finished sum: y = s, or y + s where the product adds into a residual (the same float addition as
// llmj_cuda_add of a separate product, so the fused and unfused results agree bit for bit).
static __device__ __forceinline__ float store(float * y, float s, int accumulate) {
    const float v = accumulate ? *y + s : s;
    *y = v;
    return v;
}

// The deferred norm's scale of token t (every lane of the warp gets the same value, the partial sums added in one
// fixed order, so every thread block of a launch agrees). Call with the whole warp.
// Its two steps: the lane's share of the partial sums (loads), and the scale from the shares.
static __device__ __forceinline__ float norm_sum_share(const float * rpart, int nb, int64_t t) {
    float s = 0.0f;
    for (int i = threadIdx.x % 32; i < nb; i += 32) s += ld_act(rpart + t * nb + i);
    return s;
}
static __device__ __forceinline__ float norm_scale(float share, int nb, float eps) {
    return rsqrtf(warp_reduce_sum(share) / (float) (nb * 32) + eps);
}
static __device__ __forceinline__ float deferred_norm_scale(const float * rpart, int nb, float eps, int64_t t) {
    return norm_scale(norm_sum_share(rpart, nb, t), nb, eps);
}

// Shape of the work: ROWS rows per warp, U blocks per row per lane in flight, KS warps of the thread
// block sharing the same rows (KS = 1: each warp owns its rows; KS = 2 or WARPS: groups of KS warps
// split their rows' blocks and add their sums through shared memory, in a fixed order).
// The rows of thread block blk of part P (the kernel below picks the part).
// NW warps per thread block (WARPS, or 32 for llmj_cuda_gptq_matmul_act_add_norm's 32 rows with NORM set: NT 1,
// ROWS * NW / KS = 32, accumulate, FMT_GPTQ or A32; then thread i of warp 0 stores the block's row i).
// DN: the activation is a deferred norm's (gptq_parts.rpart). A32 (K-quant formats): the activation is Q8_0 blocks (am: a
// d per 32 columns, the quant sum and its first half's) instead of Q8_K arrays (kd, kbs).
// GLU (with DN, NT 1, ROWS * NW / KS = 64): the first half of the groups take gate rows blk * 32 .. blk * 32 + 31 (P: the
// gate part), the second half the same up rows (P: the up part), and warp 0 writes the block's 32 GLU values (glu_out).
template <int FMT, int BITS, bool SYM, int NT, int ROWS, int U, int KS, int NW = WARPS, bool NORM = false, bool DN = false,
          bool A32 = false, bool GLU = false>
static __device__ __forceinline__ void gptq_matmul_rows(const gptq_part & P, const unsigned blk, const gptq_parts & G,
                                                        const int8_t * aq, const q8_act_meta * am, const float * kd,
                                                        const int16_t * kbs, int nb, int64_t t0,
                                                        const norm_out * no = nullptr, const glu_out * go = nullptr) {
    const int accumulate = G.accumulate;
    constexpr int QB = BITS == 8 ? 32 : 16;      // bytes per block of the qs stream (Q6_K: its low parts)
    constexpr int NG = NW / KS;                  // groups of warps
    constexpr int ROWS_PER_BLOCK = ROWS * NG;
    static_assert(!NORM || (NT == 1 && ROWS_PER_BLOCK == 32 && (FMT == FMT_GPTQ || A32)), "the norm epilogue's shape");
    static_assert(!GLU || (NT == 1 && DN && ROWS_PER_BLOCK == 64 && (FMT == FMT_GPTQ || A32)), "the GLU epilogue's shape");
    constexpr int KG = WARP * KS;                // lanes that share a row
    const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    const int group = warp / KS;                 // the warps group..group + KS - 1 share rows
    const int64_t row0 = GLU ? (int64_t) blk * 32 + (group % (NG / 2)) * ROWS : (int64_t) blk * ROWS_PER_BLOCK + group * ROWS;
    if (KS == 1 && row0 >= P.rows) return;       // KS > 1: every warp reaches the reduction's barrier
    const int kl = (warp % KS) * WARP + lane;
    const int64_t cols32 = (int64_t) nb * 32;
    // Rows row0 .. row0 + valid - 1 exist; the others repeat row0 and are not stored (valid <= 0: a group
    // past the last row loads nothing). Addresses: one base pointer per array and 32-bit offsets (few
    // registers: the kernel is bound by loads in flight).
    const int valid = (int) max((int64_t) 0, min((int64_t) ROWS, P.rows - row0));
    const int nbv = valid > 0 ? nb : 0;
    const uint8_t * q0 = P.qs + (size_t) row0 * nb * QB;
    const int nsc = FMT == FMT_GPTQ ? (nb + (1 << P.gshift) - 1) >> P.gshift : nb;   // scale entries per row
    const unsigned short * s0 = P.sc + (size_t) row0 * nsc;
    const uint8_t * z0 = SYM ? nullptr : P.z + (size_t) row0 * nsc;
    constexpr int HB = FMT == FMT_Q6K ? 8 : FMT == FMT_Q5K ? 4 : 0;   // bytes of high bits per block, after the low parts
    const uint8_t * h0 = HB ? P.qs + (size_t) P.rows * nb * 16 + (size_t) row0 * nb * HB : nullptr;
    const int nsb = nb / 8;                      // K-quant super-blocks per row
    const unsigned short * u0 = FMT == FMT_GPTQ ? nullptr : P.sup + (size_t) row0 * nsb * (has_min<FMT>() ? 2 : 1);
    float acc[NT][ROWS];
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) acc[t][r] = 0.0f;
    }
    bool waited = false;
    float rshare = 0.0f;        // GLU: warp 0's share of the deferred norm's sums, loaded right after the wait
    for (int b0 = kl; b0 < nbv; b0 += U * KG) {
        wq<BITS> w[ROWS][U];
        float sc[ROWS][U];               // GPTQ: the block scale; K-quants: the super-block's d
        float mn[ROWS][U];               // Q4_K: the super-block's dmin
        int z[ROWS][U];                  // GPTQ: the zero point; K-quants: the block's packed scale (and min)
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + u * KG;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < ROWS; r++) {
                    const int rr = r < valid ? r : 0;
                    const int i = rr * nb + b;
                    const uint4 * p = reinterpret_cast<const uint4 *>(q0 + i * QB);
#pragma unroll
                    for (int q = 0; q < (BITS == 8 ? 2 : 1); q++) w[r][u].v[q] = __ldcs(p + q);
                    if constexpr (FMT == FMT_GPTQ) {
                        const int si = rr * nsc + (b >> P.gshift);
                        sc[r][u] = __half2float(__ushort_as_half(__ldcs(s0 + si)));
                        z[r][u] = SYM ? 1 << (BITS - 1) : (int) __ldcs(z0 + si) + 1;
                    } else {
                        z[r][u] = (int) __ldcs(s0 + i);
                        const int si = rr * nsb + b / 8;
                        if constexpr (has_min<FMT>()) {
                            if constexpr (FMT == FMT_Q5K) w[r][u].h.x = __ldcs(reinterpret_cast<const unsigned *>(h0) + i);
                            const unsigned dd = __ldg(reinterpret_cast<const unsigned *>(u0) + si);
                            sc[r][u] = __half2float(__ushort_as_half((unsigned short) (dd & 0xFFFFu)));
                            mn[r][u] = __half2float(__ushort_as_half((unsigned short) (dd >> 16)));
                        } else {
                            w[r][u].h = __ldcs(reinterpret_cast<const uint2 *>(h0) + i);
                            sc[r][u] = __half2float(__ushort_as_half(__ldg(u0 + si)));
                        }
                    }
                }
            }
        }
        if (!waited) {          // the first weights are in flight: now wait for the activations
            pdl_wait();
            waited = true;
            if constexpr (GLU) {
                if (warp == 0) rshare = norm_sum_share(G.rpart, nb, t0);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + u * KG;
            if (b < nb) {
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const int4 * xp = reinterpret_cast<const int4 *>(aq + (t0 + t) * cols32 + (int64_t) b * 32);
                    const int4 xa = ld_act(xp), xb = ld_act(xp + 1);
                    if constexpr (FMT == FMT_GPTQ) {
                        const int4 m = ld_act(reinterpret_cast<const int4 *>(am + (t0 + t) * nb + b));   // d, s, sum
                        const float md = __int_as_float(m.x);
#pragma unroll
                        for (int r = 0; r < ROWS; r++) {
                            const int s = block_isum<BITS>(w[r][u], xa, xb) - z[r][u] * m.z;
                            acc[t][r] += (float) s * __fmul_rn(sc[r][u], md);
                        }
                    } else {            // the activation's d, and the sums of the block's two 16-quant halves
                        float md;
                        int xlo, xhi;
                        if constexpr (A32) {                  // Q8_0 blocks: the block's d
                            const int4 m = ld_act(reinterpret_cast<const int4 *>(am + (t0 + t) * nb + b));   // d, s, sum, lo
                            md = __int_as_float(m.x);
                            xlo = m.w;
                            xhi = m.z - m.w;
                        } else {                              // Q8_K: the super-block's d
                            md = ld_act(kd + (t0 + t) * (nb / 8) + b / 8);
                            const int bp = ld_act(reinterpret_cast<const int *>(kbs + (t0 + t) * (int64_t) nb * 2 + 2 * b));
                            xlo = (int) (int16_t) (bp & 0xFFFF);
                            xhi = bp >> 16;
                        }
#pragma unroll
                        for (int r = 0; r < ROWS; r++) {
                            if constexpr (has_min<FMT>()) {   // d sc sum q xq - dmin m sum xq
                                int s;
                                if constexpr (FMT == FMT_Q5K) s = block_isum_q5k(w[r][u], xa, xb); else s = block_isum<4>(w[r][u], xa, xb);
                                s *= z[r][u] & 63;
                                const int ms = (z[r][u] >> 8) * (xlo + xhi);
                                acc[t][r] += __fmul_rn((float) s, __fmul_rn(sc[r][u], md)) - __fmul_rn((float) ms, __fmul_rn(mn[r][u], md));
                            } else {
                                const int s = block_isum_q6k(w[r][u], xa, xb, xlo, xhi, (unsigned) z[r][u]);
                                acc[t][r] += (float) s * __fmul_rn(sc[r][u], md);
                            }
                        }
                    }
                }
            }
        }
    }
    pdl_wait();                                  // (lanes without blocks): y is written after the kernels before
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) acc[t][r] = warp_reduce_sum(acc[t][r]);
    }
    static_assert(!DN || GLU || (KS > 1 && (NW / KS) * NT * ROWS <= WARP), "a deferred norm's rows are stored by warp 0");
    if constexpr (GLU) {
        __shared__ float red[NW][ROWS];
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < ROWS; r++) red[warp][r] = acc[0][r];
        }
        __syncthreads();
        if (warp == 0) {                         // lane i: output blk * 32 + i, from gate group i / ROWS and its up group
            const float rs = norm_scale(rshare, nb, G.reps);
            const int g = lane / ROWS, r = lane % ROWS;
            float sg = red[g * KS][r], su = red[(NG / 2 + g) * KS][r];
#pragma unroll
            for (int w = 1; w < KS; w++) {
                sg += red[g * KS + w][r];
                su += red[(NG / 2 + g) * KS + w][r];
            }
            const float v = glu_value(sg * rs, su * rs, go->gelu);
            const int64_t qb = t0 * (P.rows / 32) + blk;
            go->out[qb * 32 + lane] = v;
            warp_quantize_q8(v, go->aq + qb * 32, go->am + qb);   // as glu_kernel converts
        }
    } else if (KS == 1) {
        if (lane == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
#pragma unroll
                for (int r = 0; r < ROWS; r++) {
                    if (row0 + r < P.rows) store(P.y + (t0 + t) * P.rows + row0 + r, acc[t][r], accumulate);
                }
            }
        }
    } else {
        __shared__ float red[NW][NT * ROWS];
        if (lane == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
#pragma unroll
                for (int r = 0; r < ROWS; r++) red[warp][t * ROWS + r] = acc[t][r];
            }
        }
        __syncthreads();
        float rs[NT];                            // the deferred norm's scale per token (warp 0, whose threads store)
        if (DN && warp == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) rs[t] = deferred_norm_scale(G.rpart, nb, G.reps, t0 + t);
        }
        if (threadIdx.x < (NW / KS) * NT * ROWS) {          // one thread per (group, token, row)
            const int g = threadIdx.x / (NT * ROWS), i = threadIdx.x % (NT * ROWS);
            const int t = i / ROWS, r = i % ROWS;
            const int64_t row = (int64_t) blk * ROWS_PER_BLOCK + g * ROWS + r;
            float s = red[g * KS][i];
#pragma unroll
            for (int w = 1; w < KS; w++) s += red[g * KS + w][i];
            if (DN) s *= rs[t];
            if constexpr (NORM) {                    // warp 0, lane i: row blk * 32 + i (rows: a multiple of 32)
                const float v = store(P.y + t0 * P.rows + row, s, accumulate);
                const int64_t qb = t0 * (P.rows / 32) + blk;
                warp_quantize_q8<true>(v * (no->gain[row] + no->gain_offset), no->aq + qb * 32, no->am + qb);
                const float ss = warp_reduce_sum(v * v);
                if (lane == 0) no->part[qb] = ss;
            } else if (row < P.rows) {
                store(P.y + (t0 + t) * P.rows + row, s, accumulate);
            }
        }
    }
}

// FMT_KMIX: a launch whose parts mix K-quant formats (a layer's q/k/v where v has more bits); each thread block
// runs its part's format (the same shape, so each part's sums are those of its own single launch).
constexpr int FMT_KMIX = 1000;

// The rows of thread block blk of part P of a WARPS-warp launch, in the part's own format where FMT is FMT_KMIX.
template <int FMT, int BITS, bool SYM, int NT, int ROWS, int U, int KS, bool DN, bool A32>
static __device__ __forceinline__ void part_rows(const gptq_part & P, const unsigned blk, const gptq_parts & G, const int8_t * aq,
                                                 const q8_act_meta * am, const float * kd, const int16_t * kbs, int nb,
                                                 int64_t t0) {
    if constexpr (FMT == FMT_KMIX) {
        if (P.fmt == FMT_Q4K) {
            gptq_matmul_rows<FMT_Q4K, 4, true, NT, ROWS, U, KS, WARPS, false, DN, A32>(P, blk, G, aq, am, kd, kbs, nb, t0);
        } else if (P.fmt == FMT_Q5K) {
            gptq_matmul_rows<FMT_Q5K, 5, true, NT, ROWS, U, KS, WARPS, false, DN, A32>(P, blk, G, aq, am, kd, kbs, nb, t0);
        } else {
            gptq_matmul_rows<FMT_Q6K, 6, true, NT, ROWS, U, KS, WARPS, false, DN, A32>(P, blk, G, aq, am, kd, kbs, nb, t0);
        }
    } else {
        gptq_matmul_rows<FMT, BITS, SYM, NT, ROWS, U, KS, WARPS, false, DN, A32>(P, blk, G, aq, am, kd, kbs, nb, t0);
    }
}

template <int FMT, int BITS, bool SYM, int NT, int ROWS, int U, int KS, bool A32 = false>
__global__ void __launch_bounds__(WARPS * WARP)
gptq_matmul_kernel(const gptq_parts parts, const int8_t * aq, const q8_act_meta * am, const float * kd, const int16_t * kbs,
                   int nb, int64_t t0) {
    unsigned base;
    const auto P = launch_part(parts.p, parts.end, parts.count, base);
    part_rows<FMT, BITS, SYM, NT, ROWS, U, KS, false, A32>(P, blockIdx.x - base, parts, aq, am, kd, kbs, nb, t0);
}

// llmj_cuda_gptq_matmul_act_add_norm's kernel: one token, 32 rows per thread block of NW warps (one Q8 block of the next
// norm's input per thread block), y += W x, then the norm epilogue (norm_out). K-quant formats read Q8_0 blocks (A32).
template <int FMT, int BITS, bool SYM, int ROWS, int KS, int NW>
__global__ void __launch_bounds__(NW * WARP, 1)
gptq_add_norm_kernel(const gptq_parts parts, const int8_t * aq, const q8_act_meta * am, int nb, int64_t t0, const norm_out no) {
    gptq_matmul_rows<FMT, BITS, SYM, 1, ROWS, 1, KS, NW, true, false, FMT != FMT_GPTQ>(parts.p[0], blockIdx.x, parts, aq, am,
                                                                                      nullptr, nullptr, nb, t0, &no);
}

// llmj_cuda_gptq_matmul_norm_act's kernel: the one-token product of format-0 parts (or K-quant parts reading Q8_0 blocks,
// FMT_KMIX mixing them) from a deferred norm's activation. Register bounds at the plain kernels' occupancy, so that as
// many thread blocks stay resident (sm_90): format 0 56 registers (9 per SM), K-quants 72-80 (6), the mix 96 (5); left
// free, the K-quant ones took 85 / 121 and the fold gained nothing (launch_add_norm). Tighter (7 and 6 per SM: 68-72,
// the mix 80 with 8 bytes of spills) changed nothing: Q4_K_M tg128 544.6-546.3 against 545.8-546.7 t/s, same run.
template <int FMT, int BITS, bool SYM, int ROWS, int KS>
__global__ void __launch_bounds__(WARPS * WARP, FMT == FMT_GPTQ ? 9 : FMT == FMT_KMIX ? 5 : 6)
gptq_norm_act_kernel(const gptq_parts parts, const int8_t * aq, const q8_act_meta * am, int nb, int64_t t0) {
    unsigned base;
    const auto P = launch_part(parts.p, parts.end, parts.count, base);
    part_rows<FMT, BITS, SYM, 1, ROWS, 1, KS, true, FMT != FMT_GPTQ>(P, blockIdx.x - base, parts, aq, am, nullptr, nullptr, nb, t0);
}

// llmj_cuda_gptq_matmul_norm_glu's kernel: one token, 32 outputs per thread block of NW warps reading a deferred norm's
// activation, the first NW / 2 warps 32 gate rows and the others the same up rows ({ROWS, 1, KS} each), then the GLU
// epilogue (glu_out). K-quant formats read Q8_0 blocks (A32).
template <int FMT, int BITS, bool SYM, int ROWS, int KS, int NW, int MINB>
__global__ void __launch_bounds__(NW * WARP, MINB)
gptq_norm_glu_kernel(const gptq_parts parts, const int8_t * aq, const q8_act_meta * am, int nb, int64_t t0, const glu_out go) {
    constexpr int NG = NW / KS;
    const int group = (int) (threadIdx.x / WARP) / KS;
    gptq_matmul_rows<FMT, BITS, SYM, 1, ROWS, 1, KS, NW, false, true, FMT != FMT_GPTQ, true>(
        parts.p[group < NG / 2 ? 0 : 1], blockIdx.x, parts, aq, am, nullptr, nullptr, nb, t0, nullptr, &go);
}

// The one-token kernel shape {ROWS, U, KS}; LLMJ_GPTQ_KERNEL=0..6 picks one (measurements; read once).
// A lane's blocks are summed in the same order whatever ROWS and U; only KS changes it (and the reduction).
// Measured on the H100 (llmj bench tg128, llama2-7b synth; t/s, compare within a run: machines differ by a
// few percent from one loan to the next), 4-bit Q4_0 / 8-bit Q8_0:
//   run A: {4, 1, 4} 508 / 328, {8, 1, 4} 502 / 335, {2, 1, 4} 487 / 336, {4, 2, 4} 472 / 331, {2, 2, 4} 453 / 324
//   run B: {4, 1, 4} 505 / 330, {4, 1, 2} 501 / 335, {8, 1, 4} 491 / 328, {2, 1, 4} 475 / 331, {4, 1, 1} 452 / 318
// (GPTQ4 g128 in run A: {4, 1, 4} 475, {2, 2, 4} 433). One block per row per lane in flight (U = 1) beats two:
// fewer registers, more thread blocks resident. A persistent grid (one wave of thread blocks looping over the
// tiles) was no faster ({4, 1, 4}: 479 against 490 t/s in one run), so thread-block scheduling is not the limit.
// Also tried and dropped (H100, Q4_0 tg128, same-run pairs): a Hopper streaming kernel (persistent thread blocks
// pulling tiles of 8-32 rows through a shared-memory ring with cp.async.bulk and mbarriers, 2-8 stages, 1-3 blocks
// per SM, the same float order): 406-481 t/s against 517-522 here; and the GLU in the gate/up epilogue (each
// 32-row block's last thread block, found by an atomic counter, converting it for the down projection): 484
// against 509, the fence and counter lengthen every short-lived block more than the glu kernel costs (thread blocks that
// own a whole Q8 block of the GLU's output, 32 gate and 32 up rows, do fold it: launch_glu_fmt).
// And L2 prefetches (prefetch.global.L2) by each thread block of the quants of the block 512 or 2048 ahead
// (LLMJ_GPTQ_PREFETCH, H100, greedy on the device, same run): Q4_0 tg128 514-516 / 531-533 against 543-547
// without, GPTQ4 528-531 / 548-554 against 559-565; the harness's 4-bit 4096x11008 2080 / 2265 against 2280 GB/s.
// The U = 1 shapes gave wrong decode logits as long as the activation was read through the read-only path
// (ld_act in common.cuh says why); with coherent loads every shape passes the GPU tests.
// And the residual add's read moved forward (the storing thread loading its row's residual right after the wait, in
// instances of their own; H100 tg128, same run, on / off): Q4_0 594.2 / 598.0 against 592.9 / 596.0, Q8_0 366.3 / 369.3
// against 368.0 / 366.4, Q4_K_M 497.1 / 494.2 against 496.5 / 501.3: nothing beyond the noise. Nor did loading the RMS
// norm's gain before its wait (Q4_0 584-589 against 589-590).
// Also dropped (H100, llama2-7b synth, tg128 t/s, same run, alternating):
// - each thread block asking L2 for all its weight bytes (cp.async.bulk.prefetch.L2) before its wait: Q4_0 569-574
//   against 596-602, Q4_K_M 473-477 against 492-493 (with 4096 columns a resident block already issues every load
//   of its rows before the wait);
// - a prefetch stream in the recorded step: a high-priority side-stream kernel walking every product's weights in
//   launch order with bulk L2 prefetches up to 8-32 MB past the latest product started (products publishing their
//   sequence number): with 16-132 issuing blocks 280-410 against 581; with one, 58.6 (17 ms a token: the step's
//   end waits for that kernel, which issues a token's 3.8 GB of prefetches);
// - the RMS norm inside these products (each 128-thread block re-deriving the sum of squares and converting the
//   activation blocks its lanes read, bit-equal to the norm kernel): 160 against 579-587, since every 4-row block
//   converts the whole row again (80 registers and a stack frame against 56). Skipping both norms outright (wrong
//   logits) bounds what any fusion of them can give: Q4_0 641-653 against 585-587, Q4_K_M 534-539 against 492-496
//   (and 553-566 with the Q8_K GLU skipped as well);
// - register caps (__launch_bounds__ with a minimum of thread blocks per SM) for more resident blocks: the default
//   shapes use 56 registers for Q4_0 (9 blocks per SM), 90 / 91 for Q4_K / Q6_K (5) and 121 for the Q4_K + Q6_K
//   mix (4). Q4_0 tg128 at 48 / 40 registers (the second with spills) 571-576 / 519-530 against 588-597; Q4_K_M at
//   72-80 registers 498.0-499.7 against 490.6-498.5, and at 63-64 (spilling in the mix) 482-489.
// - the attention norm folded into the q/k/v product (2026-11-25; same run, H100, Q4_0 tg128, 2-3 rounds; the product
//   launch one thread block longer: block 0 normalized and converted the row, in the norm kernel's order of the sum
//   of squares, bit-equal, and stored position + 1 in a flag; the product blocks issued their first weight loads,
//   waited for the kernel before, then polled the flag): 491-500 against 570-576 without (Q8_0 319-321 against
//   359-360), although block 0 doing the work with no block waiting for it (wrong logits) gave 583-590 and neither
//   work nor wait 605-607 (the 32 norm kernels gone: the +5% such a fold could give). With block 0
//   publishing at once, the wait alone gave 535-555: a flag handed from one block to the others takes ~5-7 us while
//   the product's weight loads fill the memory system, against ~2.5 us for the kernel boundary it replaces. Relaxed
//   polls with one acquire fence (497-499), one polling lane per warp (499), polls spread over 16 flag copies
//   (514-519) or 256-512 ns between polls (507) did not change that. Nor did clusters: the q/k/v product's blocks in
//   clusters of 8, each cluster normalizing the row itself (every block an eighth of it, the partial sums and the
//   converted blocks exchanged through distributed shared memory, two cluster barriers, bit-equal; GPU tests
//   passed): Q4_0 439-440 against 580-582, Q8_0 258 against 361.
// Defaults: 4-bit {4, 1, 4}, 8-bit {2, 1, 4}.
struct shape { int rows, u, ks; };
constexpr shape VARIANTS[] = {{4, 1, 4}, {2, 1, 4}, {4, 1, 2}, {8, 1, 4}, {4, 2, 4}, {2, 2, 4}, {2, 2, 1}};
constexpr int N_VARIANTS = (int) (sizeof(VARIANTS) / sizeof(VARIANTS[0]));
// Q4_K and Q6_K (bits 6) take the 4-bit shape, so that a launch mixing them (FMT_KMIX) runs each as its own launch
// would ({2, 1, 4} for Q6_K: 403.8 against 405.6-407.7 t/s for {4, 1, 4}, Q4_K_M tg128).
template <int BITS> int one_token_variant() {
    static const int v = llmj_env_int("LLMJ_GPTQ_KERNEL", 0, N_VARIANTS - 1, BITS == 8 ? 1 : 0);
    return v;
}

template <int FMT, int BITS, bool SYM, int NT, int ROWS, int U, int KS, bool A32 = false>
void launch_shape(gptq_parts parts, const int8_t * aq, const q8_act_meta * am, const float * kd, const int16_t * kbs, int nb,
                  int64_t t0, cudaStream_t stream) {
    constexpr int RPB = ROWS * (WARPS / KS);
    unsigned total = 0;
    for (int k = 0; k < parts.count; k++) {
        total += (unsigned) ((parts.p[k].rows + RPB - 1) / RPB);
        parts.end[k] = total;
    }
    launch_pdl(gptq_matmul_kernel<FMT, BITS, SYM, NT, ROWS, U, KS, A32>, total, WARPS * WARP, 0, stream, parts, aq, am, kd, kbs, nb,
               t0);
}

template <int FMT, int BITS, bool SYM, int NT, bool A32 = false>
void launch_nt(const gptq_parts & parts, const int8_t * aq, const q8_act_meta * am, const float * kd, const int16_t * kbs, int nb,
               int64_t t0, cudaStream_t stream) {
    if constexpr (A32) {     // K-quants from Q8_0 blocks: the default shapes only ({4, 1, 4}, and KS = 4 for several tokens)
        if constexpr (NT > 1) {
            launch_shape<FMT, BITS, SYM, NT, 2, 2, WARPS, true>(parts, aq, am, kd, kbs, nb, t0, stream);
        } else {
            launch_shape<FMT, BITS, SYM, NT, VARIANTS[0].rows, VARIANTS[0].u, VARIANTS[0].ks, true>(parts, aq, am, kd, kbs, nb, t0,
                                                                                                 stream);
        }
    } else if constexpr (NT > 1) {
        // the same split of each row over lanes (KS) as the one-token variant: the same float order per token
        const int ks = VARIANTS[one_token_variant<BITS>()].ks;
        if (ks == 1) {
            launch_shape<FMT, BITS, SYM, NT, 2, 2, 1>(parts, aq, am, kd, kbs, nb, t0, stream);
        } else if (ks == 2) {
            launch_shape<FMT, BITS, SYM, NT, 2, 2, 2>(parts, aq, am, kd, kbs, nb, t0, stream);
        } else {
            launch_shape<FMT, BITS, SYM, NT, 2, 2, WARPS>(parts, aq, am, kd, kbs, nb, t0, stream);
        }
    } else {
        switch (one_token_variant<BITS>()) {
#define GPTQ_VARIANT(I) case I: launch_shape<FMT, BITS, SYM, NT, VARIANTS[I].rows, VARIANTS[I].u, VARIANTS[I].ks>(parts, aq, am, kd, kbs, nb, t0, stream); break;
            GPTQ_VARIANT(0) GPTQ_VARIANT(1) GPTQ_VARIANT(2) GPTQ_VARIANT(3) GPTQ_VARIANT(4) GPTQ_VARIANT(5)
            GPTQ_VARIANT(6)
#undef GPTQ_VARIANT
        }
    }
}

template <int FMT, int BITS, bool SYM, bool A32 = false>
void launch_gptq(const gptq_parts & parts, const void * act, int64_t cols32, int64_t n, cudaStream_t stream) {
    const int nb = (int) (cols32 / 32);
    const int8_t * aq = static_cast<const int8_t *>(act);
    // GPTQ (and K-quant formats with A32): Q8_0 blocks (quants, then q8_act_meta); K-quant formats: Q8_K arrays (quants, d,
    // bsums; kquants.cuh)
    constexpr bool q8k = FMT != FMT_GPTQ && !A32;
    const char * base = static_cast<const char *>(act);
    const q8_act_meta * am = q8k ? nullptr : reinterpret_cast<const q8_act_meta *>(base + q8_act_meta_offset(cols32, n));
    const float * kd = q8k ? reinterpret_cast<const float *>(base + llmj_cuda_q8k_d_offset(cols32, n)) : nullptr;
    const int16_t * kbs = q8k ? reinterpret_cast<const int16_t *>(base + llmj_cuda_q8k_bsums_offset(cols32, n)) : nullptr;
    for (int64_t t0 = 0; t0 < n; t0 += MAX_TOKENS) {
        const int64_t k = n - t0 < MAX_TOKENS ? n - t0 : MAX_TOKENS;
#define GPTQ_CASE(K) case K: launch_nt<FMT, BITS, SYM, K, A32>(parts, aq, am, kd, kbs, nb, t0, stream); break;
        switch ((int) k) {
            GPTQ_CASE(1) GPTQ_CASE(2) GPTQ_CASE(3) GPTQ_CASE(4) GPTQ_CASE(5) GPTQ_CASE(6) GPTQ_CASE(7) GPTQ_CASE(8)
        }
#undef GPTQ_CASE
    }
}

// The one map from a launch's (format, bits, zero points) to kernel instances: calls f(fmt, bits, sym) with
// std::integral_constant tags. FMT_KMIX (a q/k/v launch mixing K-quant formats, 4-bit tags) only where KMIX is set;
// the K-quant formats are symmetric (their mins ride in the block scales).
template <bool KMIX = false, typename F>
void with_format(int fmt, int bits, bool sym, F && f) {
    using std::integral_constant;
    using T = integral_constant<bool, true>;
    using N = integral_constant<bool, false>;
    if constexpr (KMIX) {
        if (fmt == FMT_KMIX) return f(integral_constant<int, FMT_KMIX>{}, integral_constant<int, 4>{}, T{});
    }
    if (fmt == FMT_Q4K) f(integral_constant<int, FMT_Q4K>{}, integral_constant<int, 4>{}, T{});
    else if (fmt == FMT_Q5K) f(integral_constant<int, FMT_Q5K>{}, integral_constant<int, 5>{}, T{});
    else if (fmt == FMT_Q6K) f(integral_constant<int, FMT_Q6K>{}, integral_constant<int, 6>{}, T{});
    else if (bits == 4 && sym) f(integral_constant<int, FMT_GPTQ>{}, integral_constant<int, 4>{}, T{});
    else if (bits == 4) f(integral_constant<int, FMT_GPTQ>{}, integral_constant<int, 4>{}, N{});
    else if (sym) f(integral_constant<int, FMT_GPTQ>{}, integral_constant<int, 8>{}, T{});
    else f(integral_constant<int, FMT_GPTQ>{}, integral_constant<int, 8>{}, N{});
}

// y[t] += W x[t] token by token with the norm epilogue; W: FMT_GPTQ, rows a multiple of 32. 4 bits: {4, 1, 4} per
// 32 warps (the one-token default's float order); 8 bits: {2, 1, 2} (64 registers at most with 1024 threads).
// The fold (CudaBackend.matmulAddNorm: a llama layer's o and down products, 6 kernels a layer instead of 8) measured
// on the H100, llama2-7b synth, tg128, same run, 2 rounds each, against -Dllmj.cuda.fuse.norm=false: Q4_0 596.5-601.0
// against 581.6-584.1 t/s, Q8_0 372.4-373.1 against 363.5-364.3 (+2.5-3%). Taken apart (wrong logits, Q4_0): without
// the products' final scale 602.8-605.0, with the plain producer kernel instead of this one 607.1-609.3, both 622-624:
// a thread block of 32 rows (the Q8 block) holds its SM until its slowest warp ends, and the scale's partial sums are
// read at the end of every consumer block (ncu, --clock-control none, each kernel alone: these products 8.5-15.8 us at
// 32-51% of DRAM peak against 7.4-13.8 us at 38-58% for the plain ones; the products reading the folded norm's
// output 14.9 (q/k/v) and 23.2 us (gate/up) against 14.2-15.1 and 22.0-22.4). Tried: 32-row blocks of 16 warps
// ({8, 1, 4}: 576-577 against 576-581 for this one, same run) or 8 warps ({8, 1, 2}: 550), {4, 1, 2} of 16 warps
// (570); the partial sums prefetched into L1 after the wait (576-581 against 599-601 without), loaded and reduced
// right after the wait (597.8-599.5 against 596.5-596.7), or before the block's barrier (593.9-597.3).
// The K-quants (A32) fold the same way, their producers 32 warps of {2, 1, 2} (46-56 registers), their consumers held to
// the plain kernels' occupancy (gptq_norm_act_kernel's bounds: 72 registers for Q4_K, 96 for the Q4_K + Q6_K mix). H100,
// Q4_K_M tg128, same run, 3 rounds, against -Dllmj.cuda.fuse.norm=false: 547.8-549.1 against 526.7-529.8 t/s. Uncapped
// consumers (85 / 121 registers) gave 528-529 against 527-529, and 16-warp producers of {4, 1, 2} (72-98 registers:
// no room for 32 warps) 522-523 against 527-529.
// Nor is the GLU before the down projection (2026-11-25; Q4_0 tg128, same run, 3 rounds): each 1024-thread block of the
// down product computing silu(gate) * up of the whole row after its wait (glu_kernel's values and conversion, into
// shared memory; bit-equal, the GPU tests passed; the forwards' GLU made out of place for it) ran 527-528 t/s against
// 602-605 with the GLU kernel: the conversion, 344 blocks of 32 values per thread block before its first dot, costs
// far more than the kernel boundary it saves. The GLU went into the gate / up products instead (launch_glu_fmt). Nor
// did these products prefetch the rest of their weights into L2 before their wait (prefetch.global.L2::evict_last of
// each lane's later blocks; H100, tg128, same run, 2 rounds): Q4_0 605.0-605.2 against 620.1-623.4 t/s, Q4_K_M
// 542.7-543.5 against 560.3-560.5. Nor did capping these products' registers (__maxnreg__ 40 / 32, 40-172 bytes of
// spills), so that the next product's thread blocks fit beside them and issue their first weight loads early (H100,
// tg128, same run, 2 rounds): Q4_0 539-542 / 454-456 against 620-622 t/s, Q4_K_M 498-500 / 401-402 against 557-559.
// The consumers loading the norm's sums right after their wait as the folded GLU does (gptq_norm_act_kernel, same
// run): Q4_0 619-620 against 620-622, Q4_K_M 560-562 against 557-559: the noise, not kept. Nor 16-warp producers
// ({8, 1, 4} for 4 bits, {4, 1, 2} for the others: the same sums, 64-98 registers), whose thread blocks leave room on an
// SM for a GLU, attention or q/k/v thread block beside them (same run, 2-3 rounds): Q4_0 597-599 against 618-622 t/s,
// Q4_K_M 550-551 against 559, Q8_0 364-365 against 377-378.
void launch_add_norm(const gptq_parts & parts, int fmt, int bits, bool sym, const void * act, int64_t cols32, int64_t n,
                     const norm_out & no, cudaStream_t stream) {
    const int nb = (int) (cols32 / 32);
    const int8_t * aq = static_cast<const int8_t *>(act);
    const q8_act_meta * am = reinterpret_cast<const q8_act_meta *>(static_cast<const char *>(act) + q8_act_meta_offset(cols32, n));
    const unsigned grid = (unsigned) (parts.p[0].rows / 32);
    with_format(fmt, bits, sym, [&](auto f, auto b, auto s) {
        constexpr int F = decltype(f)::value, B = decltype(b)::value;
        constexpr bool S = decltype(s)::value;
        // K-quants: {2, 1, 2} (46-56 registers, so that 32 warps fit an SM); 4 bits {4, 1, 4}; 8 bits {2, 1, 2}
        constexpr int ROWS = F == FMT_GPTQ && B == 4 ? 4 : 2;
        constexpr int KS = ROWS;
        for (int64_t t = 0; t < n; t++) {
            launch_pdl(gptq_add_norm_kernel<F, B, S, ROWS, KS, 32>, grid, 32 * WARP, 0, stream, parts, aq, am, nb, t, no);
        }
    });
}

// The folded GLU's shapes {ROWS, KS, NW, MINB}: ROWS * NW / KS = 64 rows (32 gate, 32 up) per thread block, at least MINB
// thread blocks per SM (register bounds). 4-bit format 0 (Q4_0, GPTQ 4-bit): {8, 1, 8, 3}, 80 registers, so that a
// 4096 x 11008 pair's 344 thread blocks are all resident at once (3 per SM); others: {4, 2, 32, 1}, 64 registers (the
// 8-bit and K-quant dots spill at 80). Measured on the H100 (llama2-7b synth tg128, same runs, 2 rounds each, against
// -Dllmj.cuda.fuse.glu=false): Q4_0 {8, 1, 8, 3} 622.4-625.8 against 598.0-601.8 t/s (+4%), {4, 2, 32, 1} 605-612,
// {4, 1, 16, 2} 590-597, {2, 1, 32, 1} 578; Q4_K_M {4, 2, 32, 1} 555.7-559.8 against 546.1-548.5 (+2%), {8, 1, 8, 3}
// (spilling) 530.6-532.0; Q8_0 {4, 2, 32, 1} 376.2-378.5 against 373.3-374.7 (+1%), {8, 1, 8, 3} 341.6. Warp 0 loads the
// deferred norm's sums right after its wait instead of in the epilogue: Q4_K_M 554.9-555.8 against 545.8-546.4 without,
// Q4_0 {4, 2, 32, 1} 612.7-616.0 against 605.2-605.8, {8, 1, 8, 3} 618.5-620.7 against 622.4-622.5 (noise; the same
// values either way): both shapes load them early.
template <int FMT, int BITS, bool SYM>
void launch_glu_fmt(const gptq_parts & parts, const int8_t * aq, const q8_act_meta * am, int nb, int64_t t, const glu_out & go,
                    cudaStream_t stream) {
    const unsigned grid = (unsigned) (parts.p[0].rows / 32);
    if constexpr (FMT == FMT_GPTQ && BITS == 4) {
        launch_pdl(gptq_norm_glu_kernel<FMT, BITS, SYM, 8, 1, 8, 3>, grid, 8 * WARP, 0, stream, parts, aq, am, nb, t, go);
    } else {
        launch_pdl(gptq_norm_glu_kernel<FMT, BITS, SYM, 4, 2, 32, 1>, grid, 32 * WARP, 0, stream, parts, aq, am, nb, t, go);
    }
}

// Gate (part 0) and up (part 1) of a deferred norm's activation with the GLU epilogue, token by token.
void launch_norm_glu(const gptq_parts & parts, int fmt, int bits, bool sym, const void * act, int64_t cols32, int64_t n,
                     const glu_out & go, cudaStream_t stream) {
    const int nb = (int) (cols32 / 32);
    const int8_t * aq = static_cast<const int8_t *>(act);
    const q8_act_meta * am = reinterpret_cast<const q8_act_meta *>(static_cast<const char *>(act) + q8_act_meta_offset(cols32, n));
    with_format(fmt, bits, sym, [&](auto f, auto b, auto s) {
        constexpr int F = decltype(f)::value, B = decltype(b)::value;
        constexpr bool S = decltype(s)::value;
        for (int64_t t = 0; t < n; t++) launch_glu_fmt<F, B, S>(parts, aq, am, nb, t, go, stream);
    });
}

// The products of a deferred norm's activation, token by token, in the one-token default shapes ({4, 1, 4} for 4 bits,
// {2, 1, 4} for 8: the float order of launch_gptq's, whatever LLMJ_GPTQ_KERNEL says).
void launch_norm_act(gptq_parts parts, int fmt, int bits, bool sym, const void * act, int64_t cols32, int64_t n,
                     cudaStream_t stream) {
    const int nb = (int) (cols32 / 32);
    const int8_t * aq = static_cast<const int8_t *>(act);
    const q8_act_meta * am = reinterpret_cast<const q8_act_meta *>(static_cast<const char *>(act) + q8_act_meta_offset(cols32, n));
    with_format<true>(fmt, bits, sym, [&](auto f, auto b, auto s) {
        constexpr int F = decltype(f)::value, B = decltype(b)::value;
        constexpr bool S = decltype(s)::value;
        constexpr int ROWS = F == FMT_GPTQ && B == 8 ? 2 : 4;   // K-quants: {4, 1, 4}, their one-token default
        unsigned total = 0;
        for (int k = 0; k < parts.count; k++) {
            total += (unsigned) ((parts.p[k].rows + ROWS - 1) / ROWS);   // rows per thread block: ROWS * WARPS / KS
            parts.end[k] = total;
        }
        for (int64_t t = 0; t < n; t++) {
            launch_pdl(gptq_norm_act_kernel<F, B, S, ROWS, WARPS>, total, WARPS * WARP, 0, stream, parts, aq, am, nb, t);
        }
    });
}

// ---- dequantization, embedding rows, repacking ---------------------------------------------------
// The 8 quants of sorted columns j0 .. j0 + 7 (j0 a multiple of 8) of the block at q (16-byte aligned):
// 4 bits: byte i = column i | column i + 16 << 4; 8 bits: byte i = column i.
template <int BITS>
static __device__ __forceinline__ void quants8(const uint8_t * q, int j0, int (&v)[8]) {
    const uint2 u = *reinterpret_cast<const uint2 *>(q + (BITS == 4 ? (j0 & 15) : j0));
    const uint32_t w[2] = {u.x, u.y};
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t byte = (w[i / 4] >> (8 * (i % 4))) & 0xFFu;
        v[i] = BITS == 4 ? (int) (j0 < 16 ? byte & 15u : byte >> 4) : (int) byte;
    }
}

// Dense F16 W in the original column order, out[r][perm[c]] = half(scale * (q - z)) (c < cols): one thread
// per 8 consecutive sorted columns of a row, one 16-byte store where the columns stay in order.
template <int BITS>
__global__ void __launch_bounds__(THREADS) gptq_dequant_f16_kernel(const uint8_t * __restrict__ qs,
                                                                  const unsigned short * __restrict__ scales,
                                                                  const uint8_t * __restrict__ zeros,
                                                                  const int32_t * __restrict__ perm, __half * __restrict__ out,
                                                                  int64_t rows, int64_t cols, int nb, int vec_out, int gshift) {
    const int64_t nsc = (nb + (1 << gshift) - 1) >> gshift;
    constexpr int QB = BITS * 4;
    const int64_t total = rows * nb * 4;
    for (int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x; g < total; g += (int64_t) gridDim.x * THREADS) {
        const int64_t i = g / 4;                    // row * nb + block
        const int j0 = (int) (g % 4) * 8;
        const int64_t r = i / nb;
        const int64_t c0 = (i - r * nb) * 32 + j0;
        if (c0 >= cols) continue;
        int q[8];
        quants8<BITS>(qs + (size_t) i * QB, j0, q);
        const int64_t si = r * nsc + ((i - r * nb) >> gshift);
        const float s = __half2float(__ushort_as_half(scales[si]));
        const int z = zeros ? (int) zeros[si] + 1 : 1 << (BITS - 1);
        __half * dst = out + r * cols;
        if (vec_out && !perm && c0 + 8 <= cols) {
            __half2 h[4];
#pragma unroll
            for (int k = 0; k < 4; k++) h[k] = __floats2half2_rn(s * (float) (q[2 * k] - z), s * (float) (q[2 * k + 1] - z));
            uint4 u;
            memcpy(&u, h, 16);
            *reinterpret_cast<uint4 *>(dst + c0) = u;
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const int64_t c = c0 + k;
                if (c < cols) dst[perm ? (int64_t) perm[c] : c] = __float2half_rn(s * (float) (q[k] - z));
            }
        }
    }
}

// out[t][perm[c]] = (scale_blk * (q - z)) * scale for the rows ids[t]: one thread per 8 sorted columns.
template <int BITS>
__global__ void __launch_bounds__(THREADS) gptq_get_rows_kernel(const uint8_t * __restrict__ qs,
                                                               const unsigned short * __restrict__ scales,
                                                               const uint8_t * __restrict__ zeros,
                                                               const int32_t * __restrict__ perm,
                                                               const int32_t * __restrict__ ids, int64_t n, float scale,
                                                               float * __restrict__ out, int64_t cols, int nb, int gshift) {
    pdl_wait();
    const int64_t nsc = (nb + (1 << gshift) - 1) >> gshift;

    constexpr int QB = BITS * 4;
    const int64_t total = n * nb * 4;
    for (int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x; g < total; g += (int64_t) gridDim.x * THREADS) {
        const int64_t t = g / ((int64_t) nb * 4);
        const int64_t rest = g - t * nb * 4;
        const int b = (int) (rest / 4), j0 = (int) (rest % 4) * 8;
        const int64_t c0 = (int64_t) b * 32 + j0;
        if (c0 >= cols) continue;
        const size_t i = (size_t) ids[t] * nb + b;
        int q[8];
        quants8<BITS>(qs + i * QB, j0, q);
        const size_t si = (size_t) ids[t] * nsc + (b >> gshift);
        const float s = __half2float(__ushort_as_half(scales[si]));
        const int z = zeros ? (int) zeros[si] + 1 : 1 << (BITS - 1);
        float * dst = out + t * cols;
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const int64_t c = c0 + k;
            if (c < cols) dst[perm ? (int64_t) perm[c] : c] = __fmul_rn(__fmul_rn(s, (float) (q[k] - z)), scale);
        }
    }
}

// Q4_0 (BB = 18) / Q8_0 (BB = 34) blocks -> scales and 16-byte aligned quants, one thread per block.
template <int BB>
__global__ void __launch_bounds__(THREADS) repack_q_kernel(const uint8_t * __restrict__ src, size_t row_bytes, int64_t rows,
                                                          int nb, uint4 * __restrict__ qs, unsigned short * __restrict__ scales) {
    constexpr int NQ = (BB - 2) / 16;               // 16-byte quant vectors per block
    const int64_t total = rows * nb;
    for (int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x; i < total; i += (int64_t) gridDim.x * THREADS) {
        const int64_t r = i / nb;
        const uint8_t * b = src + r * row_bytes + (i - r * nb) * BB;
        scales[i] = *reinterpret_cast<const unsigned short *>(b);
#pragma unroll
        for (int v = 0; v < NQ; v++) {
            uint32_t w[4];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const uint32_t lo = *reinterpret_cast<const unsigned short *>(b + 2 + 16 * v + 4 * k);
                const uint32_t hi = *reinterpret_cast<const unsigned short *>(b + 4 + 16 * v + 4 * k);
                w[k] = lo | (hi << 16);
                if (BB == 34) w[k] ^= 0x80808080u;   // int8 q -> q + 128
            }
            qs[i * NQ + v] = make_uint4(w[0], w[1], w[2], w[3]);
        }
    }
}

// ---- K-quant formats: values, dequantization, embedding rows, repacking ---------------------------
// The values of columns j0 .. j0 + 7 (j0 a multiple of 8) of block b of row r, as ggml's dequantize_row_q4_K /
// _q5_K / _q6_K computes them: Q4_K, Q5_K (d * sc) * q - dmin * m; Q6_K (d * sc) * (q - 32).
template <int FMT>
static __device__ __forceinline__ void kq_values8(const uint8_t * qs, const unsigned short * sc, const unsigned short * sup,
                                                  int64_t rows, int nb, int64_t r, int b, int j0, float (&v)[8]) {
    const size_t i = (size_t) r * nb + b;
    const size_t si = (size_t) r * (nb / 8) + b / 8;
    int q[8];
    quants8<4>(qs + i * 16, j0, q);
    const unsigned meta = sc[i];
    if constexpr (has_min<FMT>()) {
        const float d = __half2float(__ushort_as_half(sup[2 * si])), dmin = __half2float(__ushort_as_half(sup[2 * si + 1]));
        const float d1 = __fmul_rn(d, (float) (meta & 63u)), m1 = __fmul_rn(dmin, (float) (meta >> 8));
        const uint32_t h = FMT == FMT_Q5K ? reinterpret_cast<const uint32_t *>(qs + (size_t) rows * nb * 16)[i] >> j0 : 0;
#pragma unroll
        for (int k = 0; k < 8; k++) v[k] = __fsub_rn(__fmul_rn(d1, (float) (q[k] | ((h >> k) & 1u) << 4)), m1);
    } else {
        const uint8_t * h = qs + (size_t) rows * nb * 16 + i * 8;
        const float d = __half2float(__ushort_as_half(sup[si]));
        const float d1 = __fmul_rn(d, (float) (int8_t) (j0 < 16 ? meta & 0xFFu : meta >> 8));
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const int hi = (h[k] >> (2 * (j0 / 8))) & 3;
            v[k] = __fmul_rn(d1, (float) ((q[k] | hi << 4) - 32));
        }
    }
}

template <int FMT>
__global__ void __launch_bounds__(THREADS) kq_dequant_f16_kernel(const uint8_t * __restrict__ qs, const unsigned short * __restrict__ sc,
                                                                const unsigned short * __restrict__ sup, __half * __restrict__ out,
                                                                int64_t rows, int nb) {
    const int64_t total = rows * nb * 4;
    for (int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x; g < total; g += (int64_t) gridDim.x * THREADS) {
        const int64_t i = g / 4;
        const int64_t r = i / nb;
        const int b = (int) (i - r * nb), j0 = (int) (g % 4) * 8;
        float v[8];
        kq_values8<FMT>(qs, sc, sup, rows, nb, r, b, j0, v);
        __half2 h[4];
#pragma unroll
        for (int k = 0; k < 4; k++) h[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
        uint4 u;
        memcpy(&u, h, 16);
        *reinterpret_cast<uint4 *>(out + r * nb * 32 + b * 32 + j0) = u;
    }
}

template <int FMT>
__global__ void __launch_bounds__(THREADS) kq_get_rows_kernel(const uint8_t * __restrict__ qs, const unsigned short * __restrict__ sc,
                                                             const unsigned short * __restrict__ sup, int64_t rows, int nb,
                                                             const int32_t * __restrict__ ids, int64_t n, float scale,
                                                             float * __restrict__ out) {
    pdl_wait();
    const int64_t total = n * nb * 4;
    for (int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x; g < total; g += (int64_t) gridDim.x * THREADS) {
        const int64_t t = g / ((int64_t) nb * 4);
        const int64_t rest = g - t * nb * 4;
        const int b = (int) (rest / 4), j0 = (int) (rest % 4) * 8;
        float v[8];
        kq_values8<FMT>(qs, sc, sup, rows, nb, ids[t], b, j0, v);
        float * dst = out + t * nb * 32 + b * 32 + j0;
#pragma unroll
        for (int k = 0; k < 8; k++) dst[k] = __fmul_rn(v[k], scale);
    }
}

// ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) from a Q4_K block's 12 scale bytes.
static __device__ __forceinline__ void scale_min_k4(int j, const uint8_t * q, unsigned & sc, unsigned & mn) {
    if (j < 4) {
        sc = q[j] & 63u;
        mn = q[j + 4] & 63u;
    } else {
        sc = (q[j + 4] & 0xFu) | ((q[j - 4] >> 6) << 4);
        mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// One thread per 32-column block: ggml Q4_K (144-byte) / Q5_K (176-byte) / Q6_K (210-byte) super-blocks -> llmj_cuda_kquant_repack's
// layout.
template <int FMT>
__global__ void __launch_bounds__(THREADS) kq_repack_kernel(const uint8_t * __restrict__ src, size_t row_bytes, int64_t rows, int nb,
                                                           uint8_t * __restrict__ qs, unsigned short * __restrict__ scales,
                                                           unsigned short * __restrict__ sup) {
    constexpr int BB = FMT == FMT_Q4K ? 144 : FMT == FMT_Q5K ? 176 : 210;
    const int64_t total = rows * nb;
    for (int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x; i < total; i += (int64_t) gridDim.x * THREADS) {
        const int64_t r = i / nb;
        const int b = (int) (i - r * nb), j = b % 8;
        const size_t si = (size_t) r * (nb / 8) + b / 8;
        const uint8_t * blk = src + r * row_bytes + (size_t) (b / 8) * BB;
        int q[32];
        if constexpr (has_min<FMT>()) {
            const uint8_t * qq = blk + (FMT == FMT_Q5K ? 48 : 16) + 32 * (j / 2);   // 64-column chunk: low nibbles, then high
#pragma unroll
            for (int k = 0; k < 32; k++) q[k] = j % 2 == 0 ? qq[k] & 15 : qq[k] >> 4;
            if constexpr (FMT == FMT_Q5K) {                                // Q5_K: bit j of qh[k] is column k's fifth bit
                uint32_t hv = 0;
#pragma unroll
                for (int k = 0; k < 32; k++) hv |= (uint32_t) ((blk[16 + k] >> j) & 1) << k;
                reinterpret_cast<uint32_t *>(qs + (size_t) rows * nb * 16)[i] = hv;
            }
            unsigned sc, mn;
            scale_min_k4(j, blk + 4, sc, mn);
            scales[i] = (unsigned short) (sc | mn << 8);
            if (j == 0) {
                sup[2 * si] = (unsigned short) (blk[0] | blk[1] << 8);
                sup[2 * si + 1] = (unsigned short) (blk[2] | blk[3] << 8);
            }
        } else {
            const int h = j / 4, qd = j % 4;                          // 128-column half, 32-column quarter
            const uint8_t * ql = blk + 64 * h + (qd % 2) * 32;
            const uint8_t * qh = blk + 128 + 32 * h;
#pragma unroll
            for (int k = 0; k < 32; k++) q[k] = (qd < 2 ? ql[k] & 15 : ql[k] >> 4) | ((qh[k] >> (2 * qd)) & 3) << 4;
            scales[i] = (unsigned short) (blk[192 + 2 * j] | blk[192 + 2 * j + 1] << 8);
            if (j == 0) sup[si] = (unsigned short) (blk[208] | blk[209] << 8);
            uint8_t hb[8];
#pragma unroll
            for (int k = 0; k < 8; k++) {
                hb[k] = (uint8_t) ((q[k] >> 4) | (q[k + 8] >> 4) << 2 | (q[k + 16] >> 4) << 4 | (q[k + 24] >> 4) << 6);
            }
            uint2 hv;
            memcpy(&hv, hb, 8);
            reinterpret_cast<uint2 *>(qs + (size_t) rows * nb * 16)[i] = hv;
        }
        uint8_t lb[16];
#pragma unroll
        for (int k = 0; k < 16; k++) lb[k] = (uint8_t) ((q[k] & 15) | (q[k + 16] & 15) << 4);
        uint4 lv;
        memcpy(&lv, lb, 16);
        reinterpret_cast<uint4 *>(qs)[i] = lv;
    }
}

int check_matrix(const llmj_gptq_matrix * m, const char * where) {
    if (!m) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "null matrix descriptor");
    if (m->format == FMT_Q4K || m->format == FMT_Q5K || m->format == FMT_Q6K) {
        const int bits = m->format == FMT_Q4K ? 4 : m->format == FMT_Q5K ? 5 : 6;
        if (m->bits != bits || m->cols % 256 != 0 || m->perm || m->zeros || !m->super
            || reinterpret_cast<uintptr_t>(m->super) % (m->format == FMT_Q6K ? 2 : 4) != 0) {
            return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "format %d needs bits %d (got %d), cols a multiple "
                                      "of 256 (got %lld), perm and zeros NULL and an aligned super table (%p)", m->format,
                                      bits, m->bits, (long long) m->cols, (const void *) m->super);
        }
    } else if (m->format != FMT_GPTQ) {
        return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, where, "unknown matrix format %d", m->format);
    } else if (m->group_blocks > 1 && (m->group_blocks & (m->group_blocks - 1)) != 0) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "group_blocks %d is not a power of two", m->group_blocks);
    } else if (m->bits != 4 && m->bits != 8) {
        return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, where, "GPTQ %d-bit has no CUDA kernel (4 and 8 have)", m->bits);
    }
    if (m->rows <= 0 || m->cols <= 0 || m->rows > 0x7FFFFFFFLL || m->cols > 0x7FFFFFFFLL) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "bad shape rows=%lld cols=%lld", (long long) m->rows,
                                  (long long) m->cols);
    }
    if (!m->qs || !m->scales) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "null device pointer (qs=%p scales=%p)", m->qs,
                                  (const void *) m->scales);
    }
    if (reinterpret_cast<uintptr_t>(m->qs) % 16 != 0 || reinterpret_cast<uintptr_t>(m->scales) % 2 != 0) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "qs %p must be 16-byte and scales %p 2-byte aligned",
                                  m->qs, (const void *) m->scales);
    }
    return LLMJ_OK;
}

unsigned grid_for(int64_t items) {
    const int64_t g = (items + THREADS - 1) / THREADS;
    return (unsigned) (g < (1 << 20) ? g : (1 << 20));
}

}  // namespace

extern "C" size_t llmj_cuda_gptq_work_size(int64_t cols, int64_t n) {
    if (cols <= 0 || n <= 0) return 0;
    return q8_act_bytes(padded_cols(cols), n);
}

namespace {

// log2 of the blocks per scale entry (llmj_gptq_matrix.group_blocks, checked: 0, 1 or a power of two).
int gshift_of(const llmj_gptq_matrix & m) {
    int s = 0;
    while (m.format == FMT_GPTQ && (1 << s) < m.group_blocks) s++;
    return s;
}

// The checks of llmj_cuda_gptq_matmul_multi / _act: 1..MAX_PARTS valid matrices with one input layout.
int check_shared(int count, const llmj_gptq_matrix * ms, float * const * ys, int64_t n, const char * where) {
    if (count < 1 || count > MAX_PARTS) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "count %d is not 1..%d", count, MAX_PARTS);
    }
    if (!ms || !ys) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "null matrix or output array");
    if (n < 0) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "negative token count %lld", (long long) n);
    for (int k = 0; k < count; k++) {
        const int st = check_matrix(&ms[k], where);
        if (st != LLMJ_OK) return st;
        const bool kmix = ms[k].format != FMT_GPTQ && ms[0].format != FMT_GPTQ;   // Q4_K and Q6_K may share a launch
        if ((!kmix && (ms[k].bits != ms[0].bits || ms[k].format != ms[0].format)) || ms[k].cols != ms[0].cols || ms[k].perm != ms[0].perm
            || (ms[k].zeros == NULL) != (ms[0].zeros == NULL) || (kmix && (ms[k].act32 != 0) != (ms[0].act32 != 0))) {
            return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where,
                                      "matrix %d (%d bits, %lld cols, perm %p, zeros %s, act32 %d) does not share matrix "
                                      "0's input layout (%d bits, %lld cols, perm %p, zeros %s, act32 %d)", k, ms[k].bits,
                                      (long long) ms[k].cols, (const void *) ms[k].perm, ms[k].zeros ? "set" : "NULL",
                                      ms[k].act32, ms[0].bits, (long long) ms[0].cols, (const void *) ms[0].perm,
                                      ms[0].zeros ? "set" : "NULL", ms[0].act32);
        }
        if (!ys[k] && n > 0) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "null output %d", k);
    }
    return LLMJ_OK;
}

// The checks of the entry points whose input is already converted (named what: act, or the deferred norm's norm_act):
// perm NULL and cols a multiple of 32 (rows too for the norm epilogue, rows32), the input 16-byte aligned.
int check_converted(const llmj_gptq_matrix & m, const void * act, bool rows32, const char * what, const char * where) {
    if (m.perm || m.cols % 32 != 0 || (rows32 && m.rows % 32 != 0)) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "a converted activation needs perm NULL and cols %lld a "
                                  "multiple of 32%s (rows %lld)", (long long) m.cols, rows32 ? ", and the norm epilogue rows "
                                  "too" : "", (long long) m.rows);
    }
    if (!act || reinterpret_cast<uintptr_t>(act) % 16 != 0) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "%s %p is null or not 16-byte aligned", what, act);
    }
    return LLMJ_OK;
}

// The per-block sums of squares in a folded norm's buffer (llmj_cuda_gptq_norm_act_size: the Q8_0 blocks of dim columns,
// quants then q8_act_meta, then n * dim / 32 floats).
float * norm_act_sums(void * norm_act, int64_t dim, int64_t n) {
    return reinterpret_cast<float *>(static_cast<char *>(norm_act) + q8_act_bytes(dim, n));
}

// The products of count checked matrices from the converted activation act (rows of cols32).
void launch_products(int count, const llmj_gptq_matrix * ms, const void * act, int64_t cols32, float * const * ys, int64_t n,
                     cudaStream_t s, bool accumulate = false, const float * rpart = nullptr, float reps = 0.0f,
                     const norm_out * no = nullptr, const glu_out * go = nullptr) {
    gptq_parts parts = {};
    parts.count = count;
    parts.accumulate = accumulate ? 1 : 0;
    parts.rpart = rpart;
    parts.reps = reps;
    for (int k = 0; k < count; k++) {
        parts.p[k].qs = static_cast<const uint8_t *>(ms[k].qs);
        parts.p[k].sc = reinterpret_cast<const unsigned short *>(ms[k].scales);
        parts.p[k].z = ms[k].zeros;
        parts.p[k].sup = ms[k].super;
        parts.p[k].y = ys[k];
        parts.p[k].rows = ms[k].rows;
        parts.p[k].fmt = ms[k].format;
        parts.p[k].gshift = gshift_of(ms[k]);
    }
    const bool sym = ms[0].zeros == NULL;
    bool mixed = false;
    for (int k = 1; k < count; k++) mixed |= ms[k].format != ms[0].format;
    if (no) {
        launch_add_norm(parts, ms[0].format, ms[0].bits, sym, act, cols32, n, *no, s);
        return;
    }
    if (go) {
        launch_norm_glu(parts, ms[0].format, ms[0].bits, sym, act, cols32, n, *go, s);
        return;
    }
    if (rpart) {
        launch_norm_act(parts, mixed ? FMT_KMIX : ms[0].format, ms[0].bits, sym, act, cols32, n, s);
        return;
    }
    const bool a32 = ms[0].format != FMT_GPTQ && ms[0].act32;
    with_format<true>(mixed ? FMT_KMIX : ms[0].format, ms[0].bits, sym, [&](auto f, auto b, auto z) {
        constexpr int F = decltype(f)::value, B = decltype(b)::value;
        constexpr bool S = decltype(z)::value;
        if constexpr (F != FMT_GPTQ) {
            if (a32) return launch_gptq<F, B, S, true>(parts, act, cols32, n, s);
        }
        launch_gptq<F, B, S>(parts, act, cols32, n, s);
    });
}

}  // namespace

extern "C" int llmj_cuda_gptq_matmul_multi(int count, const llmj_gptq_matrix * ms, const float * x, float * const * ys,
                                           int64_t n, void * work, size_t work_bytes, void * stream) {
    const int st = check_shared(count, ms, ys, n, __func__);
    if (st != LLMJ_OK) return st;
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x, "null input pointer");
    const llmj_gptq_matrix & m0 = ms[0];
    const size_t need = llmj_cuda_gptq_work_size(m0.cols, n);
    CHECK_STREAM_ARGS(work && work_bytes >= need, "work buffer of %zu bytes, %zu needed", work_bytes, need);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(work) % 16 == 0, "work buffer %p is not 16-byte aligned", work);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int64_t cols32 = padded_cols(m0.cols);
    char * act = static_cast<char *>(work);
    if (m0.format != FMT_GPTQ && !m0.act32) {                           // Q8_K, as the CPU's K-quant dots
        const int st2 = llmj_cuda_kquant_quantize_q8k(x, m0.cols, n, act, work_bytes, s);
        if (st2 != LLMJ_OK) return st2;
    } else if (!m0.perm && cols32 == m0.cols) {
        launch_quantize_q8_act(x, m0.cols, n, cols32, act, s);          // already in order and whole blocks
    } else {
        launch_quantize_q8_act_gather(x, m0.perm, m0.cols, n, cols32, act, s);
    }
    launch_products(count, ms, act, cols32, ys, n, s);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_matmul_act(int count, const llmj_gptq_matrix * ms, const void * act, float * const * ys,
                                         int64_t n, void * stream) {
    int st = check_shared(count, ms, ys, n, __func__);
    if (st != LLMJ_OK || n == 0) return st;
    if ((st = check_converted(ms[0], act, false, "act", __func__)) != LLMJ_OK) return st;
    launch_products(count, ms, act, ms[0].cols, ys, n, static_cast<cudaStream_t>(stream));
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_matmul_act_add(const llmj_gptq_matrix * m, const void * act, float * y, int64_t n,
                                           void * stream) {
    float * ys[1] = {y};
    int st = check_shared(1, m, ys, n, __func__);
    if (st != LLMJ_OK || n == 0) return st;
    if ((st = check_converted(*m, act, false, "act", __func__)) != LLMJ_OK) return st;
    launch_products(1, m, act, m->cols, ys, n, static_cast<cudaStream_t>(stream), true);
    return llmj_cuda_check_launch(__func__);
}

extern "C" size_t llmj_cuda_gptq_norm_act_size(int64_t dim, int64_t n) {
    if (dim <= 0 || n <= 0 || dim % 32 != 0) return 0;
    return q8_act_bytes(dim, n) + (size_t) n * (size_t) (dim / 32) * sizeof(float);
}

extern "C" int llmj_cuda_gptq_matmul_act_add_norm(const llmj_gptq_matrix * m, const void * act, float * y, int64_t n,
                                                const float * gain, float gain_offset, void * norm_act, void * stream) {
    float * ys[1] = {y};
    int st = check_shared(1, m, ys, n, __func__);
    if (st != LLMJ_OK || n == 0) return st;
    CHECK_STREAM_ARGS(m->format == FMT_GPTQ || m->act32, "matrix format %d: the norm epilogue takes format 0 (GPTQ, Q4_0, Q8_0) "
                      "or K-quants reading Q8_0 blocks (act32)", m->format);
    if ((st = check_converted(*m, act, true, "act", __func__)) != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(norm_act && reinterpret_cast<uintptr_t>(norm_act) % 16 == 0, "norm_act %p is null or not 16-byte aligned",
                      norm_act);
    CHECK_STREAM_ARGS(gain, "null gain");
    char * base = static_cast<char *>(norm_act);
    norm_out no;
    no.gain = gain;
    no.gain_offset = gain_offset;
    no.aq = reinterpret_cast<int8_t *>(base);
    no.am = reinterpret_cast<q8_act_meta *>(base + q8_act_meta_offset(m->rows, n));
    no.part = norm_act_sums(norm_act, m->rows, n);
    launch_products(1, m, act, m->cols, ys, n, static_cast<cudaStream_t>(stream), true, nullptr, 0.0f, &no);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_matmul_norm_act(int count, const llmj_gptq_matrix * ms, const void * norm_act, float eps,
                                              float * const * ys, int64_t n, void * stream) {
    int st = check_shared(count, ms, ys, n, __func__);
    if (st != LLMJ_OK || n == 0) return st;
    CHECK_STREAM_ARGS(ms[0].format == FMT_GPTQ || ms[0].act32, "matrix format %d: a deferred norm's activation is Q8_0 "
                      "blocks (format 0, or K-quants with act32)", ms[0].format);
    if ((st = check_converted(ms[0], norm_act, false, "norm_act", __func__)) != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(eps >= 0.0f, "negative eps %g", (double) eps);
    const float * part = norm_act_sums(const_cast<void *>(norm_act), ms[0].cols, n);
    launch_products(count, ms, norm_act, ms[0].cols, ys, n, static_cast<cudaStream_t>(stream), false, part, eps);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_matmul_norm_glu(const llmj_gptq_matrix * ms, const void * norm_act, float eps, int gelu, float * out,
                                              void * act, int64_t n, void * stream) {
    float * ys[2] = {out, out};
    int st = check_shared(2, ms, ys, n, __func__);
    if (st != LLMJ_OK || n == 0) return st;
    CHECK_STREAM_ARGS(ms[0].format == FMT_GPTQ || ms[0].act32, "matrix format %d: a deferred norm's activation is Q8_0 "
                      "blocks (format 0, or K-quants with act32)", ms[0].format);
    CHECK_STREAM_ARGS(ms[1].format == ms[0].format && ms[1].rows == ms[0].rows, "gate (format %d, %lld rows) and up (format %d, "
                      "%lld rows) differ", ms[0].format, (long long) ms[0].rows, ms[1].format, (long long) ms[1].rows);
    if ((st = check_converted(ms[0], norm_act, true, "norm_act", __func__)) != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(eps >= 0.0f, "negative eps %g", (double) eps);
    CHECK_STREAM_ARGS(gelu == 0 || gelu == 1, "gelu %d is not 0 or 1", gelu);
    CHECK_STREAM_ARGS(act && reinterpret_cast<uintptr_t>(act) % 16 == 0, "act %p is null or not 16-byte aligned", act);
    glu_out go;
    go.out = out;
    go.aq = static_cast<int8_t *>(act);
    go.am = reinterpret_cast<q8_act_meta *>(static_cast<char *>(act) + q8_act_meta_offset(ms[0].rows, n));
    go.gelu = gelu;
    const float * part = norm_act_sums(const_cast<void *>(norm_act), ms[0].cols, n);
    launch_products(2, ms, norm_act, ms[0].cols, ys, n, static_cast<cudaStream_t>(stream), false, part, eps, nullptr, &go);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_matmul(const llmj_gptq_matrix * m, const float * x, float * y, int64_t n, void * work,
                                     size_t work_bytes, void * stream) {
    const int st = check_matrix(m, __func__);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(n >= 0, "negative token count %lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && y, "null device pointer (x=%p y=%p)", (const void *) x, (void *) y);
    float * ys[1] = {y};
    return llmj_cuda_gptq_matmul_multi(1, m, x, ys, n, work, work_bytes, stream);
}

extern "C" int llmj_cuda_gptq_dequantize_f16(const llmj_gptq_matrix * m, void * out, void * stream) {
    int st = check_matrix(m, __func__);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(out, "null output pointer");
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(out) % 2 == 0, "out %p is not 2-byte aligned", out);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int nb = (int) ((m->cols + 31) / 32);
    const uint8_t * qs = static_cast<const uint8_t *>(m->qs);
    const unsigned short * sc = reinterpret_cast<const unsigned short *>(m->scales);
    __half * o = static_cast<__half *>(out);
    const int vec_out = reinterpret_cast<uintptr_t>(out) % 16 == 0 && m->cols % 8 == 0;
    const unsigned grid = grid_for(m->rows * nb * 4);
    if (m->format != FMT_GPTQ) {
        CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(out) % 16 == 0, "out %p is not 16-byte aligned", out);
        if (m->format == FMT_Q4K) {
            kq_dequant_f16_kernel<FMT_Q4K><<<grid, THREADS, 0, s>>>(qs, sc, m->super, o, m->rows, nb);
        } else if (m->format == FMT_Q5K) {
            kq_dequant_f16_kernel<FMT_Q5K><<<grid, THREADS, 0, s>>>(qs, sc, m->super, o, m->rows, nb);
        } else {
            kq_dequant_f16_kernel<FMT_Q6K><<<grid, THREADS, 0, s>>>(qs, sc, m->super, o, m->rows, nb);
        }
    } else if (m->bits == 4) {
        gptq_dequant_f16_kernel<4><<<grid, THREADS, 0, s>>>(qs, sc, m->zeros, m->perm, o, m->rows, m->cols, nb, vec_out, gshift_of(*m));
    } else {
        gptq_dequant_f16_kernel<8><<<grid, THREADS, 0, s>>>(qs, sc, m->zeros, m->perm, o, m->rows, m->cols, nb, vec_out, gshift_of(*m));
    }
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_get_rows(const llmj_gptq_matrix * m, const int32_t * ids, int64_t n, float scale, float * out,
                                       void * stream) {
    int st = check_matrix(m, __func__);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(n >= 0, "negative id count %lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(ids && out, "null device pointer (ids=%p out=%p)", (const void *) ids, (void *) out);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int nb = (int) ((m->cols + 31) / 32);
    const uint8_t * qs = static_cast<const uint8_t *>(m->qs);
    const unsigned short * sc = reinterpret_cast<const unsigned short *>(m->scales);
    const unsigned grid = grid_for(n * nb * 4);
    if (m->format == FMT_Q4K) {
        launch_pdl(kq_get_rows_kernel<FMT_Q4K>, grid, THREADS, 0, s, qs, sc, m->super, m->rows, nb, ids, n, scale, out);
    } else if (m->format == FMT_Q5K) {
        launch_pdl(kq_get_rows_kernel<FMT_Q5K>, grid, THREADS, 0, s, qs, sc, m->super, m->rows, nb, ids, n, scale, out);
    } else if (m->format == FMT_Q6K) {
        launch_pdl(kq_get_rows_kernel<FMT_Q6K>, grid, THREADS, 0, s, qs, sc, m->super, m->rows, nb, ids, n, scale, out);
    } else if (m->bits == 4) {
        launch_pdl(gptq_get_rows_kernel<4>, grid, THREADS, 0, s, qs, sc, m->zeros, m->perm, ids, n, scale, out, m->cols, nb, gshift_of(*m));
    } else {
        launch_pdl(gptq_get_rows_kernel<8>, grid, THREADS, 0, s, qs, sc, m->zeros, m->perm, ids, n, scale, out, m->cols, nb, gshift_of(*m));
    }
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_repack_q(int type, const void * src, size_t row_bytes, int64_t rows, int64_t cols, void * qs,
                                       uint16_t * scales, void * stream) {
    if (type != LLMJ_TYPE_Q4_0 && type != LLMJ_TYPE_Q8_0) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "type %d cannot be repacked (Q4_0 = %d and Q8_0 = %d can)", type,
                         LLMJ_TYPE_Q4_0, LLMJ_TYPE_Q8_0);
    }
    CHECK_STREAM_ARGS(rows >= 0 && cols > 0 && cols % 32 == 0 && rows <= 0x7FFFFFFFLL && cols <= 0x7FFFFFFFLL,
                      "bad shape rows=%lld cols=%lld (cols must be a positive multiple of 32)", (long long) rows,
                      (long long) cols);
    if (rows == 0) return LLMJ_OK;
    const int bb = type == LLMJ_TYPE_Q4_0 ? 18 : 34;
    CHECK_STREAM_ARGS(src && qs && scales, "null device pointer (src=%p qs=%p scales=%p)", src, qs, (void *) scales);
    CHECK_STREAM_ARGS(row_bytes >= (size_t) (cols / 32) * bb && row_bytes % 2 == 0 && reinterpret_cast<uintptr_t>(src) % 2 == 0,
                      "row_bytes %zu must be even and hold %lld blocks of %d bytes, src %p 2-byte aligned", row_bytes,
                      (long long) (cols / 32), bb, src);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(qs) % 16 == 0 && reinterpret_cast<uintptr_t>(scales) % 2 == 0,
                      "qs %p must be 16-byte and scales %p 2-byte aligned", qs, (void *) scales);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int nb = (int) (cols / 32);
    const uint8_t * in = static_cast<const uint8_t *>(src);
    unsigned short * sc = reinterpret_cast<unsigned short *>(scales);
    if (type == LLMJ_TYPE_Q4_0) {
        repack_q_kernel<18><<<grid_for(rows * nb), THREADS, 0, s>>>(in, row_bytes, rows, nb, static_cast<uint4 *>(qs), sc);
    } else {
        repack_q_kernel<34><<<grid_for(rows * nb), THREADS, 0, s>>>(in, row_bytes, rows, nb, static_cast<uint4 *>(qs), sc);
    }
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_kquant_repack(int type, const void * src, size_t row_bytes, int64_t rows, int64_t cols, void * qs,
                                       uint16_t * scales, uint16_t * super, void * stream) {
    if (type != LLMJ_TYPE_Q4_K && type != LLMJ_TYPE_Q5_K && type != LLMJ_TYPE_Q6_K) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "type %d cannot be repacked (Q4_K = %d, Q5_K = %d and Q6_K = %d can)", type,
                         LLMJ_TYPE_Q4_K, LLMJ_TYPE_Q5_K, LLMJ_TYPE_Q6_K);
    }
    CHECK_STREAM_ARGS(rows >= 0 && cols > 0 && cols % 256 == 0 && rows <= 0x7FFFFFFFLL && cols <= 0x7FFFFFFFLL,
                      "bad shape rows=%lld cols=%lld (cols must be a positive multiple of 256)", (long long) rows,
                      (long long) cols);
    if (rows == 0) return LLMJ_OK;
    const int bb = type == LLMJ_TYPE_Q4_K ? 144 : type == LLMJ_TYPE_Q5_K ? 176 : 210;
    CHECK_STREAM_ARGS(src && qs && scales && super, "null device pointer (src=%p qs=%p scales=%p super=%p)", src, qs,
                      (void *) scales, (void *) super);
    CHECK_STREAM_ARGS(row_bytes >= (size_t) (cols / 256) * bb, "row_bytes %zu must hold %lld blocks of %d bytes", row_bytes,
                      (long long) (cols / 256), bb);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(qs) % 16 == 0 && reinterpret_cast<uintptr_t>(scales) % 2 == 0
                      && reinterpret_cast<uintptr_t>(super) % 4 == 0,
                      "qs %p must be 16-byte, scales %p 2-byte and super %p 4-byte aligned", qs, (void *) scales, (void *) super);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int nb = (int) (cols / 32);
    const uint8_t * in = static_cast<const uint8_t *>(src);
    unsigned short * sc = reinterpret_cast<unsigned short *>(scales);
    unsigned short * su = reinterpret_cast<unsigned short *>(super);
    uint8_t * q = static_cast<uint8_t *>(qs);
    if (type == LLMJ_TYPE_Q4_K) {
        kq_repack_kernel<FMT_Q4K><<<grid_for(rows * nb), THREADS, 0, s>>>(in, row_bytes, rows, nb, q, sc, su);
    } else if (type == LLMJ_TYPE_Q5_K) {
        kq_repack_kernel<FMT_Q5K><<<grid_for(rows * nb), THREADS, 0, s>>>(in, row_bytes, rows, nb, q, sc, su);
    } else {
        kq_repack_kernel<FMT_Q6K><<<grid_for(rows * nb), THREADS, 0, s>>>(in, row_bytes, rows, nb, q, sc, su);
    }
    return llmj_cuda_check_launch(__func__);
}
