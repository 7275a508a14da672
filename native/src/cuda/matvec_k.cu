// K-quant weights on the GPU (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS): activation conversion to Q8_K,
// matrix-vector / few-token products, dequantization to F16 and embedding-row lookup.
// kernel -> launcher -> entry (declared in kquants.cuh; the C ABI entries in matvec.cu / elementwise.cu
// route K-quant types here). CPU reference: src/cpu/quants.c (Q8_K) and src/cpu/matvec_q.c (dots).
//
// Product design (memory-bound decode; the idea of ggml-cuda's mmvq, written anew):
//   - A super-block of 256 weights is split into 4 "pieces" of 64 weights, one per thread; 4
//     consecutive lanes take the 4 pieces of a block and consecutive groups take consecutive blocks,
//     so a warp's loads cover a contiguous stretch of the row. A row is handled by TPR lanes (32, or
//     the next power of two >= 4 * blocks for short rows); a CTA of THREADS (64) threads takes
//     THREADS / TPR rows.
//   - Each lane loads the raw bytes of its piece(s) (UNROLL per step; with the widest loads the block alignment
//     allows: 16 bytes for Q4_K/Q5_K, 8 for IQ4_XS, 4 for Q2_K, funnel-shifted 4-byte words for the
//     2-byte aligned Q3_K/Q6_K and for unaligned strides) before it computes anything (32-52 bytes
//     per piece in flight). Weights use streaming loads (read once); the Q8_K
//     activations (a few KiB, read by every row) use the read-only cache.
//   - A piece's integer dot (dp4a on unpacked quants, times the sub-block scales; mins through the
//     activation's 16-element sums) is summed over the block's 4 lanes exactly in int32 and turned
//     into the block's float term with the CPU's operations; lanes accumulate block terms in float
//     and the row's lanes reduce with shuffles at the end.
//   - n tokens: the weights loaded once serve up to 4 tokens (template NT), so prefill of n tokens
//     reads the weights ceil(n / 4) times.
// Activations live in the work buffer as arrays (int8 qs [n][cols], float d [n][nb], int16 bsums
// [n][nb * 16]), values identical to the CPU's block_q8_K.
#include "common.cuh"
#include "kquants.cuh"

