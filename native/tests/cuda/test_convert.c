/* C-only harness for llmj_cuda_convert_f32 (native/src/cuda/convert.cu): float32 -> F16 / BF16 on the
 * GPU against a bit-exact round-to-nearest-even reference on the CPU, over awkward lengths, both
 * kernel variants (aligned pairs and unaligned singles), special values (zeros, F16 subnormals and the
 * ties below them, overflow to inf, inf, NaN) and guard bands around the output. Exit code 0 = passed,
 * 77 = skipped (no usable CUDA device), 1 = failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "llmj.h"

#define SKIP 77
#define GUARD 32
#define SENTINEL 0xA5A5u

/* IEEE binary32 -> binary16, round to nearest even; NaN -> a quiet NaN (compared by class only). */
static uint16_t ref_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xFFu, man = x & 0x7FFFFFu;
    if (exp == 0xFFu) return (uint16_t) (sign | 0x7C00u | (man ? 0x200u : 0));
    int e = (int) exp - 127 + 15;
    if (e >= 31) return (uint16_t) (sign | 0x7C00u);
    if (e <= 0) {                                   /* F16 subnormal or zero */
        if (e < -10) return (uint16_t) sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t) (sign | h);
    }
    uint32_t h = ((uint32_t) e << 10) | (man >> 13), rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;   /* a carry into the exponent is right, up to inf */
    return (uint16_t) (sign | h);
}

/* IEEE binary32 -> bfloat16, round to nearest even. */
static uint16_t ref_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7F800000u) == 0x7F800000u && (x & 0x7FFFFFu)) return (uint16_t) ((x >> 16) | 0x40u);
    return (uint16_t) ((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

static int is_nan16(uint16_t h, int bf16) {
    return bf16 ? ((h & 0x7F80u) == 0x7F80u && (h & 0x7Fu)) : ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu));
}

static unsigned long long rng = 0x243F6A8885A308D3ull;
static uint32_t next32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t) (rng >> 32);
}

/* Values spread over the exponents where F16 and BF16 round differently, plus special cases. */
static float value(int64_t i) {
    static const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e30f,
                                     5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 8.9406967e-8f, 6.1035156e-5f,
                                     6.0975552e-5f, 1.00048828125f, 1.00146484375f, 3.3895314e38f};
    const int ns = (int) (sizeof specials / sizeof specials[0]);
    if (i < ns) return specials[i];
    if (i == ns) return INFINITY;
    if (i == ns + 1) return -INFINITY;
    if (i == ns + 2) return NAN;
    uint32_t r = next32();
    uint32_t exp = 127 - 30 + (r % 52);             /* 2^-30 .. 2^21 */
    uint32_t bits = (r & 0x80000000u) | (exp << 23) | (next32() & 0x7FFFFFu);
    if (i % 7 == 0) bits &= ~0x1FFFu, bits |= 0x1000u; /* exact F16 ties */
    if (i % 11 == 0) bits &= ~0xFFFFu, bits |= 0x8000u; /* exact BF16 ties */
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int failures = 0;

static int check(int out_type, int64_t n, int x_off, int out_off) {
    const int bf16 = out_type == LLMJ_TYPE_BF16;
    float * hx = malloc(sizeof(float) * (size_t) (n + 1));
    uint16_t * hy = malloc(sizeof(uint16_t) * (size_t) (n + 2 * GUARD + 1));
    for (int64_t i = 0; i < n; i++) hx[i] = value(i);
    for (int64_t i = 0; i < n + 2 * GUARD + 1; i++) hy[i] = SENTINEL;
    float * dx = NULL;
    uint16_t * dy = NULL;
    if (cudaMalloc((void **) &dx, sizeof(float) * (size_t) (n + 1)) != cudaSuccess
        || cudaMalloc((void **) &dy, sizeof(uint16_t) * (size_t) (n + 2 * GUARD + 1)) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc failed\n");
        return 1;
    }
    cudaMemcpy(dx + x_off, hx, sizeof(float) * (size_t) n, cudaMemcpyHostToDevice);
    cudaMemcpy(dy, hy, sizeof(uint16_t) * (size_t) (n + 2 * GUARD + 1), cudaMemcpyHostToDevice);
    int st = llmj_cuda_convert_f32(dx + x_off, dy + GUARD + out_off, out_type, n, NULL);
    cudaError_t err = cudaDeviceSynchronize();
    int bad = 0;
    if (st != LLMJ_OK || err != cudaSuccess) {
        fprintf(stderr, "llmj_cuda_convert_f32 status %d (%s), cuda %s\n", st, llmj_last_error(), cudaGetErrorString(err));
        bad = 1;
    } else {
        cudaMemcpy(hy, dy, sizeof(uint16_t) * (size_t) (n + 2 * GUARD + 1), cudaMemcpyDeviceToHost);
        for (int64_t i = 0; i < n + 2 * GUARD + 1 && bad < 5; i++) {
            int64_t j = i - GUARD - out_off;
            if (j < 0 || j >= n) {
                if (hy[i] != SENTINEL) {
                    fprintf(stderr, "guard band overwritten at %lld (element %lld)\n", (long long) i, (long long) j);
                    bad++;
                }
                continue;
            }
            uint16_t want = bf16 ? ref_bf16(hx[j]) : ref_f16(hx[j]);
            int ok = is_nan16(want, bf16) ? is_nan16(hy[i], bf16) : hy[i] == want;
            if (!ok) {
                fprintf(stderr, "element %lld: %.9g -> 0x%04x, reference 0x%04x\n", (long long) j, hx[j], hy[i], want);
                bad++;
            }
        }
    }
    printf("%s %-4s n=%-8lld x+%d out+%d\n", bad ? "FAIL" : "ok  ", bf16 ? "BF16" : "F16", (long long) n, x_off, out_off);
    failures += bad != 0;
    cudaFree(dx);
    cudaFree(dy);
    free(hx);
    free(hy);
    return bad;
}

int main(void) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        printf("skipped: no usable CUDA device (%s)\n", err != cudaSuccess ? cudaGetErrorString(err) : "none found");
        return SKIP;
    }
    const int64_t sizes[] = {1, 2, 3, 31, 255, 256, 257, 4097, 1000003};
    for (int t = 0; t < 2; t++) {
        int type = t ? LLMJ_TYPE_BF16 : LLMJ_TYPE_F16;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            check(type, sizes[s], 0, 0);      /* aligned: two elements per thread */
            check(type, sizes[s], 1, 0);      /* x misaligned for float2 loads: one per thread */
            check(type, sizes[s], 0, 1);      /* out misaligned for 32-bit stores */
        }
    }
    /* argument errors are statuses, not crashes */
    if (llmj_cuda_convert_f32(NULL, NULL, LLMJ_TYPE_F16, 4, NULL) != LLMJ_ERR_INVALID_ARGUMENT) failures++;
    if (llmj_cuda_convert_f32(NULL, NULL, LLMJ_TYPE_Q8_0, 4, NULL) != LLMJ_ERR_UNSUPPORTED) failures++;
    if (llmj_cuda_convert_f32(NULL, NULL, LLMJ_TYPE_F16, 0, NULL) != LLMJ_OK) failures++;
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
