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

// ggml block layouts used on the GPU (sizes asserted against the CPU side's constants).
struct block_q8_0 { __half d; int8_t qs[32]; };
struct block_q4_0 { __half d; uint8_t qs[16]; };
static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(block_q4_0) == 18, "Q4_0 block is 18 bytes");

// Element i of a row of `type` widened to float (plain and 32-element block types).
static __device__ __forceinline__ float load_elem(int type, const char * row, int64_t i) {
    switch (type) {
        case LLMJ_TYPE_F32: return reinterpret_cast<const float *>(row)[i];
        case LLMJ_TYPE_F16: return __half2float(reinterpret_cast<const __half *>(row)[i]);
        case LLMJ_TYPE_BF16: return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(row)[i]);
        case LLMJ_TYPE_Q8_0: {
            const block_q8_0 * b = reinterpret_cast<const block_q8_0 *>(row) + i / 32;
            return __half2float(b->d) * b->qs[i % 32];
        }
        case LLMJ_TYPE_Q4_0: {
            const block_q4_0 * b = reinterpret_cast<const block_q4_0 *>(row) + i / 32;
            const int j = i % 32;
            const int q = j < 16 ? (b->qs[j] & 0xF) : (b->qs[j - 16] >> 4);
            return __half2float(b->d) * (q - 8);
        }
        default: return 0.0f;
    }
}

static inline bool llmj_cuda_type_ok(int type) {
    return type == LLMJ_TYPE_F32 || type == LLMJ_TYPE_F16 || type == LLMJ_TYPE_BF16
        || type == LLMJ_TYPE_Q8_0 || type == LLMJ_TYPE_Q4_0
        || type == LLMJ_TYPE_Q2_K || type == LLMJ_TYPE_Q3_K || type == LLMJ_TYPE_Q4_K   // K-quants: matvec_k.cu
        || type == LLMJ_TYPE_Q5_K || type == LLMJ_TYPE_Q6_K || type == LLMJ_TYPE_IQ4_XS;
}

#define CHECK_STREAM_ARGS(cond, ...) do { if (!(cond)) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, __VA_ARGS__); } while (0)
