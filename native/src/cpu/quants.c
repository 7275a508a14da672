/* Block layouts, the type table and activation conversion (ggml's from_float for each
 * vec_dot_type), bit-exact with ggml's x86 CPU backend at llama.cpp@c392e50:
 *   Q8_0  quantize_row_q8_0, AVX branch: d = amax/127 (stored fp16), id = 127/amax,
 *         q = round-half-even(x * id). (The reference quantize_row_q8_0_ref uses 1/d and roundf
 *         and differs on ties; llama.cpp on x86 runs the AVX branch, so we follow it.)
 *   Q8_1  the same quants, plus s = fp16(d * sum q) with the unrounded float d.
 *   Q8_K  quantize_row_q8_K_ref (x86 has no SIMD version): max = signed value of largest |x|,
 *         iscale = -127/max, q = min(127, nearest_int(iscale * x)), d = 1/iscale, bsums.
 *   F16   round to nearest even with subnormals; BF16 round to nearest even, NaN quieted.
 * The scalar and SIMD variants produce identical bytes (the SIMD ones only reorder exact
 * operations: max, and one multiply and one rounding per element). */
#include <assert.h>
#include <string.h>

#include "quants.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LLMJ_X86 1
#endif

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

const int8_t llmj_kvalues_iq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

static const llmj_type_info TYPES[] = {
    [LLMJ_TYPE_F32]    = { 1, 4, LLMJ_TYPE_F32 },
    [LLMJ_TYPE_F16]    = { 1, 2, LLMJ_TYPE_F16 },
    [LLMJ_TYPE_Q4_0]   = { QK4_0, sizeof(block_q4_0), LLMJ_TYPE_Q8_0 },
    [LLMJ_TYPE_Q4_1]   = { QK4_1, sizeof(block_q4_1), LLMJ_TYPE_Q8_1 },
    [LLMJ_TYPE_Q5_0]   = { QK5_0, sizeof(block_q5_0), LLMJ_TYPE_Q8_0 },
    [LLMJ_TYPE_Q5_1]   = { QK5_1, sizeof(block_q5_1), LLMJ_TYPE_Q8_1 },
    [LLMJ_TYPE_Q8_0]   = { QK8_0, sizeof(block_q8_0), LLMJ_TYPE_Q8_0 },
    [LLMJ_TYPE_Q8_1]   = { QK8_1, sizeof(block_q8_1), -1 },
    [LLMJ_TYPE_Q2_K]   = { QK_K, sizeof(block_q2_K), LLMJ_TYPE_Q8_K },
    [LLMJ_TYPE_Q3_K]   = { QK_K, sizeof(block_q3_K), LLMJ_TYPE_Q8_K },
    [LLMJ_TYPE_Q4_K]   = { QK_K, sizeof(block_q4_K), LLMJ_TYPE_Q8_K },
    [LLMJ_TYPE_Q5_K]   = { QK_K, sizeof(block_q5_K), LLMJ_TYPE_Q8_K },
    [LLMJ_TYPE_Q6_K]   = { QK_K, sizeof(block_q6_K), LLMJ_TYPE_Q8_K },
    [LLMJ_TYPE_Q8_K]   = { QK_K, sizeof(block_q8_K), -1 },
    [LLMJ_TYPE_IQ4_NL] = { QK4_NL, sizeof(block_iq4_nl), LLMJ_TYPE_Q8_0 },
    [LLMJ_TYPE_IQ4_XS] = { QK_K, sizeof(block_iq4_xs), LLMJ_TYPE_Q8_K },
    [LLMJ_TYPE_BF16]   = { 1, 2, LLMJ_TYPE_BF16 },
};

const llmj_type_info * llmj_type_get(int type) {
    if (type < 0 || type >= (int) (sizeof TYPES / sizeof TYPES[0]) || TYPES[type].block_size == 0) return NULL;
    return &TYPES[type];
}

int llmj_type_block_size(int type) {
    const llmj_type_info * t = llmj_type_get(type);
    return t ? t->block_size : 0;
}

int llmj_type_block_bytes(int type) {
    const llmj_type_info * t = llmj_type_get(type);
    return t ? t->block_bytes : 0;
}

int llmj_type_vec_dot_type(int type) {
    const llmj_type_info * t = llmj_type_get(type);
    return t ? t->vec_dot_type : -1;
}

size_t llmj_act_row_bytes(int vt, int64_t cols) {
    const llmj_type_info * t = llmj_type_get(vt);
    return (size_t) (cols / t->block_size) * (size_t) t->block_bytes;
}

/* ---- scalar converters ------------------------------------------------------------------- */

/* round half to even for |v| < 2^22 (ggml's nearest_int): exact in any rounding-free build */
static inline int round_even(float v) {
    union { float f; int32_t i; } u = { v + 12582912.f };
    return (u.i & 0x007FFFFF) - 0x00400000;
}

static void q8_0_scalar(const float * x, block_q8_0 * y, int64_t nb, block_q8_1 * y1) {
    for (int64_t b = 0; b < nb; b++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            float a = x[j] < 0 ? -x[j] : x[j];
            amax = a > amax ? a : amax;
        }
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int8_t * q = y1 ? y1[b].qs : y[b].qs;
        int sum = 0;
        for (int j = 0; j < QK8_0; j++) {
            q[j] = (int8_t) round_even(x[j] * id);
            sum += q[j];
        }
        if (y1) {
            y1[b].d = llmj_fp32_to_fp16(d);
            y1[b].s = llmj_fp32_to_fp16(d * (float) sum);
        } else {
            y[b].d = llmj_fp32_to_fp16(d);
        }
    }
}

