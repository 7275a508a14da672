/* Gated activations: out = act(gate) * up with act = SiLU (SwiGLU) or tanh-approximated GELU (GeGLU).
 * Elements split across threads; out may alias gate. SwiGLU at the AVX2 / AVX-512 levels computes e^-x 8 / 16
 * at a time (vexp.h): a llama-1b decode's 5632-element call took 16 us on 2 threads with expf, 3.4-3.7 us on one
 * with the vector form (dev VM), so below 16384 elements the caller runs the vector form alone and the pool's
 * idle thread keeps reading ahead (threadpool.c); the scalar loops split from 4096 elements on. */
#include <math.h>

#include "threadpool.h"

typedef struct {
    const float * gate;
    const float * up;
    float * out;
    int64_t n;
    int gelu;
    int isa;
} glu_job;

/* x / (1 + e^-x) * up with libm's expf: the scalar SwiGLU, and the vector forms' tail */
static void swiglu_scalar(const float * gate, const float * up, float * out, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
        const float x = gate[i];
        out[i] = x / (1.0f + expf(-x)) * up[i];
    }
}

#if defined(__x86_64__)
#include "vexp.h"
#define LLMJ_X86 1

/* x / (1 + e^-x) * up, 16 (8) at a time (vexp.h; the division is IEEE): within a few ulp of the scalar loop */
__attribute__((target("avx512f"))) static void swiglu_avx512(const float * gate, const float * up, float * out, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i += 16) {
        const __mmask16 m = i1 - i >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << (i1 - i)) - 1u);
        const __m512 x = _mm512_maskz_loadu_ps(m, gate + i), u = _mm512_maskz_loadu_ps(m, up + i);
        const __m512 e = llmj_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e)), u));
    }
}

__attribute__((target("avx2,fma"))) static void swiglu_avx2(const float * gate, const float * up, float * out, int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i);
        const __m256 e = llmj_exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.f), e)), u));
    }
    swiglu_scalar(gate, up, out, i, i1);
}
#endif

static void glu_range(void * p, int ith, int nth) {
    const glu_job * j = p;
    int64_t i0, i1;
    llmj_split(j->n, ith, nth, &i0, &i1);
#ifdef LLMJ_X86
    if (!j->gelu && j->isa == LLMJ_ISA_AVX512) { swiglu_avx512(j->gate, j->up, j->out, i0, i1); return; }
    if (!j->gelu && j->isa == LLMJ_ISA_AVX2) { swiglu_avx2(j->gate, j->up, j->out, i0, i1); return; }
#endif
    if (j->gelu) {
        const float k = 0.7978845608028654f;   /* sqrt(2/pi) */
        for (int64_t i = i0; i < i1; i++) {
            const float x = j->gate[i];
            j->out[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * j->up[i];
        }
    } else {
        swiglu_scalar(j->gate, j->up, j->out, i0, i1);
    }
}

static int glu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n, int gelu) {
    if (n < 0) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "negative n=%lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    if (!gate || !up || !out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer");
    glu_job j = { gate, up, out, n, gelu, llmj_cpu_active_isa() };
    const int vector = !gelu && (j.isa == LLMJ_ISA_AVX512 || j.isa == LLMJ_ISA_AVX2);
    llmj_threadpool_run(n >= (vector ? 16384 : 4096) ? pool : NULL, glu_range, &j);
    return LLMJ_OK;
}

int llmj_swiglu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n) {
    return glu(pool, gate, up, out, n, 0);
}

int llmj_geglu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n) {
    return glu(pool, gate, up, out, n, 1);
}
