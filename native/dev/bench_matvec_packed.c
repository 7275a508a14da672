/* Kernel lab: batch-1 (and n-token) products over packed Q4_0 / Q8_0 (llmj_matmul_q_pack) against
 * the same matrices in ggml's rows (llmj_matvec_q / llmj_matmul_q). Not run by ctest:
 *   cmake -S native -B target/native && cmake --build target/native --target llmj_bench_matvec_packed
 *   target/native/llmj_bench_matvec_packed [threads [tokens]]    (LLMJ_BENCH_MIB: MiB cycled, default 512)
 * Shapes: llama-1b's q (2048 x 2048), k/v (512 x 2048), gate/up (8192 x 2048), down (2048 x 8192).
 * Each figure cycles through copies covering >= 512 MiB, so the weights come from DRAM as in decode;
 * the two variants alternate (A B A B ...) and the best of 5 passes of each is reported, with the
 * weight bytes per second. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmj.h"

static double cpu_now(void) { struct timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(int argc, char ** argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    const int ntok = argc > 2 ? atoi(argv[2]) : 1;
    const size_t big = (size_t) (getenv("LLMJ_BENCH_MIB") ? atoi(getenv("LLMJ_BENCH_MIB")) : 512) << 20;
    static const int64_t SHAPES[][2] = { { 2048, 2048 }, { 512, 2048 }, { 8192, 2048 }, { 2048, 8192 } };
    static const struct { const char * n; int t; } TYPES[] = { { "Q4_0", LLMJ_TYPE_Q4_0 }, { "Q8_0", LLMJ_TYPE_Q8_0 } };
    llmj_threadpool * pool = NULL;
    llmj_threadpool_create(threads, &pool);
    printf("threads %d, tokens %d, isa %d, pack recommended %d\n", threads, ntok, llmj_cpu_isa(),
           llmj_matmul_q_pack_recommended(LLMJ_TYPE_Q4_0));
    printf("%-5s %6s %6s | %10s %8s | %10s %8s | %6s\n", "type", "rows", "cols", "rows us", "GB/s", "packed us", "GB/s", "ratio");
    for (int ti = 0; ti < 2; ti++) {
        for (int si = 0; si < 4; si++) {
            const int type = TYPES[ti].t;
            const int64_t rows = SHAPES[si][0], cols = SHAPES[si][1];
            const size_t row_bytes = (size_t) (cols / 32) * llmj_type_block_bytes(type), mat = row_bytes * rows;
            const size_t pmat = llmj_matmul_q_packed_size(type, rows, cols);
            const int copies = (int) ((big + mat - 1) / mat);
            char * w = aligned_alloc(64, mat * copies), * pw = aligned_alloc(64, pmat * copies);
            for (size_t i = 0; i < mat * copies; i++) w[i] = (char) (i * 2654435761u >> 24);
            for (size_t i = 1; i < mat * copies; i += 2) w[i] &= 0x3B;   /* finite fp16 scales */
            double tp = now();
            for (int c = 0; c < copies; c++) {
                llmj_matmul_q_pack(pool, type, w + (size_t) c * mat, row_bytes, rows, cols, pw + (size_t) c * pmat, pmat);
            }
            tp = now() - tp;
            double tp2 = now();   /* again, into memory already mapped */
            for (int c = 0; c < copies; c++) {
                llmj_matmul_q_pack(pool, type, w + (size_t) c * mat, row_bytes, rows, cols, pw + (size_t) c * pmat, pmat);
            }
            tp2 = now() - tp2;
            float * x = malloc(sizeof(float) * cols * ntok), * y = malloc(sizeof(float) * rows * ntok);
            float * y2 = malloc(sizeof(float) * rows * ntok);
            for (int64_t i = 0; i < cols * ntok; i++) x[i] = (float) ((i * 7919) % 1000) / 500.0f - 1.0f;
            size_t ws = llmj_matmul_work_size(type, cols, ntok);
            void * work = aligned_alloc(64, (ws + 63) / 64 * 64 + 64);
            double best[2] = { 1e30, 1e30 }, bcpu[2] = { 1e30, 1e30 };
            for (int rep = 0; rep < 6; rep++) {
                for (int v = 0; v < 2; v++) {
                    double t0 = now(), c0 = cpu_now();
                    for (int c = 0; c < copies; c++) {
                        if (v == 0) llmj_matmul_q(pool, type, w + (size_t) c * mat, row_bytes, x, cols, y, rows, rows, cols, ntok, work, ws);
                        else llmj_matmul_q_packed(pool, type, pw + (size_t) c * pmat, pmat, x, cols, y2, rows, rows, cols, ntok, work, ws);
                    }
                    double dt = (now() - t0) / copies, dc = (cpu_now() - c0) / copies / threads;
                    if (rep > 0 && dt < best[v]) best[v] = dt;
                    if (rep > 0 && dc < bcpu[v]) bcpu[v] = dc;
                }
            }
            int same = memcmp(y, y2, sizeof(float) * rows * ntok) == 0;
            printf("%-5s %6lld %6lld | %10.1f %8.2f | %10.1f %8.2f | %5.2fx | cpu GB/s %6.2f %6.2f %5.2fx | %s (pack %.2f, again %.2f GB/s)\n",
                   TYPES[ti].n, (long long) rows, (long long) cols, best[0] * 1e6, mat / best[0] / 1e9, best[1] * 1e6,
                   mat / best[1] / 1e9, best[0] / best[1], mat / bcpu[0] / 1e9, mat / bcpu[1] / 1e9, bcpu[0] / bcpu[1],
                   same ? "same bits" : "DIFFERENT", (double) mat * copies / tp / 1e9, (double) mat * copies / tp2 / 1e9);
            free(w); free(pw); free(x); free(y); free(y2); free(work);
        }
    }
    llmj_threadpool_free(pool);
    return 0;
}
