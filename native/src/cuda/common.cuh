// Internal helpers for the CUDA kernels (not part of the ABI).
#pragma once

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
