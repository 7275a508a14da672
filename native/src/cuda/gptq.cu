// GPTQ products on the GPU, on llmj's repacked layout (llmj_gptq_matrix in llmj.h,
// io.llmj.quant.gptq.GptqMatrix): decode/short-batch matmul with integer block dots, and the F16
// dequantization that feeds the cuBLAS prefill GEMM. CPU reference: src/cpu/gptq.c (llmj_gptq_matmul).
//
// Arithmetic (as the CPU): each token's activation is permuted (x'[j] = x[perm[j]]), zero-padded to
// whole 32-column blocks and converted to Q8_0 blocks by quantize.cu's quantizer (the same integers and
// fp16 d as llmj_quantize_act); each block contributes
//     (float) (sum_i q_i * xq_i - (z + 1) * sum_i xq_i) * (fp16(scale) * d)
// with the bracket an exact int32 (dp4a; 8-bit quants through dp4a.u32.s32). Only the order of the
// float additions differs from the CPU.
//
// Matmul kernel, built for the weight stream: a warp owns ROWS rows; lane l takes blocks l, l + 32, ...
// of each row, so one warp step reads 32 consecutive 16-byte (4-bit) or 32-byte (8-bit) blocks of a
// row: fully coalesced 16-byte streaming loads (rows are 16-byte aligned: every section of the segment
// starts at a multiple of 64 bytes, block bytes are 16 or 32). U blocks per row are loaded before any is
// used, so ROWS * U 16-byte loads (per 4-bit row) are in flight per lane. The activation blocks (int8
// quants and their d / sum) are read through L1 and shared by the warp's rows. Up to 8 tokens share
// one pass over the weights (each token's sum in the same order whatever the grouping). On sm_90 the
// kernel is a programmatic dependent of the activation conversion: its first weight loads are issued
// before it waits for that kernel (as matvec_q.cu does). Act-order and padded columns: the gather is
// fused into the conversion (gptq_quantize_kernel), one kernel before the product.
//
// Measured (native/tests/cuda/test_cuda_gptq.c --bench, H100 80GB HBM3, same run's D2D cudaMemcpy 2991 GB/s
// read + write; one llmj_cuda_gptq_matmul call including the activation conversion; GB/s of weight bytes,
// quants + scales + zeros): 4-bit 4096x11008 1918, 11008x4096 1890, 11008x4096 act-order 1878; 8-bit
// 2362 / 2421 / 2330. Eight tokens in one pass: 4-bit 29.1 us (2.0x one token), 8-bit 38.9 us (1.9x).
// Accuracy against llmj_gptq_matmul over the harness's 192 cases: max |gpu - cpu| / sum |w * a| 2.8e-8.
// kernel -> launcher -> C entry points (llmj_cuda_gptq_work_size, llmj_cuda_gptq_matmul,
// llmj_cuda_gptq_dequantize_f16).
#include "matvec_q.cuh"

namespace {

constexpr int WARP = 32;
constexpr int WARPS = 4;         // warps per thread block
constexpr int ROWS = 2;          // rows per warp
constexpr int U = 2;             // blocks per row per lane in flight
constexpr int MAX_TOKENS = 8;    // tokens per pass over the weights
constexpr int THREADS = 256;     // element-wise kernels

// Work buffer: the Q8_0 activation blocks of the permuted rows padded to cols32 = whole blocks
// (launch_quantize_q8_act's layout, matvec_q.cuh).
inline int64_t padded_cols(int64_t cols) { return (cols + 31) / 32 * 32; }

// Act-order or a padded last block: gathers x'[t][c] = x[t][perm[c]] (or x[t][c]) for c < cols, 0 for the
// padding, and converts it to Q8_0 blocks in the same pass: quantize.cu's kernel (8 lanes per 32-value
// block, 4 values each) with gathered loads, the same arithmetic, so the same integers and d as
// launch_quantize_q8_act on the permuted rows (and the CPU). Layout: launch_quantize_q8_act's with cols32.
__global__ void __launch_bounds__(THREADS) gptq_quantize_kernel(const float * __restrict__ x, const int32_t * __restrict__ perm,
                                                               int8_t * __restrict__ q, q8_act_meta * __restrict__ meta,
                                                               int64_t n_blocks, int nb, int64_t cols) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");   // the matmul may start its weight loads
#endif
    constexpr int LANES = 8;
    const int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    const int64_t blk = g / LANES;                  // token * nb + block
    const int part = (int) (g % LANES);
    const bool active = blk < n_blocks;
    const int64_t t = active ? blk / nb : 0;
    const int b = active ? (int) (blk % nb) : 0;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (active) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int64_t c = (int64_t) b * 32 + part * 4 + i;
            if (c < cols) v[i] = x[t * cols + (perm ? (int64_t) perm[c] : c)];
        }
    }
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
    for (int o = LANES / 2; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = __fdiv_rn(amax, 127.0f);
    const float id = amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    int packed = 0, sum = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int qi = __float2int_rn(__fmul_rn(v[i], id));
        sum += qi;
        packed |= (qi & 0xFF) << (8 * i);
    }
