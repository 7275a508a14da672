/* A persistent worker pool for the CPU kernels (llama.cpp's ggml_threadpool, reduced to what
 * row-parallel kernels need).
 *
 * Dispatch: the caller publishes (fn, ctx), bumps a generation counter and runs fn itself as
 * thread 0; workers that see the new generation join the job and run fn(ctx, ith, nth); the
 * caller waits for the workers that joined (see `active` below). Idle workers poll the generation for a short while (a few tens of
 * microseconds, which covers the gap between consecutive kernels of one forward pass) and then
 * sleep on a futex, so an idle pool costs no CPU. Wake-ups are Dekker-style with seq_cst atomics:
 * a worker increments `sleepers` before re-checking the generation, the caller bumps the
 * generation before reading `sleepers`, so one of them always sees the other. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "threadpool.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LLMJ_FUTEX 1
#endif

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

/* gen (read by every spinning worker) and active (written by workers joining and leaving) live
 * on separate cache lines, so polling one does not keep stealing the line the other is written on.
 *
 * active = (job tag << 32) | workers inside the job. A worker joins job g with a CAS that
 * succeeds only while the tag is g's. llmj_threadpool_run waits until every worker has run the
 * job (`done`). llmj_threadpool_run_dynamic instead closes the job (sets the CLOSED bit in the
 * tag) once the caller's own share is done and waits only for the workers that joined; a worker
 * that was descheduled and wakes after that skips the job, so one slow thread never holds up a
 * kernel. Such jobs hand out work dynamically (the drivers claim chunks from a counter). */
#define TAG(g) ((uint64_t) ((g) & 0x7FFFFFFFu) << 32)
#define CLOSED ((uint64_t) 0x80000000u << 32)
struct llmj_threadpool {
    _Alignas(64) _Atomic uint32_t gen;   /* bumped once per job (and at shutdown) */
    _Atomic int stop;
    llmj_job_fn fn;                      /* the current job, published before gen is bumped */
    void * ctx;
    int n_threads;
    struct worker * workers;             /* n_threads - 1 entries */
    _Alignas(64) _Atomic uint64_t active; /* job tag and the number of workers inside it */
    _Atomic int done;                     /* workers that finished the current job */
    _Alignas(64) _Atomic int sleepers;   /* workers in (or about to enter) futex wait */
#ifndef LLMJ_FUTEX
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
};

static void wait_gen(struct llmj_threadpool * p, uint32_t seen) {
#ifdef LLMJ_FUTEX
    syscall(SYS_futex, (uint32_t *) &p->gen, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
#endif
}

static void wake_all(struct llmj_threadpool * p) {
#ifdef LLMJ_FUTEX
    syscall(SYS_futex, (uint32_t *) &p->gen, FUTEX_WAKE_PRIVATE, 0x7FFFFFFF, NULL, NULL, 0);
#else
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
#endif
}

static void * worker_main(void * arg) {
    struct worker * w = arg;
    struct llmj_threadpool * p = w->pool;
    uint32_t seen = 0;   /* gen is 0 at creation; a worker that starts late must still see job 1 */
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            atomic_fetch_add(&p->sleepers, 1);
            if (atomic_load(&p->gen) == seen) wait_gen(p, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        uint64_t v = atomic_load(&p->active);
        int joined = 0;
        while ((v & ~(uint64_t) 0xFFFFFFFFu) == TAG(g)) {
            if (atomic_compare_exchange_weak(&p->active, &v, v + 1)) { joined = 1; break; }
        }
        if (!joined) continue;            /* the job was closed before this worker got to it */
        p->fn(p->ctx, w->ith, p->n_threads);
        /* count `done` before leaving `active`: the caller of a dynamic job returns once `active`
         * drops to zero, and the next job resets `done`; an increment after that would be counted
         * in the next job, which then returns early or (done past n - 1) never returns */
        atomic_fetch_add(&p->done, 1);
        atomic_fetch_sub(&p->active, 1);
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
#ifndef LLMJ_FUTEX
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
#endif
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
    atomic_fetch_add(&p->gen, 1);
    wake_all(p);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->workers[i - 1].thread, NULL);
#ifndef LLMJ_FUTEX
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
#endif
    free(p->workers);
    free(p);
}

int llmj_threadpool_size(const llmj_threadpool * p) { return p ? p->n_threads : 1; }

static void run(llmj_threadpool * p, llmj_job_fn fn, void * ctx, int dynamic) {
    if (!p || p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    uint32_t g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store(&p->done, 0);
    atomic_store(&p->active, TAG(g));              /* open job g with no worker inside */
    atomic_store(&p->gen, g);                      /* seq_cst: publishes fn/ctx/active/done */
    if (atomic_load(&p->sleepers) > 0) wake_all(p);
    fn(ctx, 0, p->n_threads);
    int spins = 0;
    if (!dynamic) {
        /* every thread must run its share: wait for all workers to finish */
        while (atomic_load(&p->done) != p->n_threads - 1) {
            /* with more threads than cores a worker may need our core: yield after a while */
            if (++spins < 4096) cpu_relax(); else sched_yield();
        }
        return;
    }
    /* close the job: late workers skip it; wait for the ones inside */
    uint64_t v = atomic_load(&p->active);
    while (!atomic_compare_exchange_weak(&p->active, &v, CLOSED | (v & 0xFFFFFFFFu))) {}
    while ((atomic_load(&p->active) & 0xFFFFFFFFu) != 0) {
        if (++spins < 4096) cpu_relax(); else sched_yield();
    }
}

void llmj_threadpool_run(llmj_threadpool * p, llmj_job_fn fn, void * ctx) { run(p, fn, ctx, 0); }

void llmj_threadpool_run_dynamic(llmj_threadpool * p, llmj_job_fn fn, void * ctx) { run(p, fn, ctx, 1); }
