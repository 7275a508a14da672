// Element-wise ops on the GPU: gated activations, residual add, bias rows, soft-capping, KV-cache
// writes (float32 -> F32/F16 cache) and embedding-row lookup with dequantization.
// CPU references: src/cpu/glu.c and the Java backend.
#include "dequant.cuh"
#include "kquants.cuh"
#include "matvec_q.cuh"

namespace {

constexpr int THREADS = 256;

inline unsigned blocks_for(int64_t n) { return (unsigned) ((n + THREADS - 1) / THREADS); }

// Q8: also converts out to Q8 activation blocks (n a multiple of 32, so every warp holds one whole block).
template <bool Q8>
__global__ void glu_kernel(const float * gate, const float * up, float * out, int64_t n, int gelu,
                           int8_t * __restrict__ aq, q8_act_meta * __restrict__ am) {
    pdl_wait();

    const int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (i >= n) return;
    const float v = glu_value(gate[i], up[i], gelu);
    out[i] = v;
    if (Q8) warp_quantize_q8(v, aq + (i / 32) * 32, am + i / 32);
}

// glu_kernel's values (the same expressions), one warp per 256-value block, lane l taking values 8l .. 8l + 7, and
// the block converted to Q8_K (n a multiple of 256: the arrays of llmj_cuda_kquant_quantize_q8k for any split of
// the values into token rows of whole blocks). One or two warps per thread block (43 or 22 blocks for 11008 values
// instead of 6) and 16-byte loads changed nothing (H100, llama2-7b Q4_K_M tg128 494.5-499.4 against 496.6-497.7 t/s,
// same run), while leaving the kernel out (wrong logits) gave 504.6-513.0 against 492.1-495.6: its cost in the decode
// graph is its place in the chain of dependent kernels, not its work.
__global__ void glu_q8k_kernel(const float * gate, const float * up, float * out, int64_t n, int gelu,
                               int8_t * __restrict__ qs, float * __restrict__ d, int16_t * __restrict__ bs) {
    pdl_wait();

    const int64_t blk = (int64_t) blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
    if (blk * 256 >= n) return;
    const int64_t i0 = blk * 256 + 8 * (threadIdx.x % 32);
    float v[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
        v[k] = glu_value(gate[i0 + k], up[i0 + k], gelu);
        out[i0 + k] = v[k];
    }
    warp_quantize_q8k(v, qs + i0, d + blk, bs + blk * 16);
}

__global__ void add_kernel(float * x, const float * y, int64_t n) {
    pdl_wait();

    const int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void add_rows_kernel(float * x, const float * __restrict__ b, int64_t dim, int64_t n) {
    pdl_wait();

    const int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (i < n * dim) x[i] += b[i % dim];
}

__global__ void softcap_kernel(float * x, float cap, int64_t n) {
    pdl_wait();

    const int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (i < n) x[i] = cap * tanhf(x[i] / cap);
}

__global__ void store_kv_kernel(const float * src, void * cache, int f16, int64_t offset,
                                const int32_t * __restrict__ dev_pos, int64_t kv_dim, int64_t n) {
    pdl_wait();

    const int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (i >= n) return;
    if (dev_pos) offset = (int64_t) *dev_pos * kv_dim;   // graph replay: the position lives in device memory
    if (f16) static_cast<__half *>(cache)[offset + i] = __float2half_rn(src[i]);
    else static_cast<float *>(cache)[offset + i] = src[i];
}

// Plain types: one element per thread.
__global__ void get_rows_plain_kernel(int type, const uint8_t * __restrict__ table, size_t row_bytes,
                                      const int32_t * __restrict__ ids, int64_t cols, float scale, float * __restrict__ out) {
    pdl_wait();

    const int64_t t = blockIdx.y;
    const uint8_t * row = table + (size_t) ids[t] * row_bytes;
    for (int64_t c = (int64_t) blockIdx.x * THREADS + threadIdx.x; c < cols; c += (int64_t) gridDim.x * THREADS) {
        out[t * cols + c] = load_plain(type, row, c) * scale;
    }
}

// Block types: one thread per 8 consecutive elements (dequant.cuh), two float4 stores when aligned.
template <int TYPE>
__global__ void get_rows_block_kernel(const uint8_t * __restrict__ table, size_t row_bytes, const int32_t * __restrict__ ids,
                                      int64_t cols, float scale, float * __restrict__ out, int vec_out) {
    pdl_wait();

    constexpr int QK = qtype<TYPE>::QK, BYTES = qtype<TYPE>::BYTES;
    const int64_t t = blockIdx.y;
    const uint8_t * row = table + (size_t) ids[t] * row_bytes;
    for (int64_t j = (int64_t) blockIdx.x * THREADS + threadIdx.x; j < cols / 8; j += (int64_t) gridDim.x * THREADS) {
        float v[8];
        dequant8<TYPE>(row + (j / (QK / 8)) * BYTES, (int) (j % (QK / 8)) * 8, v);
        float * dst = out + t * cols + 8 * j;
        if (vec_out) {
            reinterpret_cast<float4 *>(dst)[0] = make_float4(v[0] * scale, v[1] * scale, v[2] * scale, v[3] * scale);
            reinterpret_cast<float4 *>(dst)[1] = make_float4(v[4] * scale, v[5] * scale, v[6] * scale, v[7] * scale);
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) dst[k] = v[k] * scale;
        }
    }
}

}  // namespace

