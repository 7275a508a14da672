/* GPTQ matrix-vector (decode) and matrix-matrix (prefill) products on llmj's repacked GPTQ layout
 * (io.llmj.quant.gptq.GptqMatrix; llmj_gptq_matrix in llmj.h).
 *
 * Layout recap: rows are output features; the input columns are already sorted by group (act-order
 * undone at load), so the activation is permuted instead, once per call (x'[j] = x[perm[j]], as
 * ExLlama does); every 32-column block of a row carries its fp16 scale and its zero point (z - 1, a
 * byte), copied from its group, so the inner loops never look a group up.
 *
 * Arithmetic (the definition the Java reference GptqMatrix.matvecQ8 reproduces): the permuted
 * activation is converted to Q8_0 blocks exactly as ggml's x86 backend converts activations for Q4_0
 * (llmj_quantize_act), the block's quant sum sum(xq) is kept beside it, and each block contributes
 *     scale * d * (sum_i q_i * xq_i - z * sum_i xq_i)
 * where the bracket is an exact int32. Only the float accumulation order differs between ISAs.
 *
 * Kernels: scalar; AVX2 (eight blocks' int32 sums reduced into one vector, scaled with one fp16
 * conversion and one FMA, as the Q4_0 kernel in matvec_q.c does); at the AVX-512 level, where the CPU
 * has AVX512-VNNI, vpdpbusd on 256-bit registers (as for Q4_0 there; 512-bit block kernels were not
 * faster on the development machine), else the AVX2 kernel. 8-bit quants go through vpdpbusd unsigned
 * as they are; without VNNI they are shifted to signed (q - 128, z - 128) for the maddubs sign trick,
 * which leaves the integer bracket unchanged.
 *
 * Threads: phase 1 converts the activations (token by token, claimed from a counter), phase 2 claims
 * chunks of rows; prefill dots a tile of rows with every token while the tile is in cache. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "quants.h"
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LLMJ_X86 1
#endif

#define GB 32   /* columns per block */

/* One token's converted activation: int8 quants, per-block scale d (float) and quant sum. */
typedef struct { const int8_t * q; const float * d; const int32_t * s; } gptq_act;

typedef float (*gdot_fn)(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb);

static inline size_t al64(size_t v) { return (v + 63) & ~(size_t) 63; }

static size_t act_bytes(int64_t nb) { return al64((size_t) nb * GB) + 2 * al64((size_t) nb * 4); }

static gptq_act act_at(char * base, int64_t nb) {
    gptq_act a = { (const int8_t *) base, (const float *) (base + al64((size_t) nb * GB)),
                   (const int32_t *) (base + al64((size_t) nb * GB) + al64((size_t) nb * 4)) };
    return a;
}

/* ==== scalar ============================================================================== */

static float dot4_s(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t * q = qs + b * 16;
        const int8_t * x = a.q + b * GB;
        int32_t s = 0;
        for (int i = 0; i < 16; i++) s += (q[i] & 15) * x[i] + (q[i] >> 4) * x[i + 16];
        s -= (zs[b] + 1) * a.s[b];
        acc += (float) s * (llmj_fp16_to_fp32(sc[b]) * a.d[b]);
    }
    return acc;
}

static float dot8_s(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t * q = qs + b * GB;
        const int8_t * x = a.q + b * GB;
        int32_t s = 0;
        for (int i = 0; i < GB; i++) s += q[i] * x[i];
        s -= (zs[b] + 1) * a.s[b];
        acc += (float) s * (llmj_fp16_to_fp32(sc[b]) * a.d[b]);
    }
    return acc;
}

#ifdef LLMJ_X86
/* ==== AVX2 ================================================================================ */
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float g_hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2 static inline int g_hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles (columns 0..15), then high (16..31) */
AVX2 static inline __m256i g_nibbles(const uint8_t * qs) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *) qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

AVX2 static inline __m256i g_load(const void * p) { return _mm256_loadu_si256((const __m256i *) p); }

/* eight vectors of 8 int32 -> one vector whose lane k is the sum of vector k */
AVX2 static inline __m256i g_reduce8(__m256i p0, __m256i p1, __m256i p2, __m256i p3,
                                     __m256i p4, __m256i p5, __m256i p6, __m256i p7) {
    __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
    __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p4, p5), _mm256_hadd_epi32(p6, p7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

/* The block loop shared by every SIMD kernel: BD(b) gives block b's 8 partial int32 sums of q * xq,
 * ZOFF the value added to a stored zero byte (1, or 1 - 128 for the signed 8-bit path). */
#define GPTQ_LOOP(BD, ZOFF)                                                                        \
    __m256 acc = _mm256_setzero_ps();                                                              \
    int64_t b = 0;                                                                                 \
    for (; b + 8 <= nb; b += 8) {                                                                  \
        __m256i s8 = g_reduce8(BD(b), BD(b + 1), BD(b + 2), BD(b + 3), BD(b + 4), BD(b + 5), BD(b + 6), BD(b + 7)); \
        __m256i z = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (zs + b))), \
                                     _mm256_set1_epi32(ZOFF));                                     \
        s8 = _mm256_sub_epi32(s8, _mm256_mullo_epi32(z, _mm256_loadu_si256((const __m256i *) (a.s + b)))); \
        __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (sc + b))), \
                                     _mm256_loadu_ps(a.d + b));                                    \
        acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s8), acc);                                 \
    }                                                                                              \
    float tail = 0;                                                                                \
    for (; b < nb; b++) {                                                                          \
        int32_t s = g_hsum8i(BD(b)) - (zs[b] + (ZOFF)) * a.s[b];                                   \
        tail += (float) s * (_cvtsh_ss(sc[b]) * a.d[b]);                                           \
    }                                                                                              \
    return g_hsum8(acc) + tail;

