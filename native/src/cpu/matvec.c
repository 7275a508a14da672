/* Matrix-vector product y = W x for F32, F16 and BF16 weights, float32 activations.
 *
 * Layout: kernels (one per ISA: scalar, AVX2+FMA+F16C, AVX-512) -> dispatch -> the checked
 * entry point llmj_matvec. Each kernel computes one row's dot product; rows are independent.
 * The ISA variants are compiled in this one file with per-function target attributes, so the
 * library runs on any x86-64 CPU and picks the best variant at run time. */
#include <string.h>

#include "cpu.h"
#include "quants.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LLMJ_X86 1
#endif

/* ---- scalar ------------------------------------------------------------------------------ */

static float dot_f32_scalar(const float * w, const float * x, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += w[i] * x[i];
        s1 += w[i + 1] * x[i + 1];
        s2 += w[i + 2] * x[i + 2];
        s3 += w[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += w[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

static float dot_f16_scalar(const uint16_t * w, const float * x, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += llmj_fp16_to_fp32(w[i]) * x[i];
        s1 += llmj_fp16_to_fp32(w[i + 1]) * x[i + 1];
        s2 += llmj_fp16_to_fp32(w[i + 2]) * x[i + 2];
        s3 += llmj_fp16_to_fp32(w[i + 3]) * x[i + 3];
    }
    for (; i < n; i++) s0 += llmj_fp16_to_fp32(w[i]) * x[i];
    return (s0 + s1) + (s2 + s3);
}

static float dot_bf16_scalar(const uint16_t * w, const float * x, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += llmj_bf16_to_fp32(w[i]) * x[i];
        s1 += llmj_bf16_to_fp32(w[i + 1]) * x[i + 1];
        s2 += llmj_bf16_to_fp32(w[i + 2]) * x[i + 2];
        s3 += llmj_bf16_to_fp32(w[i + 3]) * x[i + 3];
    }
    for (; i < n; i++) s0 += llmj_bf16_to_fp32(w[i]) * x[i];
    return (s0 + s1) + (s2 + s3);
}

#ifdef LLMJ_X86
/* ---- AVX2 + FMA + F16C ------------------------------------------------------------------- */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2_TARGET static float dot_f32_avx2(const float * w, const float * x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

AVX2_TARGET static inline __m256 load_f16x8(const uint16_t * p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

AVX2_TARGET static float dot_f16_avx2(const uint16_t * w, const float * x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += _cvtsh_ss(w[i]) * x[i];
    return s;
}

AVX2_TARGET static inline __m256 load_bf16x8(const uint16_t * p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p)), 16));
}

AVX2_TARGET static float dot_bf16_avx2(const uint16_t * w, const float * x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += llmj_bf16_to_fp32(w[i]) * x[i];
    return s;
}

/* ---- AVX-512 ----------------------------------------------------------------------------- */
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

AVX512_TARGET static float dot_f32_avx512(const float * w, const float * x, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {   /* tail: masked loads read nothing past the row */
        __mmask16 m = (__mmask16) ((1u << (n - i)) - 1u);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

AVX512_TARGET static inline __m512 load_f16x16(const uint16_t * p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) p));
}

AVX512_TARGET static float dot_f16_avx512(const uint16_t * w, const float * x, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load_f16x16(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load_f16x16(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(load_f16x16(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(load_f16x16(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(load_f16x16(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16) ((1u << (n - i)) - 1u);
        __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i));
        a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

AVX512_TARGET static inline __m512 load_bf16x16(const uint16_t * p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *) p)), 16));
}

AVX512_TARGET static float dot_bf16_avx512(const uint16_t * w, const float * x, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(load_bf16x16(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(load_bf16x16(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(load_bf16x16(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16) ((1u << (n - i)) - 1u);
        __m512 wv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + i)), 16));
        a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}
#endif /* LLMJ_X86 */

/* ---- dispatch ---------------------------------------------------------------------------- */

typedef float (*dot_fn)(const void * w, const float * x, int64_t n);

static dot_fn select_dot(int type, int isa) {
#ifdef LLMJ_X86
    if (isa == LLMJ_ISA_AVX512) {
        return type == LLMJ_TYPE_F32 ? (dot_fn) dot_f32_avx512
             : type == LLMJ_TYPE_F16 ? (dot_fn) dot_f16_avx512 : (dot_fn) dot_bf16_avx512;
    }
    if (isa == LLMJ_ISA_AVX2) {
        return type == LLMJ_TYPE_F32 ? (dot_fn) dot_f32_avx2
             : type == LLMJ_TYPE_F16 ? (dot_fn) dot_f16_avx2 : (dot_fn) dot_bf16_avx2;
    }
#else
    (void) isa;
#endif
    return type == LLMJ_TYPE_F32 ? (dot_fn) dot_f32_scalar
         : type == LLMJ_TYPE_F16 ? (dot_fn) dot_f16_scalar : (dot_fn) dot_bf16_scalar;
}

/* ---- entry point ------------------------------------------------------------------------- */

int llmj_matvec(int type, const void * w, size_t row_bytes,
                const float * x, float * y, int64_t rows, int64_t cols) {
    if (type != LLMJ_TYPE_F32 && type != LLMJ_TYPE_F16 && type != LLMJ_TYPE_BF16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d is not supported (F32=0, F16=1, BF16=30 are)", type);
    }
    if (rows < 0 || cols < 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "negative shape rows=%lld cols=%lld",
                         (long long) rows, (long long) cols);
    }
    if (rows == 0) return LLMJ_OK;
    if (!w || !x || !y) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer (w=%p x=%p y=%p)", w, (const void *) x, (void *) y);
    }
    size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
    if (row_bytes < (size_t) cols * elem) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "row_bytes %zu is less than cols %lld x %zu bytes",
                         row_bytes, (long long) cols, elem);
    }
    dot_fn dot = select_dot(type, llmj_cpu_active_isa());
    const char * base = (const char *) w;
    for (int64_t r = 0; r < rows; r++) {
        y[r] = dot(base + (size_t) r * row_bytes, x, cols);
    }
    return LLMJ_OK;
}
