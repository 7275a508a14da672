// Per-type dequantization on the GPU, shared by get_rows (elementwise.cu), dequantize-to-F16
// (dequantize.cu) and any kernel that needs weights as floats. Not part of the ABI.
//
// Convention: dequant8<TYPE>(block, j0, v) writes elements j0 .. j0+7 of the block at `block`
// (j0 a multiple of 8, 8 contiguous elements always lie in one block) to v[0..7] as float32.
// `block` is a global-memory pointer, at least 2-byte aligned (every ggml block is a multiple of
// 2 bytes and starts with an fp16 field). The values equal ggml's dequantize_row_* bit for bit
// (a small integer times an fp16 scale is exact in float32; Q4_1/Q5_1 add the min with one rounding).
//
// A new block type adds a qtype<> specialisation and a dequant8 specialisation (K-quants: 256-element
// blocks, same convention) and a case in the DEQUANT_DISPATCH users.
#pragma once

#include "common.cuh"

// Elements per block and bytes per block of each block type (ggml's QK_* and sizeof(block_*)).
template <int TYPE> struct qtype;
template <> struct qtype<LLMJ_TYPE_Q4_0>   { static constexpr int QK = 32, BYTES = 18; };
template <> struct qtype<LLMJ_TYPE_Q4_1>   { static constexpr int QK = 32, BYTES = 20; };
template <> struct qtype<LLMJ_TYPE_Q5_0>   { static constexpr int QK = 32, BYTES = 22; };
template <> struct qtype<LLMJ_TYPE_Q5_1>   { static constexpr int QK = 32, BYTES = 24; };
template <> struct qtype<LLMJ_TYPE_Q8_0>   { static constexpr int QK = 32, BYTES = 34; };
template <> struct qtype<LLMJ_TYPE_IQ4_NL> { static constexpr int QK = 32, BYTES = 18; };

// ---- small load helpers (pointers at least 2-byte aligned) ------------------------------------
static __device__ __forceinline__ uint32_t ld_u16(const uint8_t * p) {
    return *reinterpret_cast<const uint16_t *>(p);
}
static __device__ __forceinline__ float ld_f16(const uint8_t * p) {
    return __half2float(*reinterpret_cast<const __half *>(p));
}
// 4 bytes at a 2-byte aligned address, little-endian.
static __device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t * p) {
    return ld_u16(p) | (ld_u16(p + 2) << 16);
}

// IQ4_NL's non-linear grid (ggml's kvalues_iq4nl) packed 4 bytes per word.
static __device__ __forceinline__ uint32_t iq4nl_pack(int a, int b, int c, int d) {
    return (uint32_t) (uint8_t) a | ((uint32_t) (uint8_t) b << 8) | ((uint32_t) (uint8_t) c << 16) | ((uint32_t) (uint8_t) d << 24);
}

// Maps four 4-bit indices (one per byte of `idx`, each 0..15) to the four int8 grid values (one per byte).
static __device__ __forceinline__ uint32_t iq4nl_lookup4(uint32_t idx) {
    const uint32_t t0 = iq4nl_pack(-127, -104, -83, -65), t1 = iq4nl_pack(-49, -35, -22, -10);
    const uint32_t t2 = iq4nl_pack(1, 13, 25, 38), t3 = iq4nl_pack(53, 69, 89, 113);
    const uint32_t s = idx | (idx >> 4);
    const uint32_t sel = (s & 0xFFu) | ((s >> 8) & 0xFF00u);          // nibble k = index k
    const uint32_t lo = __byte_perm(t0, t1, sel & 0x7777u);             // grid[index & 7]
    const uint32_t hi = __byte_perm(t2, t3, sel & 0x7777u);             // grid[8 + (index & 7)]
    return __byte_perm(lo, hi, 0x3210u | ((sel & 0x8888u) >> 1));      // pick hi where index >= 8
}

// ---- dequant8 -----------------------------------------------------------------------------------
template <int TYPE> __device__ __forceinline__ void dequant8(const uint8_t * b, int j0, float * v);

// 4-bit types: elements 0..15 are the low nibbles of qs[0..15], 16..31 the high nibbles.
template <> __device__ __forceinline__ void dequant8<LLMJ_TYPE_Q4_0>(const uint8_t * b, int j0, float * v) {
    const float d = ld_f16(b);
    const int sh = j0 & 16 ? 4 : 0;
    const uint8_t * q = b + 2 + (j0 & 15);
#pragma unroll
    for (int k = 0; k < 8; k += 2) {
        const uint32_t p = ld_u16(q + k) >> sh;
        v[k] = (float) ((int) (p & 0xF) - 8) * d;
        v[k + 1] = (float) ((int) ((p >> 8) & 0xF) - 8) * d;
    }
}