namespace {

// Tuning knobs (compile-time; the defaults were chosen on an H100 with tests/cuda/test_cuda_kquants.cu --bench:
// one piece per lane per step and 64-thread CTAs beat two/four pieces per step (register pressure) and
// 128/256-thread CTAs; read-only (__ldg) weight loads were no faster than streaming ones).
#ifndef LLMJ_KQ_THREADS
#define LLMJ_KQ_THREADS 64    // threads per CTA of the product kernel
#endif
#ifndef LLMJ_KQ_UNROLL
#define LLMJ_KQ_UNROLL 1      // pieces each lane loads before computing
#endif
#ifndef LLMJ_KQ_MINB
#define LLMJ_KQ_MINB 1        // minimum resident CTAs per SM asked of the register allocator
#endif
#ifndef LLMJ_KQ_L2PF
#define LLMJ_KQ_L2PF 0        // 1: weight loads carry the L2::256B prefetch hint
#endif
#ifndef LLMJ_KQ_LDG
#define LLMJ_KQ_LDG 0         // 1: weights through the read-only path instead of streaming loads
#endif
constexpr int QK = 256;
constexpr int THREADS = LLMJ_KQ_THREADS;
constexpr int UNROLL = LLMJ_KQ_UNROLL;
constexpr int MAX_NT = 4;

// ---- type traits -----------------------------------------------------------------------------
// bytes: block size; align: alignment of every block when the weights and row stride are 16-byte
// aligned (gcd(bytes, 16)).
template <int T> struct KT;
template <> struct KT<LLMJ_TYPE_Q2_K>   { static constexpr int bytes = 84,  align = 4; };
template <> struct KT<LLMJ_TYPE_Q3_K>   { static constexpr int bytes = 110, align = 2; };
template <> struct KT<LLMJ_TYPE_Q4_K>   { static constexpr int bytes = 144, align = 16; };
template <> struct KT<LLMJ_TYPE_Q5_K>   { static constexpr int bytes = 176, align = 16; };
template <> struct KT<LLMJ_TYPE_Q6_K>   { static constexpr int bytes = 210, align = 2; };
template <> struct KT<LLMJ_TYPE_IQ4_XS> { static constexpr int bytes = 136, align = 8; };

int block_bytes(int type) {
    switch (type) {
        case LLMJ_TYPE_Q2_K: return 84;
        case LLMJ_TYPE_Q3_K: return 110;
        case LLMJ_TYPE_Q4_K: return 144;
        case LLMJ_TYPE_Q5_K: return 176;
        case LLMJ_TYPE_Q6_K: return 210;
        case LLMJ_TYPE_IQ4_XS: return 136;
        default: return 0;
    }
}

__host__ __device__ constexpr int cmin(int a, int b) { return a < b ? a : b; }

// ---- loads -----------------------------------------------------------------------------------
#if LLMJ_KQ_L2PF
__device__ __forceinline__ int4 wld_l2(const int4 * p) {
    int4 v;
    asm("ld.global.cs.L2::256B.v4.s32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}
__device__ __forceinline__ int2 wld_l2(const int2 * p) {
    int2 v;
    asm("ld.global.cs.L2::256B.v2.s32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
}
__device__ __forceinline__ int wld_l2(const int * p) {
    int v;
    asm("ld.global.cs.L2::256B.s32 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
}
__device__ __forceinline__ unsigned short wld_l2(const unsigned short * p) { return __ldcs(p); }
__device__ __forceinline__ unsigned char wld_l2(const unsigned char * p) { return __ldcs(p); }
#define WLD wld_l2
#elif LLMJ_KQ_LDG
#define WLD __ldg
#else
#define WLD __ldcs
#endif

// N little-endian 32-bit words starting at p, which is known to be A-byte aligned. A < 4: two
// aligned words funnel-shifted per result (each word read holds at least one byte of the range, so
// no read leaves the pages of the data).
template <int N, int A>
__device__ __forceinline__ void ldw(const uint8_t * p, int * out) {
    if constexpr (A >= 16 && N % 4 == 0) {
#pragma unroll
        for (int k = 0; k < N / 4; k++) {
            const int4 v = WLD(reinterpret_cast<const int4 *>(p) + k);
            out[4 * k] = v.x; out[4 * k + 1] = v.y; out[4 * k + 2] = v.z; out[4 * k + 3] = v.w;
        }
    } else if constexpr (A >= 8 && N % 2 == 0) {
#pragma unroll
        for (int k = 0; k < N / 2; k++) {
            const int2 v = WLD(reinterpret_cast<const int2 *>(p) + k);
            out[2 * k] = v.x; out[2 * k + 1] = v.y;
        }
    } else if constexpr (A >= 4) {
#pragma unroll
        for (int k = 0; k < N; k++) out[k] = WLD(reinterpret_cast<const int *>(p) + k);
    } else {
        const uintptr_t a = reinterpret_cast<uintptr_t>(p);
        const int * b = reinterpret_cast<const int *>(a & ~(uintptr_t) 3);
        const unsigned sh = (unsigned) (a & 3) * 8;
        int v[N + 1];
#pragma unroll
        for (int k = 0; k < N; k++) v[k] = WLD(b + k);
        v[N] = sh ? WLD(b + N) : 0;
#pragma unroll
        for (int k = 0; k < N; k++) out[k] = (int) __funnelshift_r((unsigned) v[k], (unsigned) v[k + 1], sh);
    }
}

// 16-bit little-endian value at p (A: known alignment).
template <int A>
__device__ __forceinline__ int ldh(const uint8_t * p) {
    if constexpr (A >= 2) {
        return WLD(reinterpret_cast<const unsigned short *>(p));
    } else {
        return (int) WLD(p) | ((int) WLD(p + 1) << 8);
    }
}

__device__ __forceinline__ int4 lda(const int8_t * p) { return ld_act(reinterpret_cast<const int4 *>(p)); }

__device__ __forceinline__ float h2f(int bits16) { return __half2float(__ushort_as_half((unsigned short) bits16)); }

// byte k (0..11) of 12 bytes held in three words
__device__ __forceinline__ int byte12(const int * s, int k) {
    const int w = k < 4 ? s[0] : (k < 8 ? s[1] : s[2]);
    return ((unsigned) w >> ((k & 3) * 8)) & 0xFF;
}

__device__ __forceinline__ int dot4(int w0, int w1, int w2, int w3, int4 a, int acc) {
    acc = __dp4a(w0, a.x, acc);
    acc = __dp4a(w1, a.y, acc);
    acc = __dp4a(w2, a.z, acc);
    return __dp4a(w3, a.w, acc);
}

// the 16 values of IQ4_NL / IQ4_XS as int8 bytes
__device__ __forceinline__ int iq4_lookup(unsigned idx /* four bytes, each 0..15 */) {
    const unsigned y = idx | (idx >> 4);
    const unsigned s = (y & 0xFFu) | ((y >> 8) & 0xFF00u);                  // four selector nibbles
    const unsigned lo = __byte_perm(0xBFAD9881u, 0xF6EADDCFu, s & 0x7777u);  // -127 -104 -83 -65 | -49 -35 -22 -10
    const unsigned hi = __byte_perm(0x26190D01u, 0x71594535u, s & 0x7777u);  // 1 13 25 38 | 53 69 89 113
    return (int) __byte_perm(lo, hi, 0x3210u | ((s & 0x8888u) >> 1));
}

// float term of one block, as the CPU computes it (no contraction)
__device__ __forceinline__ float term_min(float da, float dw, float dm, int isum, int summ) {
    return __fsub_rn(__fmul_rn(__fmul_rn(da, dw), (float) isum), __fmul_rn(__fmul_rn(da, dm), (float) summ));
}
__device__ __forceinline__ float term_plain(float da, float dw, int isum) { return __fmul_rn(__fmul_rn(da, dw), (float) isum); }

// ---- per-type pieces: raw loads, integer dot, decode ------------------------------------------
// A block's 4 pieces p = 0..3 hold 64 weights each, as 4 runs of 16 consecutive elements starting at
// run_start(p, r). The dot of a piece with the Q8_K activations `a` (the block's 256 quants) and
// `bs` (its 16 sums) gives isum (scale-weighted) and summ (min-weighted, types with mins).
template <int T> struct Piece;

// Q2_K: scales[16] (scale | min << 4) qs[64] d dmin. Piece p = (h = p / 2, lh = p % 2): qs bytes
// 32h + 16lh .. +16, whose 2-bit fields j = 0..3 are elements 128h + 32j + 16lh + 0..15 (sub-block
// 8h + 2j + lh).
template <> struct Piece<LLMJ_TYPE_Q2_K> {
    static constexpr bool has_min = true;
    int q[4], sc[2], dm;
    template <int A> __device__ __forceinline__ void load(const uint8_t * b, int p) {
        const int h = p >> 1, lh = p & 1;
        ldw<4, cmin(A, 16)>(b + 16 + 32 * h + 16 * lh, q);
        ldw<2, cmin(A, 8)>(b + 8 * h, sc);
        ldw<1, cmin(A, 16)>(b + 80, &dm);
    }
    __device__ static int run_start(int p, int r) { return 128 * (p >> 1) + 32 * r + 16 * (p & 1); }
    __device__ __forceinline__ void dot(int p, const int8_t * a, const int16_t * bs, int & isum, int & summ) const {
        const int h = p >> 1, lh = p & 1;
        const int4 s4 = ld_act(reinterpret_cast<const int4 *>(bs + 8 * h));
        const int sw[4] = {s4.x, s4.y, s4.z, s4.w};
        isum = 0; summ = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int4 av = lda(a + 128 * h + 32 * j + 16 * lh);
            const int d = dot4((q[0] >> (2 * j)) & 0x03030303, (q[1] >> (2 * j)) & 0x03030303,
                               (q[2] >> (2 * j)) & 0x03030303, (q[3] >> (2 * j)) & 0x03030303, av, 0);
            const int s = ((unsigned) sc[j >> 1] >> ((2 * (j & 1) + lh) * 8)) & 0xFF;
            isum += (s & 15) * d;
            summ += (s >> 4) * (int) (int16_t) ((unsigned) sw[j] >> (16 * lh));
        }
    }
    __device__ __forceinline__ float term(float da, int isum, int summ) const {
        return term_min(da, h2f(dm & 0xFFFF), h2f((unsigned) dm >> 16), isum, summ);
    }
    __device__ __forceinline__ void decode(int p, float (&v)[4][16]) const {
        const int lh = p & 1;
        const float d = h2f(dm & 0xFFFF), mn = h2f((unsigned) dm >> 16);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int s = ((unsigned) sc[j >> 1] >> ((2 * (j & 1) + lh) * 8)) & 0xFF;
            const float dl = __fmul_rn(d, (float) (s & 15)), ml = __fmul_rn(mn, (float) (s >> 4));
#pragma unroll
            for (int l = 0; l < 16; l++) {
                const int qv = ((unsigned) q[l >> 2] >> (8 * (l & 3) + 2 * j)) & 3;
                v[j][l] = __fsub_rn(__fmul_rn(dl, (float) qv), ml);
            }
        }
    }
};

// Q3_K: hmask[32] qs[64] scales[12] d. Piece p = (h, lh) as Q2_K; the high bit of element
// 128h + 32j + l is bit 4h + j of hmask[l]; 6-bit scales minus 32.
template <> struct Piece<LLMJ_TYPE_Q3_K> {
    static constexpr bool has_min = false;
    int q[4], hm[4], sc[3], d;
    template <int A> __device__ __forceinline__ void load(const uint8_t * b, int p) {
        const int h = p >> 1, lh = p & 1;
        ldw<4, cmin(A, 16)>(b + 32 + 32 * h + 16 * lh, q);
        ldw<4, cmin(A, 16)>(b + 16 * lh, hm);
        ldw<3, cmin(A, 4)>(b + 96, sc);
        d = ldh<cmin(A, 4)>(b + 108);
    }
    __device__ static int run_start(int p, int r) { return 128 * (p >> 1) + 32 * r + 16 * (p & 1); }
    __device__ __forceinline__ int scale(int h, int lh, int j) const {
        const int k = 2 * j + lh;                                   // sub-block 8h + k
        const int lo = (byte12(sc, k) >> (4 * h)) & 0xF;
        const int hi = (byte12(sc, 8 + (k & 3)) >> (2 * (2 * h + (j >> 1)))) & 3;
        return (lo | (hi << 4)) - 32;
    }
    __device__ __forceinline__ void dot(int p, const int8_t * a, const int16_t *, int & isum, int & summ) const {
        const int h = p >> 1, lh = p & 1;
        isum = 0; summ = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int4 av = lda(a + 128 * h + 32 * j + 16 * lh);
            int w[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const unsigned lo = ((unsigned) q[i] >> (2 * j)) & 0x03030303u;
                const unsigned hb = ((unsigned) hm[i] >> (4 * h + j)) & 0x01010101u;
                w[i] = (int) __vsub4(lo | (hb << 2), 0x04040404u);
            }
            isum += scale(h, lh, j) * dot4(w[0], w[1], w[2], w[3], av, 0);
        }
    }
    __device__ __forceinline__ float term(float da, int isum, int) const { return term_plain(da, h2f(d), isum); }
    __device__ __forceinline__ void decode(int p, float (&v)[4][16]) const {
        const int h = p >> 1, lh = p & 1;
        const float dd = h2f(d);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float dl = __fmul_rn(dd, (float) scale(h, lh, j));
#pragma unroll
            for (int l = 0; l < 16; l++) {
                const int lo = ((unsigned) q[l >> 2] >> (8 * (l & 3) + 2 * j)) & 3;
                const int hb = ((unsigned) hm[l >> 2] >> (8 * (l & 3) + 4 * h + j)) & 1;
                v[j][l] = __fmul_rn(dl, (float) (lo - (hb ? 0 : 4)));
            }
        }
    }
};

// Q4_K / Q5_K: d dmin scales[12] (qh[32]) qs[128]. Piece p = 64-element chunk p: qs bytes 32p .. +32,
// low nibbles sub-block 2p, high nibbles sub-block 2p + 1; Q5_K's fifth bit of element 32j + l is
// bit j of qh[l].
template <bool FIVE> struct PieceK45 {
    static constexpr bool has_min = true;
    static constexpr int QS = FIVE ? 48 : 16;
    int q[8], h[FIVE ? 8 : 1], sc[3], dm;
    template <int A> __device__ __forceinline__ void load(const uint8_t * b, int p) {
        ldw<1, cmin(A, 16)>(b, &dm);
        ldw<3, cmin(A, 4)>(b + 4, sc);
        ldw<8, cmin(A, 16)>(b + QS + 32 * p, q);
        if constexpr (FIVE) ldw<8, cmin(A, 16)>(b + 16, h);
    }
    __device__ static int run_start(int p, int r) { return 64 * p + 16 * r; }
    // scale and min of sub-block j (ggml's get_scale_min_k4)
    __device__ __forceinline__ void scale_min(int j, int & s, int & m) const {
        if (j < 4) {
            s = byte12(sc, j) & 63;
            m = byte12(sc, j + 4) & 63;
        } else {
            s = (byte12(sc, j + 4) & 0xF) | ((byte12(sc, j - 4) >> 6) << 4);
            m = (byte12(sc, j + 4) >> 4) | ((byte12(sc, j) >> 6) << 4);
        }
    }
    __device__ __forceinline__ void quants(int p, int i, int & lo, int & hi) const {
        lo = q[i] & 0x0F0F0F0F;
        hi = ((unsigned) q[i] >> 4) & 0x0F0F0F0F;
        if constexpr (FIVE) {
            lo |= (int) ((((unsigned) h[i] >> (2 * p)) & 0x01010101u) << 4);
            hi |= (int) ((((unsigned) h[i] >> (2 * p + 1)) & 0x01010101u) << 4);
        }
    }
    __device__ __forceinline__ void dot(int p, const int8_t * a, const int16_t * bs, int & isum, int & summ) const {
        int lo[8], hi[8];
#pragma unroll
        for (int i = 0; i < 8; i++) quants(p, i, lo[i], hi[i]);
        const int8_t * ap = a + 64 * p;
        int dlo = dot4(lo[0], lo[1], lo[2], lo[3], lda(ap), 0);
        dlo = dot4(lo[4], lo[5], lo[6], lo[7], lda(ap + 16), dlo);
        int dhi = dot4(hi[0], hi[1], hi[2], hi[3], lda(ap + 32), 0);
        dhi = dot4(hi[4], hi[5], hi[6], hi[7], lda(ap + 48), dhi);
        const int2 s2 = ld_act(reinterpret_cast<const int2 *>(bs + 4 * p));
        const int b01 = (int) (int16_t) s2.x + (s2.x >> 16), b23 = (int) (int16_t) s2.y + (s2.y >> 16);
        int s0, m0, s1, m1;
        scale_min(2 * p, s0, m0);
        scale_min(2 * p + 1, s1, m1);
        isum = dlo * s0 + dhi * s1;
        summ = m0 * b01 + m1 * b23;
    }
    __device__ __forceinline__ float term(float da, int isum, int summ) const {
        return term_min(da, h2f(dm & 0xFFFF), h2f((unsigned) dm >> 16), isum, summ);
    }
    __device__ __forceinline__ void decode(int p, float (&v)[4][16]) const {
        const float d = h2f(dm & 0xFFFF), mn = h2f((unsigned) dm >> 16);
        int s0, m0, s1, m1;
        scale_min(2 * p, s0, m0);
        scale_min(2 * p + 1, s1, m1);
        const float d0 = __fmul_rn(d, (float) s0), n0 = __fmul_rn(mn, (float) m0);
        const float d1 = __fmul_rn(d, (float) s1), n1 = __fmul_rn(mn, (float) m1);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int lo, hi;
            quants(p, i, lo, hi);
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const int l = 4 * i + k;   // 0..31
                v[l >> 4][l & 15] = __fsub_rn(__fmul_rn(d0, (float) ((lo >> (8 * k)) & 0xFF)), n0);
                v[2 + (l >> 4)][l & 15] = __fsub_rn(__fmul_rn(d1, (float) ((hi >> (8 * k)) & 0xFF)), n1);
            }
        }
    }
};
template <> struct Piece<LLMJ_TYPE_Q4_K> : PieceK45<false> {};
template <> struct Piece<LLMJ_TYPE_Q5_K> : PieceK45<true> {};

