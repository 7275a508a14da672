// Weights of any type with CUDA kernels -> a dense row-major F16 matrix (the input of the cuBLAS
// prefill GEMM). Block types decode with dequant.cuh (values equal ggml's dequantize_row_*, then
// rounded to F16 to nearest even, as ggml's to-F16 conversion does); F32 and BF16 round to F16;
// F16 rows are copied. CPU reference: the decoders in the tests (and io.llmj.quant.QuantFormats).
// kernel -> launcher -> C entry point (llmj_cuda_dequantize_f16).
#include "dequant.cuh"
#include "kquants.cuh"

namespace {

constexpr int THREADS = 256;
constexpr int64_t MAX_GRID = 1 << 20;   // grid-stride loops beyond this many blocks

inline unsigned grid_for(int64_t items) {
    const int64_t g = (items + THREADS - 1) / THREADS;
    return (unsigned) (g < MAX_GRID ? g : MAX_GRID);
}

// One thread per 8 consecutive elements of a row: one 16-byte store of 8 halves when `out` is aligned.
template <int TYPE>
__global__ void __launch_bounds__(THREADS) dequant_f16_kernel(const uint8_t * __restrict__ w, size_t row_bytes, int64_t rows,
                                                             int64_t cols, __half * __restrict__ out, int vec_out) {
    constexpr int QK = qtype<TYPE>::QK, BYTES = qtype<TYPE>::BYTES;
    const int64_t gpr = cols / 8, total = rows * gpr;
    for (int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x; g < total; g += (int64_t) gridDim.x * THREADS) {
        const int64_t row = g / gpr, j = g - row * gpr;
        float v[8];
        dequant8<TYPE>(w + row * row_bytes + (j / (QK / 8)) * BYTES, (int) (j % (QK / 8)) * 8, v);
        __half2 h[4];
#pragma unroll
        for (int k = 0; k < 4; k++) h[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
        __half * dst = out + row * cols + 8 * j;
        if (vec_out) {
            uint4 u;
            memcpy(&u, h, 16);
            *reinterpret_cast<uint4 *>(dst) = u;
        } else {
#pragma unroll
            for (int k = 0; k < 4; k++) {
                dst[2 * k] = __low2half(h[k]);
                dst[2 * k + 1] = __high2half(h[k]);
            }
        }
    }
}

// F32 / BF16 -> F16, one element per thread.
__global__ void __launch_bounds__(THREADS) plain_f16_kernel(int type, const uint8_t * __restrict__ w, size_t row_bytes,
                                                           int64_t rows, int64_t cols, __half * __restrict__ out) {
    const int64_t total = rows * cols;
    for (int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x; g < total; g += (int64_t) gridDim.x * THREADS) {
        const int64_t row = g / cols, c = g - row * cols;
        out[g] = __float2half_rn(load_plain(type, w + row * row_bytes, c));
    }
}

template <int TYPE>
void launch_dequant_f16(const void * w, size_t row_bytes, int64_t rows, int64_t cols, void * out, cudaStream_t stream) {
    const int vec_out = reinterpret_cast<uintptr_t>(out) % 16 == 0;
    dequant_f16_kernel<TYPE><<<grid_for(rows * (cols / 8)), THREADS, 0, stream>>>(
        static_cast<const uint8_t *>(w), row_bytes, rows, cols, static_cast<__half *>(out), vec_out);
}

}  // namespace

extern "C" int llmj_cuda_dequantize_f16(int type, const void * w, size_t row_bytes, int64_t rows, int64_t cols,
                                        void * out, void * stream) {
    if (!llmj_cuda_type_ok(type)) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d has no CUDA dequantize kernel", type);
    }
    CHECK_STREAM_ARGS(rows >= 0 && cols > 0 && rows <= 0x7FFFFFFFLL && cols <= 0x7FFFFFFFLL,
                      "bad shape rows=%lld cols=%lld", (long long) rows, (long long) cols);
    if (rows == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(w && out, "null device pointer (w=%p out=%p)", w, out);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (llmj_cuda_is_kquant(type)) {   // 256-element super-blocks: matvec_k.cu
        return llmj_cuda_kquant_dequantize_f16(type, w, row_bytes, rows, cols, static_cast<__half *>(out), s);
    }
    const uintptr_t wa = reinterpret_cast<uintptr_t>(w);
    if (llmj_cuda_is_plain(type)) {
        const size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
        CHECK_STREAM_ARGS(row_bytes >= (size_t) cols * elem && row_bytes % elem == 0 && wa % elem == 0,
                          "row_bytes %zu and w must be multiples of %zu, row_bytes at least cols %lld x %zu", row_bytes,
                          elem, (long long) cols, elem);
        CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(out) % 2 == 0, "out %p is not 2-byte aligned", out);
        if (type == LLMJ_TYPE_F16) {
            const cudaError_t err = cudaMemcpy2DAsync(out, (size_t) cols * 2, w, row_bytes, (size_t) cols * 2, (size_t) rows,
                                                      cudaMemcpyDeviceToDevice, s);
            if (err != cudaSuccess) {
                return LLMJ_FAIL(LLMJ_ERR_CUDA, "cudaMemcpy2DAsync failed: %s (%s)", cudaGetErrorString(err),
                                 cudaGetErrorName(err));
            }
            return LLMJ_OK;
        }
        plain_f16_kernel<<<grid_for(rows * cols), THREADS, 0, s>>>(type, static_cast<const uint8_t *>(w), row_bytes, rows,
                                                                  cols, static_cast<__half *>(out));
        return llmj_cuda_check_launch(__func__);
    }
    const int qk = llmj_type_block_size(type);
    CHECK_STREAM_ARGS(cols % qk == 0, "cols %lld is not a multiple of the block size %d", (long long) cols, qk);
    const size_t min_row = (size_t) (cols / qk) * (size_t) llmj_type_block_bytes(type);
    CHECK_STREAM_ARGS(row_bytes >= min_row, "row_bytes %zu < %zu bytes of %lld blocks", row_bytes, min_row,
                      (long long) (cols / qk));
    CHECK_STREAM_ARGS(wa % 2 == 0 && row_bytes % 2 == 0, "w %p and row_bytes %zu must be 2-byte aligned", w, row_bytes);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(out) % 2 == 0, "out %p is not 2-byte aligned", out);
    switch (type) {
#define LLMJ_CASE(T) case T: launch_dequant_f16<T>(w, row_bytes, rows, cols, out, s); break;
        LLMJ_CUDA_BLOCK_TYPES(LLMJ_CASE)
#undef LLMJ_CASE
        default: return LLMJ_FAIL(LLMJ_ERR_INTERNAL, "no dequantize kernel for type %d", type);
    }
    return llmj_cuda_check_launch(__func__);
}
