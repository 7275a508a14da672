// RMSNorm on the GPU: one block per row; sum of squares in float, block-reduced.
// CPU reference: src/cpu/norm.c.
#include "common.cuh"

namespace {

constexpr int THREADS = 256;

__global__ void rms_norm_kernel(const float * __restrict__ x, const float * __restrict__ w, float w_offset,
                                float * __restrict__ out, int64_t dim, float eps) {
    const int64_t row = blockIdx.x;
    const float * xr = x + row * dim;
    float * o = out + row * dim;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += THREADS) ss += xr[i] * xr[i];
    __shared__ float partial[THREADS / 32];
    ss = warp_reduce_sum(ss);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < THREADS / 32 ? partial[threadIdx.x] : 0.0f;
        v = warp_reduce_sum(v);
        if (threadIdx.x == 0) partial[0] = v;
    }
    __syncthreads();
    const float scale = rsqrtf(partial[0] / (float) dim + eps);
    for (int64_t i = threadIdx.x; i < dim; i += THREADS) o[i] = xr[i] * scale * (w[i] + w_offset);
}

}  // namespace

extern "C" int llmj_cuda_rms_norm(const float * x, const float * w, float w_offset, float * out, int64_t dim, int64_t n,
                                  float eps, void * stream) {
    CHECK_STREAM_ARGS(dim > 0 && n >= 0 && n < 0x7FFFFFFF, "bad shape dim=%lld n=%lld", (long long) dim, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && w && out, "null device pointer");
    rms_norm_kernel<<<(unsigned) n, THREADS, 0, static_cast<cudaStream_t>(stream)>>>(x, w, w_offset, out, dim, eps);
    return llmj_cuda_check_launch(__func__);
}
