/* Kernel lab: CPU decode attention (one query row, llmj_attention) at a few context lengths, F16 cache,
 * llama-1b's heads (32 query heads over 8 KV heads). Not run by ctest:
 *   cmake -S native -B target/native && cmake --build target/native --target llmj_bench_attention
 *   target/native/llmj_bench_attention [head_dim [threads]]
 * Run it twice, with LLMJ_CPU_ATTN_FIXED=0 and without, to compare the per-position calls with the
 * register-resident AVX-512 tasks (attention.c); prints microseconds per call, three rounds each. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "llmj.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char ** argv) {
    const int64_t hd = argc > 1 ? atoi(argv[1]) : 64, heads = 32, kvh = 8;
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    llmj_threadpool * pool = NULL;
    if (llmj_threadpool_create(threads, &pool) != LLMJ_OK) return 1;
    static const int64_t POS[] = { 64, 256, 1024 };
    for (int pi = 0; pi < 3; pi++) {
        const int64_t pos = POS[pi], kv = (pos + 1) * kvh * hd;
        float * q = malloc(sizeof(float) * heads * hd), * out = malloc(sizeof(float) * heads * hd);
        unsigned short * k = malloc(2 * kv), * v = malloc(2 * kv);
        for (int64_t i = 0; i < heads * hd; i++) q[i] = (float) (i % 7) * 0.1f;
        for (int64_t i = 0; i < kv; i++) { k[i] = (unsigned short) (0x3000 + i % 97); v[i] = (unsigned short) (0x3400 + i % 89); }
        const int reps = (int) (20000 / (pos / 64 + 1));
        printf("head_dim %lld, %lld/%lld heads, pos %5lld:", (long long) hd, (long long) heads, (long long) kvh, (long long) pos);
        for (int round = 0; round < 3; round++) {
            const double t0 = now();
            for (int r = 0; r < reps; r++) {
                if (llmj_attention(pool, q, k, v, LLMJ_TYPE_F16, out, 1, pos, heads, kvh, hd, 0.125f, 0, 0) != LLMJ_OK) return 1;
            }
            printf(" %8.2f", (now() - t0) / reps * 1e6);
        }
        printf(" us per call\n");
        free(q); free(out); free(k); free(v);
    }
    llmj_threadpool_free(pool);
    return 0;
}
