/* CPU feature detection and the process-wide ISA choice every kernel dispatches on. */
#include <stdatomic.h>

#include "cpu.h"

static uint32_t detect(void) {
    uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
    /* __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))          f |= LLMJ_CPU_SSE42;
    if (__builtin_cpu_supports("avx"))             f |= LLMJ_CPU_AVX;
    if (__builtin_cpu_supports("avx2"))            f |= LLMJ_CPU_AVX2;
    if (__builtin_cpu_supports("fma"))             f |= LLMJ_CPU_FMA;
    if (__builtin_cpu_supports("f16c"))            f |= LLMJ_CPU_F16C;
    if (__builtin_cpu_supports("avx512f"))         f |= LLMJ_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw"))        f |= LLMJ_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl"))        f |= LLMJ_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512dq"))        f |= LLMJ_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vnni"))      f |= LLMJ_CPU_AVX512VNNI;
    if (__builtin_cpu_supports("avx512bf16"))      f |= LLMJ_CPU_AVX512BF16;
    if (__builtin_cpu_supports("avxvnni"))         f |= LLMJ_CPU_AVXVNNI;
#endif
    return f;
}

static _Atomic uint32_t features_cache = 0xFFFFFFFFu;   /* all ones: not detected yet */
static _Atomic int isa_choice = LLMJ_ISA_AUTO;

uint32_t llmj_cpu_features(void) {
    uint32_t f = atomic_load_explicit(&features_cache, memory_order_relaxed);
    if (f == 0xFFFFFFFFu) {
        f = detect();
        atomic_store_explicit(&features_cache, f, memory_order_relaxed);
    }
    return f;
}

static int supports(int isa) {
    uint32_t f = llmj_cpu_features();
    const uint32_t avx2 = LLMJ_CPU_AVX2 | LLMJ_CPU_FMA | LLMJ_CPU_F16C;
    const uint32_t avx512 = avx2 | LLMJ_CPU_AVX512F | LLMJ_CPU_AVX512BW | LLMJ_CPU_AVX512VL | LLMJ_CPU_AVX512DQ;
    switch (isa) {
        case LLMJ_ISA_SCALAR: return 1;
        case LLMJ_ISA_AVX2:   return (f & avx2) == avx2;
        case LLMJ_ISA_AVX512: return (f & avx512) == avx512;
        default:              return 0;
    }
}

int llmj_cpu_best_isa(void) {
    if (supports(LLMJ_ISA_AVX512)) return LLMJ_ISA_AVX512;
    if (supports(LLMJ_ISA_AVX2)) return LLMJ_ISA_AVX2;
    return LLMJ_ISA_SCALAR;
}

int llmj_cpu_set_isa(int isa) {
    if (isa < LLMJ_ISA_AUTO || isa > LLMJ_ISA_AVX512) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "unknown ISA level %d", isa);
    }
    if (isa != LLMJ_ISA_AUTO && !supports(isa)) {
        static const char * names[] = { "auto", "scalar", "avx2", "avx512" };
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "this CPU does not support the %s kernels", names[isa]);
    }
    atomic_store(&isa_choice, isa);
    return LLMJ_OK;
}

int llmj_cpu_active_isa(void) {
    int isa = atomic_load_explicit(&isa_choice, memory_order_relaxed);
    return isa == LLMJ_ISA_AUTO ? llmj_cpu_best_isa() : isa;
}

int llmj_cpu_isa(void) { return llmj_cpu_active_isa(); }