// Q6_K: ql[128] qh[64] scales[16] (int8) d. Piece p = (h, lh): element 128h + 32k + 16lh + l
// (k = 0..3, l < 16) has low nibble from ql[64h + 32(k & 1) + 16lh + l] (high nibble when k >= 2)
// and bits 2k.. of qh[32h + 16lh + l]; sub-block 8h + 2k + lh; value - 32.
template <> struct Piece<LLMJ_TYPE_Q6_K> {
    static constexpr bool has_min = false;
    int l0[4], l1[4], qh[4], sc[2], d;
    template <int A> __device__ __forceinline__ void load(const uint8_t * b, int p) {
        const int h = p >> 1, lh = p & 1;
        ldw<4, cmin(A, 16)>(b + 64 * h + 16 * lh, l0);
        ldw<4, cmin(A, 16)>(b + 64 * h + 32 + 16 * lh, l1);
        ldw<4, cmin(A, 16)>(b + 128 + 32 * h + 16 * lh, qh);
        ldw<2, cmin(A, 8)>(b + 192 + 8 * h, sc);
        d = ldh<cmin(A, 16)>(b + 208);
    }
    __device__ static int run_start(int p, int r) { return 128 * (p >> 1) + 32 * r + 16 * (p & 1); }
    __device__ __forceinline__ int scale(int lh, int k) const {
        return (int) (int8_t) (((unsigned) sc[k >> 1] >> ((2 * (k & 1) + lh) * 8)) & 0xFF);
    }
    __device__ __forceinline__ unsigned quants(int k, int i) const {   // 4 values + 32 as bytes
        const unsigned lq = (unsigned) (k & 1 ? l1[i] : l0[i]);
        const unsigned nib = (k >= 2 ? lq >> 4 : lq) & 0x0F0F0F0Fu;
        return nib | ((((unsigned) qh[i] >> (2 * k)) & 0x03030303u) << 4);
    }
    __device__ __forceinline__ void dot(int p, const int8_t * a, const int16_t *, int & isum, int & summ) const {
        const int h = p >> 1, lh = p & 1;
        isum = 0; summ = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const int4 av = lda(a + 128 * h + 32 * k + 16 * lh);
            const int dk = dot4((int) __vsub4(quants(k, 0), 0x20202020u), (int) __vsub4(quants(k, 1), 0x20202020u),
                                (int) __vsub4(quants(k, 2), 0x20202020u), (int) __vsub4(quants(k, 3), 0x20202020u), av, 0);
            isum += scale(lh, k) * dk;
        }
    }
    __device__ __forceinline__ float term(float da, int isum, int) const { return term_plain(da, h2f(d), isum); }
    __device__ __forceinline__ void decode(int p, float (&v)[4][16]) const {
        const int lh = p & 1;
        const float dd = h2f(d);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const float dl = __fmul_rn(dd, (float) scale(lh, k));
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const unsigned qv = quants(k, i);
#pragma unroll
                for (int c = 0; c < 4; c++) v[k][4 * i + c] = __fmul_rn(dl, (float) ((int) ((qv >> (8 * c)) & 0xFF) - 32));
            }
        }
    }
};