extern "C" int llmj_cuda_glu(const float * gate, const float * up, float * out, int64_t n, int gelu, void * stream) {
    CHECK_STREAM_ARGS(n >= 0, "negative n");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(gate && up && out, "null device pointer");
    launch_pdl(glu_kernel<false>, blocks_for(n), THREADS, 0, static_cast<cudaStream_t>(stream), gate, up, out, n, gelu, nullptr,
                                                                                      nullptr);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_glu_q8(const float * gate, const float * up, float * out, int64_t n, int gelu, void * act,
                                void * stream) {
    CHECK_STREAM_ARGS(n >= 0 && n % 32 == 0, "n %lld is not a non-negative multiple of 32", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(gate && up && out && act, "null device pointer");
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(act) % 16 == 0, "act %p is not 16-byte aligned", act);
    // n values as n / 32 one-block rows: the same layout as any token split of them into rows of whole blocks
    int8_t * aq = static_cast<int8_t *>(act);
    q8_act_meta * am = reinterpret_cast<q8_act_meta *>(static_cast<char *>(act) + q8_act_meta_offset(n, 1));
    launch_pdl(glu_kernel<true>, blocks_for(n), THREADS, 0, static_cast<cudaStream_t>(stream), gate, up, out, n, gelu, aq, am);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_glu_q8k(const float * gate, const float * up, float * out, int64_t n, int gelu, void * act,
                                 void * stream) {
    CHECK_STREAM_ARGS(n >= 0 && n % 256 == 0, "n %lld is not a non-negative multiple of 256", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(gate && up && out && act, "null device pointer");
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(act) % 16 == 0, "act %p is not 16-byte aligned", act);
    char * a = static_cast<char *>(act);
    const int64_t blocks = n / 256;
    launch_pdl(glu_q8k_kernel, (unsigned) ((blocks + THREADS / 32 - 1) / (THREADS / 32)), THREADS, 0, static_cast<cudaStream_t>(stream),
               gate, up, out, n, gelu, reinterpret_cast<int8_t *>(a), reinterpret_cast<float *>(a + llmj_cuda_q8k_d_offset(n, 1)),
               reinterpret_cast<int16_t *>(a + llmj_cuda_q8k_bsums_offset(n, 1)));
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_add(float * x, const float * y, int64_t n, void * stream) {
    CHECK_STREAM_ARGS(n >= 0, "negative n");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && y, "null device pointer");
    launch_pdl(add_kernel, blocks_for(n), THREADS, 0, static_cast<cudaStream_t>(stream), x, y, n);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_add_rows(float * x, const float * b, int64_t dim, int64_t n, void * stream) {
    CHECK_STREAM_ARGS(dim > 0 && n >= 0, "bad shape");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && b, "null device pointer");
    launch_pdl(add_rows_kernel, blocks_for(n * dim), THREADS, 0, static_cast<cudaStream_t>(stream), x, b, dim, n);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_softcap(float * x, float cap, int64_t n, void * stream) {
    CHECK_STREAM_ARGS(n >= 0 && cap > 0, "bad arguments");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x, "null device pointer");
    launch_pdl(softcap_kernel, blocks_for(n), THREADS, 0, static_cast<cudaStream_t>(stream), x, cap, n);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_store_kv(const float * src, void * cache, int cache_type, int64_t kv_dim, int64_t n,
                                  int64_t start_pos, const int32_t * dev_pos, void * stream) {
    if (cache_type != LLMJ_TYPE_F32 && cache_type != LLMJ_TYPE_F16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "KV cache type %d (F32 and F16 are supported)", cache_type);
    }
    CHECK_STREAM_ARGS(kv_dim > 0 && n >= 0 && start_pos >= 0, "bad shape");
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(src && cache, "null device pointer");
    launch_pdl(store_kv_kernel, blocks_for(n * kv_dim), THREADS, 0, static_cast<cudaStream_t>(stream), 
        src, cache, cache_type == LLMJ_TYPE_F16, start_pos * kv_dim, dev_pos, kv_dim, n * kv_dim);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_get_rows(int type, const void * table, size_t row_bytes, const int32_t * ids, int64_t n,
                                  int64_t cols, float scale, float * out, void * stream) {
    if (!llmj_cuda_type_ok(type)) return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "embedding type %d is not supported on CUDA", type);
    if (llmj_cuda_is_kquant(type)) {
        return llmj_cuda_kquant_get_rows(type, table, row_bytes, ids, n, cols, scale, out, static_cast<cudaStream_t>(stream));
    }
    CHECK_STREAM_ARGS(n >= 0 && n < 65536 && cols > 0, "bad shape n=%lld cols=%lld", (long long) n, (long long) cols);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(table && ids && out, "null device pointer");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const uint8_t * tb = static_cast<const uint8_t *>(table);
    if (llmj_cuda_is_plain(type)) {
        const dim3 grid((unsigned) ((cols + THREADS - 1) / THREADS < 1024 ? (cols + THREADS - 1) / THREADS : 1024), (unsigned) n);
        launch_pdl(get_rows_plain_kernel, grid, THREADS, 0, s, type, tb, row_bytes, ids, cols, scale, out);
        return llmj_cuda_check_launch(__func__);
    }
    const int qk = llmj_type_block_size(type);
    CHECK_STREAM_ARGS(cols % qk == 0, "cols %lld is not a multiple of the block size %d", (long long) cols, qk);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(table) % 2 == 0 && row_bytes % 2 == 0,
                      "table %p and row_bytes %zu must be 2-byte aligned", table, row_bytes);
    const int64_t groups = cols / 8;
    const dim3 grid((unsigned) ((groups + THREADS - 1) / THREADS < 1024 ? (groups + THREADS - 1) / THREADS : 1024), (unsigned) n);
    const int vec_out = reinterpret_cast<uintptr_t>(out) % 16 == 0;
    switch (type) {
#define LLMJ_CASE(T) case T: launch_pdl(get_rows_block_kernel<T>, grid, THREADS, 0, s, tb, row_bytes, ids, cols, scale, out, vec_out); break;
        LLMJ_CUDA_BLOCK_TYPES(LLMJ_CASE)
#undef LLMJ_CASE
        default: return LLMJ_FAIL(LLMJ_ERR_INTERNAL, "no get_rows kernel for type %d", type);
    }
    return llmj_cuda_check_launch(__func__);
}
