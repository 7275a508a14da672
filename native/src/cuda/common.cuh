// Internal helpers for the CUDA kernels (not part of the ABI).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "../common.h"

// Returns LLMJ_ERR_CUDA with the CUDA error text if the last launch failed, else LLMJ_OK.
static inline int llmj_cuda_check_launch(const char * where) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) {
        return llmj_internal_fail(LLMJ_ERR_CUDA, where, "kernel launch failed: %s (%s)",
                                  cudaGetErrorString(err), cudaGetErrorName(err));
    }
    return LLMJ_OK;
}

static __device__ __forceinline__ float warp_reduce_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

static __device__ __forceinline__ float warp_reduce_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Weight types with CUDA matmul, get_rows and dequantize_f16 kernels (block types: dequant.cuh).
static inline bool llmj_cuda_type_ok(int type) {
    return type == LLMJ_TYPE_F32 || type == LLMJ_TYPE_F16 || type == LLMJ_TYPE_BF16
        || type == LLMJ_TYPE_Q4_0 || type == LLMJ_TYPE_Q4_1 || type == LLMJ_TYPE_Q5_0 || type == LLMJ_TYPE_Q5_1
        || type == LLMJ_TYPE_Q8_0 || type == LLMJ_TYPE_IQ4_NL
        || type == LLMJ_TYPE_Q2_K || type == LLMJ_TYPE_Q3_K || type == LLMJ_TYPE_Q4_K   // K-quants: matvec_k.cu
        || type == LLMJ_TYPE_Q5_K || type == LLMJ_TYPE_Q6_K || type == LLMJ_TYPE_IQ4_XS;
}

#define CHECK_STREAM_ARGS(cond, ...) do { if (!(cond)) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, __VA_ARGS__); } while (0)
