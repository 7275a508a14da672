/* A streaming read of a buffer on the thread pool, for measuring memory bandwidth next to the
 * kernels (benchmarks report weight GB/s as a fraction of it). Each thread XORs its contiguous share
 * with 256-bit loads; the result only keeps the loads from being optimised away. */
#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
    const char * p;
    size_t bytes;
    uint64_t partial[256];
} read_job;

#if defined(__x86_64__)
__attribute__((target("avx2")))
static uint64_t xor_range(const char * p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256(), c = _mm256_setzero_si256(), d = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *) (p + i)));
        b = _mm256_xor_si256(b, _mm256_loadu_si256((const __m256i *) (p + i + 32)));
        c = _mm256_xor_si256(c, _mm256_loadu_si256((const __m256i *) (p + i + 64)));
        d = _mm256_xor_si256(d, _mm256_loadu_si256((const __m256i *) (p + i + 96)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    uint64_t r = (uint64_t) _mm256_extract_epi64(a, 0) ^ (uint64_t) _mm256_extract_epi64(a, 1)
               ^ (uint64_t) _mm256_extract_epi64(a, 2) ^ (uint64_t) _mm256_extract_epi64(a, 3);
    for (; i < n; i++) r ^= (uint64_t) (unsigned char) p[i];
    return r;
}
#endif

static uint64_t xor_range_scalar(const char * p, size_t n) {
    uint64_t r = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        __builtin_memcpy(&v, p + i, 8);
        r ^= v;
    }
    for (; i < n; i++) r ^= (uint64_t) (unsigned char) p[i];
    return r;
}

static void read_share(void * v, int ith, int nth) {
    read_job * j = v;
    int64_t b, e;
    llmj_split((int64_t) (j->bytes / 128), ith, nth, &b, &e);
    const char * p = j->p + (size_t) b * 128;
    size_t n = (size_t) (e - b) * 128;
    if (ith == nth - 1) n = j->bytes - (size_t) b * 128;
#if defined(__x86_64__)
    j->partial[ith] = llmj_cpu_active_isa() >= LLMJ_ISA_AVX2 ? xor_range(p, n) : xor_range_scalar(p, n);
#else
    j->partial[ith] = xor_range_scalar(p, n);
#endif
}

int llmj_memory_read(llmj_threadpool * pool, const void * p, size_t bytes, uint64_t * checksum) {
    if (!p || !checksum) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer");
    read_job j = { p, bytes, { 0 } };
    llmj_threadpool_run(pool, read_share, &j);
    uint64_t r = 0;
    int n = pool ? llmj_threadpool_size(pool) : 1;
    for (int i = 0; i < n && i < 256; i++) r ^= j.partial[i];
    *checksum = r;
    return LLMJ_OK;
}
