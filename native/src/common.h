/* Internal helpers shared by libllmj and libllmj_cuda (not part of the ABI). */
#ifndef LLMJ_COMMON_H
#define LLMJ_COMMON_H

#include "llmj.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Records a printf-style message as this thread's last error and returns `status`.
 * Exported from libllmj.so so that libllmj_cuda.so shares the same thread-local slot. */
LLMJ_API int llmj_internal_fail(int status, const char * where, const char * fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define LLMJ_FAIL(status, ...) llmj_internal_fail((status), __func__, __VA_ARGS__)

/* IEEE half -> float, exact, without F16C (used by scalar code and references). */
static inline float llmj_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {                      /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while ((man & 0x400u) == 0);
            man &= 0x3FFu;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);   /* inf / nan */
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v = { bits };
    return v.f;
}

#ifdef __cplusplus
}
#endif

#endif