// IQ4_XS: d scales_h scales_l[4] qs[128]. Piece p = sub-blocks 2p, 2p + 1: qs bytes 32p .. +32;
// sub-block ib's qs[16ib + j] low nibble is element 32ib + j, high nibble 32ib + 16 + j.
template <> struct Piece<LLMJ_TYPE_IQ4_XS> {
    static constexpr bool has_min = false;
    int q[8], hdr[2];
    template <int A> __device__ __forceinline__ void load(const uint8_t * b, int p) {
        ldw<2, cmin(A, 8)>(b, hdr);
        ldw<8, cmin(A, 8)>(b + 8 + 32 * p, q);
    }
    __device__ static int run_start(int p, int r) { return 64 * p + 16 * r; }
    __device__ __forceinline__ int scale(int ib) const {   // ib = sub-block 0..7
        const int lo = ((unsigned) hdr[1] >> (8 * (ib >> 1) + 4 * (ib & 1))) & 0xF;
        const int hi = ((unsigned) hdr[0] >> (16 + 2 * ib)) & 3;
        return (lo | (hi << 4)) - 32;
    }
    __device__ __forceinline__ void dot(int p, const int8_t * a, const int16_t *, int & isum, int & summ) const {
        const int8_t * ap = a + 64 * p;
        int s0 = 0, s1 = 0;
        s0 = dot4(iq4_lookup(q[0] & 0x0F0F0F0F), iq4_lookup(q[1] & 0x0F0F0F0F), iq4_lookup(q[2] & 0x0F0F0F0F),
                  iq4_lookup(q[3] & 0x0F0F0F0F), lda(ap), s0);
        s0 = dot4(iq4_lookup(((unsigned) q[0] >> 4) & 0x0F0F0F0F), iq4_lookup(((unsigned) q[1] >> 4) & 0x0F0F0F0F),
                  iq4_lookup(((unsigned) q[2] >> 4) & 0x0F0F0F0F), iq4_lookup(((unsigned) q[3] >> 4) & 0x0F0F0F0F),
                  lda(ap + 16), s0);
        s1 = dot4(iq4_lookup(q[4] & 0x0F0F0F0F), iq4_lookup(q[5] & 0x0F0F0F0F), iq4_lookup(q[6] & 0x0F0F0F0F),
                  iq4_lookup(q[7] & 0x0F0F0F0F), lda(ap + 32), s1);
        s1 = dot4(iq4_lookup(((unsigned) q[4] >> 4) & 0x0F0F0F0F), iq4_lookup(((unsigned) q[5] >> 4) & 0x0F0F0F0F),
                  iq4_lookup(((unsigned) q[6] >> 4) & 0x0F0F0F0F), iq4_lookup(((unsigned) q[7] >> 4) & 0x0F0F0F0F),
                  lda(ap + 48), s1);
        isum = scale(2 * p) * s0 + scale(2 * p + 1) * s1;
        summ = 0;
    }
    __device__ __forceinline__ float term(float da, int isum, int) const { return term_plain(da, h2f(hdr[0] & 0xFFFF), isum); }
    __device__ __forceinline__ void decode(int p, float (&v)[4][16]) const {
        const float d = h2f(hdr[0] & 0xFFFF);
        const float d0 = __fmul_rn(d, (float) scale(2 * p)), d1 = __fmul_rn(d, (float) scale(2 * p + 1));
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int lo = iq4_lookup(q[i] & 0x0F0F0F0F), hi = iq4_lookup(((unsigned) q[i] >> 4) & 0x0F0F0F0F);
            const float dl = i < 4 ? d0 : d1;
            const int run = i < 4 ? 0 : 2;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                v[run][4 * (i & 3) + c] = __fmul_rn(dl, (float) (int8_t) ((lo >> (8 * c)) & 0xFF));
                v[run + 1][4 * (i & 3) + c] = __fmul_rn(dl, (float) (int8_t) ((hi >> (8 * c)) & 0xFF));
            }
        }
    }
};

