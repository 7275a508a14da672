/* C-only harness for llmj_matvec_q / llmj_matmul_q / the thread pool.
 *
 * Reference: written plainly from ggml's block definitions (dequantize_row_* in ggml-quants.c and
 * the scalar vec_dot in ggml-cpu-quants.c), independent of the kernels: every weight element is
 * decoded to (scale * quant - min) in double, the activation to d_a * q_a in double, and the dot
 * product is summed in double. For Q4_1 / Q5_1 the min term uses Q8_1's stored s, as ggml does.
 *
 * Tolerance (float32 accumulation of nb block terms, each scaled with <= 3 roundings):
 *     |y - ref| <= (nb + 8) * 2^-24 * S,   S = sum over elements of |w_i * a_i| (+ |m_w * s_a|)
 * where nb = blocks per row (elements per row for F32/F16/BF16, whose kernels accumulate each
 * element in float; there nb = cols / 2).
 *
 * Cases: every product type x every ISA level the CPU has; rows 1, 3, 17, 64; cols 1, 2, 3, 5
 * (and 67 for 32-blocks) blocks; padded row stride; guard bands around y. Threaded (pools of 2
 * and 3) and matmul (1, 2, 3, 5, 8, 9, 17, 64, 70 tokens, padded strides; 67 rows, not a multiple of the
 * 16-row tiles) must equal single-threaded matvec bit for bit. Packed Q4_0 / Q8_0: see check_packed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmj.h"

static unsigned long long rng = 0x243F6A8885A308D3ull;
static uint32_t rnd32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t) (rng >> 32);
}
static float frand(void) { return (float) ((rnd32() >> 8) / (double) (1u << 24)) * 2.0f - 1.0f; }

/* ---- plain format helpers (test-only, straight from the definitions) ---- */
static double f16(const uint8_t * p) {
    uint16_t h = (uint16_t) (p[0] | (p[1] << 8));
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}
static double bf16(const uint8_t * p) {
    uint32_t u = (uint32_t) (p[0] | (p[1] << 8)) << 16;
    float f; memcpy(&f, &u, 4);
    return f;
}
static void put_f16(uint8_t * p, double v) {   /* v must be a normal fp16 value's neighbourhood: truncates */
    float f = (float) v; uint32_t u; memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    int exp = (int) ((u >> 23) & 0xFF) - 127 + 15;
    uint16_t h = exp <= 0 ? (uint16_t) sign : (uint16_t) (sign | ((uint32_t) exp << 10) | ((u >> 13) & 0x3FFu));
    p[0] = (uint8_t) h; p[1] = (uint8_t) (h >> 8);
}
static const int KV[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

typedef struct { int type, bs, bytes, vt; const char * name; } tinfo;
static const tinfo TYPES[] = {
    { LLMJ_TYPE_F32, 1, 4, LLMJ_TYPE_F32, "F32" },      { LLMJ_TYPE_F16, 1, 2, LLMJ_TYPE_F16, "F16" },
    { LLMJ_TYPE_BF16, 1, 2, LLMJ_TYPE_BF16, "BF16" },   { LLMJ_TYPE_Q4_0, 32, 18, LLMJ_TYPE_Q8_0, "Q4_0" },
    { LLMJ_TYPE_Q4_1, 32, 20, LLMJ_TYPE_Q8_1, "Q4_1" }, { LLMJ_TYPE_Q5_0, 32, 22, LLMJ_TYPE_Q8_0, "Q5_0" },
    { LLMJ_TYPE_Q5_1, 32, 24, LLMJ_TYPE_Q8_1, "Q5_1" }, { LLMJ_TYPE_Q8_0, 32, 34, LLMJ_TYPE_Q8_0, "Q8_0" },
    { LLMJ_TYPE_Q2_K, 256, 84, LLMJ_TYPE_Q8_K, "Q2_K" }, { LLMJ_TYPE_Q3_K, 256, 110, LLMJ_TYPE_Q8_K, "Q3_K" },
    { LLMJ_TYPE_Q4_K, 256, 144, LLMJ_TYPE_Q8_K, "Q4_K" }, { LLMJ_TYPE_Q5_K, 256, 176, LLMJ_TYPE_Q8_K, "Q5_K" },
    { LLMJ_TYPE_Q6_K, 256, 210, LLMJ_TYPE_Q8_K, "Q6_K" }, { LLMJ_TYPE_IQ4_NL, 32, 18, LLMJ_TYPE_Q8_0, "IQ4_NL" },
    { LLMJ_TYPE_IQ4_XS, 256, 136, LLMJ_TYPE_Q8_K, "IQ4_XS" },
};
#define N_TYPES (int) (sizeof TYPES / sizeof TYPES[0])

/* Decodes one weight block into w[0..bs) (double, exact) and, for Q4_1/Q5_1, *m the block min. */
static void decode_block(int type, const uint8_t * b, double * w, double * m) {
    *m = 0;
    switch (type) {
        case LLMJ_TYPE_F32: { float f; memcpy(&f, b, 4); w[0] = f; break; }
        case LLMJ_TYPE_F16: w[0] = f16(b); break;
        case LLMJ_TYPE_BF16: w[0] = bf16(b); break;
        case LLMJ_TYPE_Q4_0: case LLMJ_TYPE_IQ4_NL: {
            double d = f16(b);
            for (int j = 0; j < 16; j++) {
                int lo = b[2 + j] & 15, hi = b[2 + j] >> 4;
                w[j] = d * (type == LLMJ_TYPE_Q4_0 ? lo - 8 : KV[lo]);
                w[j + 16] = d * (type == LLMJ_TYPE_Q4_0 ? hi - 8 : KV[hi]);
            }
            break;
        }
        case LLMJ_TYPE_Q4_1: {   /* y = d*q + m; the m part is returned separately */
            double d = f16(b); *m = f16(b + 2);
            for (int j = 0; j < 16; j++) { w[j] = d * (b[4 + j] & 15); w[j + 16] = d * (b[4 + j] >> 4); }
            break;
        }
        case LLMJ_TYPE_Q5_0: case LLMJ_TYPE_Q5_1: {
            int one = type == LLMJ_TYPE_Q5_1;
            double d = f16(b);
            if (one) *m = f16(b + 2);
            const uint8_t * qh = b + (one ? 4 : 2), * qs = qh + 4;
            uint32_t h = (uint32_t) qh[0] | ((uint32_t) qh[1] << 8) | ((uint32_t) qh[2] << 16) | ((uint32_t) qh[3] << 24);
            for (int j = 0; j < 16; j++) {
                int v0 = (qs[j] & 15) | (((h >> j) & 1) << 4), v1 = (qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
                w[j] = d * (one ? v0 : v0 - 16);
                w[j + 16] = d * (one ? v1 : v1 - 16);
            }
            break;
        }
        case LLMJ_TYPE_Q8_0: { double d = f16(b); for (int j = 0; j < 32; j++) w[j] = d * (int8_t) b[2 + j]; break; }
        case LLMJ_TYPE_Q2_K: {   /* scales[16] qs[64] d dmin */
            const uint8_t * sc = b, * q = b + 16;
            double d = f16(b + 80), dmin = f16(b + 82);
            int is = 0, y = 0;
            for (int n = 0; n < 256; n += 128, q += 32)
                for (int shift = 0; shift < 8; shift += 2)
                    for (int half = 0; half < 2; half++, is++)
                        for (int l = 0; l < 16; l++)
                            w[y++] = d * (sc[is] & 15) * ((q[16 * half + l] >> shift) & 3) - dmin * (sc[is] >> 4);
            break;
        }
        case LLMJ_TYPE_Q3_K: {   /* hmask[32] qs[64] scales[12] d */
            const uint8_t * hm = b, * q = b + 32, * s = b + 96;
            double d = f16(b + 108);
            int sc[16];
            for (int j = 0; j < 16; j++) {
                int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
                int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
                sc[j] = (lo | (hi << 4)) - 32;
            }
            int is = 0, y = 0, mbit = 1;
            for (int n = 0; n < 256; n += 128, q += 32)
                for (int shift = 0; shift < 8; shift += 2, mbit <<= 1)
                    for (int half = 0; half < 2; half++, is++)
                        for (int l = 0; l < 16; l++) {
                            int k = 16 * half + l;
                            w[y++] = d * sc[is] * (((q[k] >> shift) & 3) - ((hm[k] & mbit) ? 0 : 4));
                        }
            break;
        }
        case LLMJ_TYPE_Q4_K: case LLMJ_TYPE_Q5_K: {   /* d dmin scales[12] (qh[32]) qs[128] */
            int five = type == LLMJ_TYPE_Q5_K;
            double d = f16(b), dmin = f16(b + 2);
            const uint8_t * s = b + 4, * qh = b + 16, * q = b + (five ? 48 : 16);
            int y = 0;
            for (int j = 0; j < 8; j++) {
                int sc, mn;
                if (j < 4) { sc = s[j] & 63; mn = s[j + 4] & 63; }
                else { sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
                const uint8_t * qq = q + 32 * (j / 2);
                for (int l = 0; l < 32; l++) {
                    int v = (j % 2) ? qq[l] >> 4 : qq[l] & 15;
                    if (five) v += ((qh[l] >> j) & 1) ? 16 : 0;
                    w[y++] = d * sc * v - dmin * mn;
                }
            }
            break;
        }
        case LLMJ_TYPE_Q6_K: {   /* ql[128] qh[64] scales[16] d */
            const uint8_t * ql = b, * qh = b + 128; const int8_t * sc = (const int8_t *) (b + 192);
            double d = f16(b + 208);
            for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8)
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    w[n + l]      = d * sc[is]     * (((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
                    w[n + l + 32] = d * sc[is + 2] * (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    w[n + l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    w[n + l + 96] = d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            break;
        }
        case LLMJ_TYPE_IQ4_XS: {   /* d scales_h scales_l[4] qs[128] */
            double d = f16(b);
            int sh = b[2] | (b[3] << 8);
            for (int ib = 0; ib < 8; ib++) {
                int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
                const uint8_t * qs = b + 8 + 16 * ib;
                for (int j = 0; j < 16; j++) {
                    w[32 * ib + j] = d * (ls - 32) * KV[qs[j] & 15];
                    w[32 * ib + j + 16] = d * (ls - 32) * KV[qs[j] >> 4];
                }
            }
            break;
        }
    }
}

/* Decodes the converted activation: a[0..cols), and for Q8_1 the per-block s values. */
static void decode_act(int vt, const uint8_t * p, int64_t cols, double * a, double * s) {
    for (int64_t i = 0; i < cols; i++) {
        switch (vt) {
            case LLMJ_TYPE_F32: { float f; memcpy(&f, p + 4 * i, 4); a[i] = f; break; }
            case LLMJ_TYPE_F16: a[i] = f16(p + 2 * i); break;
            case LLMJ_TYPE_BF16: a[i] = bf16(p + 2 * i); break;
            case LLMJ_TYPE_Q8_0: { const uint8_t * b = p + 34 * (i / 32); a[i] = f16(b) * (int8_t) b[2 + i % 32]; break; }
            case LLMJ_TYPE_Q8_1: {
                const uint8_t * b = p + 36 * (i / 32);
                a[i] = f16(b) * (int8_t) b[4 + i % 32];
                s[i / 32] = f16(b + 2);
                break;
            }
            case LLMJ_TYPE_Q8_K: {
                const uint8_t * b = p + 292 * (i / 256); float d; memcpy(&d, b, 4);
                a[i] = (double) d * (int8_t) b[4 + i % 256];
                break;
            }
        }
    }
}

/* Random weights: random bytes with sane fp16 scale fields. */
static void fill_weights(const tinfo * t, uint8_t * w, size_t row_bytes, int64_t rows, int64_t cols) {
    int64_t nb = cols / t->bs;
    for (int64_t r = 0; r < rows; r++) {
        uint8_t * row = w + r * row_bytes;
        for (size_t i = 0; i < row_bytes; i++) row[i] = (uint8_t) rnd32();
        for (int64_t b = 0; b < nb; b++) {
            uint8_t * blk = row + b * t->bytes;
            double d = ldexp(1.0 + frand() * 0.5, -6 - (int) (rnd32() % 4));
            switch (t->type) {
                case LLMJ_TYPE_F32: { float f = frand(); memcpy(blk, &f, 4); break; }
                case LLMJ_TYPE_F16: put_f16(blk, frand()); break;
                case LLMJ_TYPE_BF16: { float f = frand(); uint32_t u; memcpy(&u, &f, 4); blk[0] = (uint8_t) (u >> 16); blk[1] = (uint8_t) (u >> 24); break; }
                case LLMJ_TYPE_Q4_0: case LLMJ_TYPE_Q5_0: case LLMJ_TYPE_Q8_0: case LLMJ_TYPE_IQ4_NL: case LLMJ_TYPE_IQ4_XS:
                    put_f16(blk, rnd32() & 1 ? -d : d); break;
                case LLMJ_TYPE_Q4_1: case LLMJ_TYPE_Q5_1: case LLMJ_TYPE_Q4_K: case LLMJ_TYPE_Q5_K:
                    put_f16(blk, d); put_f16(blk + 2, frand() * d * 4); break;
                case LLMJ_TYPE_Q2_K: put_f16(blk + 80, d); put_f16(blk + 82, d * 0.5); break;
                case LLMJ_TYPE_Q3_K: put_f16(blk + 108, d); break;
                case LLMJ_TYPE_Q6_K: put_f16(blk + 208, d); break;
            }
        }
    }
}

#define GUARD 16
static int failures = 0, checks = 0;
static const float SENT = -12345.678f;

/* one matvec case at the current ISA against the double reference */
static void check_case(const tinfo * t, int isa, int64_t rows, int64_t cols) {
    checks++;
    const int64_t nb = cols / t->bs;
    const size_t row_bytes = (size_t) nb * t->bytes + 8;
    uint8_t * w = malloc(row_bytes * rows);
    float * x = malloc(sizeof(float) * cols);
    float * y = malloc(sizeof(float) * (rows + 2 * GUARD));
    size_t wsz = llmj_matvec_work_size(t->type, cols);
    uint8_t * act = malloc(wsz + sizeof(float) * cols + 64);
    uint8_t * work = malloc(wsz + 64);
    double * ad = malloc(sizeof(double) * cols), * as = malloc(sizeof(double) * (cols / 32 + 1));
    double * wd = malloc(sizeof(double) * 256);
    fill_weights(t, w, row_bytes, rows, cols);
    double xs = ldexp(1, (int) (rnd32() % 7) - 3);
    for (int64_t i = 0; i < cols; i++) x[i] = frand() * (float) xs;
    for (int i = 0; i < rows + 2 * GUARD; i++) y[i] = SENT;
    if (t->vt != LLMJ_TYPE_F32) {
        if (llmj_quantize_activations(t->vt, x, act, cols) != LLMJ_OK) { printf("FAIL quantize %s\n", llmj_last_error()); failures++; goto out; }
    } else {
        memcpy(act, x, sizeof(float) * cols);
    }
    decode_act(t->vt, act, cols, ad, as);
    int st = llmj_matvec_q(NULL, t->type, w, row_bytes, x, y + GUARD, rows, cols, work, wsz);
    if (st != LLMJ_OK) { printf("FAIL %s isa=%d: status %d %s\n", t->name, isa, st, llmj_last_error()); failures++; goto out; }
    for (int64_t r = 0; r < rows; r++) {
        double ref = 0, mag = 0;
        for (int64_t b = 0; b < nb; b++) {
            double m;
            decode_block(t->type, w + r * row_bytes + b * t->bytes, wd, &m);
            for (int i = 0; i < t->bs; i++) { ref += wd[i] * ad[b * t->bs + i]; mag += fabs(wd[i] * ad[b * t->bs + i]); }
            if (t->type == LLMJ_TYPE_Q4_1 || t->type == LLMJ_TYPE_Q5_1) { ref += m * as[b]; mag += fabs(m * as[b]); }
        }
        double terms = t->bs == 1 ? (double) cols / 2 : (double) nb;
        double tol = (terms + 8) * ldexp(1, -24) * mag;
        if (!(fabs(y[GUARD + r] - ref) <= tol)) {
            printf("FAIL %s isa=%d rows=%lld cols=%lld row %lld: got %.9g want %.9g (tol %.3g)\n", t->name, isa,
                   (long long) rows, (long long) cols, (long long) r, y[GUARD + r], ref, tol);
            failures++;
            break;
        }
    }
    for (int i = 0; i < GUARD; i++) {
        if (y[i] != SENT || y[GUARD + rows + i] != SENT) { printf("FAIL %s guard band written\n", t->name); failures++; break; }
    }
out:
    free(w); free(x); free(y); free(act); free(work); free(ad); free(as); free(wd);
}

/* pools of 2 and 3, and matmul with padded strides, equal single-threaded matvec bit for bit */
/* Counts a failure when a kernel call does not return LLMJ_OK (its output is then not worth comparing). */
#define EXPECT_OK(name, call) do { int st_ = (call); if (st_ != LLMJ_OK) { \
        printf("FAIL %s: %s returned %d: %s\n", (name), #call, st_, llmj_last_error()); failures++; } } while (0)

static void check_threads_and_matmul(const tinfo * t, llmj_threadpool * p2, llmj_threadpool * p3) {
    const int64_t rows = 67, cols = t->bs == 1 ? 200 : t->bs * 3, ntok = 70;
    const size_t row_bytes = (size_t) (cols / t->bs) * t->bytes + 4;
    const size_t xs = (size_t) cols + 3, ys = (size_t) rows + 5;
    uint8_t * w = malloc(row_bytes * rows);
    float * x = malloc(sizeof(float) * xs * ntok);
    float * y1 = malloc(sizeof(float) * rows), * y2 = malloc(sizeof(float) * rows);
    float * ym = malloc(sizeof(float) * ys * ntok);
    fill_weights(t, w, row_bytes, rows, cols);
    for (size_t i = 0; i < xs * ntok; i++) x[i] = frand();
    for (int pi = 0; pi < 2; pi++) {
        llmj_threadpool * p = pi ? p3 : p2;
        for (int64_t tok = 0; tok < 5; tok++) {
            checks++;
            EXPECT_OK(t->name, llmj_matvec_q(NULL, t->type, w, row_bytes, x + tok * xs, y1, rows, cols, NULL, 0));
            EXPECT_OK(t->name, llmj_matvec_q(p, t->type, w, row_bytes, x + tok * xs, y2, rows, cols, NULL, 0));
            if (memcmp(y1, y2, sizeof(float) * rows) != 0) {
                printf("FAIL %s: pool of %d differs from single-threaded (token %lld)\n", t->name, llmj_threadpool_size(p), (long long) tok);
                failures++;
            }
        }
        /* token counts around the 8-token tile of the interleaved kernels and the 4-token kernels,
         * and 70 > the 64-token tile */
        static const int64_t NTS[] = { 1, 2, 3, 5, 8, 9, 17, 64, 70 };
        for (size_t ni = 0; ni < sizeof NTS / sizeof NTS[0]; ni++) {
            const int64_t nt = NTS[ni];
            checks++;
            for (size_t i = 0; i < ys * ntok; i++) ym[i] = SENT;
            size_t need = llmj_matmul_work_size(t->type, cols, nt);
            void * work = malloc(need + 1);
            int st = llmj_matmul_q(p, t->type, w, row_bytes, x, xs, ym, ys, rows, cols, nt, work, need);
            free(work);
            if (st != LLMJ_OK) { printf("FAIL %s matmul: %s\n", t->name, llmj_last_error()); failures++; continue; }
            for (int64_t tok = 0; tok < nt; tok++) {
                EXPECT_OK(t->name, llmj_matvec_q(NULL, t->type, w, row_bytes, x + tok * xs, y1, rows, cols, NULL, 0));
                int bad = memcmp(y1, ym + tok * ys, sizeof(float) * rows) != 0;
                for (size_t i = rows; i < ys; i++) bad |= ym[tok * ys + i] != SENT;
                if (bad) {
                    printf("FAIL %s: matmul (%lld tokens, pool %d) token %lld differs from matvec or wrote the padding\n",
                           t->name, (long long) nt, llmj_threadpool_size(p), (long long) tok);
                    failures++;
                    break;
                }
            }
        }
    }
    free(w); free(x); free(y1); free(y2); free(ym);
}

/* large enough (~0.1-1 ms) that the pool's workers take part rather than arriving late */
static void check_threads_large(const tinfo * t, llmj_threadpool * p2, llmj_threadpool * p3) {
    const int64_t rows = 1500, cols = t->bs == 1 ? 2048 : t->bs * (t->bs == 32 ? 64 : 8), ntok = 6;
    const size_t row_bytes = (size_t) (cols / t->bs) * t->bytes;
    uint8_t * w = malloc(row_bytes * rows);
    float * x = malloc(sizeof(float) * cols * ntok);
    float * y1 = malloc(sizeof(float) * rows * ntok), * y2 = malloc(sizeof(float) * rows * ntok);
    fill_weights(t, w, row_bytes, rows, cols);
    for (int64_t i = 0; i < cols * ntok; i++) x[i] = frand();
    for (int64_t tok = 0; tok < ntok; tok++) {
        EXPECT_OK(t->name, llmj_matvec_q(NULL, t->type, w, row_bytes, x + tok * cols, y1 + tok * rows, rows, cols, NULL, 0));
    }
    for (int pi = 0; pi < 2; pi++) {
        llmj_threadpool * p = pi ? p3 : p2;
        checks += 2;
        EXPECT_OK(t->name, llmj_matvec_q(p, t->type, w, row_bytes, x, y2, rows, cols, NULL, 0));
        if (memcmp(y1, y2, sizeof(float) * rows) != 0) { printf("FAIL %s: large matvec on a pool of %d differs\n", t->name, llmj_threadpool_size(p)); failures++; }
        EXPECT_OK(t->name, llmj_matmul_q(p, t->type, w, row_bytes, x, cols, y2, rows, rows, cols, ntok, NULL, 0));
        if (memcmp(y1, y2, sizeof(float) * rows * ntok) != 0) { printf("FAIL %s: large matmul on a pool of %d differs\n", t->name, llmj_threadpool_size(p)); failures++; }
    }
    free(w); free(x); free(y1); free(y2);
}

/* ---- packed Q4_0 / Q8_0 (llmj_matmul_q_pack / llmj_matmul_q_packed) ----
 * At the current ISA, for rows around the 16-row groups and the 4-group one-token path and cols of
 * 1..67 blocks: the packed matvec against the double reference (tolerance above); equal bit for bit
 * to the portable kernel (the scalar ISA level) and, at AVX512-VNNI (the same kernel order as the
 * unpacked tiles), to llmj_matvec_q; matmul (pools of 2 and 3, padded
 * strides, 1..70 tokens) equal to the single-threaded packed matvec per token bit for bit, padding and
 * guard bands untouched; packing on a pool writes the same bytes as on the calling thread. */
static void *aligned64(size_t n) { return aligned_alloc(64, (n + 63) / 64 * 64); }

static void check_packed_case(const tinfo * t, int isa, int64_t rows, int64_t cols, llmj_threadpool * p2, llmj_threadpool * p3) {
    checks++;
    const int64_t nb = cols / 32, ntok = 70;
    const size_t row_bytes = (size_t) nb * t->bytes + 6;
    const size_t xs = (size_t) cols + 3, ys = (size_t) rows + 5;
    const size_t pbytes = llmj_matmul_q_packed_size(t->type, rows, cols);
    uint8_t * w = malloc(row_bytes * rows);
    uint8_t * pk = aligned64(pbytes), * pk2 = aligned64(pbytes);
    float * x = malloc(sizeof(float) * xs * ntok);
    float * y = malloc(sizeof(float) * (rows + 2 * GUARD)), * y1 = malloc(sizeof(float) * rows);
    float * yref = malloc(sizeof(float) * rows * ntok), * ym = malloc(sizeof(float) * ys * ntok);
    size_t wsz = llmj_matvec_work_size(t->type, cols);
    uint8_t * act = malloc(wsz + 64);
    double * ad = malloc(sizeof(double) * cols), * as = malloc(sizeof(double) * (cols / 32 + 1));
    double wd[32];
    fill_weights(t, w, row_bytes, rows, cols);
    for (size_t i = 0; i < xs * ntok; i++) x[i] = frand() * 2.0f;
    if (pbytes == 0 || pbytes < (size_t) ((rows + 15) / 16 * 16) * (size_t) nb * t->bytes) {
        printf("FAIL %s packed size %zu for %lld x %lld\n", t->name, pbytes, (long long) rows, (long long) cols); failures++; goto out;
    }
    memset(pk, 0xA5, pbytes); memset(pk2, 0x5A, pbytes);
    EXPECT_OK(t->name, llmj_matmul_q_pack(NULL, t->type, w, row_bytes, rows, cols, pk, pbytes));
    EXPECT_OK(t->name, llmj_matmul_q_pack(p3, t->type, w, row_bytes, rows, cols, pk2, pbytes));
    if (memcmp(pk, pk2, pbytes) != 0) { printf("FAIL %s: packing on a pool differs (%lld x %lld)\n", t->name, (long long) rows, (long long) cols); failures++; }
    /* one token against the double reference, with guard bands */
    for (int i = 0; i < rows + 2 * GUARD; i++) y[i] = SENT;
    EXPECT_OK(t->name, llmj_matmul_q_packed(NULL, t->type, pk, pbytes, x, cols, y + GUARD, rows, rows, cols, 1, NULL, 0));
    if (llmj_quantize_activations(LLMJ_TYPE_Q8_0, x, act, cols) != LLMJ_OK) { printf("FAIL quantize\n"); failures++; goto out; }
    decode_act(LLMJ_TYPE_Q8_0, act, cols, ad, as);
    for (int64_t r = 0; r < rows; r++) {
        double ref = 0, mag = 0, m;
        for (int64_t b = 0; b < nb; b++) {
            decode_block(t->type, w + r * row_bytes + b * t->bytes, wd, &m);
            for (int i = 0; i < 32; i++) { ref += wd[i] * ad[b * 32 + i]; mag += fabs(wd[i] * ad[b * 32 + i]); }
        }
        double tol = ((double) nb + 8) * ldexp(1, -24) * mag;
        if (!(fabs(y[GUARD + r] - ref) <= tol)) {
            printf("FAIL %s packed isa=%d rows=%lld cols=%lld row %lld: got %.9g want %.9g (tol %.3g)\n", t->name, isa,
                   (long long) rows, (long long) cols, (long long) r, y[GUARD + r], ref, tol);
            failures++;
            break;
        }
    }
    for (int i = 0; i < GUARD; i++) {
        if (y[i] != SENT || y[GUARD + rows + i] != SENT) { printf("FAIL %s packed: guard band written\n", t->name); failures++; break; }
    }
    if (isa == LLMJ_ISA_AVX512 && (llmj_cpu_features() & LLMJ_CPU_AVX512VNNI)) {   /* same order as the unpacked tiles */
        EXPECT_OK(t->name, llmj_matvec_q(NULL, t->type, w, row_bytes, x, y1, rows, cols, NULL, 0));
        if (memcmp(y1, y + GUARD, sizeof(float) * rows) != 0) {
            printf("FAIL %s packed isa=%d %lld x %lld: differs from llmj_matvec_q\n", t->name, isa, (long long) rows, (long long) cols);
            failures++;
        }
    }
    /* per-token single-threaded packed matvecs: the bit-for-bit reference for everything below */
    for (int64_t tok = 0; tok < ntok; tok++) {
        EXPECT_OK(t->name, llmj_matmul_q_packed(NULL, t->type, pk, pbytes, x + tok * xs, cols, yref + tok * rows, rows, rows, cols, 1, NULL, 0));
    }
    if (isa != LLMJ_ISA_SCALAR) {   /* the portable kernel computes the same bits */
        llmj_cpu_set_isa(LLMJ_ISA_SCALAR);
        EXPECT_OK(t->name, llmj_matmul_q_packed(NULL, t->type, pk, pbytes, x, cols, y1, rows, rows, cols, 1, NULL, 0));
        llmj_cpu_set_isa(isa);
        if (memcmp(y1, yref, sizeof(float) * rows) != 0) {
            printf("FAIL %s packed isa=%d %lld x %lld: differs from the portable kernel\n", t->name, isa, (long long) rows, (long long) cols);
            failures++;
        }
    }
    static const int64_t NTS[] = { 1, 2, 3, 5, 8, 9, 17, 70 };
    for (int pi = 0; pi < 3; pi++) {
        llmj_threadpool * p = pi == 0 ? NULL : pi == 1 ? p2 : p3;
        for (size_t ni = 0; ni < sizeof NTS / sizeof NTS[0]; ni++) {
            const int64_t nt = NTS[ni];
            for (size_t i = 0; i < ys * ntok; i++) ym[i] = SENT;
            size_t need = llmj_matmul_work_size(t->type, cols, nt);
            void * work = malloc(need + 1);
            int st = llmj_matmul_q_packed(p, t->type, pk, pbytes, x, xs, ym, ys, rows, cols, nt, work, need);
            free(work);
            if (st != LLMJ_OK) { printf("FAIL %s packed matmul: %s\n", t->name, llmj_last_error()); failures++; continue; }
            for (int64_t tok = 0; tok < nt; tok++) {
                int bad = memcmp(yref + tok * rows, ym + tok * ys, sizeof(float) * rows) != 0;
                for (size_t i = rows; i < ys; i++) bad |= ym[tok * ys + i] != SENT;
                if (bad) {
                    printf("FAIL %s packed isa=%d %lld x %lld: matmul (%lld tokens, pool %d) token %lld differs from matvec or wrote the padding\n",
                           t->name, isa, (long long) rows, (long long) cols, (long long) nt, llmj_threadpool_size(p), (long long) tok);
                    failures++;
                    break;
                }
            }
        }
    }
out:
    free(w); free(pk); free(pk2); free(x); free(y); free(y1); free(yref); free(ym); free(act); free(ad); free(as);
}

/* llmj_matmul_q_packed_multi: three matrices (rows around the groups) sharing x, each output equal to
 * llmj_matmul_q_packed on its matrix alone, bit for bit, for 1..9 tokens and pools of 1..3 */
static void check_packed_multi(const tinfo * t, int isa, llmj_threadpool * p2, llmj_threadpool * p3) {
    enum { M = 3 };
    const int64_t rows[M] = { 67, 17, 130 }, cols = 96, ntok = 9;
    const size_t row_bytes = (size_t) (cols / 32) * t->bytes;
    const void * pk[M]; size_t pb[M]; float * ys[M], * yr[M];
    float * x = malloc(sizeof(float) * cols * ntok);
    for (int64_t i = 0; i < cols * ntok; i++) x[i] = frand();
    for (int k = 0; k < M; k++) {
        uint8_t * w = malloc(row_bytes * rows[k]);
        fill_weights(t, w, row_bytes, rows[k], cols);
        pb[k] = llmj_matmul_q_packed_size(t->type, rows[k], cols);
        void * p = aligned64(pb[k]);
        EXPECT_OK(t->name, llmj_matmul_q_pack(NULL, t->type, w, row_bytes, rows[k], cols, p, pb[k]));
        pk[k] = p;
        free(w);
        ys[k] = malloc(sizeof(float) * rows[k] * ntok);
        yr[k] = malloc(sizeof(float) * rows[k] * ntok);
    }
    static const int64_t NTS[] = { 1, 3, 9 };
    for (int pi = 0; pi < 3; pi++) {
        llmj_threadpool * p = pi == 0 ? NULL : pi == 1 ? p2 : p3;
        for (int ni = 0; ni < 3; ni++) {
            checks++;
            const int64_t nt = NTS[ni];
            for (int k = 0; k < M; k++) {
                EXPECT_OK(t->name, llmj_matmul_q_packed(NULL, t->type, pk[k], pb[k], x, cols, yr[k], rows[k], rows[k], cols, nt, NULL, 0));
                for (int64_t i = 0; i < rows[k] * nt; i++) ys[k][i] = SENT;
            }
            EXPECT_OK(t->name, llmj_matmul_q_packed_multi(p, t->type, M, pk, pb, rows, x, cols, ys, cols, nt, NULL, 0));
            for (int k = 0; k < M; k++) {
                if (memcmp(ys[k], yr[k], sizeof(float) * rows[k] * nt) != 0) {
                    printf("FAIL %s packed multi isa=%d matrix %d (%lld tokens, pool %d) differs from llmj_matmul_q_packed\n",
                           t->name, isa, k, (long long) nt, llmj_threadpool_size(p));
                    failures++;
                }
            }
        }
    }
    checks++;
    int bad = 0;
    bad |= llmj_matmul_q_packed_multi(NULL, t->type, 0, pk, pb, rows, x, cols, ys, cols, 1, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;
    bad |= llmj_matmul_q_packed_multi(NULL, t->type, LLMJ_MATMUL_MULTI_MAX + 1, pk, pb, rows, x, cols, ys, cols, 1, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;
    size_t small[M] = { pb[0], pb[1] - 64, pb[2] };
    bad |= llmj_matmul_q_packed_multi(NULL, t->type, M, pk, small, rows, x, cols, ys, cols, 1, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;
    if (bad) { printf("FAIL %s packed multi argument validation\n", t->name); failures++; }
    for (int k = 0; k < M; k++) { free((void *) pk[k]); free(ys[k]); free(yr[k]); }
    free(x);
}

/* The SIMD packed kernels (AVX2 and, where the CPU has it, the AVX-512 level) against the portable one
 * (ptile_packed_s, the scalar ISA level), bit for bit, on awkward shapes: rows around the 16-row groups and
 * the 4-group one-token path, 1..9 blocks, 1..10 and 17 tokens (every tile width, a partial last token
 * group), single-threaded and on a pool; random weights and activations, then the integer bounds: every
 * Q4_0 nibble 15 (or 0) and every Q8_0 quant -128 (or 127) against activations of +-127 (one block's
 * int16 sum at its 30480 bound for Q4_0, each Q8_0 pair at 32512). */
static void check_packed_simd(llmj_threadpool * p2) {
    static const int64_t rows[] = { 1, 7, 16, 17, 40, 67, 130 };
    static const int64_t blocks[] = { 1, 2, 3, 7, 9 };
    static const int64_t nts[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17 };
    static const tinfo PT[] = { { LLMJ_TYPE_Q4_0, 32, 18, LLMJ_TYPE_Q8_0, "Q4_0" }, { LLMJ_TYPE_Q8_0, 32, 34, LLMJ_TYPE_Q8_0, "Q8_0" } };
    for (int isa = LLMJ_ISA_AVX2; isa <= LLMJ_ISA_AVX512; isa++) {
        if (llmj_cpu_set_isa(isa) != LLMJ_OK) { printf("packed SIMD check: isa %d not supported on this CPU, skipped\n", isa); continue; }
        for (int ti = 0; ti < 2; ti++) {
            const tinfo * t = &PT[ti];
            for (int mode = 0; mode < 3; mode++) {   /* 0: random, 1: upper integer bounds, 2: lower */
                for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                        if (mode > 0 && (ri % 2 || bi % 2)) continue;
                        const int64_t r = rows[ri], cols = 32 * blocks[bi], nb = blocks[bi], ntmax = 17;
                        const size_t row_bytes = (size_t) nb * t->bytes, pbytes = llmj_matmul_q_packed_size(t->type, r, cols);
                        uint8_t * w = malloc(row_bytes * r), * pk = aligned64(pbytes);
                        float * x = malloc(sizeof(float) * cols * ntmax);
                        float * ya = malloc(sizeof(float) * r * ntmax), * ys = malloc(sizeof(float) * r * ntmax);
                        fill_weights(t, w, row_bytes, r, cols);
                        for (int64_t i = 0; i < cols * ntmax; i++) x[i] = frand();
                        if (mode > 0) {
                            for (int64_t rr = 0; rr < r; rr++) {
                                for (int64_t b = 0; b < nb; b++) {
                                    uint8_t * q = w + rr * row_bytes + b * t->bytes + 2;
                                    const int nq = t->type == LLMJ_TYPE_Q4_0 ? 16 : 32;
                                    /* Q4_0: nibbles 15 / 0 (w = 7 / -8); Q8_0: -128 / 127 */
                                    const uint8_t v = t->type == LLMJ_TYPE_Q4_0 ? (mode == 1 ? 0xFF : 0x00) : (mode == 1 ? 0x80 : 0x7F);
                                    memset(q, v, (size_t) nq);
                                }
                            }
                            /* +-1 per element: every activation quant +-127; per token all + or mixed signs */
                            for (int64_t tok = 0; tok < ntmax; tok++) {
                                for (int64_t i = 0; i < cols; i++) x[tok * cols + i] = (tok % 2 == 0 || (i / 3) % 2 == 0) ? 1.0f : -1.0f;
                            }
                        }
                        EXPECT_OK(t->name, llmj_matmul_q_pack(NULL, t->type, w, row_bytes, r, cols, pk, pbytes));
                        for (size_t ni = 0; ni < sizeof nts / sizeof nts[0]; ni++) {
                            const int64_t nt = nts[ni];
                            llmj_cpu_set_isa(LLMJ_ISA_SCALAR);
                            EXPECT_OK(t->name, llmj_matmul_q_packed(NULL, t->type, pk, pbytes, x, cols, ys, r, r, cols, nt, NULL, 0));
                            llmj_cpu_set_isa(isa);
                            for (int pi = 0; pi < 2; pi++) {
                                checks++;
                                for (int64_t i = 0; i < r * nt; i++) ya[i] = SENT;
                                EXPECT_OK(t->name, llmj_matmul_q_packed(pi ? p2 : NULL, t->type, pk, pbytes, x, cols, ya, r, r, cols, nt, NULL, 0));
                                if (memcmp(ya, ys, sizeof(float) * r * nt) != 0) {
                                    int64_t i = 0;
                                    while (i < r * nt && memcmp(ya + i, ys + i, sizeof(float)) == 0) i++;
                                    printf("FAIL %s packed isa=%d mode %d %lld x %lld, %lld tokens, pool %d: token %lld row %lld %.9g, portable %.9g\n",
                                           t->name, isa, mode, (long long) r, (long long) cols, (long long) nt, pi ? 2 : 1,
                                           (long long) (i / r), (long long) (i % r), ya[i], ys[i]);
                                    failures++;
                                }
                            }
                        }
                        free(w); free(pk); free(x); free(ya); free(ys);
                    }
                }
            }
        }
    }
    llmj_cpu_set_isa(LLMJ_ISA_AUTO);
}

static void check_packed(llmj_threadpool * p2, llmj_threadpool * p3) {
    static const int64_t rows[] = { 1, 3, 15, 16, 17, 33, 64, 67, 100, 1500 };
    static const int64_t blocks[] = { 1, 2, 3, 5, 67 };
    static const tinfo PT[] = { { LLMJ_TYPE_Q4_0, 32, 18, LLMJ_TYPE_Q8_0, "Q4_0" }, { LLMJ_TYPE_Q8_0, 32, 34, LLMJ_TYPE_Q8_0, "Q8_0" } };
    for (int isa = LLMJ_ISA_SCALAR; isa <= LLMJ_ISA_AVX512; isa++) {
        if (llmj_cpu_set_isa(isa) != LLMJ_OK) continue;
        for (int ti = 0; ti < 2; ti++) {
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                    if (rows[ri] > 100 && (blocks[bi] != 67 || isa == LLMJ_ISA_SCALAR)) continue;   /* large: one shape, SIMD */
                    check_packed_case(&PT[ti], isa, rows[ri], 32 * blocks[bi], p2, p3);
                }
            }
            check_packed_multi(&PT[ti], isa, p2, p3);
        }
    }
    llmj_cpu_set_isa(LLMJ_ISA_AUTO);
    /* argument checks */
    checks++;
    int bad = 0;
    uint8_t * pk = aligned64(4096);
    uint8_t w[34 * 4] = { 0 }; float x[64] = { 0 }, y[4];
    bad |= llmj_matmul_q_packed_size(LLMJ_TYPE_Q4_1, 16, 32) != 0 || llmj_matmul_q_packed_size(LLMJ_TYPE_Q4_0, 16, 48) != 0;
    bad |= llmj_matmul_q_packed_size(LLMJ_TYPE_Q4_0, 0, 32) != 0 || llmj_matmul_q_packed_size(LLMJ_TYPE_Q8_0, 17, 64) != 2 * 1088;   /* 2 groups of 2 x (512 + 32) bytes */
    bad |= llmj_matmul_q_pack_recommended(LLMJ_TYPE_Q4_K) != 0;
    bad |= llmj_matmul_q_pack(NULL, LLMJ_TYPE_Q4_1, w, 20, 1, 32, pk, 4096) != LLMJ_ERR_UNSUPPORTED;
    bad |= llmj_matmul_q_pack(NULL, LLMJ_TYPE_Q4_0, w, 18, 1, 32, pk + 32, 4000) != LLMJ_ERR_INVALID_ARGUMENT;   /* alignment */
    bad |= llmj_matmul_q_pack(NULL, LLMJ_TYPE_Q4_0, w, 18, 1, 32, pk, 100) != LLMJ_ERR_INVALID_ARGUMENT;        /* too small */
    bad |= llmj_matmul_q_pack(NULL, LLMJ_TYPE_Q8_0, w, 33, 1, 32, pk, 4096) != LLMJ_ERR_INVALID_ARGUMENT;       /* row_bytes */
    bad |= llmj_matmul_q_pack(NULL, LLMJ_TYPE_Q8_0, w, 34, 1, 40, pk, 4096) != LLMJ_ERR_INVALID_ARGUMENT;       /* cols % 32 */
    bad |= llmj_matmul_q_pack(NULL, LLMJ_TYPE_Q8_0, w, 34, 4, 32, pk, 4096) != LLMJ_OK;
    bad |= llmj_matmul_q_packed(NULL, LLMJ_TYPE_Q8_0, pk, 4096, x, 32, y, 4, 4, 32, 1, NULL, 0) != LLMJ_OK;
    bad |= llmj_matmul_q_packed(NULL, LLMJ_TYPE_Q8_0, pk, 100, x, 32, y, 4, 4, 32, 1, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;
    bad |= llmj_matmul_q_packed(NULL, LLMJ_TYPE_Q8_0, pk + 32, 4000, x, 32, y, 4, 4, 32, 1, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;
    bad |= llmj_matmul_q_packed(NULL, LLMJ_TYPE_Q4_1, pk, 4096, x, 32, y, 4, 4, 32, 1, NULL, 0) != LLMJ_ERR_UNSUPPORTED;
    bad |= llmj_matmul_q_packed(NULL, LLMJ_TYPE_Q8_0, pk, 4096, x, 16, y, 4, 4, 32, 2, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT; /* x_stride */
    free(pk);
    if (bad) { printf("FAIL packed argument validation\n"); failures++; }
}

static void check_errors(void) {
    float x[256] = { 0 }, y[4];
    uint8_t w[1024] = { 0 };
    checks++;
    int bad = 0;
    bad |= llmj_matvec_q(NULL, LLMJ_TYPE_Q8_K, w, 292, x, y, 1, 256, NULL, 0) != LLMJ_ERR_UNSUPPORTED;
    bad |= llmj_matvec_q(NULL, LLMJ_TYPE_Q4_0, w, 18, x, y, 1, 33, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;   /* cols % 32 */
    bad |= llmj_matvec_q(NULL, LLMJ_TYPE_Q4_0, w, 17, x, y, 1, 32, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;   /* row_bytes */
    bad |= llmj_matvec_q(NULL, LLMJ_TYPE_Q4_0, NULL, 18, x, y, 1, 32, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT;
    bad |= llmj_matvec_q(NULL, LLMJ_TYPE_Q4_0, w, 18, x, y, 1, 32, w, 33) != LLMJ_ERR_INVALID_ARGUMENT;     /* work too small */
    bad |= llmj_matmul_q(NULL, LLMJ_TYPE_Q4_0, w, 18, x, 16, y, 1, 1, 32, 2, NULL, 0) != LLMJ_ERR_INVALID_ARGUMENT; /* x_stride */
    bad |= llmj_quantize_activations(LLMJ_TYPE_Q4_0, x, w, 32) != LLMJ_ERR_UNSUPPORTED;
    bad |= llmj_quantize_activations(LLMJ_TYPE_Q8_K, x, w, 255) != LLMJ_ERR_INVALID_ARGUMENT;
    bad |= llmj_matvec_q(NULL, LLMJ_TYPE_Q4_0, w, 18, x, y, 0, 32, NULL, 0) != LLMJ_OK;                    /* empty */
    llmj_threadpool * p = NULL;
    bad |= llmj_threadpool_create(0, &p) != LLMJ_ERR_INVALID_ARGUMENT || p != NULL;
    bad |= llmj_threadpool_size(NULL) != 1;
    bad |= llmj_type_block_size(LLMJ_TYPE_Q4_K) != 256 || llmj_type_block_bytes(LLMJ_TYPE_Q8_1) != 36;
    bad |= llmj_type_block_size(4) != 0 || llmj_type_vec_dot_type(LLMJ_TYPE_IQ4_XS) != LLMJ_TYPE_Q8_K;
    for (int i = 0; i < N_TYPES; i++) {
        bad |= llmj_type_block_size(TYPES[i].type) != TYPES[i].bs || llmj_type_block_bytes(TYPES[i].type) != TYPES[i].bytes;
        bad |= llmj_type_vec_dot_type(TYPES[i].type) != TYPES[i].vt;
    }
    if (bad) { printf("FAIL argument validation / type table\n"); failures++; }
}

/* dispatch overhead of an empty-ish job: a 1-row product on a pool */
#include <time.h>
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(void) {
    static const int64_t rows[] = { 1, 3, 17, 64 };
    static const int64_t blocks[] = { 1, 2, 3, 5, 67 };
    static const int64_t fcols[] = { 1, 3, 17, 31, 32, 33, 100, 257 };
    for (int isa = LLMJ_ISA_SCALAR; isa <= LLMJ_ISA_AVX512; isa++) {
        if (llmj_cpu_set_isa(isa) != LLMJ_OK) { printf("isa %d: not supported on this CPU, skipped\n", isa); continue; }
        for (int ti = 0; ti < N_TYPES; ti++) {
            const tinfo * t = &TYPES[ti];
            for (size_t ri = 0; ri < 4; ri++) {
                if (t->bs == 1) {
                    for (size_t ci = 0; ci < 8; ci++) check_case(t, isa, rows[ri], fcols[ci]);
                } else {
                    for (size_t bi = 0; bi < 5; bi++) {
                        if (t->bs == 256 && blocks[bi] > 5) continue;
                        check_case(t, isa, rows[ri], t->bs * blocks[bi]);
                    }
                }
            }
        }
    }
    llmj_cpu_set_isa(LLMJ_ISA_AUTO);
    llmj_threadpool * p2 = NULL, * p3 = NULL;
    if (llmj_threadpool_create(2, &p2) != LLMJ_OK || llmj_threadpool_create(3, &p3) != LLMJ_OK) {
        printf("FAIL threadpool_create: %s\n", llmj_last_error());
        return 1;
    }
    for (int isa = LLMJ_ISA_SCALAR; isa <= LLMJ_ISA_AVX512; isa++) {
        if (llmj_cpu_set_isa(isa) != LLMJ_OK) continue;
        for (int ti = 0; ti < N_TYPES; ti++) check_threads_and_matmul(&TYPES[ti], p2, p3);
        for (int ti = 0; ti < N_TYPES; ti++) check_threads_large(&TYPES[ti], p2, p3);
    }
    llmj_cpu_set_isa(LLMJ_ISA_AUTO);
    check_packed(p2, p3);
    check_packed_simd(p2);
    {   /* informational: per-call overhead of a tiny product on the 2-thread pool */
        uint8_t w[2 * 18] = { 0 }; float x[32] = { 0 }, y[2]; uint8_t work[256];
        for (int i = 0; i < 1000; i++) llmj_matvec_q(p2, LLMJ_TYPE_Q4_0, w, 18, x, y, 2, 32, work, sizeof work);
        double t0 = now();
        for (int i = 0; i < 20000; i++) llmj_matvec_q(p2, LLMJ_TYPE_Q4_0, w, 18, x, y, 2, 32, work, sizeof work);
        printf("pool of 2: %.2f us per dispatched tiny matvec\n", (now() - t0) / 20000 * 1e6);
    }
    llmj_threadpool_free(p2);
    llmj_threadpool_free(p3);
    {   /* a job right after creation must reach workers that have not started yet; free while idle */
        uint8_t w[4 * 34] = { 0 }; float x[32] = { 1 }, y[4]; uint8_t work[256];
        checks++;
        for (int i = 0; i < 200; i++) {
            llmj_threadpool * p = NULL;
            if (llmj_threadpool_create(2 + i % 3, &p) != LLMJ_OK ||
                llmj_matvec_q(p, LLMJ_TYPE_Q8_0, w, 34, x, y, 4, 32, work, sizeof work) != LLMJ_OK) {
                printf("FAIL pool create/run/free cycle %d\n", i);
                failures++;
            }
            llmj_threadpool_free(p);
        }
    }
    check_errors();
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
