// Rotary position embedding on the GPU, in place: one thread per (row, head, pair).
// CPU reference: src/cpu/rope.c.
#include "common.cuh"

namespace {

__global__ void rope_kernel(float * __restrict__ x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t half,
                            int64_t start_pos, const int32_t * __restrict__ dev_pos,
                            const float * __restrict__ inv_freq, float pos_scale, int neox) {
    if (dev_pos) start_pos = *dev_pos;   // graph replay: the position lives in device memory
    const int64_t idx = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n * n_heads * half) return;
    const int64_t i = idx % half;
    const int64_t h = (idx / half) % n_heads;
    const int64_t t = idx / (half * n_heads);
    const float angle = (float) (start_pos + t) * pos_scale * inv_freq[i];
    float s, c;
    sincosf(angle, &s, &c);
    float * v = x + (t * n_heads + h) * head_dim;
    const int64_t i0 = neox ? i : 2 * i;
    const int64_t i1 = neox ? i + half : 2 * i + 1;
    const float a = v[i0], b = v[i1];
    v[i0] = a * c - b * s;
    v[i1] = a * s + b * c;
}

}  // namespace

extern "C" int llmj_cuda_rope(float * x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                              int64_t start_pos, const float * inv_freq, float pos_scale, int neox,
                              const int32_t * dev_pos, void * stream) {
    CHECK_STREAM_ARGS(n >= 0 && n_heads > 0 && head_dim > 0 && rope_dims > 0 && rope_dims <= head_dim && rope_dims % 2 == 0
                      && start_pos >= 0, "bad shape");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && inv_freq, "null device pointer");
    const int64_t total = n * n_heads * (rope_dims / 2);
    const int threads = 256;
    rope_kernel<<<(unsigned) ((total + threads - 1) / threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(
        x, n, n_heads, head_dim, rope_dims / 2, start_pos, dev_pos, inv_freq, pos_scale, neox);
    return llmj_cuda_check_launch(__func__);
}
