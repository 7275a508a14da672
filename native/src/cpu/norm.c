/* RMSNorm: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * (w + w_offset), rows split across threads.
 * The sum of squares accumulates in double, as ggml does (ggml_float), so results match the
 * references to float rounding. */
#include <math.h>

#include "threadpool.h"

typedef struct {
    const float * x;
    const float * w;
    float w_offset;
    float * out;
    int64_t dim, n;
    float eps;
} norm_job;

static void rms_norm_rows(void * p, int ith, int nth) {
    const norm_job * j = p;
    int64_t r0, r1;
    llmj_split(j->n, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float * x = j->x + r * j->dim;
        float * o = j->out + r * j->dim;
        double ss = 0;
        for (int64_t i = 0; i < j->dim; i++) ss += (double) x[i] * x[i];
        const float scale = (float) (1.0 / sqrt(ss / (double) j->dim + j->eps));
        for (int64_t i = 0; i < j->dim; i++) o[i] = x[i] * scale * (j->w[i] + j->w_offset);
    }
}

int llmj_rms_norm(llmj_threadpool * pool, const float * x, const float * w, float w_offset, float * out,
                  int64_t dim, int64_t n, float eps) {
    if (dim <= 0 || n < 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "bad shape dim=%lld n=%lld", (long long) dim, (long long) n);
    }
    if (n == 0) return LLMJ_OK;
    if (!x || !w || !out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer");
    if (!(eps >= 0)) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "eps must be >= 0");
    norm_job j = { x, w, w_offset, out, dim, n, eps };
    llmj_threadpool_run(n > 1 ? pool : NULL, rms_norm_rows, &j);
    return LLMJ_OK;
}