AVX2 static float dot4_a2(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb) {
#define BD(b) _mm256_madd_epi16(_mm256_maddubs_epi16(g_nibbles(qs + (b) * 16), g_load(a.q + (b) * GB)), _mm256_set1_epi16(1))
    GPTQ_LOOP(BD, 1)
#undef BD
}

/* 8 bits: q - 128 (signed) times xq with the sign trick; pairs stay within int16 (|q'| <= 128, |xq| <= 127) */
AVX2 static inline __m256i g_dot_ss(__m256i w, __m256i x) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

AVX2 static float dot8_a2(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb) {
#define BD(b) g_dot_ss(_mm256_xor_si256(g_load(qs + (b) * GB), _mm256_set1_epi8((char) 0x80)), g_load(a.q + (b) * GB))
    GPTQ_LOOP(BD, 1 - 128)
#undef BD
}

/* ==== AVX-512 level with VNNI (256-bit vpdpbusd) ========================================== */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

VNNI static float dot4_vnni(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb) {
#define BD(b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), g_nibbles(qs + (b) * 16), g_load(a.q + (b) * GB))
    GPTQ_LOOP(BD, 1)
#undef BD
}

VNNI static float dot8_vnni(const uint8_t * qs, const uint16_t * sc, const uint8_t * zs, gptq_act a, int64_t nb) {
#define BD(b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), g_load(qs + (b) * GB), g_load(a.q + (b) * GB))
    GPTQ_LOOP(BD, 1)
#undef BD
}
#endif /* LLMJ_X86 */

/* ==== dispatch ============================================================================ */

static gdot_fn select_gptq(int bits) {
    int isa = llmj_cpu_active_isa();
#ifdef LLMJ_X86
    if (isa == LLMJ_ISA_AVX512 && (llmj_cpu_features() & LLMJ_CPU_AVX512VNNI)) return bits == 4 ? dot4_vnni : dot8_vnni;
    if (isa >= LLMJ_ISA_AVX2) return bits == 4 ? dot4_a2 : dot8_a2;
#else
    (void) isa;
#endif
    return bits == 4 ? dot4_s : dot8_s;
}

/* ==== drivers ============================================================================= */

typedef struct {
    const llmj_gptq_matrix * m;
    gdot_fn dot;
    int64_t nb;
    size_t row_q;             /* quant bytes per row */
    const float * x;
    size_t x_stride;
    float * y;
    size_t y_stride;
    int64_t n_tokens;
    char * act;
    size_t act_bytes;
    int64_t chunk;
    const uint8_t * zeros;    /* m->zeros, or one row of 2^(bits-1) - 1 shared by every row (zeros NULL) */
    size_t z_stride;          /* nb, or 0 for the shared row */
    _Atomic int64_t next;
    _Atomic int64_t q_next;
} gjob;

/* Phase 1: one token per claim: gather the permuted activation block by block, convert it to Q8_0
 * (ggml's x86 conversion), keep d as float and the quant sum. */
static void job_act(void * ctx, int ith, int nth) {
    (void) ith; (void) nth;
    gjob * j = ctx;
    const int64_t cols = j->m->cols;
    for (;;) {
        int64_t t = atomic_fetch_add_explicit(&j->q_next, 1, memory_order_relaxed);
        if (t >= j->n_tokens) break;
        const float * x = j->x + (size_t) t * j->x_stride;
        char * base = j->act + (size_t) t * j->act_bytes;
        gptq_act a = act_at(base, j->nb);
        int8_t * q = (int8_t *) a.q;
        float * d = (float *) a.d;
        int32_t * s = (int32_t *) a.s;
        for (int64_t b = 0; b < j->nb; b++) {
            float buf[GB];
            for (int i = 0; i < GB; i++) {
                int64_t c = b * GB + i;
                buf[i] = c < cols ? x[j->m->perm ? j->m->perm[c] : c] : 0.0f;
            }
            block_q8_0 blk;
            llmj_quantize_act(LLMJ_TYPE_Q8_0, buf, &blk, GB);
            memcpy(q + b * GB, blk.qs, GB);
            d[b] = llmj_fp16_to_fp32(blk.d);
            int32_t sum = 0;
            for (int i = 0; i < GB; i++) sum += blk.qs[i];
            s[b] = sum;
        }
    }
}