#pragma unroll
    for (int o = LANES / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (!active) return;
    *reinterpret_cast<int *>(q + t * ((int64_t) nb * 32) + (int64_t) b * 32 + part * 4) = packed;
    if (part == 0) {
        q8_act_meta m;
        m.d = __half2float(__float2half_rn(d));
        m.s = __half2float(__float2half_rn(__fmul_rn(d, (float) sum)));
        m.sum = sum;
        m.pad = 0;
        meta[blk] = m;
    }
}

// Waits for the grid this one depends on (the quantizer) to finish; a no-op without programmatic launch.
static __device__ __forceinline__ void wait_prior_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// a (4 bytes, unsigned) . b (4 bytes, signed) + c
static __device__ __forceinline__ int dp4a_us(uint32_t a, int b, int c) {
    int r;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

// The weight bytes of one block: 4 bits: one uint4 (byte i = column i | column i + 16 << 4);
// 8 bits: two (byte i = column i).
template <int BITS> struct wq { uint4 v[BITS / 4]; };

template <int BITS>
static __device__ __forceinline__ int block_isum(const wq<BITS> & w, const int4 xa, const int4 xb) {
    if (BITS == 4) {
        const uint32_t q[4] = {w.v[0].x, w.v[0].y, w.v[0].z, w.v[0].w};
        const int xl[4] = {xa.x, xa.y, xa.z, xa.w};
        const int xh[4] = {xb.x, xb.y, xb.z, xb.w};
        int s = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            s = __dp4a((int) (q[k] & 0x0F0F0F0Fu), xl[k], s);          // columns 4k .. 4k + 3
            s = __dp4a((int) ((q[k] >> 4) & 0x0F0F0F0Fu), xh[k], s);   // columns 16 + 4k ..
        }
        return s;
    } else {
        const uint32_t q[8] = {w.v[0].x, w.v[0].y, w.v[0].z, w.v[0].w, w.v[BITS / 8].x, w.v[BITS / 8].y,
                               w.v[BITS / 8].z, w.v[BITS / 8].w};
        const int xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
        int s = 0;
#pragma unroll
        for (int k = 0; k < 8; k++) s = dp4a_us(q[k], xv[k], s);
        return s;
    }
}

