/* Internal: the ISA level kernels dispatch on. */
#ifndef LLMJ_CPU_H
#define LLMJ_CPU_H

#include "../common.h"

/* Current ISA level (LLMJ_ISA_SCALAR / _AVX2 / _AVX512); cheap enough to call per kernel. */
int llmj_cpu_active_isa(void);

#endif
