// Internal interface between the activation quantizer (quantize.cu), the block-type matrix-vector
// kernels (matvec_q.cu) and the C entry points (matvec.cu). Not part of the ABI.
#pragma once

#include "common.cuh"

// Activations converted for the 32-element block types, in the work buffer:
//   q     n * cols int8 quants, token t's at q + t * cols (block b's 32 quants contiguous)
//   meta  n * (cols / 32) entries, token t's at meta + t * (cols / 32), at offset q8_act_meta_offset
// The quants are ggml's Q8_0 / Q8_1 quants as the CPU library makes them (d = amax / 127 rounded to
// fp16, q = round-half-even(x * 127 / amax)); meta holds what the block dots need per block.
struct q8_act_meta {
    float d;     // fp16(amax / 127) widened: Q8_0's and Q8_1's d
    float s;     // fp16(d * sum q) widened with the unrounded d: Q8_1's s
    int sum;     // sum of the 32 quants (applies Q4_0's -8 and Q5_0's -16 offsets)
    int lo;      // sum of the first 16 quants (Q6_K's first half, for K-quant products reading these blocks; gptq.cu)
};
static_assert(sizeof(q8_act_meta) == 16, "q8_act_meta is 16 bytes");

static inline size_t q8_act_meta_offset(int64_t cols, int64_t n) {
    return ((size_t) n * (size_t) cols + 255) & ~(size_t) 255;
}
static inline size_t q8_act_bytes(int64_t cols, int64_t n) {
    return q8_act_meta_offset(cols, n) + (size_t) n * (size_t) (cols / 32) * sizeof(q8_act_meta);
}

// Gathers and quantizes n dense token rows of cols floats (token t at x + t * cols) into rows of cols32 =
// cols rounded up to whole blocks: x'[t][c] = x[t][perm[c]] (perm NULL: x[t][c]) for c < cols, 0 beyond
// (GPTQ act-order and padded last blocks); the layout above with cols32 columns.
void launch_quantize_q8_act_gather(const float * x, const int32_t * perm, int64_t cols, int64_t n, int64_t cols32, void * work,
                                   cudaStream_t stream);

// Quantizes n token rows of cols floats (token t at x + t * x_stride floats; cols a multiple of 32)
// into the layout above at `work` (16-byte aligned).
void launch_quantize_q8_act(const float * x, int64_t x_stride, int64_t n, int64_t cols, void * work, cudaStream_t stream);

// y[t * y_stride + r] = sum_b blockdot(W[r, b], act[t, b]) for t < n tokens and r < rows, with
// `act` the work buffer filled by launch_quantize_q8_act(.., n, cols, ..). Weight rows are read
// once per group of up to 8 tokens. Returns false if `type` is not a 32-element block type.
bool launch_matvec_q(int type, const void * w, size_t row_bytes, const void * act, float * y, int64_t y_stride,
                     int64_t rows, int64_t cols, int64_t n, cudaStream_t stream);

// silu(x) * up (gelu 0) or gelu_tanh(x) * up (gelu 1): the gated activation of elementwise.cu's GLU kernels and of
// gptq.cu's folded GLU (llmj_cuda_gptq_matmul_norm_glu), one expression for both.
static __device__ __forceinline__ float glu_value(float x, float up, int gelu) {
    const float a = gelu ? 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)))
                         : x / (1.0f + expf(-x));
    return a * up;
}

// 127 / amax (0 for an all-zero block): the CPU's inverse scale.
static __device__ __forceinline__ float q8_inverse_scale(float amax) {
    return amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
}

// The meta of a block with max |x| = amax, quant sum `sum` and first half's sum `lo`: d = amax / 127 rounded to fp16,
// s = fp16(d * sum).
static __device__ __forceinline__ q8_act_meta q8_meta(float amax, int sum, int lo) {
    const float d = __fdiv_rn(amax, 127.0f);
    q8_act_meta m;
    m.d = __half2float(__float2half_rn(d));
    m.s = __half2float(__float2half_rn(__fmul_rn(d, (float) sum)));
    m.sum = sum;
    m.lo = lo;
    return m;
}

// The conversion of one 32-value block held one value per lane of a warp (lane i: element i), with the
// arithmetic of launch_quantize_q8_act: writes the lane's quant to q[lane] and, from lane 0, the block's
// meta. Every lane of the warp must call it (warp shuffles). F32D: d = amax / 127 kept in float32 (not rounded to
// fp16) and s left 0: the unnormalized rows of a deferred RMS norm (gptq.cu), whose values may lie far below fp16's
// normal range.
template <bool F32D = false>
static __device__ __forceinline__ void warp_quantize_q8(float v, int8_t * __restrict__ q, q8_act_meta * __restrict__ meta) {
    const int lane = threadIdx.x % 32;
    float amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const int qi = __float2int_rn(__fmul_rn(v, q8_inverse_scale(amax)));
    int sum = qi;
#pragma unroll
    for (int o = 1; o < 16; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);   // each half's sum
    const int lo = sum;                                                              // (lane 0: the first half's)
    sum += __shfl_xor_sync(0xffffffffu, sum, 16);
    q[lane] = (int8_t) qi;
    if (lane == 0) {
        q8_act_meta m = q8_meta(amax, sum, lo);
        if (F32D) {
            m.d = __fdiv_rn(amax, 127.0f);
            m.s = 0.0f;
        }
        *meta = m;
    }
}
