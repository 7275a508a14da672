// Rotary position embedding on the GPU, in place: one thread per (row, head, pair). The fused
// llmj_cuda_rope_store_kv rotates q and k and writes k and v into the KV cache in one kernel (the decode
// step's four small launches become one); both kernels rotate with rotate_pair, so their values agree.
// CPU reference: src/cpu/rope.c (and llmj_cuda_store_kv's conversion for the cache).
#include "common.cuh"

namespace {

// Rotates pair i of the head at v for the position pos; returns the two rotated values (as stored).
static __device__ __forceinline__ void rotate_pair(float * v, int64_t i, int64_t half, int64_t pos, float pos_scale,
                                                   const float * __restrict__ inv_freq, int neox, int64_t & i0,
                                                   int64_t & i1, float & r0, float & r1) {
    i0 = neox ? i : 2 * i;
    i1 = neox ? i + half : 2 * i + 1;
    rope_rotate(v[i0], v[i1], pos, pos_scale, inv_freq[i], r0, r1);
    v[i0] = r0;
    v[i1] = r1;
}

static __device__ __forceinline__ void store_cache(void * cache, int f16, int64_t at, float v) {
    if (f16) static_cast<__half *>(cache)[at] = __float2half_rn(v);
    else static_cast<float *>(cache)[at] = v;
}

__global__ void rope_kernel(float * __restrict__ x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t half,
                            int64_t start_pos, const int32_t * __restrict__ dev_pos,
                            const float * __restrict__ inv_freq, float pos_scale, int neox) {
    pdl_wait();

    if (dev_pos) start_pos = *dev_pos;   // graph replay: the position lives in device memory
    const int64_t idx = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n * n_heads * half) return;
    const int64_t i = idx % half;
    const int64_t h = (idx / half) % n_heads;
    const int64_t t = idx / (half * n_heads);
    int64_t i0, i1;
    float r0, r1;
    rotate_pair(x + (t * n_heads + h) * head_dim, i, half, start_pos + t, pos_scale, inv_freq, neox, i0, i1, r0, r1);
}

// Threads [0, pairs): the q pairs, then the k pairs (rotated k also goes to the cache); threads
// [pairs, pairs + n * kv_dim): v, and the k dimensions past rope_dims, copied to the caches.
__global__ void rope_store_kv_kernel(float * __restrict__ q, float * __restrict__ k, const float * v,
                                     int64_t n, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t half,
                                     int64_t start_pos, const int32_t * __restrict__ dev_pos,
                                     const float * __restrict__ inv_freq, float pos_scale, int neox,
                                     void * __restrict__ k_cache, void * __restrict__ v_cache, int f16) {
    pdl_wait();

    if (dev_pos) start_pos = *dev_pos;
    const int64_t idx = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t heads = n_heads + n_kv_heads;
    const int64_t pairs = n * heads * half;
    const int64_t kv_dim = n_kv_heads * head_dim;
    if (idx < pairs) {
        const int64_t i = idx % half;
        const int64_t hh = (idx / half) % heads;
        const int64_t t = idx / (half * heads);
        int64_t i0, i1;
        float r0, r1;
        if (hh < n_heads) {
            rotate_pair(q + (t * n_heads + hh) * head_dim, i, half, start_pos + t, pos_scale, inv_freq, neox, i0, i1, r0, r1);
        } else {
            const int64_t h = hh - n_heads;
            rotate_pair(k + (t * n_kv_heads + h) * head_dim, i, half, start_pos + t, pos_scale, inv_freq, neox, i0, i1, r0,
                        r1);
            const int64_t at = (start_pos + t) * kv_dim + h * head_dim;
            store_cache(k_cache, f16, at + i0, r0);
            store_cache(k_cache, f16, at + i1, r1);
        }
        return;
    }
    const int64_t j = idx - pairs;
    if (j >= n * kv_dim) return;
    const int64_t t = j / kv_dim, c = j - t * kv_dim;
    const int64_t at = (start_pos + t) * kv_dim + c;
    store_cache(v_cache, f16, at, v[j]);
    if (c % head_dim >= 2 * half) store_cache(k_cache, f16, at, k[j]);   // not rotated (partial rotary)
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
    launch_pdl(rope_kernel, (unsigned) ((total + threads - 1) / threads), threads, 0, static_cast<cudaStream_t>(stream), 
        x, n, n_heads, head_dim, rope_dims / 2, start_pos, dev_pos, inv_freq, pos_scale, neox);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_rope_store_kv(float * q, float * k, const float * v, int64_t n, int64_t n_heads,
                                       int64_t n_kv_heads, int64_t head_dim, int64_t rope_dims, int64_t start_pos,
                                       const float * inv_freq, float pos_scale, int neox, void * k_cache, void * v_cache,
                                       int cache_type, const int32_t * dev_pos, void * stream) {
    if (cache_type != LLMJ_TYPE_F32 && cache_type != LLMJ_TYPE_F16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "KV cache type %d (F32 and F16 are supported)", cache_type);
    }
    CHECK_STREAM_ARGS(n >= 0 && n_heads > 0 && n_kv_heads > 0 && head_dim > 0 && rope_dims > 0 && rope_dims <= head_dim
                      && rope_dims % 2 == 0 && start_pos >= 0, "bad shape");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(q && k && v && inv_freq && k_cache && v_cache, "null device pointer");
    const int64_t total = n * (n_heads + n_kv_heads) * (rope_dims / 2) + n * n_kv_heads * head_dim;
    const int threads = 256;
    launch_pdl(rope_store_kv_kernel, (unsigned) ((total + threads - 1) / threads), threads, 0, static_cast<cudaStream_t>(stream), 
        q, k, v, n, n_heads, n_kv_heads, head_dim, rope_dims / 2, start_pos, dev_pos, inv_freq, pos_scale, neox, k_cache,
        v_cache, cache_type == LLMJ_TYPE_F16);
    return llmj_cuda_check_launch(__func__);
}
