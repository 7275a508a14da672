// Matrix-vector products of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL) with
// activations converted to Q8_0 / Q8_1 quants (quantize.cu): ggml's vec_dot definitions, exact int32
// block dots (dp4a) scaled in float32 like the CPU library (src/cpu/matvec_q.c, the reference):
//   Q4_0, Q5_0, Q8_0, IQ4_NL:  (float) sumi * (d_w * d_a)
//   Q4_1, Q5_1:                (d_w * d_a) * (float) sumi + m_w * s_a
// Only the order of the float additions differs from the CPU (a few 1e-7 of sum |w a|).
//
// Decode is bound by the weight read, so the kernel is built around the memory stream (as ggml's
// mmvq): each warp owns ROWS rows; it copies 32 blocks of each row at a time (a "chunk", 32 * block
// bytes, a multiple of 16) with coalesced 16-byte cp.async copies into shared memory, STAGES - 1 chunks
// ahead of the one it computes, then lane i reads block i of the chunk with aligned 32-bit loads
// (funnel-shifted: blocks are 2-byte aligned) and dots it with the activation block (read through L1,
// shared by the warp's rows and by every warp of the SM). On sm_90 the kernel is a programmatic
// dependent of the activation quantizer, so its first weight loads overlap that kernel. Rows whose
// stride or base are not 16-byte aligned use synchronous 2-byte (or 1-byte) loads into the same buffers.
//
// Several tokens (n <= 8 per launch) share one pass over the weights: the decoded block stays in
// registers and is dotted with each token's activations; each token's sum is accumulated in the same
// order as with n = 1, so results do not depend on how tokens are grouped.
// kernel -> launcher (launch_matvec_q, declared in matvec_q.cuh; the C entry is in matvec.cu).
//
// Measured (native/tests/cuda/test_cuda_q.c --bench, H100 80GB HBM3, D2D cudaMemcpy 2984 GB/s read +
// write; llmj_cuda_matmul n = 1 including the quantizer; GB/s of weights read): 4096x11008 Q4_0 1505,
// Q4_1 1724, Q5_0 1469, Q5_1 1566, Q8_0 2106, IQ4_NL 1125; 11008x4096 Q4_0 1559, Q8_0 1896. Short of
// the float kernels (F16 2258-2343, F32 2762-2818): replacing 2-byte shared loads with funnel-shifted
// 32-bit ones and adding the cp.async pipeline and PDL gained only ~10%, and IQ4_NL (same bytes as
// Q4_0, more integer work per block) is slower still, so the next step is fewer instructions per
// block (e.g. two lanes per block, or more rows per warp sharing the activation loads), measured with
// a profiler rather than guessed.
#include "dequant.cuh"
#include "matvec_q.cuh"

namespace {

constexpr int WARPS = 4;   // warps per thread block
constexpr int ROWS = 2;    // rows per warp

// ---- weight block decoding from shared memory --------------------------------------------------
// v[0..3]: elements 0..15 (4 per int, in order), v[4..7]: elements 16..31, as the int8 values the dot
// uses (4-bit and 5-bit types: the unsigned quant; the offset is applied through the activation sum).
struct wblock {
    int v[8];
    float d, m;
};

// K little-endian words of the bytes at q, q + 4, ... (q even) of a shared-memory slice, read as K + 1
// aligned 32-bit words and funnel-shifted (a block of 18, 22 or 34 bytes starts 2 bytes off a word
// every other lane). Reads up to 4 bytes past the last word: slices carry slack.
template <int K>
static __device__ __forceinline__ void sm_words(const uint8_t * slice, int q, uint32_t (&out)[K]) {
    const uint32_t * w = reinterpret_cast<const uint32_t *>(slice + (q & ~3));
    const int s = (q & 2) * 8;
    uint32_t prev = w[0];
#pragma unroll
    for (int k = 0; k < K; k++) {
        const uint32_t next = w[k + 1];
        out[k] = __funnelshift_r(prev, next, s);
        prev = next;
    }
}

static __device__ __forceinline__ float lo_f16(uint32_t u) { return __half2float(__ushort_as_half((unsigned short) (u & 0xFFFFu))); }
static __device__ __forceinline__ float hi_f16(uint32_t u) { return __half2float(__ushort_as_half((unsigned short) (u >> 16))); }
static __device__ __forceinline__ float sm_f16(const uint8_t * slice, int p) {
    return __half2float(*reinterpret_cast<const __half *>(slice + p));
}

// The block at byte p of a slice.
template <int TYPE> __device__ __forceinline__ void decode_block(const uint8_t * s, int p, wblock & w);

template <> __device__ __forceinline__ void decode_block<LLMJ_TYPE_Q4_0>(const uint8_t * s, int p, wblock & w) {
    uint32_t q[4];
    sm_words<4>(s, p + 2, q);
    w.d = sm_f16(s, p);
    w.m = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        w.v[k] = (int) (q[k] & 0x0F0F0F0Fu);
        w.v[4 + k] = (int) ((q[k] >> 4) & 0x0F0F0F0Fu);
    }
}

