// Internal helpers for the CUDA kernels (not part of the ABI).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdlib.h>

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

// The part of a multi-matrix launch that thread block blockIdx.x works on (end: cumulative block counts of the
// parts), with its first block in `base`; constant indices, so the kernel's parameter struct stays in place.
template <typename Part, int N>
static __device__ __forceinline__ Part launch_part(const Part (&parts)[N], const unsigned (&end)[N], int count,
                                                   unsigned & base) {
    Part p = parts[0];
    base = 0;
#pragma unroll
    for (int j = 1; j < N; j++) {
        if (j < count && blockIdx.x >= end[j - 1]) {
            p = parts[j];
            base = end[j - 1];
        }
    }
    return p;
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

// ---- programmatic dependent launch (compute capability 9.0+) ------------------------------------------
// Decode is a chain of small kernels. Launched with launch_pdl, a kernel's blocks are scheduled while its
// predecessor still runs and start work the moment it finishes, instead of one launch latency later; a
// matrix product issues its first weight loads before that. Contract of every kernel launched with
// launch_pdl: it calls pdl_wait() before touching memory an earlier kernel writes or reads (only never-written
// weights may be read before). pdl_wait() returns once the predecessor has finished (which had itself waited
// for its own predecessor), and only then lets this kernel's successor be scheduled: at most two kernels are
// in flight, so no kernel still running can leave stale cache lines of a buffer that a later kernel rewrites
// and the next one reads (a deeper chain, every kernel releasing its successor at its start, gave wrong
// decode results on the H100). Nor does a deeper chain only across the small kernels between products pay: with
// the norms (alone, with the GLUs, with the short attention too) releasing their successor before their wait, and
// the norms' conversions in a buffer of their own (no product reading the buffer its predecessor writes), the GPU
// tests passed, but llama2-7b tg128 on the H100 (same run) fell to 562-573 t/s against 593-596 for Q4_0 and
// 486-490 against 496-497 for Q4_K_M; with those small kernels at the highest launch priority (graph node
// priorities on), 562-575 against 595. Presumably the next product's blocks, resident and waiting, hold SM slots
// that the running product's last blocks and the small kernel then wait for. A no-op without a programmatic
// launch. LLMJ_CUDA_PDL=0 turns launches plain.
// What a place in this chain costs, whatever the kernel does: one empty programmatic kernel (pdl_wait only) added
// after each norm, 64 per token, took llama2-7b tg128 on the H100 (same run, 3 rounds) from 576-583 to 529-532 t/s
// for Q4_0, 362-363 to 343 for Q8_0 and 488-493 to 450-451 for Q4_K_M: 2.4-2.9 us per kernel, about 20 us per layer
// for its 8 kernels. Decode is short of the bandwidth limit by about that. Since then the norms of Q4_0 / Q8_0 / GPTQ
// and K-quant layers are folded into the products around them (gptq.cu, launch_add_norm): 6 kernels a layer, +2.5-3%
// for Q4_0 / Q8_0, +4% for Q4_K_M; and the GLU into the gate / up products (launch_glu_fmt): 5 kernels a layer, +4% for
// Q4_0, +2% for Q4_K_M, +1% for Q8_0.
static __device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Loads of data an earlier kernel wrote (activations), after pdl_wait(): never the read-only path (ld.global.nc,
// __ldg, or what the compiler makes of a `const T * __restrict__` it proves unwritten), whose contract is data
// constant for the kernel's lifetime: a programmatic dependent starts before its predecessor has written, and a
// 4-bit GPTQ product that loaded its activation through it gave wrong decode results replayed from a graph.
// ld.global.ca: cached in L1 (rows of a product share the activation), coherent after the wait.
template <typename T> static __device__ __forceinline__ T ld_act(const T * p) { return __ldca(p); }

// An integer measurement knob from the environment: the value of `name` if it lies in lo..hi, else dflt. Callers
// keep it in a function-local static (read once).
static inline int llmj_env_int(const char * name, int lo, int hi, int dflt) {
    const char * e = getenv(name);
    const int x = e ? atoi(e) : dflt;
    return x >= lo && x <= hi ? x : dflt;
}

// Whether launch_pdl launches programmatically on the current device (compute capability 9.0+, LLMJ_CUDA_PDL
// not 0); cached per device.
static inline bool llmj_cuda_pdl_enabled() {
    static int cached[64];   // 0 unknown, 1 no, 2 yes
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    if (cached[dev] == 0) {
        int major = 0;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
        const char * e = getenv("LLMJ_CUDA_PDL");
        cached[dev] = major >= 9 && !(e && e[0] == '0') ? 2 : 1;
    }
    return cached[dev] == 2;
}

// kernel<<<grid, block, smem, stream>>>(args...) as a programmatic dependent of the kernel before it.
template <typename... P, typename... A>
static inline void launch_pdl(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = llmj_cuda_pdl_enabled() ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, args...);
}

// One RoPE rotation of the pair (a, b) at position pos with inverse frequency inv_freq_i: the arithmetic of
// rope.cu's kernels and of the attention kernel's folded RoPE (attention.cu), which must agree bit for bit.
static __device__ __forceinline__ void rope_rotate(float a, float b, int64_t pos, float pos_scale, float inv_freq_i,
                                                   float & r0, float & r1) {
    const float angle = (float) pos * pos_scale * inv_freq_i;
    float s, c;
    sincosf(angle, &s, &c);
    r0 = a * c - b * s;
    r1 = a * s + b * c;
}
