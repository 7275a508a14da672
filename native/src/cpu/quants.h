/* Internal: ggml's block layouts (byte for byte, as stored in GGUF), the type table, float16 /
 * bfloat16 conversions and the activation converters shared by the product kernels.
 *
 * Each block type below is ggml's struct of the same name; the static_asserts in quants.c pin
 * their sizes. All fp16 fields are IEEE binary16 stored as uint16_t. */
#ifndef LLMJ_QUANTS_H
#define LLMJ_QUANTS_H

#include <stdint.h>

#include "cpu.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;                 /* 18 */
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;              /* 20 */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;  /* 22 */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1; /* 24 */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;                      /* 34 */
typedef struct { uint16_t d, s; int8_t qs[QK8_1]; } block_q8_1;                   /* 36: s = fp16(d * sum qs) */
typedef struct { uint16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;              /* 18 */

/* Q2_K: 16 sub-blocks of 16; scales[i] = scale (low nibble) | min (high nibble); 2-bit quants. */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } block_q2_K;   /* 84 */
/* Q3_K: 16 sub-blocks of 16; 6-bit signed scales packed in 12 bytes; 2 low bits + 1 high bit. */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; } block_q3_K; /* 110 */
/* Q4_K: 8 sub-blocks of 32; 6-bit scales and mins packed in 12 bytes; 4-bit quants. */
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K; /* 144 */
/* Q5_K: as Q4_K plus one high bit per quant. */
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K; /* 176 */
/* Q6_K: 16 sub-blocks of 16 with int8 scales; 4 low bits + 2 high bits, offset 32. */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K; /* 210 */
/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (offset 32); 4-bit indices into kvalues_iq4nl. */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs; /* 136 */
/* Q8_K: activations for the K-quants; bsums[j] = sum of qs[16j .. 16j+15]. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K; /* 292 */

/* Non-linear 4-bit grid of IQ4_NL / IQ4_XS. */
extern const int8_t llmj_kvalues_iq4nl[16];

/* Type table entry; NULL for unknown types. */
typedef struct {
    int block_size;     /* elements per block */
    int block_bytes;
    int vec_dot_type;   /* -1 if there is no product kernel for this weight type */
} llmj_type_info;

const llmj_type_info * llmj_type_get(int type);

/* Activation row bytes for `cols` elements of vec_dot_type vt (cols a multiple of its block). */
size_t llmj_act_row_bytes(int vt, int64_t cols);

/* Converters (no argument checks): n a multiple of the block size. Bit-exact with ggml's x86 CPU
 * from_float. */
void llmj_quantize_act(int vt, const float * x, void * out, int64_t n);

static inline uint16_t llmj_fp32_to_fp16(float f) {
    /* round to nearest even, with subnormals; NaN stays NaN */
    union { float f; uint32_t u; } v = { f };
    uint32_t u = v.u, sign = (u >> 16) & 0x8000u;
    u &= 0x7FFFFFFFu;
    if (u > 0x7F800000u) return (uint16_t) (sign | 0x7E00u | ((u >> 13) & 0x3FFu));   /* NaN */
    if (u >= 0x477FF000u) return (uint16_t) (sign | 0x7C00u);        /* overflow (incl. inf) */
    if (u < 0x38800000u) {                                            /* fp16 subnormal or zero */
        if (u < 0x33000000u) return (uint16_t) sign;                  /* < 2^-25: rounds to 0 */
        uint32_t e = u >> 23, m = (u & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126 - e;                                    /* 14 + (113 - e) */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t) (sign | q);
    }
    uint32_t r = u + 0xFFFu + ((u >> 13) & 1u);                       /* RNE on the 13 dropped bits */
    return (uint16_t) (sign | ((r - 0x38000000u) >> 13));
}

static inline uint16_t llmj_fp32_to_bf16(float f) {
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t) ((v.u >> 16) | 64);  /* quiet NaN */
    return (uint16_t) ((v.u + (0x7FFFu + ((v.u >> 16) & 1u))) >> 16);
}

static inline float llmj_bf16_to_fp32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t) h << 16 };
    return v.f;
}

#endif
