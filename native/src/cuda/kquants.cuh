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
