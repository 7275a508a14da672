// Activation conversion for the 32-element block types: float32 rows -> ggml's Q8_0 / Q8_1 quants,
// computed as the CPU library computes them (src/cpu/quants.c, ggml's x86 AVX branch), so that
// the GPU block dots see the same integers as the CPU ones:
//   amax = max |x|, d = amax / 127 (IEEE division, stored as fp16), id = amax != 0 ? 127 / amax : 0,
//   q = round-half-even(x * id), Q8_1's s = fp16(d * sum q) with the unrounded d.
// kernel -> launcher (launch_quantize_q8_act, declared in matvec_q.cuh).
#include "matvec_q.cuh"

namespace {

constexpr int THREADS = 256;
constexpr int LANES_PER_BLOCK = 8;   // each lane converts 4 of the block's 32 values

// One group of 8 lanes per 32-value block; 4 consecutive values per lane (one float4 when aligned).
template <bool VEC>
__global__ void __launch_bounds__(THREADS) quantize_q8_act_kernel(const float * __restrict__ x, int64_t x_stride,
                                                                 int8_t * __restrict__ q, q8_act_meta * __restrict__ meta,
                                                                 int64_t n_blocks, int nb, int cols) {
    pdl_trigger();   // the product after this kernel may start its weight loads
    pdl_wait();
    const int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    const int64_t blk = g / LANES_PER_BLOCK;              // token * nb + block
    const int part = (int) (g % LANES_PER_BLOCK);
    const bool active = blk < n_blocks;
    const int64_t t = active ? blk / nb : 0;
    const int b = active ? (int) (blk % nb) : 0;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (active) {
        const float * src = x + t * x_stride + (int64_t) b * 32 + part * 4;
        if (VEC) {
            const float4 f = *reinterpret_cast<const float4 *>(src);
            v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) v[i] = src[i];
        }
    }
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
    for (int o = LANES_PER_BLOCK / 2; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = __fdiv_rn(amax, 127.0f);
    const float id = amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    int packed = 0, sum = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int qi = __float2int_rn(__fmul_rn(v[i], id));   // |qi| <= 127
        sum += qi;
        packed |= (qi & 0xFF) << (8 * i);
    }
#pragma unroll
    for (int o = LANES_PER_BLOCK / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (!active) return;
    *reinterpret_cast<int *>(q + t * cols + (int64_t) b * 32 + part * 4) = packed;
    if (part == 0) {
        q8_act_meta m;
        m.d = __half2float(__float2half_rn(d));
        m.s = __half2float(__float2half_rn(__fmul_rn(d, (float) sum)));
        m.sum = sum;
        m.pad = 0;
        meta[blk] = m;
    }
}

}  // namespace

void launch_quantize_q8_act(const float * x, int64_t x_stride, int64_t n, int64_t cols, void * work, cudaStream_t stream) {
    const int nb = (int) (cols / 32);
    const int64_t n_blocks = n * nb;
    int8_t * q = static_cast<int8_t *>(work);
    q8_act_meta * meta = reinterpret_cast<q8_act_meta *>(static_cast<char *>(work) + q8_act_meta_offset(cols, n));
    const unsigned grid = (unsigned) ((n_blocks * LANES_PER_BLOCK + THREADS - 1) / THREADS);
    const bool vec = reinterpret_cast<uintptr_t>(x) % 16 == 0 && x_stride % 4 == 0;
    if (vec) {
        launch_pdl(quantize_q8_act_kernel<true>, grid, THREADS, 0, stream, x, x_stride, q, meta, n_blocks, nb, (int) cols);
    } else {
        launch_pdl(quantize_q8_act_kernel<false>, grid, THREADS, 0, stream, x, x_stride, q, meta, n_blocks, nb, (int) cols);
    }
}