// ---- Q8_K activations ------------------------------------------------------------------------
struct Q8K {
    int8_t * qs;      // [n][cols]
    float * d;        // [n][nb]
    int16_t * bs;     // [n][nb * 16]
};

size_t off_d(int64_t cols, int64_t n) { return (size_t) n * (size_t) cols; }   // a multiple of 256
size_t off_bs(int64_t cols, int64_t n) { return (off_d(cols, n) + (size_t) n * (size_t) (cols / QK) * 4 + 15) & ~(size_t) 15; }
size_t q8k_bytes(int64_t cols, int64_t n) { return off_bs(cols, n) + (size_t) n * (size_t) (cols / QK) * 32; }

// One warp per 256-block; lane l holds elements 8l .. 8l + 7. Same operations as quantize_row_q8_K
// (src/cpu/quants.c): the signed value of largest magnitude (first index on ties), iscale = -127 / max,
// q = min(127, round-half-even(iscale * x)), d = 1 / iscale, bsums of 16.
__global__ void quantize_q8k_kernel(const float * x, int8_t * __restrict__ qs, float * __restrict__ d,
                                    int16_t * __restrict__ bs, int64_t n_blocks, int64_t cols) {
    pdl_wait();

    const int64_t blk = (int64_t) blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
    if (blk >= n_blocks) return;
    const int lane = threadIdx.x % 32;
    const int64_t nb = cols / QK;
    const int64_t t = blk / nb, b = blk % nb;
    const float * xb = x + t * cols + b * QK + 8 * lane;
    float v[8];
#pragma unroll
    for (int k = 0; k < 8; k++) v[k] = xb[k];
    warp_quantize_q8k(v, qs + t * cols + b * QK + 8 * lane, d + blk, bs + blk * 16);
}

