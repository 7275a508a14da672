/* Internal: e^y for 16 (AVX-512) or 8 (AVX2) floats. y = n ln2 + r with n = round(y / ln2) and |r| <= ln2 / 2
 * (ln2 in two parts, the first exact times n), e^r by its Taylor series to r^7 (truncation below 1e-8
 * relative), times 2^n: within 1 ulp of glibc's expf at every 1/4096 step of [-87, 88] (tests/test_vexp.c).
 * The AVX-512 form clamps y to [-110, 90] (so that r stays small) and overflows to inf and underflows to 0 as
 * expf does; the AVX2 form clamps y to [-87, 88], where e^y stays a finite normal float. NaN stays NaN. */
#ifndef LLMJ_VEXP_H
#define LLMJ_VEXP_H

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMJ_VEXP_POLY(SET1, FMADD, r, e)                                                               \
    do {                                                                                                \
        e = FMADD(SET1(1.f / 5040), r, SET1(1.f / 720));                                                \
        e = FMADD(e, r, SET1(1.f / 120));                                                               \
        e = FMADD(e, r, SET1(1.f / 24));                                                                \
        e = FMADD(e, r, SET1(1.f / 6));                                                                 \
        e = FMADD(e, r, SET1(0.5f));                                                                    \
        e = FMADD(e, r, SET1(1.f));                                                                     \
        e = FMADD(e, r, SET1(1.f));                                                                     \
    } while (0)

__attribute__((target("avx512f"), always_inline)) static inline __m512 llmj_exp512(__m512 y) {
    y = _mm512_min_ps(_mm512_set1_ps(90.f), _mm512_max_ps(_mm512_set1_ps(-110.f), y));   /* keeps r small; NaN stays */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), y));
    __m512 e;
    LLMJ_VEXP_POLY(_mm512_set1_ps, _mm512_fmadd_ps, r, e);
    return _mm512_scalef_ps(e, n);
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 llmj_exp256(__m256 y) {
    y = _mm256_min_ps(_mm256_set1_ps(88.f), _mm256_max_ps(_mm256_set1_ps(-87.f), y));      /* NaN stays NaN */
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682030941723e-6f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), y));
    __m256 e;
    LLMJ_VEXP_POLY(_mm256_set1_ps, _mm256_fmadd_ps, r, e);
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(e, _mm256_castsi256_ps(bits));   /* n in [-126, 127]: 2^n is a normal float */
}
#endif

#endif
