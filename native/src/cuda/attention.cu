// Causal attention over a KV cache on the GPU (F32 or F16 cache, grouped-query heads, sliding
// window, logit soft-capping). One warp per (query row, head): an online softmax over the visible
// positions, each lane holding head_dim/32 elements of q and of the output.
// CPU reference: src/cpu/attention.c.
#include "common.cuh"

namespace {

constexpr int MAX_PER_LANE = 8;   // head_dim <= 256

template <bool F16>
__global__ void attention_kernel(const float * __restrict__ q, const void * __restrict__ k, const void * __restrict__ v,
                                 float * __restrict__ out, int64_t n, int64_t start_pos, const int32_t * __restrict__ dev_pos,
                                 int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float softcap,
                                 int64_t window) {
    if (dev_pos) start_pos = *dev_pos;   // graph replay: the position lives in device memory
    const int64_t task = (int64_t) blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (task >= n * n_heads) return;
    const int lane = threadIdx.x % 32;
    const int64_t t = task / n_heads, h = task % n_heads;
    const int64_t kvh = h / (n_heads / n_kv_heads);
    const int64_t pos = start_pos + t;
    const int64_t first = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    const int64_t kv_row = n_kv_heads * head_dim;
    const float * qh = q + (t * n_heads + h) * head_dim;
    float qv[MAX_PER_LANE], acc[MAX_PER_LANE];
#pragma unroll
    for (int e = 0; e < MAX_PER_LANE; e++) {
        const int64_t i = lane + 32 * e;
        qv[e] = i < head_dim ? qh[i] : 0.0f;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t p = first; p <= pos; p++) {
        const int64_t base = p * kv_row + kvh * head_dim;
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < MAX_PER_LANE; e++) {
            const int64_t i = lane + 32 * e;
            if (i < head_dim) {
                const float kk = F16 ? __half2float(static_cast<const __half *>(k)[base + i]) : static_cast<const float *>(k)[base + i];
                s += qv[e] * kk;
            }
        }
        s = warp_reduce_sum(s) * scale;
        if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new);
        const float w = expf(s - m_new);
        l = l * corr + w;
#pragma unroll
        for (int e = 0; e < MAX_PER_LANE; e++) {
            const int64_t i = lane + 32 * e;
            if (i < head_dim) {
                const float vv = F16 ? __half2float(static_cast<const __half *>(v)[base + i]) : static_cast<const float *>(v)[base + i];
                acc[e] = acc[e] * corr + w * vv;
            }
        }
        m = m_new;
    }
    float * o = out + (t * n_heads + h) * head_dim;
    const float inv = 1.0f / l;
#pragma unroll
    for (int e = 0; e < MAX_PER_LANE; e++) {
        const int64_t i = lane + 32 * e;
        if (i < head_dim) o[i] = acc[e] * inv;
    }
}

}  // namespace

extern "C" int llmj_cuda_attention(const float * q, const void * k_cache, const void * v_cache, int cache_type, float * out,
                                   int64_t n, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                                   float scale, float softcap, int64_t window, const int32_t * dev_pos, void * stream) {
    if (cache_type != LLMJ_TYPE_F32 && cache_type != LLMJ_TYPE_F16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "KV cache type %d (F32 and F16 are supported)", cache_type);
    }
    CHECK_STREAM_ARGS(n >= 0 && start_pos >= 0 && n_heads > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0 && head_dim > 0
                      && window >= 0 && softcap >= 0, "bad shape");
    if (head_dim > 32 * MAX_PER_LANE) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "head_dim %lld > %d", (long long) head_dim, 32 * MAX_PER_LANE);
    }
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(q && k_cache && v_cache && out, "null device pointer");
    const int warps = 4;
    const int64_t tasks = n * n_heads;
    const unsigned blocks = (unsigned) ((tasks + warps - 1) / warps);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (cache_type == LLMJ_TYPE_F16) {
        attention_kernel<true><<<blocks, 32 * warps, 0, s>>>(q, k_cache, v_cache, out, n, start_pos, dev_pos, n_heads, n_kv_heads,
                                                             head_dim, scale, softcap, window);
    } else {
        attention_kernel<false><<<blocks, 32 * warps, 0, s>>>(q, k_cache, v_cache, out, n, start_pos, dev_pos, n_heads, n_kv_heads,
                                                              head_dim, scale, softcap, window);
    }
    return llmj_cuda_check_launch(__func__);
}
