// Internal (non-ABI) entry points of the K-quant CUDA kernels in matvec_k.cu: Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K and IQ4_XS weights (256-element super-blocks). The public entries (llmj_cuda_matmul,
// llmj_cuda_matmul_work_size, llmj_cuda_get_rows) route these types here.
//
// Products follow ggml's CPU definition (the reference is src/cpu/matvec_q.c): the activations are
// converted to Q8_K on the GPU exactly as llmj_quantize_activations(LLMJ_TYPE_Q8_K) does on the CPU
// (bit for bit), each super-block's integer dot product (already weighted by the sub-block scales)
// is exact in int32, and it is scaled in float32 with the same operations as the CPU. Only the order
// in which the per-super-block float terms are summed differs from the CPU.
//
// All pointers are device pointers; every function enqueues on `s` and returns a status (launch
// errors only; execution errors surface at the next synchronisation).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "common.cuh"

// True for the weight types handled here (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS).
bool llmj_cuda_is_kquant(int type);

// Scratch bytes llmj_cuda_kquant_matmul needs for n tokens of `cols` activations (Q8_K on the GPU,
// stored as arrays: int8 quants [n][cols], float scales [n][cols/256], int16 sums of 16 [n][cols/16]).
// 0 if the type is not a K-quant or the shape is empty / not a multiple of 256.
size_t llmj_cuda_kquant_work_size(int type, int64_t cols, int64_t n);

// y[t][r] = sum_c W[r][c] * x[t][c] for t < n, r < rows (x: n x cols floats, y: n x rows floats).
//   cols       a multiple of 256; row_bytes >= cols / 256 * block bytes (any value: rows may be padded
//              or unaligned; 16-byte aligned w and row_bytes take the fastest load path)
//   work       >= llmj_cuda_kquant_work_size(type, cols, n) bytes, 16-byte aligned
int llmj_cuda_kquant_matmul(int type, const void * w, size_t row_bytes, const float * x, float * y, int64_t rows,
                            int64_t cols, int64_t n, void * work, size_t work_bytes, cudaStream_t s);

// Dequantizes rows x cols weights into a dense row-major F16 matrix (out[r * cols + c]); each value is
// computed in float32 with ggml's dequantize_row_* formula, then rounded to F16 (nearest even).
int llmj_cuda_kquant_dequantize_f16(int type, const void * w, size_t row_bytes, int64_t rows, int64_t cols, __half * out,
                                    cudaStream_t s);

// out[t][c] = dequantized element c of row ids[t] * scale (ggml's dequantize_row_* in float32).
int llmj_cuda_kquant_get_rows(int type, const void * table, size_t row_bytes, const int32_t * ids, int64_t n,
                              int64_t cols, float scale, float * out, cudaStream_t s);

// Test hook: converts n rows of cols floats to the Q8_K arrays described at llmj_cuda_kquant_work_size
// (qs at work, d at work + llmj_cuda_q8k_d_offset, bsums at work + llmj_cuda_q8k_bsums_offset).
int llmj_cuda_kquant_quantize_q8k(const float * x, int64_t cols, int64_t n, void * work, size_t work_bytes,
                                  cudaStream_t s);
// The product alone, on activations already converted by llmj_cuda_kquant_quantize_q8k (n tokens of
// cols in `work`): lets several matrices share one conversion, and times the product kernel by itself.
int llmj_cuda_kquant_matmul_preq(int type, const void * w, size_t row_bytes, const void * work, float * y, int64_t rows,
                                 int64_t cols, int64_t n, cudaStream_t s);
size_t llmj_cuda_q8k_d_offset(int64_t cols, int64_t n);
size_t llmj_cuda_q8k_bsums_offset(int64_t cols, int64_t n);

// One warp converts one 256-value block to Q8_K, lane l holding values 8l .. 8l + 7 in v: the same operations as
// quantize_row_q8_K (src/cpu/quants.c): the signed value of largest magnitude (first index on ties), iscale =
// -127 / max, q = min(127, round-half-even(iscale * x)), d = 1 / iscale, bsums of 16. qb: the block's quants + 8 l
// (8-byte aligned); d: the block's scale; bsb: its 16 sums. Every lane of the warp must call it.
static __device__ __forceinline__ void warp_quantize_q8k(const float (&v)[8], int8_t * qb, float * d, int16_t * bsb) {
    const int lane = threadIdx.x % 32;
    float amax = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; k++) amax = fmaxf(amax, fabsf(v[k]));
    amax = warp_reduce_max(amax);
    int first = 256;
    float cand = 0.0f;
#pragma unroll
    for (int k = 7; k >= 0; k--) {
        if (fabsf(v[k]) == amax) { first = 8 * lane + k; cand = v[k]; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) first = min(first, __shfl_xor_sync(0xffffffffu, first, o));
    const float vmax = __shfl_sync(0xffffffffu, cand, (first & 255) >> 3);
    if (amax == 0.0f) {
        *reinterpret_cast<int2 *>(qb) = make_int2(0, 0);
        if ((lane & 1) == 0) bsb[lane >> 1] = 0;
        if (lane == 0) *d = 0.0f;
        return;
    }
    const float iscale = __fdiv_rn(-127.0f, vmax);
    int sum = 0;
    unsigned packed[2] = {0, 0};
#pragma unroll
    for (int k = 0; k < 8; k++) {
        const int q = min(127, __float2int_rn(__fmul_rn(iscale, v[k])));
        sum += q;
        packed[k >> 2] |= ((unsigned) q & 0xFFu) << (8 * (k & 3));
    }
    *reinterpret_cast<int2 *>(qb) = make_int2((int) packed[0], (int) packed[1]);
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    if ((lane & 1) == 0) bsb[lane >> 1] = (int16_t) sum;
    if (lane == 0) *d = __fdiv_rn(1.0f, iscale);
}