// ---- product kernel --------------------------------------------------------------------------
// Rows of TPR = 1 << tpr_log2 lanes; each lane takes pieces lane, lane + TPR, ... of its row (UNROLL
// per step, all loaded before computing). NT tokens share the weight loads.
template <int T, int NT, int A>
__global__ void __launch_bounds__(THREADS, LLMJ_KQ_MINB) mmv_kernel(const uint8_t * __restrict__ w, size_t row_bytes, Q8K act,
                                                      float * __restrict__ y, int rows, int nb, int64_t cols,
                                                      int64_t act_stride_blocks, int tpr_log2) {
    using P = Piece<T>;
    constexpr int BYTES = KT<T>::bytes;
    const int tpr = 1 << tpr_log2;
    const int lane_r = threadIdx.x & (tpr - 1);
    const int row = blockIdx.x * (THREADS >> tpr_log2) + (threadIdx.x >> tpr_log2);
    const bool row_ok = row < rows;
    const uint8_t * wr = w + (size_t) (row_ok ? row : 0) * row_bytes;
    const int np = 4 * nb;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;

    bool waited = false;
    for (int j0 = 0; j0 < np; j0 += UNROLL * tpr) {
        int jj[UNROLL];
        bool ok[UNROLL];
        P pc[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            jj[u] = j0 + u * tpr + lane_r;
            ok[u] = row_ok && jj[u] < np;
            if (ok[u]) pc[u].template load<A>(wr + (size_t) (jj[u] >> 2) * BYTES, jj[u] & 3);
        }
        if (!waited) {              // the first weights are in flight: now wait for the activation's kernel
            pdl_wait();
            waited = true;
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int blk = jj[u] >> 2, p = jj[u] & 3;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                int isum = 0, summ = 0;
                if (ok[u]) {
                    pc[u].dot(p, act.qs + t * cols + (int64_t) blk * QK, act.bs + (t * act_stride_blocks + blk) * 16, isum, summ);
                }
                isum += __shfl_xor_sync(0xffffffffu, isum, 1);
                isum += __shfl_xor_sync(0xffffffffu, isum, 2);
                if constexpr (P::has_min) {
                    summ += __shfl_xor_sync(0xffffffffu, summ, 1);
                    summ += __shfl_xor_sync(0xffffffffu, summ, 2);
                }
                if (ok[u] && p == (t & 3)) acc[t] += pc[u].term(ld_act(act.d + t * act_stride_blocks + blk), isum, summ);
            }
        }
    }
    pdl_wait();                     // (threads without pieces): y is written after the kernels before
#pragma unroll
    for (int t = 0; t < NT; t++) {
        float v = acc[t];
        for (int o = tpr >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (row_ok && lane_r == 0) y[(int64_t) t * rows + row] = v;
    }
}

// ---- dequantization kernels ------------------------------------------------------------------
// One thread per piece: 4 runs of 16 values, written with 16-byte stores when `out` is aligned.
template <int T>
__device__ __forceinline__ void decode_at(const uint8_t * row, int64_t j, bool aligned, float (&v)[4][16]) {
    Piece<T> pc;
    const uint8_t * b = row + (j >> 2) * KT<T>::bytes;
    if (aligned) pc.template load<KT<T>::align>(b, (int) (j & 3));
    else pc.template load<1>(b, (int) (j & 3));
    pc.decode((int) (j & 3), v);
}

template <int T>
__global__ void __launch_bounds__(THREADS) dequant_f16_kernel(const uint8_t * __restrict__ w, size_t row_bytes,
                                                              int64_t rows, int64_t cols, __half * __restrict__ out,
                                                              bool w_aligned, bool out_aligned) {
    const int64_t np_row = cols / QK * 4;
    const int64_t g = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (g >= rows * np_row) return;
    const int64_t r = g / np_row, j = g % np_row;
    float v[4][16];
    decode_at<T>(w + r * row_bytes, j, w_aligned, v);
    __half * o = out + r * cols + (j >> 2) * QK;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        __half * ok = o + Piece<T>::run_start((int) (j & 3), k);
        if (out_aligned) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                __align__(16) __half2 hv[4];
#pragma unroll
                for (int c = 0; c < 4; c++) hv[c] = __floats2half2_rn(v[k][8 * h + 2 * c], v[k][8 * h + 2 * c + 1]);
                reinterpret_cast<int4 *>(ok)[h] = *reinterpret_cast<const int4 *>(hv);
            }
        } else {
#pragma unroll
            for (int l = 0; l < 16; l++) ok[l] = __float2half_rn(v[k][l]);
        }
    }
}

template <int T>
__global__ void __launch_bounds__(THREADS) get_rows_kernel(const uint8_t * __restrict__ table, size_t row_bytes,
                                                           const int32_t * __restrict__ ids, int64_t cols, float scale,
                                                           float * __restrict__ out, bool w_aligned, bool out_aligned) {
    pdl_wait();

    const int64_t t = blockIdx.y;
    const int64_t j = (int64_t) blockIdx.x * THREADS + threadIdx.x;
    if (j >= cols / QK * 4) return;
    float v[4][16];
    decode_at<T>(table + (size_t) ids[t] * row_bytes, j, w_aligned, v);
    float * o = out + t * cols + (j >> 2) * QK;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float * ok = o + Piece<T>::run_start((int) (j & 3), k);
        if (out_aligned) {
#pragma unroll
            for (int c = 0; c < 4; c++) {
                reinterpret_cast<float4 *>(ok)[c] = make_float4(__fmul_rn(v[k][4 * c], scale), __fmul_rn(v[k][4 * c + 1], scale),
                                                                __fmul_rn(v[k][4 * c + 2], scale), __fmul_rn(v[k][4 * c + 3], scale));
            }
        } else {
#pragma unroll
            for (int l = 0; l < 16; l++) ok[l] = __fmul_rn(v[k][l], scale);
        }
    }
}

// ---- launchers -------------------------------------------------------------------------------
template <int T, int NT>
void launch_mmv_nt(bool fast, const uint8_t * w, size_t row_bytes, const Q8K & act, float * y, int rows, int nb,
                   int64_t cols, int64_t stride_blocks, cudaStream_t s) {
    int tpr_log2 = 2;
    while (tpr_log2 < 5 && (1 << tpr_log2) < 4 * nb) tpr_log2++;
    const int rows_per_cta = THREADS >> tpr_log2;
    const unsigned grid = (unsigned) ((rows + rows_per_cta - 1) / rows_per_cta);
    if (fast) {
        launch_pdl(mmv_kernel<T, NT, KT<T>::align>, grid, THREADS, 0, s, w, row_bytes, act, y, rows, nb, cols, stride_blocks, tpr_log2);
    } else {
        launch_pdl(mmv_kernel<T, NT, 1>, grid, THREADS, 0, s, w, row_bytes, act, y, rows, nb, cols, stride_blocks, tpr_log2);
    }
}