template <> __device__ __forceinline__ void decode_block<LLMJ_TYPE_IQ4_NL>(const uint8_t * s, int p, wblock & w) {
    uint32_t q[4];
    sm_words<4>(s, p + 2, q);
    w.d = sm_f16(s, p);
    w.m = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        w.v[k] = (int) iq4nl_lookup4(q[k] & 0x0F0F0F0Fu);
        w.v[4 + k] = (int) iq4nl_lookup4((q[k] >> 4) & 0x0F0F0F0Fu);
    }
}

template <> __device__ __forceinline__ void decode_block<LLMJ_TYPE_Q4_1>(const uint8_t * s, int p, wblock & w) {
    uint32_t q[5];   // d | m, qs[16]
    sm_words<5>(s, p, q);
    w.d = lo_f16(q[0]);
    w.m = hi_f16(q[0]);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        w.v[k] = (int) (q[1 + k] & 0x0F0F0F0Fu);
        w.v[4 + k] = (int) ((q[1 + k] >> 4) & 0x0F0F0F0Fu);
    }
}

// The fifth bits of 4 consecutive elements (bits 0..3 of h) moved to bit 4 of each byte.
static __device__ __forceinline__ uint32_t spread4(uint32_t h) {
    return ((h & 1u) << 4) | ((h & 2u) << 11) | ((h & 4u) << 18) | ((h & 8u) << 25);
}

// qh, then qs[16] in q[0..4]
static __device__ __forceinline__ void decode_q5(const uint32_t (&q)[5], wblock & w) {
    const uint32_t qh = q[0];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        w.v[k] = (int) ((q[1 + k] & 0x0F0F0F0Fu) | spread4(qh >> (4 * k)));
        w.v[4 + k] = (int) (((q[1 + k] >> 4) & 0x0F0F0F0Fu) | spread4(qh >> (16 + 4 * k)));
    }
}

template <> __device__ __forceinline__ void decode_block<LLMJ_TYPE_Q5_0>(const uint8_t * s, int p, wblock & w) {
    uint32_t q[5];
    sm_words<5>(s, p + 2, q);
    w.d = sm_f16(s, p);
    w.m = 0.0f;
    decode_q5(q, w);
}

template <> __device__ __forceinline__ void decode_block<LLMJ_TYPE_Q5_1>(const uint8_t * s, int p, wblock & w) {
    uint32_t q[6];   // d | m, qh, qs[16]: 24-byte blocks start on a word
    sm_words<6>(s, p, q);
    w.d = lo_f16(q[0]);
    w.m = hi_f16(q[0]);
    const uint32_t r[5] = {q[1], q[2], q[3], q[4], q[5]};
    decode_q5(r, w);
}

template <> __device__ __forceinline__ void decode_block<LLMJ_TYPE_Q8_0>(const uint8_t * s, int p, wblock & w) {
    uint32_t q[8];
    sm_words<8>(s, p + 2, q);
    w.d = sm_f16(s, p);
    w.m = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; k++) w.v[k] = (int) q[k];
}

// One block's contribution, ggml's formula for the type (see the file comment).
template <int TYPE>
__device__ __forceinline__ float block_dot(const wblock & w, const int4 xa, const int4 xb, const q8_act_meta & a) {
    int s = __dp4a(w.v[0], xa.x, 0);
    s = __dp4a(w.v[1], xa.y, s);
    s = __dp4a(w.v[2], xa.z, s);
    s = __dp4a(w.v[3], xa.w, s);
    s = __dp4a(w.v[4], xb.x, s);
    s = __dp4a(w.v[5], xb.y, s);
    s = __dp4a(w.v[6], xb.z, s);
    s = __dp4a(w.v[7], xb.w, s);
    if (TYPE == LLMJ_TYPE_Q4_0) s -= 8 * a.sum;
    if (TYPE == LLMJ_TYPE_Q5_0) s -= 16 * a.sum;
    if (TYPE == LLMJ_TYPE_Q4_1 || TYPE == LLMJ_TYPE_Q5_1) {
        return __fadd_rn(__fmul_rn(__fmul_rn(w.d, a.d), (float) s), __fmul_rn(w.m, a.s));
    }
    return __fmul_rn((float) s, __fmul_rn(w.d, a.d));
}

