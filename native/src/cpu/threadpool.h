/* Internal: running a job on every thread of a pool. */
#ifndef LLMJ_THREADPOOL_H
#define LLMJ_THREADPOOL_H

#include "cpu.h"

/* Called once per thread with ith in [0, nth); ith 0 is the calling thread. */
typedef void (*llmj_job_fn)(void * ctx, int ith, int nth);

/* Runs fn on every thread of the pool (or once, ith 0 of 1, for NULL) and returns when all have
 * finished. fn may split work statically by ith, or claim chunks from an atomic counter in ctx
 * (a late thread then finds nothing left). Not re-entrant for one pool. */
void llmj_threadpool_run(llmj_threadpool * pool, llmj_job_fn fn, void * ctx);

/* Called by the pool's caller before a decode product's dispatch, with the byte ranges the product reads in
 * order (at most 4): from that dispatch until the next call, threads that would spin prefetch the first
 * bytes of the product that followed this one last time (threadpool.c; LLMJ_CPU_READAHEAD_KB, 0: off). */
void llmj_threadpool_readahead(llmj_threadpool * pool, const void * const * ptr, const size_t * len, int n);

/* [*begin, *end) of n items for thread ith of nth, in contiguous chunks. */
static inline void llmj_split(int64_t n, int ith, int nth, int64_t * begin, int64_t * end) {
    *begin = n * ith / nth;
    *end = n * (ith + 1) / nth;
}

#endif
