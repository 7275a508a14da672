// Token choice on the GPU: greedy decoding without the logits crossing to the host.
// CPU references: io.llmj.Sampler.greedy() (the choice) and io.llmj.eval.Perplexity.logSoftmax (the log-probability).
#include "common.cuh"

#include <limits.h>

namespace {

constexpr int THREADS = 1024;
constexpr int WARPS = THREADS / 32;

// A partial reduction over some logits: the largest value m (-inf when none yet), the lowest index i holding it
// (INT_MAX when none), s = sum of exp(x - m) over the finite and +inf entries seen, and whether a NaN was seen.
struct Partial {
    float m;
    float s;
    int i;
    int nan;
};

// Merges b into a. Equal maxima keep the lower index; a sum over no entries is 0 whatever its m.
static __device__ __forceinline__ Partial merge(Partial a, Partial b) {
    Partial r;
    r.m = fmaxf(a.m, b.m);
    r.i = a.m > b.m ? a.i : b.m > a.m ? b.i : min(a.i, b.i);
    const float sa = a.s > 0.0f ? a.s * expf(a.m - r.m) : 0.0f;
    const float sb = b.s > 0.0f ? b.s * expf(b.m - r.m) : 0.0f;
    r.s = sa + sb;
    r.nan = a.nan | b.nan;
    return r;
}

static __device__ __forceinline__ Partial shfl_partial(Partial p, int offset) {
    Partial q;
    q.m = __shfl_xor_sync(0xffffffffu, p.m, offset);
    q.s = __shfl_xor_sync(0xffffffffu, p.s, offset);
    q.i = __shfl_xor_sync(0xffffffffu, p.i, offset);
    q.nan = __shfl_xor_sync(0xffffffffu, p.nan, offset);
    return q;
}

// One block over the n logits: thread t takes t, t + THREADS, ... in order (so equal values keep the first),
// with a running maximum and a rescaled sum; then warps, then the block, merge. Thread 0 publishes the choice.
__global__ void pick_greedy_kernel(const float * logits, int n, int32_t * step, int32_t * ring, int ring_size) {
    pdl_wait();

    Partial p = {-INFINITY, 0.0f, INT_MAX, 0};
    for (int k = threadIdx.x; k < n; k += THREADS) {
        const float x = ld_act(logits + k);
        if (x != x) {
            p.nan = 1;
        } else if (x > p.m) {
            p.s = p.s * expf(p.m - x) + 1.0f;          // p.s is 0 while p.m is -inf
            p.m = x;
            p.i = k;
        } else if (x > -INFINITY) {
            p.s += expf(x - p.m);
        }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) p = merge(p, shfl_partial(p, offset));

    __shared__ Partial warp_partials[WARPS];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) warp_partials[warp] = p;
    __syncthreads();
    if (warp != 0) return;
    p = warp_partials[lane];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) p = merge(p, shfl_partial(p, offset));
    if (lane != 0) return;

    // No candidate (every logit NaN or -inf): token 0, as the host's greedy sampler.
    const int id = p.i == INT_MAX ? 0 : p.i;
    const float logprob = p.nan || p.i == INT_MAX ? NAN : -logf(p.s);   // x[id] - (m + log s), x[id] = m
    const int next = step[1] + 1;
    step[0] = id;
    step[1] = next;
    int32_t * e = ring + 4 * (next % ring_size);
    e[1] = id;
    e[2] = __float_as_int(logprob);
    e[3] = 0;
    __threadfence_system();
    e[0] = next;                                        // last: the entry's position says it is complete
}

} // namespace

extern "C" int llmj_cuda_pick_greedy(const float * logits, int64_t n, int32_t * step, int32_t * ring, int32_t ring_size,
                                     void * stream) {
    CHECK_STREAM_ARGS(n > 0 && n <= INT_MAX && ring_size > 0, "bad arguments n=%lld ring_size=%d", (long long) n, ring_size);
    CHECK_STREAM_ARGS(logits && step && ring, "null pointer");
    launch_pdl(pick_greedy_kernel, 1, THREADS, 0, static_cast<cudaStream_t>(stream), logits, (int) n, step, ring, ring_size);
    return llmj_cuda_check_launch(__func__);
}
