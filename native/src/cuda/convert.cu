// Float32 -> F16 / BF16 conversion on the GPU: the activations (and F32 weights, when asked to) of the
// prefill GEMM, whose product runs on tensor cores through cuBLAS (called from Java).
// CPU reference: round-to-nearest-even conversion in native/tests/cuda/test_convert.c and
// Float.floatToFloat16 / the BF16 rounding in the Java test (CudaGemmTest).
#include <algorithm>
#include <cstdint>

#include "common.cuh"

namespace {

constexpr int THREADS = 256;
constexpr int64_t MAX_BLOCKS = 65535LL * 16;   // grid-stride beyond this

__device__ __forceinline__ void store1(__half * out, int64_t i, float v) { out[i] = __float2half_rn(v); }
__device__ __forceinline__ void store1(__nv_bfloat16 * out, int64_t i, float v) { out[i] = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store2(__half * out, int64_t i, float2 v) {
    reinterpret_cast<__half2 *>(out)[i] = __floats2half2_rn(v.x, v.y);
}
__device__ __forceinline__ void store2(__nv_bfloat16 * out, int64_t i, float2 v) {
    reinterpret_cast<__nv_bfloat162 *>(out)[i] = __floats2bfloat162_rn(v.x, v.y);
}

// Two elements per thread per step: one 8-byte load, one 4-byte store (x 8-byte and out 4-byte aligned).
template <typename T>
__global__ void convert_pairs_kernel(const float * __restrict__ x, T * __restrict__ out, int64_t n) {
    const int64_t pairs = n / 2;
    const int64_t stride = (int64_t) gridDim.x * THREADS;
    for (int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x; i < pairs; i += stride) {
        store2(out, i, reinterpret_cast<const float2 *>(x)[i]);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0 && (n & 1)) store1(out, n - 1, x[n - 1]);
}

// Any alignment: one element per thread per step.
template <typename T>
__global__ void convert_kernel(const float * __restrict__ x, T * __restrict__ out, int64_t n) {
    const int64_t stride = (int64_t) gridDim.x * THREADS;
    for (int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x; i < n; i += stride) store1(out, i, x[i]);
}

template <typename T>
void launch_convert(const float * x, T * out, int64_t n, cudaStream_t s) {
    const bool aligned = reinterpret_cast<uintptr_t>(x) % 8 == 0 && reinterpret_cast<uintptr_t>(out) % 4 == 0;
    const int64_t items = aligned ? (n + 1) / 2 : n;
    const unsigned blocks = (unsigned) std::min<int64_t>((items + THREADS - 1) / THREADS, MAX_BLOCKS);
    if (aligned) convert_pairs_kernel<T><<<blocks, THREADS, 0, s>>>(x, out, n);
    else convert_kernel<T><<<blocks, THREADS, 0, s>>>(x, out, n);
}

}  // namespace

extern "C" int llmj_cuda_convert_f32(const float * x, void * out, int out_type, int64_t n, void * stream) {
    if (out_type != LLMJ_TYPE_F16 && out_type != LLMJ_TYPE_BF16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "output type %d: F16 (1) and BF16 (30) are supported", out_type);
    }
    CHECK_STREAM_ARGS(n >= 0, "negative n %lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && out, "null device pointer (x=%p out=%p)", (const void *) x, out);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (out_type == LLMJ_TYPE_F16) launch_convert(x, static_cast<__half *>(out), n, s);
    else launch_convert(x, static_cast<__nv_bfloat16 *>(out), n, s);
    return llmj_cuda_check_launch(__func__);
}