template <int T>
void launch_mmv(int nt, bool fast, const uint8_t * w, size_t row_bytes, const Q8K & act, float * y, int rows, int nb,
                int64_t cols, int64_t stride_blocks, cudaStream_t s) {
    switch (nt) {
        case 1: launch_mmv_nt<T, 1>(fast, w, row_bytes, act, y, rows, nb, cols, stride_blocks, s); break;
        case 2: launch_mmv_nt<T, 2>(fast, w, row_bytes, act, y, rows, nb, cols, stride_blocks, s); break;
        case 3: launch_mmv_nt<T, 3>(fast, w, row_bytes, act, y, rows, nb, cols, stride_blocks, s); break;
        default: launch_mmv_nt<T, 4>(fast, w, row_bytes, act, y, rows, nb, cols, stride_blocks, s); break;
    }
}

// The fast load path needs every block at its natural alignment.
bool weights_aligned(int type, const void * w, size_t row_bytes) {
    const int b = block_bytes(type);
    const size_t a = (size_t) (b % 16 == 0 ? 16 : b % 8 == 0 ? 8 : b % 4 == 0 ? 4 : 2);
    return reinterpret_cast<uintptr_t>(w) % a == 0 && row_bytes % a == 0;
}

int check_weights(int type, size_t row_bytes, int64_t rows, int64_t cols) {
    if (!llmj_cuda_is_kquant(type)) return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "type %d is not a K-quant / IQ4_XS type", type);
    CHECK_STREAM_ARGS(rows >= 0 && cols > 0 && cols % QK == 0 && cols <= 0x7FFFFFFFLL && rows <= 0x7FFFFFFFLL,
                      "bad shape rows=%lld cols=%lld (cols must be a positive multiple of 256)",
                      (long long) rows, (long long) cols);
    const size_t need = (size_t) (cols / QK) * (size_t) block_bytes(type);
    CHECK_STREAM_ARGS(row_bytes >= need, "row_bytes %zu is less than %zu (%lld columns of type %d)", row_bytes, need,
                      (long long) cols, type);
    return LLMJ_OK;
}

}  // namespace

// ---- entry points ------------------------------------------------------------------------------
bool llmj_cuda_is_kquant(int type) { return block_bytes(type) != 0; }

size_t llmj_cuda_kquant_work_size(int type, int64_t cols, int64_t n) {
    if (!llmj_cuda_is_kquant(type) || cols <= 0 || n <= 0 || cols % QK != 0) return 0;
    return q8k_bytes(cols, n);
}

size_t llmj_cuda_q8k_d_offset(int64_t cols, int64_t n) { return off_d(cols, n); }
size_t llmj_cuda_q8k_bsums_offset(int64_t cols, int64_t n) { return off_bs(cols, n); }

int llmj_cuda_kquant_quantize_q8k(const float * x, int64_t cols, int64_t n, void * work, size_t work_bytes,
                                  cudaStream_t s) {
    CHECK_STREAM_ARGS(cols > 0 && cols % QK == 0 && n >= 0, "bad shape cols=%lld n=%lld", (long long) cols, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && work, "null device pointer");
    CHECK_STREAM_ARGS(work_bytes >= q8k_bytes(cols, n), "work buffer of %zu bytes, %zu needed", work_bytes, q8k_bytes(cols, n));
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(work) % 16 == 0, "work buffer %p is not 16-byte aligned", work);
    char * wb = static_cast<char *>(work);
    const int64_t blocks = n * (cols / QK);
    constexpr int WARPS = THREADS / 32;   // one warp per block
    CHECK_STREAM_ARGS((blocks + WARPS - 1) / WARPS <= 0x7FFFFFFFLL, "too many activations");
    launch_pdl(quantize_q8k_kernel, (unsigned) ((blocks + WARPS - 1) / WARPS), THREADS, 0, s, 
        x, reinterpret_cast<int8_t *>(wb), reinterpret_cast<float *>(wb + off_d(cols, n)),
        reinterpret_cast<int16_t *>(wb + off_bs(cols, n)), blocks, cols);
    return llmj_cuda_check_launch(__func__);
}

int llmj_cuda_kquant_matmul_preq(int type, const void * w, size_t row_bytes, const void * work, float * y, int64_t rows,
                                 int64_t cols, int64_t n, cudaStream_t s) {
    const int st = check_weights(type, row_bytes, rows, cols);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(n >= 0, "negative n");
    if (n == 0 || rows == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(w && work && y, "null device pointer");
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(work) % 16 == 0, "work buffer %p is not 16-byte aligned", work);
    const char * wb = static_cast<const char *>(work);
    const Q8K all = {reinterpret_cast<int8_t *>(const_cast<char *>(wb)), reinterpret_cast<float *>(const_cast<char *>(wb + off_d(cols, n))),
                     reinterpret_cast<int16_t *>(const_cast<char *>(wb + off_bs(cols, n)))};
    const int nb = (int) (cols / QK);
    const bool fast = weights_aligned(type, w, row_bytes);
    const uint8_t * wp = static_cast<const uint8_t *>(w);
    for (int64_t t0 = 0; t0 < n; t0 += MAX_NT) {
        const int nt = (int) (n - t0 < MAX_NT ? n - t0 : MAX_NT);
        const Q8K act = {all.qs + t0 * cols, all.d + t0 * nb, all.bs + t0 * nb * 16};
        float * yt = y + t0 * rows;
        switch (type) {
            case LLMJ_TYPE_Q2_K: launch_mmv<LLMJ_TYPE_Q2_K>(nt, fast, wp, row_bytes, act, yt, (int) rows, nb, cols, nb, s); break;
            case LLMJ_TYPE_Q3_K: launch_mmv<LLMJ_TYPE_Q3_K>(nt, fast, wp, row_bytes, act, yt, (int) rows, nb, cols, nb, s); break;
            case LLMJ_TYPE_Q4_K: launch_mmv<LLMJ_TYPE_Q4_K>(nt, fast, wp, row_bytes, act, yt, (int) rows, nb, cols, nb, s); break;
            case LLMJ_TYPE_Q5_K: launch_mmv<LLMJ_TYPE_Q5_K>(nt, fast, wp, row_bytes, act, yt, (int) rows, nb, cols, nb, s); break;
            case LLMJ_TYPE_Q6_K: launch_mmv<LLMJ_TYPE_Q6_K>(nt, fast, wp, row_bytes, act, yt, (int) rows, nb, cols, nb, s); break;
            default: launch_mmv<LLMJ_TYPE_IQ4_XS>(nt, fast, wp, row_bytes, act, yt, (int) rows, nb, cols, nb, s); break;
        }
    }
    return llmj_cuda_check_launch(__func__);
}