static void q8_K_scalar(const float * x, block_q8_K * y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = x[j] < 0 ? -x[j] : x[j];
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (amax == 0.0f) {   /* ggml leaves bsums unset here; we zero them */
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = round_even(iscale * x[j]);
            y[b].qs[j] = (int8_t) (v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t) s;
        }
        y[b].d = 1 / iscale;
    }
}

#ifdef LLMJ_X86
/* ---- AVX2 Q8_0 / Q8_1 (the same operations as ggml's AVX branch) ------------------------- */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static void q8_0_avx2(const float * x, block_q8_0 * y, int64_t nb, block_q8_1 * y1) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float d = amax / 127.f;
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        /* packs interleave 128-bit lanes: restore element order */
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        if (y1) {
            __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            s4 = _mm_hadd_epi32(s4, s4);
            s4 = _mm_hadd_epi32(s4, s4);
            y1[b].d = llmj_fp32_to_fp16(d);
            y1[b].s = llmj_fp32_to_fp16(d * (float) _mm_cvtsi128_si32(s4));
            _mm256_storeu_si256((__m256i *) y1[b].qs, p);
        } else {
            y[b].d = llmj_fp32_to_fp16(d);
            _mm256_storeu_si256((__m256i *) y[b].qs, p);
        }
    }
}

AVX2_TARGET static inline int hsum_i32(__m256i v) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/* Q8_K, the same operations as quantize_row_q8_K_ref: the signed value of largest magnitude is
 * the first element whose |x| equals the block's max |x|; x * iscale rounded half-to-even
 * (_mm256_round_ps equals ggml's nearest_int for |v| < 2^22), clamped to 127. */
AVX2_TARGET static void q8_K_avx2(const float * x, block_q8_K * y, int64_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK_K; j++) {
            if ((x[j] < 0 ? -x[j] : x[j]) == amax) { max = x[j]; break; }
        }
        const float iscale = -127.f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), is), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), is), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), is), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), is), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            i0 = _mm256_min_epi32(i0, lim); i1 = _mm256_min_epi32(i1, lim);
            i2 = _mm256_min_epi32(i2, lim); i3 = _mm256_min_epi32(i3, lim);
            /* bsums of the two 16-element groups */
            const int sa = hsum_i32(_mm256_add_epi32(i0, i1)), sb = hsum_i32(_mm256_add_epi32(i2, i3));
            y[b].bsums[j / 16] = (int16_t) sa;
            y[b].bsums[j / 16 + 1] = (int16_t) sb;
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *) (y[b].qs + j), p);
        }
        y[b].d = 1 / iscale;
    }
}

AVX2_TARGET static void f16_avx2(const float * x, uint16_t * y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *) (y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) y[i] = llmj_fp32_to_fp16(x[i]);
}
#endif

void llmj_quantize_act(int vt, const float * x, void * out, int64_t n) {
#ifdef LLMJ_X86
    const int simd = llmj_cpu_active_isa() >= LLMJ_ISA_AVX2;
#else
    const int simd = 0;
#endif
    switch (vt) {
        case LLMJ_TYPE_Q8_0:
        case LLMJ_TYPE_Q8_1: {
            block_q8_0 * y0 = vt == LLMJ_TYPE_Q8_0 ? out : NULL;
            block_q8_1 * y1 = vt == LLMJ_TYPE_Q8_1 ? out : NULL;
#ifdef LLMJ_X86
            if (simd) { q8_0_avx2(x, y0, n / 32, y1); break; }
#endif
            q8_0_scalar(x, y0, n / 32, y1);
            break;
        }
        case LLMJ_TYPE_Q8_K:
#ifdef LLMJ_X86
            if (simd) { q8_K_avx2(x, out, n / QK_K); break; }
#endif
            q8_K_scalar(x, out, n / QK_K);
            break;
        case LLMJ_TYPE_F16: {
#ifdef LLMJ_X86
            if (simd) { f16_avx2(x, out, n); break; }
#endif
            uint16_t * y = out;
            for (int64_t i = 0; i < n; i++) y[i] = llmj_fp32_to_fp16(x[i]);
            break;
        }
        case LLMJ_TYPE_BF16: {
            uint16_t * y = out;
            for (int64_t i = 0; i < n; i++) y[i] = llmj_fp32_to_bf16(x[i]);
            break;
        }
        case LLMJ_TYPE_F32:
            if (out != (const void *) x) memcpy(out, x, (size_t) n * sizeof(float));
            break;
        default:
            break;
    }
    (void) simd;
}

int llmj_quantize_activations(int vt, const float * x, void * out, int64_t n) {
    if (vt != LLMJ_TYPE_Q8_0 && vt != LLMJ_TYPE_Q8_1 && vt != LLMJ_TYPE_Q8_K && vt != LLMJ_TYPE_F16 &&
        vt != LLMJ_TYPE_BF16 && vt != LLMJ_TYPE_F32) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "type %d is not an activation type (Q8_0, Q8_1, Q8_K, F16, BF16, F32)", vt);
    }
    const llmj_type_info * t = llmj_type_get(vt);
    if (n < 0 || n % t->block_size != 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "n = %lld is not a non-negative multiple of %d",
                         (long long) n, t->block_size);
    }
    if (n == 0) return LLMJ_OK;
    if (!x || !out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer (x=%p out=%p)", (const void *) x, out);
    llmj_quantize_act(vt, x, out, n);
    return LLMJ_OK;
}
