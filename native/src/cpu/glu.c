/* Gated activations: out = act(gate) * up with act = SiLU (SwiGLU) or tanh-approximated GELU (GeGLU).
 * Elements split across threads; out may alias gate. */
#include <math.h>

#include "threadpool.h"

typedef struct {
    const float * gate;
    const float * up;
    float * out;
    int64_t n;
    int gelu;
} glu_job;

static void glu_range(void * p, int ith, int nth) {
    const glu_job * j = p;
    int64_t i0, i1;
    llmj_split(j->n, ith, nth, &i0, &i1);
    if (j->gelu) {
        const float k = 0.7978845608028654f;   /* sqrt(2/pi) */
        for (int64_t i = i0; i < i1; i++) {
            const float x = j->gate[i];
            j->out[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * j->up[i];
        }
    } else {
        for (int64_t i = i0; i < i1; i++) {
            const float x = j->gate[i];
            j->out[i] = x / (1.0f + expf(-x)) * j->up[i];
        }
    }
}

static int glu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n, int gelu) {
    if (n < 0) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "negative n=%lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    if (!gate || !up || !out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer");
    glu_job j = { gate, up, out, n, gelu };
    llmj_threadpool_run(n >= 4096 ? pool : NULL, glu_range, &j);
    return LLMJ_OK;
}

int llmj_swiglu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n) {
    return glu(pool, gate, up, out, n, 0);
}

int llmj_geglu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n) {
    return glu(pool, gate, up, out, n, 1);
}