template <> __device__ __forceinline__ void dequant8<LLMJ_TYPE_Q4_1>(const uint8_t * b, int j0, float * v) {
    const float d = ld_f16(b), m = ld_f16(b + 2);
    const int sh = j0 & 16 ? 4 : 0;
    const uint8_t * q = b + 4 + (j0 & 15);
#pragma unroll
    for (int k = 0; k < 8; k += 2) {
        const uint32_t p = ld_u16(q + k) >> sh;
        v[k] = __fadd_rn((float) (p & 0xF) * d, m);
        v[k + 1] = __fadd_rn((float) ((p >> 8) & 0xF) * d, m);
    }
}

// 5-bit types: bit j of qh is the fifth bit of element j.
template <> __device__ __forceinline__ void dequant8<LLMJ_TYPE_Q5_0>(const uint8_t * b, int j0, float * v) {
    const float d = ld_f16(b);
    const uint32_t qh = ld_u32_a2(b + 2) >> j0;
    const int sh = j0 & 16 ? 4 : 0;
    const uint8_t * q = b + 6 + (j0 & 15);
#pragma unroll
    for (int k = 0; k < 8; k += 2) {
        const uint32_t p = ld_u16(q + k) >> sh;
        v[k] = (float) ((int) ((p & 0xF) | (((qh >> k) & 1) << 4)) - 16) * d;
        v[k + 1] = (float) ((int) (((p >> 8) & 0xF) | (((qh >> (k + 1)) & 1) << 4)) - 16) * d;
    }
}

template <> __device__ __forceinline__ void dequant8<LLMJ_TYPE_Q5_1>(const uint8_t * b, int j0, float * v) {
    const float d = ld_f16(b), m = ld_f16(b + 2);
    const uint32_t qh = ld_u32_a2(b + 4) >> j0;
    const int sh = j0 & 16 ? 4 : 0;
    const uint8_t * q = b + 8 + (j0 & 15);
#pragma unroll
    for (int k = 0; k < 8; k += 2) {
        const uint32_t p = ld_u16(q + k) >> sh;
        v[k] = __fadd_rn((float) ((p & 0xF) | (((qh >> k) & 1) << 4)) * d, m);
        v[k + 1] = __fadd_rn((float) (((p >> 8) & 0xF) | (((qh >> (k + 1)) & 1) << 4)) * d, m);
    }
}

template <> __device__ __forceinline__ void dequant8<LLMJ_TYPE_Q8_0>(const uint8_t * b, int j0, float * v) {
    const float d = ld_f16(b);
    const uint8_t * q = b + 2 + j0;
#pragma unroll
    for (int k = 0; k < 8; k += 2) {
        const uint32_t p = ld_u16(q + k);
        v[k] = (float) (int8_t) (p & 0xFF) * d;
        v[k + 1] = (float) (int8_t) (p >> 8) * d;
    }
}

template <> __device__ __forceinline__ void dequant8<LLMJ_TYPE_IQ4_NL>(const uint8_t * b, int j0, float * v) {
    const float d = ld_f16(b);
    const int sh = j0 & 16 ? 4 : 0;
    const uint8_t * q = b + 2 + (j0 & 15);
#pragma unroll
    for (int k = 0; k < 8; k += 4) {
        const uint32_t g = iq4nl_lookup4((ld_u32_a2(q + k) >> sh) & 0x0F0F0F0Fu);
#pragma unroll
        for (int i = 0; i < 4; i++) v[k + i] = (float) (int8_t) (g >> (8 * i)) * d;
    }
}

// Element i of a row of a plain type (F32, F16, BF16) widened to float.
static __device__ __forceinline__ float load_plain(int type, const uint8_t * row, int64_t i) {
    if (type == LLMJ_TYPE_F32) return reinterpret_cast<const float *>(row)[i];
    if (type == LLMJ_TYPE_F16) return __half2float(reinterpret_cast<const __half *>(row)[i]);
    return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(row)[i]);
}

static inline bool llmj_cuda_is_plain(int type) {
    return type == LLMJ_TYPE_F32 || type == LLMJ_TYPE_F16 || type == LLMJ_TYPE_BF16;
}

// X(TYPE) for every block type with a dequant8 (get_rows and dequantize_f16 dispatch with it:
// switch (type) { LLMJ_CUDA_BLOCK_TYPES(CASE) default: ... }); a new block type with a dequant8 adds
// itself here. LLMJ_CUDA_Q32_TYPES: the 32-element types with matvec_q.cu kernels.
#define LLMJ_CUDA_Q32_TYPES(X) X(LLMJ_TYPE_Q4_0) X(LLMJ_TYPE_Q4_1) X(LLMJ_TYPE_Q5_0) X(LLMJ_TYPE_Q5_1) \
                               X(LLMJ_TYPE_Q8_0) X(LLMJ_TYPE_IQ4_NL)
#define LLMJ_CUDA_BLOCK_TYPES(X) LLMJ_CUDA_Q32_TYPES(X)
