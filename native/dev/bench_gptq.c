/* Kernel lab: GPTQ 4-bit (llmj_gptq_matvec) against Q4_0 (llmj_matvec_q) on the same shape, same run.
 * Build: cmake --build build/native --target llmj_bench_gptq; run: build/native/llmj_bench_gptq [rows cols threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmj.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char ** argv) {
    int64_t rows = argc > 1 ? atoll(argv[1]) : 4096, cols = argc > 2 ? atoll(argv[2]) : 4096;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    int64_t nb = cols / 32;
    llmj_threadpool * pool = NULL;
    if (threads > 1 && llmj_threadpool_create(threads, &pool) != LLMJ_OK) return 1;
    /* Q4_0: 18-byte blocks with d = 0.01 */
    size_t qrow = (size_t) nb * 18;
    unsigned char * q4 = aligned_alloc(64, (qrow * rows + 63) & ~63ul);
    for (size_t i = 0; i < qrow * rows; i++) q4[i] = (unsigned char) rand();
    for (int64_t r = 0; r < rows; r++) for (int64_t b = 0; b < nb; b++) { uint16_t d = 0x211f; memcpy(q4 + r * qrow + b * 18, &d, 2); }
    /* GPTQ4: quants, scales, zeros, and an act-order permutation */
    unsigned char * qs = aligned_alloc(64, ((size_t) rows * nb * 16 + 63) & ~63ul);
    uint16_t * sc = aligned_alloc(64, ((size_t) rows * nb * 2 + 63) & ~63ul);
    unsigned char * zs = aligned_alloc(64, ((size_t) rows * nb + 63) & ~63ul);
    int32_t * perm = malloc(sizeof(int32_t) * cols);
    for (size_t i = 0; i < (size_t) rows * nb * 16; i++) qs[i] = (unsigned char) rand();
    for (size_t i = 0; i < (size_t) rows * nb; i++) { sc[i] = 0x211f; zs[i] = 7; }
    for (int64_t i = 0; i < cols; i++) perm[i] = (int32_t) i;
    for (int64_t i = cols - 1; i > 0; i--) { int64_t j = rand() % (i + 1); int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    float * x = malloc(sizeof(float) * cols), * y = malloc(sizeof(float) * rows);
    for (int64_t i = 0; i < cols; i++) x[i] = (float) rand() / RAND_MAX - 0.5f;
    size_t wq = llmj_matvec_work_size(LLMJ_TYPE_Q4_0, cols), wg = llmj_gptq_work_size(cols, 1);
    void * work = aligned_alloc(64, ((wq > wg ? wq : wg) + 63) & ~63ul);
    llmj_gptq_matrix m = { 4, rows, cols, NULL, sc, zs, qs };
    const int iters = 200;
    for (int round = 0; round < 3; round++) {
        double best[3] = { 1e9, 1e9, 1e9 };
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now();
            for (int i = 0; i < iters; i++) llmj_matvec_q(pool, LLMJ_TYPE_Q4_0, q4, qrow, x, y, rows, cols, work, wq);
            double t1 = now();
            m.perm = NULL;
            for (int i = 0; i < iters; i++) llmj_gptq_matvec(pool, &m, x, y, work, wg);
            double t2 = now();
            m.perm = perm;
            for (int i = 0; i < iters; i++) llmj_gptq_matvec(pool, &m, x, y, work, wg);
            double t3 = now();
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t2 - t1 < best[1]) best[1] = t2 - t1;
            if (t3 - t2 < best[2]) best[2] = t3 - t2;
        }
        double us[3];
        for (int k = 0; k < 3; k++) us[k] = best[k] / iters * 1e6;
        printf("%lld x %lld, %d thread(s), isa %d: Q4_0 %.1f us (%.1f GB/s) | GPTQ4 %.1f us (%.1f GB/s, %.2fx Q4_0's time) | GPTQ4 act-order %.1f us (%.2fx)\n",
               (long long) rows, (long long) cols, threads, llmj_cpu_isa(), us[0], qrow * rows / us[0] * 1e-3,
               us[1], (double) rows * nb * 19 / us[1] * 1e-3, us[1] / us[0], us[2], us[2] / us[0]);
    }
    llmj_threadpool_free(pool);
    return 0;
}
