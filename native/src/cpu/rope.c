/* Rotary position embedding, in place: pair i of every head of row t is rotated by the angle
 * (start_pos + t) * pos_scale * inv_freq[i]; pairs are (2i, 2i+1) (normal) or (i, i + dims/2) (NeoX).
 * Dimensions past rope_dims pass through. Rows split across threads. */
#include <math.h>

#include "threadpool.h"

typedef struct {
    float * x;
    int64_t n, n_heads, head_dim, rope_dims, start_pos;
    const float * inv_freq;
    float pos_scale;
    int neox;
} rope_job;

static void rope_rows(void * p, int ith, int nth) {
    const rope_job * j = p;
    int64_t t0, t1;
    llmj_split(j->n, ith, nth, &t0, &t1);
    const int64_t half = j->rope_dims / 2;
    for (int64_t t = t0; t < t1; t++) {
        const float pos = (float) (j->start_pos + t) * j->pos_scale;
        for (int64_t i = 0; i < half; i++) {
            const float angle = pos * j->inv_freq[i];
            const float c = (float) cos((double) angle), s = (float) sin((double) angle);
            for (int64_t h = 0; h < j->n_heads; h++) {
                float * v = j->x + (t * j->n_heads + h) * j->head_dim;
                const int64_t i0 = j->neox ? i : 2 * i;
                const int64_t i1 = j->neox ? i + half : 2 * i + 1;
                const float a = v[i0], b = v[i1];
                v[i0] = a * c - b * s;
                v[i1] = a * s + b * c;
            }
        }
    }
}

int llmj_rope(llmj_threadpool * pool, float * x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
              int64_t start_pos, const float * inv_freq, float pos_scale, int neox) {
    if (n < 0 || n_heads <= 0 || head_dim <= 0 || rope_dims <= 0 || rope_dims > head_dim || rope_dims % 2 != 0
            || start_pos < 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "bad shape n=%lld heads=%lld head_dim=%lld rope_dims=%lld pos=%lld",
                         (long long) n, (long long) n_heads, (long long) head_dim, (long long) rope_dims,
                         (long long) start_pos);
    }
    if (n == 0) return LLMJ_OK;
    if (!x || !inv_freq) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer");
    rope_job j = { x, n, n_heads, head_dim, rope_dims, start_pos, inv_freq, pos_scale, neox != 0 };
    llmj_threadpool_run(n > 1 ? pool : NULL, rope_rows, &j);
    return LLMJ_OK;
}
