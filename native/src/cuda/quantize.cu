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

// One group of 8 lanes per 32-value block; 4 consecutive values per lane: one float4 (LOAD_VEC), four
// floats (LOAD_PLAIN), or gathered (LOAD_GATHER: x'[c] = x[perm[c]] or x[c] for c < src_cols, 0 beyond:
// GPTQ act-order and padded last blocks). Rows of nb blocks; the quants of token t at q + t * nb * 32.
enum { LOAD_PLAIN = 0, LOAD_VEC = 1, LOAD_GATHER = 2 };

template <int LOAD>
__global__ void __launch_bounds__(THREADS) quantize_q8_act_kernel(const float * x, int64_t x_stride,
                                                                 const int32_t * __restrict__ perm, int64_t src_cols,
                                                                 int8_t * __restrict__ q, q8_act_meta * __restrict__ meta,
                                                                 int64_t n_blocks, int nb) {
    pdl_wait();
    const int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    const int64_t blk = g / LANES_PER_BLOCK;              // token * nb + block
    const int part = (int) (g % LANES_PER_BLOCK);
    const bool active = blk < n_blocks;
    const int64_t t = active ? blk / nb : 0;
    const int b = active ? (int) (blk % nb) : 0;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (active) {
        const int64_t c0 = (int64_t) b * 32 + part * 4;
        const float * src = x + t * x_stride;
        if (LOAD == LOAD_VEC) {
            const float4 f = *reinterpret_cast<const float4 *>(src + c0);
            v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int64_t c = c0 + i;
                if (LOAD == LOAD_PLAIN) v[i] = src[c];
                else if (c < src_cols) v[i] = src[perm ? (int64_t) perm[c] : c];
            }
        }
    }
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
    for (int o = LANES_PER_BLOCK / 2; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float id = q8_inverse_scale(amax);
    int packed = 0, sum = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int qi = __float2int_rn(__fmul_rn(v[i], id));   // |qi| <= 127
        sum += qi;
        packed |= (qi & 0xFF) << (8 * i);
    }
#pragma unroll
    for (int o = 1; o < LANES_PER_BLOCK / 2; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);   // each half's sum
    const int lo = sum;                                                                            // (part 0: the first)
    sum += __shfl_xor_sync(0xffffffffu, sum, LANES_PER_BLOCK / 2);
    if (!active) return;
    *reinterpret_cast<int *>(q + t * ((int64_t) nb * 32) + (int64_t) b * 32 + part * 4) = packed;
    if (part == 0) meta[blk] = q8_meta(amax, sum, lo);
}

void launch(const float * x, int64_t x_stride, const int32_t * perm, int64_t src_cols, int64_t n, int64_t cols32, void * work,
            int load, cudaStream_t stream) {
    const int nb = (int) (cols32 / 32);
    const int64_t n_blocks = n * nb;
    int8_t * q = static_cast<int8_t *>(work);
    q8_act_meta * meta = reinterpret_cast<q8_act_meta *>(static_cast<char *>(work) + q8_act_meta_offset(cols32, n));
    const unsigned grid = (unsigned) ((n_blocks * LANES_PER_BLOCK + THREADS - 1) / THREADS);
    if (load == LOAD_VEC) {
        launch_pdl(quantize_q8_act_kernel<LOAD_VEC>, grid, THREADS, 0, stream, x, x_stride, perm, src_cols, q, meta, n_blocks, nb);
    } else if (load == LOAD_PLAIN) {
        launch_pdl(quantize_q8_act_kernel<LOAD_PLAIN>, grid, THREADS, 0, stream, x, x_stride, perm, src_cols, q, meta, n_blocks,
                   nb);
    } else {
        launch_pdl(quantize_q8_act_kernel<LOAD_GATHER>, grid, THREADS, 0, stream, x, x_stride, perm, src_cols, q, meta, n_blocks,
                   nb);
    }
}

}  // namespace

void launch_quantize_q8_act(const float * x, int64_t x_stride, int64_t n, int64_t cols, void * work, cudaStream_t stream) {
    const bool vec = reinterpret_cast<uintptr_t>(x) % 16 == 0 && x_stride % 4 == 0;
    launch(x, x_stride, nullptr, cols, n, cols, work, vec ? LOAD_VEC : LOAD_PLAIN, stream);
}

void launch_quantize_q8_act_gather(const float * x, const int32_t * perm, int64_t cols, int64_t n, int64_t cols32, void * work,
                                   cudaStream_t stream) {
    launch(x, cols, perm, cols, n, cols32, work, LOAD_GATHER, stream);
}