template <int BITS, int NT>
__global__ void __launch_bounds__(WARPS * WARP)
gptq_matmul_kernel(const uint8_t * __restrict__ qs, const unsigned short * __restrict__ scales,
                   const uint8_t * __restrict__ zeros, const int8_t * __restrict__ aq, const q8_act_meta * __restrict__ am,
                   float * __restrict__ y, int64_t rows, int nb, int64_t t0) {
    constexpr int QB = BITS * 4;                // quant bytes per block
    const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    const int64_t row0 = ((int64_t) blockIdx.x * WARPS + warp) * ROWS;
    if (row0 >= rows) return;
    const int64_t cols32 = (int64_t) nb * 32;
    int64_t rr[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) rr[r] = row0 + r < rows ? row0 + r : row0;   // tail rows repeat row0, not stored
    float acc[NT][ROWS];
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) acc[t][r] = 0.0f;
    }
    bool waited = false;
    for (int b0 = lane; b0 < nb; b0 += U * WARP) {
        wq<BITS> w[ROWS][U];
        float sc[ROWS][U];
        int z[ROWS][U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + u * WARP;
            if (b < nb) {
#pragma unroll
                for (int r = 0; r < ROWS; r++) {
                    const uint4 * p = reinterpret_cast<const uint4 *>(qs + ((size_t) rr[r] * nb + b) * QB);
#pragma unroll
                    for (int k = 0; k < BITS / 4; k++) w[r][u].v[k] = __ldcs(p + k);
                    sc[r][u] = __half2float(__ushort_as_half(__ldcs(scales + (size_t) rr[r] * nb + b)));
                    z[r][u] = (int) __ldcs(zeros + (size_t) rr[r] * nb + b) + 1;
                }
            }
        }
        if (!waited) {          // the first weights are in flight: now wait for the activations
            wait_prior_grid();
            waited = true;
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + u * WARP;
            if (b < nb) {
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const int4 * xp = reinterpret_cast<const int4 *>(aq + (t0 + t) * cols32 + (int64_t) b * 32);
                    const int4 xa = __ldg(xp), xb = __ldg(xp + 1);
                    const q8_act_meta m = am[(t0 + t) * nb + b];
#pragma unroll
                    for (int r = 0; r < ROWS; r++) {
                        const int s = block_isum<BITS>(w[r][u], xa, xb) - z[r][u] * m.sum;
                        acc[t][r] += (float) s * __fmul_rn(sc[r][u], m.d);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            const float s = warp_reduce_sum(acc[t][r]);
            if (lane == 0 && row0 + r < rows) y[(t0 + t) * rows + row0 + r] = s;
        }
    }
}

// Programmatic dependent launch (weight loads start while the quantizer finishes) on compute capability 9.0+.
bool device_has_pdl() {
    static int cached[64];                             // 0 unknown, 1 no, 2 yes
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    if (cached[dev] == 0) {
        int major = 0;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
        cached[dev] = major >= 9 ? 2 : 1;
    }
    return cached[dev] == 2;
}

template <int BITS, int NT>
void launch_nt(const uint8_t * qs, const unsigned short * sc, const uint8_t * zs, const int8_t * aq, const q8_act_meta * am,
               float * y, int64_t rows, int nb, int64_t t0, cudaStream_t stream) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned) ((rows + WARPS * ROWS - 1) / (WARPS * ROWS)));
    cfg.blockDim = dim3(WARPS * WARP);
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = device_has_pdl() ? 1 : 0;
    cudaLaunchKernelEx(&cfg, gptq_matmul_kernel<BITS, NT>, qs, sc, zs, aq, am, y, rows, nb, t0);
}

template <int BITS>
void launch_gptq_bits(const llmj_gptq_matrix & m, const void * act, int64_t cols32, float * y, int64_t n,
                      cudaStream_t stream) {
    const int nb = (int) (cols32 / 32);
    const int8_t * aq = static_cast<const int8_t *>(act);
    const q8_act_meta * am = reinterpret_cast<const q8_act_meta *>(static_cast<const char *>(act) + q8_act_meta_offset(cols32, n));
    const uint8_t * qs = static_cast<const uint8_t *>(m.qs);
    const unsigned short * sc = reinterpret_cast<const unsigned short *>(m.scales);
    for (int64_t t0 = 0; t0 < n; t0 += MAX_TOKENS) {
        const int64_t k = n - t0 < MAX_TOKENS ? n - t0 : MAX_TOKENS;
#define GPTQ_CASE(K) case K: launch_nt<BITS, K>(qs, sc, m.zeros, aq, am, y, m.rows, nb, t0, stream); break;
        switch ((int) k) {
            GPTQ_CASE(1) GPTQ_CASE(2) GPTQ_CASE(3) GPTQ_CASE(4) GPTQ_CASE(5) GPTQ_CASE(6) GPTQ_CASE(7) GPTQ_CASE(8)
        }
#undef GPTQ_CASE
    }
}

// out[r][perm[c]] = half(scale * (q - (z + 1))) for c < cols: one thread per (row, block).
template <int BITS>
__global__ void __launch_bounds__(THREADS) gptq_dequant_f16_kernel(const uint8_t * __restrict__ qs,
                                                                  const unsigned short * __restrict__ scales,
                                                                  const uint8_t * __restrict__ zeros,
                                                                  const int32_t * __restrict__ perm, __half * __restrict__ out,
                                                                  int64_t rows, int64_t cols, int nb) {
    constexpr int QB = BITS * 4;
    const int64_t total = rows * nb;
    for (int64_t i = (int64_t) blockIdx.x * THREADS + threadIdx.x; i < total; i += (int64_t) gridDim.x * THREADS) {
        const int64_t r = i / nb;
        const int b = (int) (i - r * nb);
        const uint8_t * q = qs + (size_t) i * QB;
        const float s = __half2float(__ushort_as_half(scales[i]));
        const int z = (int) zeros[i] + 1;
        __half * dst = out + r * cols;
#pragma unroll 4
        for (int j = 0; j < 32; j++) {
            const int64_t c = (int64_t) b * 32 + j;
            if (c >= cols) break;
            const int qv = BITS == 4 ? (j < 16 ? (q[j] & 15) : (q[j - 16] >> 4)) : q[j];
            dst[perm ? (int64_t) perm[c] : c] = __float2half_rn(s * (float) (qv - z));
        }
    }
}

