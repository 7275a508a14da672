/* A persistent worker pool for the CPU kernels (llama.cpp's ggml_threadpool, reduced to what
 * row-parallel kernels need).
 *
 * Dispatch: the caller publishes (fn, ctx), bumps a generation counter and runs fn itself as
 * thread 0; workers that see the new generation join the job and run fn(ctx, ith, nth); the
 * caller waits until every worker has finished. Idle workers poll the generation for a short while
 * and then sleep on a condition variable, so an idle pool costs no CPU (details below). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "threadpool.h"


#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void) 0)
#endif

#define SPIN_ITERS 20000   /* ~50-100 us of pause instructions before a worker sleeps */

struct worker {
    struct llmj_threadpool * pool;
    int ith;
    pthread_t thread;
};

/* One job at a time. The caller publishes (fn, ctx) and sets `remaining` to the number of workers,
 * then bumps `gen` and broadcasts under the mutex (so a worker that checked `gen` under the mutex
 * cannot miss it), runs its own share, and waits until `remaining` is zero: first spinning, then on
 * a condition variable that the last worker signals under the mutex. Every worker runs every job,
 * so the next job never starts while a worker still reads (fn, ctx). Idle workers spin on `gen` for a
 * short while (covering the gap between consecutive kernels of one forward pass), then sleep. */
struct llmj_threadpool {
    _Alignas(64) _Atomic uint32_t gen;   /* bumped once per job (and at shutdown) */
    _Atomic int stop;
    llmj_job_fn fn;                      /* the current job, published before gen is bumped */
    void * ctx;
    int n_threads;
    struct worker * workers;             /* n_threads - 1 entries */
    _Alignas(64) _Atomic int remaining;  /* workers that have not finished the current job */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
};

static void * worker_main(void * arg) {
    struct worker * w = arg;
    struct llmj_threadpool * p = w->pool;
    uint32_t seen = 0;   /* gen is 0 at creation; a worker that starts late must still see job 1 */
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && ++spins < SPIN_ITERS) {
            cpu_relax();
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->work_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load(&p->stop)) break;
        p->fn(p->ctx, w->ith, p->n_threads);
        if (atomic_fetch_sub(&p->remaining, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int llmj_threadpool_create(int n_threads, llmj_threadpool ** out) {
    if (!out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (n_threads < 1 || n_threads > 256) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "n_threads %d is outside 1..256", n_threads);
    }
    struct llmj_threadpool * p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (p) memset(p, 0, sizeof *p);
    if (!p) return LLMJ_FAIL(LLMJ_ERR_OUT_OF_MEMORY, "pool allocation failed");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (n_threads > 1) {
        p->workers = calloc((size_t) n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            return LLMJ_FAIL(LLMJ_ERR_OUT_OF_MEMORY, "worker table allocation failed");
        }
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker * w = &p->workers[i - 1];
        w->pool = p;
        w->ith = i;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            p->n_threads = i;           /* free() joins the i - 1 workers started so far */
            llmj_threadpool_free(p);
            return LLMJ_FAIL(LLMJ_ERR_INTERNAL, "pthread_create for worker %d failed: %s", i, strerror(rc));
        }
    }
    *out = p;
    return LLMJ_OK;
}

void llmj_threadpool_free(llmj_threadpool * p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->workers[i - 1].thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->workers);
    free(p);
}

int llmj_threadpool_size(const llmj_threadpool * p) { return p ? p->n_threads : 1; }

static void run(llmj_threadpool * p, llmj_job_fn fn, void * ctx) {
    if (!p || p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->remaining, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);                /* publishes fn, ctx and remaining */
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n_threads);
    int spins = 0;
    while (atomic_load(&p->remaining) != 0 && ++spins < SPIN_ITERS) cpu_relax();
    if (atomic_load(&p->remaining) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->remaining) != 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void llmj_threadpool_run(llmj_threadpool * p, llmj_job_fn fn, void * ctx) { run(p, fn, ctx); }

