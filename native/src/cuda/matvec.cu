// Matrix-vector product y = W x for F32, F16 and BF16 weights on the GPU (float32 activations).
// kernel -> launcher -> C entry point (llmj_cuda_matvec), as in ggml-cuda.
// The CPU reference is src/cpu/matvec.c (and the Java reference in the tests).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"

namespace {

constexpr int WARP = 32;
constexpr int ROWS_PER_BLOCK = 4;   // one warp per row

// ---- kernels --------------------------------------------------------------------------------
// One warp computes one row: lanes stride over the columns, then a warp-shuffle reduction.
__global__ void matvec_f32_kernel(const char * __restrict__ w, size_t row_bytes,
                                  const float * __restrict__ x, float * __restrict__ y,
                                  int64_t rows, int64_t cols) {
    const int64_t row = (int64_t) blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (row >= rows) return;
    const float * wr = reinterpret_cast<const float *>(w + row * row_bytes);
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += WARP) sum += wr[c] * x[c];
    sum = warp_reduce_sum(sum);
    if (threadIdx.x == 0) y[row] = sum;
}

__global__ void matvec_f16_kernel(const char * __restrict__ w, size_t row_bytes,
                                  const float * __restrict__ x, float * __restrict__ y,
                                  int64_t rows, int64_t cols) {
    const int64_t row = (int64_t) blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (row >= rows) return;
    const __half * wr = reinterpret_cast<const __half *>(w + row * row_bytes);
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += WARP) sum += __half2float(wr[c]) * x[c];
    sum = warp_reduce_sum(sum);
    if (threadIdx.x == 0) y[row] = sum;
}

__global__ void matvec_bf16_kernel(const char * __restrict__ w, size_t row_bytes,
                                   const float * __restrict__ x, float * __restrict__ y,
                                   int64_t rows, int64_t cols) {
    const int64_t row = (int64_t) blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (row >= rows) return;
    const __nv_bfloat16 * wr = reinterpret_cast<const __nv_bfloat16 *>(w + row * row_bytes);
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += WARP) sum += __bfloat162float(wr[c]) * x[c];
    sum = warp_reduce_sum(sum);
    if (threadIdx.x == 0) y[row] = sum;
}

// ---- launcher -------------------------------------------------------------------------------
void launch_matvec(int type, const void * w, size_t row_bytes, const float * x, float * y,
                   int64_t rows, int64_t cols, cudaStream_t stream) {
    const dim3 block(WARP, ROWS_PER_BLOCK);
    const dim3 grid((unsigned) ((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK));
    const char * wb = static_cast<const char *>(w);
    if (type == LLMJ_TYPE_F32) {
        matvec_f32_kernel<<<grid, block, 0, stream>>>(wb, row_bytes, x, y, rows, cols);
    } else if (type == LLMJ_TYPE_F16) {
        matvec_f16_kernel<<<grid, block, 0, stream>>>(wb, row_bytes, x, y, rows, cols);
    } else {
        matvec_bf16_kernel<<<grid, block, 0, stream>>>(wb, row_bytes, x, y, rows, cols);
    }
}

}  // namespace

// ---- entry point ----------------------------------------------------------------------------
extern "C" int llmj_cuda_matvec(int type, const void * w, size_t row_bytes, const float * x,
                                float * y, int64_t rows, int64_t cols, void * stream) {
    if (type != LLMJ_TYPE_F32 && type != LLMJ_TYPE_F16 && type != LLMJ_TYPE_BF16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d is not supported (F32=0, F16=1, BF16=30 are)", type);
    }
    if (rows < 0 || cols < 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "negative shape rows=%lld cols=%lld",
                         (long long) rows, (long long) cols);
    }
    if (rows == 0) return LLMJ_OK;
    if (!w || !x || !y) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null device pointer (w=%p x=%p y=%p)",
                         w, (const void *) x, (void *) y);
    }
    const size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
    if (row_bytes < (size_t) cols * elem || row_bytes % elem != 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT,
                         "row_bytes %zu must be a multiple of %zu and at least cols %lld x %zu",
                         row_bytes, elem, (long long) cols, elem);
    }
    if ((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK > 0x7FFFFFFFLL) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "too many rows (%lld)", (long long) rows);
    }
    launch_matvec(type, w, row_bytes, x, y, rows, cols, static_cast<cudaStream_t>(stream));
    return llmj_cuda_check_launch(__func__);
}
