/* vexp.h's vector e^y against libm's expf (the scalar kernels' function): every float y in steps of 2^-12 over
 * [-87, 88] (where both forms are finite and normal), the ulp distance of each lane; plus the ends: overflow to
 * inf and underflow to 0 (AVX-512 form), the clamped finite values (AVX2 form), NaN. Tolerance: 2 ulp.
 * Skips a form the CPU lacks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu/vexp.h"

static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return ia > ib ? (int64_t) ia - ib : (int64_t) ib - ia;   /* both positive here */
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void exp16(const float * y, float * out) {
    _mm512_storeu_ps(out, llmj_exp512(_mm512_loadu_ps(y)));
}
__attribute__((target("avx2,fma"))) static void exp8(const float * y, float * out) {
    _mm256_storeu_ps(out, llmj_exp256(_mm256_loadu_ps(y)));
}

static int check(const char * name, int width, void (*f)(const float *, float *)) {
    float y[16], e[16];
    int64_t worst = 0;
    float at = 0;
    for (float y0 = -87.0f; y0 <= 88.0f; y0 += width / 4096.0f) {
        for (int i = 0; i < width; i++) y[i] = fminf(y0 + i / 4096.0f, 88.0f);
        f(y, e);
        for (int i = 0; i < width; i++) {
            const int64_t u = ulps(e[i], expf(y[i]));
            if (u > worst) { worst = u; at = y[i]; }
        }
    }
    printf("%s: worst %lld ulp against expf over [-87, 88] (at %g)\n", name, (long long) worst, at);
    int bad = worst > 2;
    /* the ends */
    const float ends[4] = {-1e30f, 1e30f, NAN, 0.0f};
    float yy[16], ee[16];
    for (int i = 0; i < width; i++) yy[i] = ends[i % 4];
    f(yy, ee);
    if (width == 16) {
        bad |= !(ee[0] == 0.0f && isinf(ee[1]) && ee[1] > 0);
    } else {
        bad |= !(ee[0] > 0 && ee[0] < 2e-38f && isfinite(ee[1]) && ee[1] > 1e38f);
    }
    bad |= !isnan(ee[2]) || ee[3] != 1.0f;
    printf("%s: e^-1e30 = %g, e^1e30 = %g, e^NaN = %g, e^0 = %g%s\n", name, ee[0], ee[1], ee[2], ee[3], bad ? "  FAILED" : "");
    return bad;
}
#endif

int main(void) {
    int failed = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) failed |= check("llmj_exp512", 16, exp16);
    else printf("llmj_exp512: skipped (no AVX-512)\n");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) failed |= check("llmj_exp256", 8, exp8);
    else printf("llmj_exp256: skipped (no AVX2)\n");
#else
    printf("vexp: x86-64 only, skipped\n");
#endif
    return failed;
}