int check_matrix(const llmj_gptq_matrix * m, const char * where) {
    if (!m) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "null matrix descriptor");
    if (m->bits != 4 && m->bits != 8) {
        return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, where, "GPTQ %d-bit has no CUDA kernel (4 and 8 have)", m->bits);
    }
    if (m->rows <= 0 || m->cols <= 0 || m->rows > 0x7FFFFFFFLL || m->cols > 0x7FFFFFFFLL) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "bad shape rows=%lld cols=%lld", (long long) m->rows,
                                  (long long) m->cols);
    }
    if (!m->qs || !m->scales || !m->zeros) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "null device pointer (qs=%p scales=%p zeros=%p)",
                                  m->qs, (const void *) m->scales, (const void *) m->zeros);
    }
    if (reinterpret_cast<uintptr_t>(m->qs) % 16 != 0 || reinterpret_cast<uintptr_t>(m->scales) % 2 != 0) {
        return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, "qs %p must be 16-byte and scales %p 2-byte aligned",
                                  m->qs, (const void *) m->scales);
    }
    return LLMJ_OK;
}

unsigned grid_for(int64_t items) {
    const int64_t g = (items + THREADS - 1) / THREADS;
    return (unsigned) (g < (1 << 20) ? g : (1 << 20));
}

}  // namespace

extern "C" size_t llmj_cuda_gptq_work_size(int64_t cols, int64_t n) {
    if (cols <= 0 || n <= 0) return 0;
    return q8_act_bytes(padded_cols(cols), n);
}

extern "C" int llmj_cuda_gptq_matmul(const llmj_gptq_matrix * m, const float * x, float * y, int64_t n, void * work,
                                     size_t work_bytes, void * stream) {
    int st = check_matrix(m, __func__);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(n >= 0, "negative token count %lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && y, "null device pointer (x=%p y=%p)", (const void *) x, (void *) y);
    const size_t need = llmj_cuda_gptq_work_size(m->cols, n);
    CHECK_STREAM_ARGS(work && work_bytes >= need, "work buffer of %zu bytes, %zu needed", work_bytes, need);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(work) % 16 == 0, "work buffer %p is not 16-byte aligned", work);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int64_t cols32 = padded_cols(m->cols);
    char * act = static_cast<char *>(work);
    if (!m->perm && cols32 == m->cols) {
        launch_quantize_q8_act(x, m->cols, n, cols32, act, s);          // already in order and whole blocks
    } else {
        const int64_t n_blocks = n * (cols32 / 32);
        gptq_quantize_kernel<<<(unsigned) ((n_blocks * 8 + THREADS - 1) / THREADS), THREADS, 0, s>>>(
            x, m->perm, reinterpret_cast<int8_t *>(act),
            reinterpret_cast<q8_act_meta *>(act + q8_act_meta_offset(cols32, n)), n_blocks, (int) (cols32 / 32), m->cols);
    }
    if (m->bits == 4) {
        launch_gptq_bits<4>(*m, act, cols32, y, n, s);
    } else {
        launch_gptq_bits<8>(*m, act, cols32, y, n, s);
    }
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_gptq_dequantize_f16(const llmj_gptq_matrix * m, void * out, void * stream) {
    int st = check_matrix(m, __func__);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(out, "null output pointer");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const int nb = (int) ((m->cols + 31) / 32);
    const uint8_t * qs = static_cast<const uint8_t *>(m->qs);
    const unsigned short * sc = reinterpret_cast<const unsigned short *>(m->scales);
    __half * o = static_cast<__half *>(out);
    if (m->bits == 4) {
        gptq_dequant_f16_kernel<4><<<grid_for(m->rows * nb), THREADS, 0, s>>>(qs, sc, m->zeros, m->perm, o, m->rows, m->cols, nb);
    } else {
        gptq_dequant_f16_kernel<8><<<grid_for(m->rows * nb), THREADS, 0, s>>>(qs, sc, m->zeros, m->perm, o, m->rows, m->cols, nb);
    }
    return llmj_cuda_check_launch(__func__);
}
