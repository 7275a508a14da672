/* Kernel lab: batch-1 throughput of llmj_matvec_q against a streaming-read bandwidth figure.
 * Not run by ctest. Build and run by hand:
 *   cmake -S native -B /tmp/nq-build && cmake --build /tmp/nq-build --target llmj_bench_matvec_q
 *   /tmp/nq-build/llmj_bench_matvec_q [rows cols]       (default 2048 8192, llama-1b ffn_down)
 * Napkin math: batch 1 reads every weight byte once, so GB/s of weight bytes / the streaming
 * bandwidth is the fraction of the memory-bound limit reached. To measure DRAM rather than cache,
 * every run cycles through enough copies of the matrix to cover >= 1 GiB.
 * Columns: wall-clock best of 4 passes over all copies (and the streaming read, same threads);
 * the same divided by CPU time received; per-call median and best of 400 single cold calls,
 * each next to llmj_memory_read of an equally sized cold slice on the same pool. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmj.h"

static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static double cpu_now(clockid_t c) { struct timespec ts; clock_gettime(c, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

/* On a shared machine wall-clock figures understate both the kernels and the stream. The "cpu"
 * columns divide bytes by CPU time actually received (per thread), a proxy for an idle machine. */
static double stream_cpu_gbs;

static int cmp_d(const void * a, const void * b) { double x = *(const double *) a, y = *(const double *) b; return x < y ? -1 : x > y; }

/* Per-call figures (robust on a shared machine): every call reads a different, cold copy; the
 * same number of llmj_memory_read calls over equally sized, cold slices of a 1 GiB buffer on the
 * same pool give the bandwidth. Reports the median and the best call of each. */
static void per_call(llmj_threadpool * pool, int type, const char * w, size_t mat, int copies, size_t row_bytes,
                     const float * x, float * y, int64_t rows, int64_t cols, void * work, size_t ws,
                     const char * buf, size_t big, double * med_k, double * best_k, double * med_s, double * best_s) {
    enum { N = 400 };
    double tk[N], ts[N];
    size_t slices = big / mat;
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        double t0 = now();
        llmj_matvec_q(pool, type, w + (size_t) (i % copies) * mat, row_bytes, x, y, rows, cols, work, ws);
        double t1 = now();
        uint64_t c;
        llmj_memory_read(pool, buf + (size_t) ((i * 7) % slices) * mat, mat, &c);
        double t2 = now();
        sum ^= c;
        tk[i] = mat / (t1 - t0) / 1e9;
        ts[i] = mat / (t2 - t1) / 1e9;
    }
    qsort(tk, N, sizeof(double), cmp_d);
    qsort(ts, N, sizeof(double), cmp_d);
    *med_k = tk[N / 2]; *best_k = tk[N - 1]; *med_s = ts[N / 2]; *best_s = ts[N - 1];
    if (sum == 42) printf(" ");
}

/* ---- streaming read: each thread sums its share of the buffer with 256-bit loads ---- */
typedef struct { const char * p; size_t n; int reps; double sink, cpu; } rd_arg;