#define GROW_TILE 32
static void job_rows(void * ctx, int ith, int nth) {
    (void) ith; (void) nth;
    gjob * j = ctx;
    const llmj_gptq_matrix * m = j->m;
    const int64_t rows = m->rows;
    for (;;) {
        int64_t c0 = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * j->chunk;
        if (c0 >= rows) break;
        int64_t c1 = c0 + j->chunk < rows ? c0 + j->chunk : rows;
        for (int64_t r0 = c0; r0 < c1; r0 += GROW_TILE) {
            int64_t r1 = r0 + GROW_TILE < c1 ? r0 + GROW_TILE : c1;
            for (int64_t t = 0; t < j->n_tokens; t++) {
                gptq_act a = act_at(j->act + (size_t) t * j->act_bytes, j->nb);
                float * yt = j->y + (size_t) t * j->y_stride;
                for (int64_t r = r0; r < r1; r++) {
                    yt[r] = j->dot((const uint8_t *) m->qs + (size_t) r * j->row_q, m->scales + (size_t) r * j->nb,
                                   j->zeros + (size_t) r * j->z_stride, a, j->nb);
                }
            }
        }
    }
}

size_t llmj_gptq_work_size(int64_t cols, int64_t n_tokens) {
    if (cols <= 0 || n_tokens <= 0) return 0;
    return act_bytes((cols + GB - 1) / GB) * (size_t) n_tokens;
}

int llmj_gptq_matmul(llmj_threadpool * pool, const llmj_gptq_matrix * m, const float * x, size_t x_stride,
                     float * y, size_t y_stride, int64_t n_tokens, void * work, size_t work_bytes) {
    if (!m) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null matrix descriptor");
    if (m->format != 0) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "format %d (a repacked K-quant) has no CPU kernel", m->format);
    }
    if (m->group_blocks > 1) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "group_blocks %d (scales per group) has no CPU kernel", m->group_blocks);
    }
    if (m->bits != 4 && m->bits != 8) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "GPTQ %d-bit has no CPU kernel (4 and 8 have)", m->bits);
    }
    if (m->rows < 0 || m->cols < 0 || n_tokens < 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "negative shape rows=%lld cols=%lld n_tokens=%lld",
                         (long long) m->rows, (long long) m->cols, (long long) n_tokens);
    }
    if (m->rows == 0 || m->cols == 0 || n_tokens == 0) return LLMJ_OK;
    if (!m->qs || !m->scales || !x || !y) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer (qs=%p scales=%p x=%p y=%p)", m->qs,
                         (const void *) m->scales, (const void *) x, (void *) y);
    }
    if (n_tokens > 1 && (x_stride < (size_t) m->cols || y_stride < (size_t) m->rows)) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "x_stride %zu < cols %lld or y_stride %zu < rows %lld",
                         x_stride, (long long) m->cols, y_stride, (long long) m->rows);
    }
    const int64_t nb = (m->cols + GB - 1) / GB;
    size_t need = act_bytes(nb) * (size_t) n_tokens;
    void * owned = NULL;
    if (!work) {
        owned = aligned_alloc(64, al64(need));
        if (!owned) return LLMJ_FAIL(LLMJ_ERR_OUT_OF_MEMORY, "work allocation of %zu bytes failed", need);
        work = owned;
    } else if (work_bytes < need) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "work_bytes %zu is less than the %zu needed", work_bytes, need);
    }
    gjob j = { .m = m, .dot = select_gptq(m->bits), .nb = nb, .row_q = (size_t) nb * (size_t) (m->bits * 4),
               .x = x, .x_stride = n_tokens > 1 ? x_stride : (size_t) m->cols, .y = y,
               .y_stride = n_tokens > 1 ? y_stride : (size_t) m->rows, .n_tokens = n_tokens, .act = work,
               .act_bytes = act_bytes(nb) };
    uint8_t * sym = NULL;            /* zeros NULL: symmetric, every stored zero 2^(bits-1) - 1 */
    if (m->zeros) {
        j.zeros = m->zeros;
        j.z_stride = (size_t) nb;
    } else {
        sym = malloc((size_t) nb);
        if (!sym) {
            free(owned);
            return LLMJ_FAIL(LLMJ_ERR_OUT_OF_MEMORY, "allocation of %lld zero points failed", (long long) nb);
        }
        memset(sym, (1 << (m->bits - 1)) - 1, (size_t) nb);
        j.zeros = sym;
        j.z_stride = 0;
    }
    atomic_init(&j.q_next, 0);
    llmj_threadpool_run(n_tokens > 1 ? pool : NULL, job_act, &j);
    const int nth = llmj_threadpool_size(pool);
    j.chunk = nth == 1 ? m->rows : (m->rows + 8 * nth - 1) / (8 * nth);
    atomic_init(&j.next, 0);
    llmj_threadpool_run(pool, job_rows, &j);
    free(sym);
    free(owned);
    return LLMJ_OK;
}

int llmj_gptq_matvec(llmj_threadpool * pool, const llmj_gptq_matrix * m, const float * x, float * y,
                     void * work, size_t work_bytes) {
    return llmj_gptq_matmul(pool, m, x, 0, y, 0, 1, work, work_bytes);
}
