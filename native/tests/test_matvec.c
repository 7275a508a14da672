/* C-only harness: llmj_matvec on every ISA level this CPU has, against a double-precision
 * reference, with guard bands around the output. Exit code 0 = all passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float) ((rng >> 40) / (double) (1ull << 24)) * 2.0f - 1.0f;
}

static uint16_t f32_to_f16_trunc(float f) {   /* test data only: exact for values that fit */
    union { float f; uint32_t u; } v = { f };
    uint32_t sign = (v.u >> 16) & 0x8000u;
    int exp = (int) ((v.u >> 23) & 0xFF) - 127 + 15;
    if (exp <= 0) return (uint16_t) sign;
    return (uint16_t) (sign | ((uint32_t) exp << 10) | ((v.u >> 13) & 0x3FFu));
}

#define GUARD 16
static int failures = 0;

static void check(int isa, int type, int64_t rows, int64_t cols) {
    size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
    size_t row_bytes = (size_t) cols * elem + 8;     /* padded rows: stride != cols */
    char * w = malloc(row_bytes * (size_t) rows + 1);
    float * x = malloc(sizeof(float) * (size_t) (cols + 1));
    float * y = malloc(sizeof(float) * (size_t) (rows + 2 * GUARD));
    double * wd = malloc(sizeof(double) * (size_t) (rows * cols + 1));
    for (int64_t c = 0; c < cols; c++) x[c] = frand();
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            float v = frand();
            if (type == LLMJ_TYPE_F32) {
                ((float *) (w + r * row_bytes))[c] = v;
                wd[r * cols + c] = v;
            } else {
                uint16_t h = f32_to_f16_trunc(v);
                ((uint16_t *) (w + r * row_bytes))[c] = h;
                wd[r * cols + c] = llmj_fp16_to_fp32(h);
            }
        }
    }
    for (int i = 0; i < rows + 2 * GUARD; i++) y[i] = NAN;
    if (llmj_cpu_set_isa(isa) != LLMJ_OK) { printf("skip isa %d: %s\n", isa, llmj_last_error()); goto out; }
    int st = llmj_matvec(type, w, row_bytes, x, y + GUARD, rows, cols);
    if (st != LLMJ_OK) { printf("FAIL isa=%d type=%d: status %d %s\n", isa, type, st, llmj_last_error()); failures++; goto out; }
    for (int64_t r = 0; r < rows; r++) {
        double ref = 0, mag = 0;
        for (int64_t c = 0; c < cols; c++) { ref += wd[r * cols + c] * x[c]; mag += fabs(wd[r * cols + c] * x[c]); }
        double tol = 1e-6 + 2e-6 * mag;  /* float32 accumulation over cols terms */
        if (!(fabs(y[GUARD + r] - ref) <= tol)) {
            printf("FAIL isa=%d type=%d rows=%lld cols=%lld row %lld: got %g want %g\n", isa, type,
                   (long long) rows, (long long) cols, (long long) r, y[GUARD + r], ref);
            failures++;
            break;
        }
    }
    for (int i = 0; i < GUARD; i++) {
        if (!isnan(y[i]) || !isnan(y[GUARD + rows + i])) { printf("FAIL guard band written\n"); failures++; break; }
    }
out:
    free(w); free(x); free(y); free(wd);
}

int main(void) {
    static const int64_t cols[] = { 1, 3, 17, 31, 32, 33, 1000, 4097 };
    static const int64_t rows[] = { 1, 7, 64 };
    int checks = 0;
    for (int isa = LLMJ_ISA_SCALAR; isa <= LLMJ_ISA_AVX512; isa++)
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
                for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++) {
                    check(isa, t == 0 ? LLMJ_TYPE_F32 : LLMJ_TYPE_F16, rows[j], cols[i]);
                    checks++;
                }
    /* argument validation returns a status and a message, never crashes */
    if (llmj_matvec(LLMJ_TYPE_Q4_0, "", 0, NULL, NULL, 1, 1) != LLMJ_ERR_UNSUPPORTED) failures++;
    if (llmj_matvec(LLMJ_TYPE_F32, NULL, 4, NULL, NULL, 1, 1) != LLMJ_ERR_INVALID_ARGUMENT) failures++;
    if (strlen(llmj_last_error()) == 0) failures++;
    printf("%d passed, %d failed\n", checks - failures > 0 ? checks - failures : 0, failures);
    return failures == 0 ? 0 : 1;
}
