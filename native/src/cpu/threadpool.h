/* Internal: running a job on every thread of a pool. */
#ifndef LLMJ_THREADPOOL_H
#define LLMJ_THREADPOOL_H

#include "cpu.h"

/* Called once per thread with ith in [0, nth); ith 0 is the calling thread. */
typedef void (*llmj_job_fn)(void * ctx, int ith, int nth);

/* Runs fn on the threads of the pool (or once, ith 0 of 1, for NULL) and returns when every
 * thread that took part has finished. The caller always takes part (ith 0); a worker that wakes
 * after the caller has finished its own call skips the job, so fn must share work dynamically
 * (claim chunks from an atomic counter in ctx) rather than by ith. Not re-entrant for one pool. */
void llmj_threadpool_run(llmj_threadpool * pool, llmj_job_fn fn, void * ctx);

/* [*begin, *end) of n items for thread ith of nth, in contiguous chunks. */
static inline void llmj_split(int64_t n, int ith, int nth, int64_t * begin, int64_t * end) {
    *begin = n * ith / nth;
    *end = n * (ith + 1) / nth;
}

#endif