int llmj_cuda_kquant_matmul(int type, const void * w, size_t row_bytes, const float * x, float * y, int64_t rows,
                            int64_t cols, int64_t n, void * work, size_t work_bytes, cudaStream_t s) {
    int st = check_weights(type, row_bytes, rows, cols);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(n >= 0, "negative n");
    if (n == 0 || rows == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(w && x && y, "null device pointer");
    st = llmj_cuda_kquant_quantize_q8k(x, cols, n, work, work_bytes, s);
    if (st != LLMJ_OK) return st;
    return llmj_cuda_kquant_matmul_preq(type, w, row_bytes, work, y, rows, cols, n, s);
}

int llmj_cuda_kquant_dequantize_f16(int type, const void * w, size_t row_bytes, int64_t rows, int64_t cols, __half * out,
                                    cudaStream_t s) {
    const int st = check_weights(type, row_bytes, rows, cols);
    if (st != LLMJ_OK) return st;
    if (rows == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(w && out, "null device pointer");
    const int64_t threads = rows * (cols / QK) * 4;
    CHECK_STREAM_ARGS((threads + THREADS - 1) / THREADS <= 0x7FFFFFFFLL, "matrix too large");
    const unsigned grid = (unsigned) ((threads + THREADS - 1) / THREADS);
    const uint8_t * wp = static_cast<const uint8_t *>(w);
    const bool wa = weights_aligned(type, w, row_bytes), oa = reinterpret_cast<uintptr_t>(out) % 16 == 0;
    switch (type) {
        case LLMJ_TYPE_Q2_K: dequant_f16_kernel<LLMJ_TYPE_Q2_K><<<grid, THREADS, 0, s>>>(wp, row_bytes, rows, cols, out, wa, oa); break;
        case LLMJ_TYPE_Q3_K: dequant_f16_kernel<LLMJ_TYPE_Q3_K><<<grid, THREADS, 0, s>>>(wp, row_bytes, rows, cols, out, wa, oa); break;
        case LLMJ_TYPE_Q4_K: dequant_f16_kernel<LLMJ_TYPE_Q4_K><<<grid, THREADS, 0, s>>>(wp, row_bytes, rows, cols, out, wa, oa); break;
        case LLMJ_TYPE_Q5_K: dequant_f16_kernel<LLMJ_TYPE_Q5_K><<<grid, THREADS, 0, s>>>(wp, row_bytes, rows, cols, out, wa, oa); break;
        case LLMJ_TYPE_Q6_K: dequant_f16_kernel<LLMJ_TYPE_Q6_K><<<grid, THREADS, 0, s>>>(wp, row_bytes, rows, cols, out, wa, oa); break;
        default: dequant_f16_kernel<LLMJ_TYPE_IQ4_XS><<<grid, THREADS, 0, s>>>(wp, row_bytes, rows, cols, out, wa, oa); break;
    }
    return llmj_cuda_check_launch(__func__);
}

int llmj_cuda_kquant_get_rows(int type, const void * table, size_t row_bytes, const int32_t * ids, int64_t n,
                              int64_t cols, float scale, float * out, cudaStream_t s) {
    const int st = check_weights(type, row_bytes, 1, cols);
    if (st != LLMJ_OK) return st;
    CHECK_STREAM_ARGS(n >= 0 && n < 65536, "bad token count n=%lld", (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(table && ids && out, "null device pointer");
    const dim3 grid((unsigned) ((cols / QK * 4 + THREADS - 1) / THREADS), (unsigned) n);
    const uint8_t * tp = static_cast<const uint8_t *>(table);
    const bool wa = weights_aligned(type, table, row_bytes), oa = reinterpret_cast<uintptr_t>(out) % 16 == 0;
    switch (type) {
        case LLMJ_TYPE_Q2_K: launch_pdl(get_rows_kernel<LLMJ_TYPE_Q2_K>, grid, THREADS, 0, s, tp, row_bytes, ids, cols, scale, out, wa, oa); break;
        case LLMJ_TYPE_Q3_K: launch_pdl(get_rows_kernel<LLMJ_TYPE_Q3_K>, grid, THREADS, 0, s, tp, row_bytes, ids, cols, scale, out, wa, oa); break;
        case LLMJ_TYPE_Q4_K: launch_pdl(get_rows_kernel<LLMJ_TYPE_Q4_K>, grid, THREADS, 0, s, tp, row_bytes, ids, cols, scale, out, wa, oa); break;
        case LLMJ_TYPE_Q5_K: launch_pdl(get_rows_kernel<LLMJ_TYPE_Q5_K>, grid, THREADS, 0, s, tp, row_bytes, ids, cols, scale, out, wa, oa); break;
        case LLMJ_TYPE_Q6_K: launch_pdl(get_rows_kernel<LLMJ_TYPE_Q6_K>, grid, THREADS, 0, s, tp, row_bytes, ids, cols, scale, out, wa, oa); break;
        default: launch_pdl(get_rows_kernel<LLMJ_TYPE_IQ4_XS>, grid, THREADS, 0, s, tp, row_bytes, ids, cols, scale, out, wa, oa); break;
    }
    return llmj_cuda_check_launch(__func__);
}