__attribute__((target("avx2")))
static void * reader(void * v) {
    rd_arg * a = v;
    double c0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (int r = 0; r < a->reps; r++) {
        for (size_t i = 0; i + 128 <= a->n; i += 128) {
            s0 = _mm256_add_epi64(s0, _mm256_load_si256((const __m256i *) (a->p + i)));
            s1 = _mm256_add_epi64(s1, _mm256_load_si256((const __m256i *) (a->p + i + 32)));
            s2 = _mm256_add_epi64(s2, _mm256_load_si256((const __m256i *) (a->p + i + 64)));
            s3 = _mm256_add_epi64(s3, _mm256_load_si256((const __m256i *) (a->p + i + 96)));
        }
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    long long t[4];
    _mm256_storeu_si256((__m256i *) t, s);
    a->sink = (double) (t[0] + t[1] + t[2] + t[3]);
    a->cpu = cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

static double stream_gbs(const char * buf, size_t n, int threads, int reps) {
    pthread_t th[8];
    rd_arg args[8];
    size_t share = n / threads / 128 * 128;
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        args[i] = (rd_arg) { buf + i * share, share, reps, 0, 0 };
        pthread_create(&th[i], NULL, reader, &args[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    double dt = now() - t0;
    stream_cpu_gbs = 0;
    for (int i = 0; i < threads; i++) stream_cpu_gbs += (double) share * reps / args[i].cpu / 1e9;
    return (double) share * threads * reps / dt / 1e9;
}

int main(int argc, char ** argv) {
    int64_t rows = argc > 2 ? atoll(argv[1]) : 2048, cols = argc > 2 ? atoll(argv[2]) : 8192;
    /* LLMJ_BENCH_MIB: bytes of weights cycled through (default 1024; small values measure cache);
     * LLMJ_BENCH_ISA: 1 scalar, 2 AVX2, 3 AVX-512 */
    const size_t big = (size_t) (getenv("LLMJ_BENCH_MIB") ? atoi(getenv("LLMJ_BENCH_MIB")) : 1024) << 20;
    if (getenv("LLMJ_BENCH_ISA")) llmj_cpu_set_isa(atoi(getenv("LLMJ_BENCH_ISA")));
    char * buf = aligned_alloc(64, big);
    memset(buf, 1, big);
    printf("matrix %lld x %lld, isa %d, streaming-read buffer %zu MiB\n", (long long) rows, (long long) cols, llmj_cpu_isa(), big >> 20);
    double bw[3] = { 0 };
    for (int th = 1; th <= 2; th++) {
        stream_gbs(buf, big, th, 1);
        double best = 0;
        for (int k = 0; k < 3; k++) { double g = stream_gbs(buf, big, th, 2); if (g > best) best = g; }
        bw[th] = best;
    }
    printf("%-6s %8s %10s %8s %8s %6s | %8s %8s %6s | %6s %6s %5s | %6s %6s %5s\n", "type", "threads", "us/matvec", "GB/s",
           "stream", "ratio", "GB/s cpu", "str cpu", "ratio", "med", "stream", "ratio", "best", "stream", "ratio");
    static const struct { const char * n; int t; } ALL[] = {
        { "Q4_0", LLMJ_TYPE_Q4_0 }, { "Q8_0", LLMJ_TYPE_Q8_0 }, { "Q4_K", LLMJ_TYPE_Q4_K }, { "F16", LLMJ_TYPE_F16 },
        { "Q6_K", LLMJ_TYPE_Q6_K }, { "Q5_K", LLMJ_TYPE_Q5_K }, { "Q3_K", LLMJ_TYPE_Q3_K }, { "Q2_K", LLMJ_TYPE_Q2_K },
        { "IQ4_XS", LLMJ_TYPE_IQ4_XS }, { "IQ4_NL", LLMJ_TYPE_IQ4_NL }, { "Q4_1", LLMJ_TYPE_Q4_1 },
        { "Q5_0", LLMJ_TYPE_Q5_0 }, { "Q5_1", LLMJ_TYPE_Q5_1 }, { "BF16", LLMJ_TYPE_BF16 }, { "F32", LLMJ_TYPE_F32 },
    };
    /* LLMJ_BENCH_ALL=1: every type; default: the four the issue names */
    const size_t n_types = getenv("LLMJ_BENCH_ALL") ? sizeof ALL / sizeof ALL[0] : 4;
    const __typeof__(ALL[0]) * T = ALL;
    float * x = malloc(sizeof(float) * cols), * y = malloc(sizeof(float) * rows);
    for (int64_t i = 0; i < cols; i++) x[i] = (float) ((i * 7919) % 1000) / 500.0f - 1.0f;
    for (size_t ti = 0; ti < n_types; ti++) {
        size_t row_bytes = (size_t) (cols / llmj_type_block_size(T[ti].t)) * llmj_type_block_bytes(T[ti].t);
        size_t mat = row_bytes * rows;
        int copies = (int) ((big + mat - 1) / mat);
        char * w = aligned_alloc(64, mat * copies);
        for (size_t i = 0; i < mat * copies; i++) w[i] = (char) (i * 2654435761u >> 24);
        /* keep fp16 scales finite: clear the exponent's top bit of every byte pair */
        for (size_t i = 1; i < mat * copies; i += 2) w[i] &= 0x3B;
        size_t ws = llmj_matvec_work_size(T[ti].t, cols);
        void * work = aligned_alloc(64, ws + 64);
        for (int th = 1; th <= 2; th++) {
            llmj_threadpool * pool = NULL;
            llmj_threadpool_create(th, &pool);
            /* the machine may be shared: alternate stream and matvec runs and keep the best of each,
             * so the ratio compares figures taken under the same conditions */
            double best = 1e30, best_cpu = 1e30, bw_cpu = 0;
            bw[th] = 0;
            for (int rep = 0; rep < 5; rep++) {
                double g = stream_gbs(buf, big, th, 1);
                if (g > bw[th]) bw[th] = g;
                if (stream_cpu_gbs > bw_cpu) bw_cpu = stream_cpu_gbs;
                double t0 = now(), c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
                for (int c = 0; c < copies; c++) {
                    llmj_matvec_q(pool, T[ti].t, w + (size_t) c * mat, row_bytes, x, y, rows, cols, work, ws);
                }
                double dt = (now() - t0) / copies, dc = (cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0) / copies / th;
                if (rep > 0 && dt < best) best = dt;   /* rep 0 warms up */
                if (rep > 0 && dc < best_cpu) best_cpu = dc;
            }
            double gbs = mat / best / 1e9, gcpu = mat / best_cpu / 1e9;
            printf("%-6s %8d %10.1f %8.2f %8.2f %5.0f%% | %8.2f %8.2f %5.0f%%", T[ti].n, th, best * 1e6, gbs, bw[th],
                   100 * gbs / bw[th], gcpu, bw_cpu, 100 * gcpu / bw_cpu);
            double mk = 0, bk = 0, ms = 1, bs = 1;
            if (mat <= big) per_call(pool, T[ti].t, w, mat, copies, row_bytes, x, y, rows, cols, work, ws, buf, big, &mk, &bk, &ms, &bs);
            printf(" | %6.2f %6.2f %4.0f%% | %6.2f %6.2f %4.0f%%", mk, ms, 100 * mk / ms, bk, bs, 100 * bk / bs);
            if (getenv("LLMJ_BENCH_TOKENS")) {   /* prefill: n tokens at once, us per token */
                int nt = atoi(getenv("LLMJ_BENCH_TOKENS"));
                float * xm = malloc(sizeof(float) * cols * nt), * ym = malloc(sizeof(float) * rows * nt);
                for (int64_t i = 0; i < cols * nt; i++) xm[i] = x[i % cols];
                size_t mws = llmj_matmul_work_size(T[ti].t, cols, nt);
                void * mw = malloc(mws + 64);
                double bm = 1e30;
                for (int rep = 0; rep < 3; rep++) {
                    double t0 = now();
                    llmj_matmul_q(pool, T[ti].t, w, row_bytes, xm, cols, ym, rows, rows, cols, nt, mw, mws);
                    double dt = now() - t0;
                    if (dt < bm) bm = dt;
                }
                printf("   matmul %d tokens: %.1f us/token (%.1f GMAC/s)", nt, bm / nt * 1e6, (double) rows * cols * nt / bm / 1e9);
                free(xm); free(ym); free(mw);
            }
            printf("\n");
            llmj_threadpool_free(pool);
        }
        free(w);
        free(work);
    }
    free(x); free(y); free(buf);
    return 0;
}