// ---- staging loads -----------------------------------------------------------------------------
// Load modes: 16-byte vectors (row base and stride 16-byte aligned), 2-byte, or 1-byte.
enum { LOAD_U8 = 0, LOAD_U16 = 1, LOAD_V16 = 2 };

// `nbytes` (1..16, even unless mode is LOAD_U8) bytes at p as one 16-byte piece, zero-padded.
static __device__ __forceinline__ uint4 load_piece(const uint8_t * p, int nbytes, int mode) {
    if (mode == LOAD_V16 && nbytes == 16) return __ldcs(reinterpret_cast<const uint4 *>(p));
    uint32_t u[4] = {0u, 0u, 0u, 0u};
    if (mode != LOAD_U8) {
#pragma unroll
        for (int i = 0; i < 16; i += 2) {
            if (i < nbytes) u[i / 4] |= (uint32_t) __ldcs(reinterpret_cast<const unsigned short *>(p + i)) << (8 * (i % 4));
        }
    } else {
#pragma unroll
        for (int i = 0; i < 16; i++) {
            if (i < nbytes) u[i / 4] |= (uint32_t) __ldcs(reinterpret_cast<const unsigned char *>(p + i)) << (8 * (i % 4));
        }
    }
    return make_uint4(u[0], u[1], u[2], u[3]);
}

// ---- asynchronous copies and programmatic dependent launch (sm_90) ---------------------------------
// 16-byte global -> shared copy without a register round trip; src_bytes < 16 zero-fills the rest.
static __device__ __forceinline__ void cp_async16(void * dst, const void * src, int src_bytes) {
    const unsigned d = (unsigned) __cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// ---- the kernel --------------------------------------------------------------------------------
// Thread block: WARPS warps, warp w owns rows [row0, row0 + ROWS). NT tokens per launch. Each warp
// streams its rows through STAGES chunk buffers in shared memory: chunk c + STAGES - 1 is in flight
// (cp.async) while chunk c is computed. Weight loads start before the wait for the quantizer.
constexpr int STAGES = 3;

template <int TYPE, int NT>
__global__ void __launch_bounds__(WARPS * 32)
matvec_q_kernel(const uint8_t * __restrict__ w, size_t row_bytes, const int8_t * xq,
                const q8_act_meta * xm, float * __restrict__ y, int64_t y_stride, int64_t rows, int nb,
                int mode) {
    constexpr int BB = qtype<TYPE>::BYTES;
    constexpr int CHUNK = 32 * BB;                    // bytes of 32 blocks of one row: a multiple of 64
    constexpr int SLICE = CHUNK + 16;                 // + slack for sm_words' last read
    constexpr int PIECES = CHUNK / 16;
    constexpr int PER_LANE = (PIECES + 31) / 32;
    __shared__ __align__(16) uint8_t smem[WARPS][STAGES][ROWS][SLICE];

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t row0 = ((int64_t) blockIdx.x * WARPS + warp) * ROWS;
    if (row0 >= rows) return;                          // only warp-level synchronisation below
    const int64_t cols = (int64_t) nb * 32;
    const uint8_t * wr[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) wr[r] = w + (row0 + r < rows ? row0 + r : row0) * row_bytes;

    float acc[ROWS][NT];
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;
    }

    const int nchunks = (nb + 31) / 32;
    auto issue = [&](int c) {                          // chunk c of every row into stage c % STAGES
        const int bytes = min(32, nb - 32 * c) * BB;
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
#pragma unroll
            for (int k = 0; k < PER_LANE; k++) {
                const int off = 16 * (lane + 32 * k);
                if (off < bytes) {
                    uint8_t * dst = &smem[warp][c % STAGES][r][off];
                    const uint8_t * src = wr[r] + (size_t) c * CHUNK + off;
                    if (mode == LOAD_V16) {
                        cp_async16(dst, src, min(16, bytes - off));
                    } else {
                        *reinterpret_cast<uint4 *>(dst) = load_piece(src, min(16, bytes - off), mode);
                    }
                }
            }
        }
    };

