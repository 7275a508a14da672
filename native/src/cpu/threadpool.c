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

/* Idle-time read-ahead (llmj_threadpool_readahead). A decode step's products stream their weights from DRAM;
 * between them (norms, RoPE, attention, the step's Java code and sampling) memory idles while the products
 * themselves run at the bandwidth a read probe measures. So each decode product tells the pool its weight
 * ranges: the pool learns which product followed which (a table keyed by the first matrix's address) and,
 * from the dispatch of a product on, lets every thread that would otherwise spin (a worker between jobs, the
 * caller waiting for the workers) prefetch the first RA_DEFAULT_KB KiB of the product that followed it last
 * time, in 4 KiB chunks claimed from a counter, checking for a new job between chunks. Prefetches never fault
 * and change no result, so a stale or wrong guess costs bandwidth only.
 * Measured (dev VM, llama-1b Q4_0, 2 threads, `llmj bench` with a 256 MiB probe pass after each step, read-ahead
 * on every other step in one process, 17 runs over 0.5 to 64 MiB, which did not differ beyond the noise): the
 * median step 0.5-3.7% shorter in every run, the median step's fraction of the probe's bandwidth -2.4 to +4.0
 * points (higher in 16 of 17 runs). */
enum { RA_MAX = 4, RA_TABLE = 512, RA_CHUNK = 4096, RA_DEFAULT_KB = 4096 };

/* a read-ahead list: byte ranges in the order a product will read them */
struct ra_list {
    int n;
    const char * ptr[RA_MAX];
    size_t len[RA_MAX];
    size_t total;   /* the sum of len */
};

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
    /* read-ahead: the list idle threads prefetch, published with the next job (an epoch a worker compares
     * when it picks a job up); only the caller of llmj_threadpool_run writes these */
    struct ra_list ra;
    uint32_t ra_epoch;
    _Alignas(64) _Atomic size_t ra_next; /* next chunk to prefetch */
    const void * ra_last;                /* key of the previous product */
    struct { const void * key; struct ra_list next; } ra_table[RA_TABLE];   /* full: no read-ahead for new keys */
};

/* LLMJ_CPU_READAHEAD_KB: the bytes read ahead into each product (KiB; 0 turns it off), read once */
static size_t ra_limit(void) {
    static _Atomic long cached = -1;   /* pools on several threads may read it first: any of them may set it */
    long v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        const char * e = getenv("LLMJ_CPU_READAHEAD_KB");
        v = e ? atol(e) : RA_DEFAULT_KB;
        if (v < 0) v = 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return (size_t) v * 1024;
}

/* Prefetches the next unclaimed chunk of a read-ahead list (to L2); 0 when none is left. A stale list
 * (replaced since it was copied) costs a wasted prefetch at most: prefetches never fault. */
static int ra_step(struct llmj_threadpool * p, const struct ra_list * ra) {
    if (ra->total == 0) return 0;
    size_t off = atomic_fetch_add_explicit(&p->ra_next, 1, memory_order_relaxed) * (size_t) RA_CHUNK;
    if (off >= ra->total) return 0;
    int k = 0;
    while (off >= ra->len[k]) off -= ra->len[k++];
#if defined(__x86_64__) || defined(__i386__)
    const char * c = ra->ptr[k] + off;
    const size_t n = ra->len[k] - off < RA_CHUNK ? ra->len[k] - off : RA_CHUNK;
    for (size_t i = 0; i < n; i += 64) _mm_prefetch(c + i, _MM_HINT_T0);
#endif
    return 1;
}

static void * worker_main(void * arg) {
    struct worker * w = arg;
    struct llmj_threadpool * p = w->pool;
    uint32_t seen = 0;   /* gen is 0 at creation; a worker that starts late must still see job 1 */
    struct ra_list ra = {0};
    uint32_t ra_epoch = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && ++spins < SPIN_ITERS) {
            if (!ra_step(p, &ra)) cpu_relax();
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen) pthread_cond_wait(&p->work_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load(&p->stop)) break;
        if (p->ra_epoch != ra_epoch) {   /* published before gen */
            ra_epoch = p->ra_epoch;
            ra = p->ra;
        }
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
    while (atomic_load(&p->remaining) != 0 && ++spins < SPIN_ITERS) {
        if (!ra_step(p, &p->ra)) cpu_relax();
    }
    if (atomic_load(&p->remaining) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->remaining) != 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void llmj_threadpool_run(llmj_threadpool * p, llmj_job_fn fn, void * ctx) { run(p, fn, ctx); }

/* the successor list of product `key` (open addressing; NULL when the table is full) */
static struct ra_list * ra_slot(llmj_threadpool * p, const void * key) {
    size_t h = ((uintptr_t) key >> 6) * 0x9E3779B97F4A7C15ull >> 32;
    for (int i = 0; i < RA_TABLE; i++) {
        size_t k = (h + (size_t) i) % RA_TABLE;
        if (p->ra_table[k].key == key) return &p->ra_table[k].next;
        if (p->ra_table[k].key == NULL) {
            p->ra_table[k].key = key;
            p->ra_table[k].next = (struct ra_list) {0};
            return &p->ra_table[k].next;
        }
    }
    return NULL;
}

void llmj_threadpool_readahead(llmj_threadpool * p, const void * const * ptr, const size_t * len, int n) {
    const size_t limit = ra_limit();
    if (!p || p->n_threads == 1 || limit == 0 || n < 1) return;
    if (n > RA_MAX) n = RA_MAX;
    /* learn: this product follows the previous one */
    if (p->ra_last) {
        struct ra_list * s = ra_slot(p, p->ra_last);
        if (s) {
            s->n = 0;
            s->total = 0;
            for (int k = 0; k < n && s->total < limit; k++) {
                s->ptr[s->n] = ptr[k];
                s->len[s->n] = len[k] < limit - s->total ? len[k] : limit - s->total;
                s->total += s->len[s->n++];
            }
        }
    }
    p->ra_last = ptr[0];
    /* publish what followed this product last time, for the workers' idle time from this job on */
    struct ra_list * s = ra_slot(p, ptr[0]);
    p->ra = s ? *s : (struct ra_list) {0};
    atomic_store_explicit(&p->ra_next, 0, memory_order_relaxed);
    p->ra_epoch++;
}

