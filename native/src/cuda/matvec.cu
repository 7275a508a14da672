// Matrix-vector product y = W x for F32, F16 and BF16 weights on the GPU (float32 activations).
// kernel -> launcher -> C entry point (llmj_cuda_matvec), as in ggml-cuda.
// The CPU reference is src/cpu/matvec.c (and the Java reference in the tests).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"
#include "kquants.cuh"

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

// Activations to Q8_0 blocks as ggml's reference does (d = amax / 127, q = roundf(x / d)): one warp per block.
__global__ void quantize_q8_0_kernel(const float * __restrict__ x, block_q8_0 * __restrict__ out, int64_t n_blocks) {
    const int64_t b = (int64_t) blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (b >= n_blocks) return;
    const int lane = threadIdx.x % 32;
    const float v = x[b * 32 + lane];
    const float amax = warp_reduce_max(fabsf(v));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].qs[lane] = (int8_t) roundf(v * id);
    if (lane == 0) out[b].d = __float2half_rn(d);
}

// Q8_0 / Q4_0 weights against Q8_0 activations: one warp per row, lanes over blocks, integer dots
// with __dp4a scaled by both block scales (ggml's vec_dot definition).
template <int TYPE>
__global__ void matvec_q_kernel(const char * __restrict__ w, size_t row_bytes, const block_q8_0 * __restrict__ xq,
                                float * __restrict__ y, int64_t rows, int64_t n_blocks) {
    const int64_t row = (int64_t) blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (row >= rows) return;
    float sum = 0.0f;
    for (int64_t b = threadIdx.x; b < n_blocks; b += WARP) {
        const block_q8_0 & xb = xq[b];
        int dot = 0;
        float dw;
        if (TYPE == LLMJ_TYPE_Q8_0) {
            const block_q8_0 & wb = reinterpret_cast<const block_q8_0 *>(w + row * row_bytes)[b];
            dw = __half2float(wb.d);
#pragma unroll
            for (int i = 0; i < 32; i += 4) {
                int a, c;
                memcpy(&a, wb.qs + i, 4);
                memcpy(&c, xb.qs + i, 4);
                dot = __dp4a(a, c, dot);
            }
        } else {
            const block_q4_0 & wb = reinterpret_cast<const block_q4_0 *>(w + row * row_bytes)[b];
            dw = __half2float(wb.d);
#pragma unroll
            for (int i = 0; i < 16; i += 4) {
                unsigned packed;
                memcpy(&packed, wb.qs + i, 4);
                // per-byte subtraction (no borrow between bytes): nibble - 8 as signed int8 lanes
                const int lo = (int) __vsub4(packed & 0x0F0F0F0Fu, 0x08080808u);          // elements i..i+3
                const int hi = (int) __vsub4((packed >> 4) & 0x0F0F0F0Fu, 0x08080808u);   // elements 16+i..

                int xl, xh;
                memcpy(&xl, xb.qs + i, 4);
                memcpy(&xh, xb.qs + 16 + i, 4);
                dot = __dp4a(lo, xl, dot);
                dot = __dp4a(hi, xh, dot);
            }
        }
        sum += (float) dot * dw * __half2float(xb.d);
    }
    sum = warp_reduce_sum(sum);
    if (threadIdx.x == 0) y[row] = sum;
}

}  // namespace

// ---- matrix-matrix entry (one launch per token for now) ---------------------------------------
extern "C" size_t llmj_cuda_matmul_work_size(int type, int64_t cols, int64_t n) {
    if (llmj_cuda_is_kquant(type)) return llmj_cuda_kquant_work_size(type, cols, n);
    if ((type == LLMJ_TYPE_Q8_0 || type == LLMJ_TYPE_Q4_0) && cols > 0 && n > 0) {
        return (size_t) n * (size_t) (cols / 32) * sizeof(block_q8_0);
    }
    return 0;
}

extern "C" int llmj_cuda_matmul(int type, const void * w, size_t row_bytes, const float * x, float * y, int64_t rows,
                                int64_t cols, int64_t n, void * work, size_t work_bytes, void * stream) {
    if (!llmj_cuda_type_ok(type)) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d has no CUDA kernel yet", type);
    }
    if (llmj_cuda_is_kquant(type)) {
        return llmj_cuda_kquant_matmul(type, w, row_bytes, x, y, rows, cols, n, work, work_bytes, static_cast<cudaStream_t>(stream));
    }
    CHECK_STREAM_ARGS(rows > 0 && cols > 0 && n >= 0 && (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK <= 0x7FFFFFFFLL,
                      "bad shape rows=%lld cols=%lld n=%lld", (long long) rows, (long long) cols, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(w && x && y, "null device pointer");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const dim3 block(WARP, ROWS_PER_BLOCK);
    const dim3 grid((unsigned) ((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK));
    const char * wb = static_cast<const char *>(w);
    if (type == LLMJ_TYPE_Q8_0 || type == LLMJ_TYPE_Q4_0) {
        CHECK_STREAM_ARGS(cols % 32 == 0, "cols %lld is not a multiple of 32", (long long) cols);
        const size_t need = llmj_cuda_matmul_work_size(type, cols, n);
        CHECK_STREAM_ARGS(work && work_bytes >= need, "work buffer of %zu bytes, %zu needed", work_bytes, need);
        block_q8_0 * xq = static_cast<block_q8_0 *>(work);
        const int64_t nb = cols / 32;
        quantize_q8_0_kernel<<<(unsigned) ((n * nb + 7) / 8), 256, 0, s>>>(x, xq, n * nb);
        for (int64_t t = 0; t < n; t++) {
            if (type == LLMJ_TYPE_Q8_0) {
                matvec_q_kernel<LLMJ_TYPE_Q8_0><<<grid, block, 0, s>>>(wb, row_bytes, xq + t * nb, y + t * rows, rows, nb);
            } else {
                matvec_q_kernel<LLMJ_TYPE_Q4_0><<<grid, block, 0, s>>>(wb, row_bytes, xq + t * nb, y + t * rows, rows, nb);
            }
        }
        return llmj_cuda_check_launch(__func__);
    }
    for (int64_t t = 0; t < n; t++) {
        launch_matvec(type, w, row_bytes, x + t * cols, y + t * rows, rows, cols, s);
    }
    return llmj_cuda_check_launch(__func__);
}

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