#pragma unroll
    for (int c = 0; c < STAGES - 1; c++) {
        if (c < nchunks) issue(c);
        cp_async_commit();
    }
    pdl_wait();
    for (int c = 0; c < nchunks; c++) {
        if (c + STAGES - 1 < nchunks) issue(c + STAGES - 1);
        cp_async_commit();
        cp_async_wait<STAGES - 1>();                   // chunk c has landed (this lane's copies)
        __syncwarp();                                  // ... and every lane's
        const int nbc = min(32, nb - 32 * c);
        if (lane < nbc) {
            const int b = 32 * c + lane;
            wblock wb[ROWS];
#pragma unroll
            for (int r = 0; r < ROWS; r++) decode_block<TYPE>(smem[warp][c % STAGES][r], lane * BB, wb[r]);
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const int4 * xp = reinterpret_cast<const int4 *>(xq + t * cols + (int64_t) b * 32);
                const int4 xa = xp[0], xb = xp[1];
                const float4 mf = *reinterpret_cast<const float4 *>(xm + (int64_t) t * nb + b);
                q8_act_meta a;
                a.d = mf.x;
                a.s = mf.y;
                a.sum = __float_as_int(mf.z);
#pragma unroll
                for (int r = 0; r < ROWS; r++) acc[r][t] += block_dot<TYPE>(wb[r], xa, xb, a);
            }
        }
        __syncwarp();                                  // the stage is refilled in the next iteration
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float s = warp_reduce_sum(acc[r][t]);
            if (lane == 0 && row0 + r < rows) y[t * y_stride + row0 + r] = s;
        }
    }
}


template <int TYPE, int NT>
void launch_nt(const void * w, size_t row_bytes, const int8_t * xq, const q8_act_meta * xm, float * y, int64_t y_stride,
               int64_t rows, int nb, int mode, cudaStream_t stream) {
    launch_pdl(matvec_q_kernel<TYPE, NT>, (unsigned) ((rows + WARPS * ROWS - 1) / (WARPS * ROWS)), WARPS * 32, 0, stream,
               static_cast<const uint8_t *>(w), row_bytes, xq, xm, y, y_stride, rows, nb, mode);
}

template <int TYPE>
void launch_type(const void * w, size_t row_bytes, const void * act, float * y, int64_t y_stride, int64_t rows,
                 int64_t cols, int64_t n, cudaStream_t stream) {
    const int nb = (int) (cols / 32);
    const int8_t * xq = static_cast<const int8_t *>(act);
    const q8_act_meta * xm = reinterpret_cast<const q8_act_meta *>(static_cast<const char *>(act) + q8_act_meta_offset(cols, n));
    const uintptr_t wa = reinterpret_cast<uintptr_t>(w);
    const int mode = (wa % 16 == 0 && row_bytes % 16 == 0) ? LOAD_V16 : (wa % 2 == 0 && row_bytes % 2 == 0) ? LOAD_U16 : LOAD_U8;
    // tokens in groups of 8, then 4, 2, 1
    for (int64_t t = 0; t < n;) {
        const int64_t left = n - t;
        const int8_t * q = xq + t * cols;
        const q8_act_meta * m = xm + t * nb;
        float * yt = y + t * y_stride;
        if (left >= 8) {
            launch_nt<TYPE, 8>(w, row_bytes, q, m, yt, y_stride, rows, nb, mode, stream);
            t += 8;
        } else if (left >= 4) {
            launch_nt<TYPE, 4>(w, row_bytes, q, m, yt, y_stride, rows, nb, mode, stream);
            t += 4;
        } else if (left >= 2) {
            launch_nt<TYPE, 2>(w, row_bytes, q, m, yt, y_stride, rows, nb, mode, stream);
            t += 2;
        } else {
            launch_nt<TYPE, 1>(w, row_bytes, q, m, yt, y_stride, rows, nb, mode, stream);
            t += 1;
        }
    }
}

}  // namespace

bool launch_matvec_q(int type, const void * w, size_t row_bytes, const void * act, float * y, int64_t y_stride,
                     int64_t rows, int64_t cols, int64_t n, cudaStream_t stream) {
    switch (type) {
#define LLMJ_CASE(T) case T: launch_type<T>(w, row_bytes, act, y, y_stride, rows, cols, n, stream); return true;
        LLMJ_CUDA_Q32_TYPES(LLMJ_CASE)
#undef LLMJ_CASE
        default: return false;
    }
}
