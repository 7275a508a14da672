/* CUDA harness for the weight-type kernels of libllmj_cuda: llmj_cuda_matmul (decode matvec and the
 * multi-token path), llmj_cuda_dequantize_f16 and llmj_cuda_get_rows, for F32, F16, BF16, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0 and IQ4_NL, against the CPU library in the same process.
 *
 * References and tolerances:
 *   matmul      CPU llmj_matvec_q (block types: the same ggml activation conversion and integer block
 *               dots; only the float summation order differs) and llmj_matvec (F32/F16/BF16 with
 *               float32 x, the contract of the CUDA float kernels). Per row:
 *                   |gpu - cpu| <= 2^-24 * (1.1 * nb + 32) * S
 *               S = sum_i |w_i * a_i| (+ sum_b |m_b * s_b| for Q4_1/Q5_1) with a the converted
 *               activations, nb = blocks per row (elements / 2 for the float types): the float32
 *               accumulation bounds of the CPU (nb + 8 terms in sequence) and of the GPU (nb / 32 per
 *               lane, then a 32-way tree) added.
 *               Several tokens (n = 11: launches of 8, 2 and 1 tokens) must equal one-token launches bit
 *               for bit.
 *   dequantize  the block decoders below, written from ggml's dequantize_row_* (exact in double),
 *               rounded to F16 to nearest even: bit-exact.
 *   get_rows    the same decoders times `scale` in float32: bit-exact.
 * Weights: Q8_0 rows made by the CPU library's quantizer (llmj_quantize_activations: a Q8_0 weight
 * block is a Q8_0 activation block); the other block types random bytes with sane fp16 scales (llmj.h
 * has no weight quantizers; every bit pattern of the quants is valid); float types random in [-1, 1].
 * Layouts: packed rows from cudaMalloc (16-byte aligned: the wide loads), rows padded by 2 bytes at a
 * 2-byte offset (4 for F32; 2-byte loads) and, for the block-type matmul, by 1 byte at a 1-byte offset.
 *
 * Exit status 0: all passed; 1: failures; 77: no CUDA device (ctest reports the test as skipped).
 * With --bench: a timing section (cudaEvent, median of many repetitions, weight copies rotated over
 * more than 4x the L2 cache) printing GB/s of weights read per matmul next to the device-to-device
 * cudaMemcpy bandwidth of the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "llmj.h"

/* ---- helpers ------------------------------------------------------------------------------- */
static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t) (rng >> 32);
}
static float frand(void) { return (float) ((rnd32() >> 8) / (double) (1u << 24)) * 2.0f - 1.0f; }
static float gauss(void) {
    double u1 = (rnd32() + 1.0) / 4294967297.0, u2 = rnd32() / 4294967296.0;
    return (float) (sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

static float f16_to_f32(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (float) (s ? -v : v);
}
/* float -> fp16, round to nearest even (finite inputs) */
static uint16_t f32_to_f16(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t) ((u >> 16) & 0x8000u);
    double a = fabs((double) f);
    if (a >= 65520.0) return (uint16_t) (sign | 0x7C00u);
    if (a < ldexp(1, -14)) {                           /* subnormal: units of 2^-24 */
        double q = a * 16777216.0, r = nearbyint(q);  /* default rounding mode: to nearest even */
        return (uint16_t) (sign | (uint16_t) r);
    }
    int e; double m = frexp(a, &e);                    /* a = m * 2^e, m in [0.5, 1) */
    double q = nearbyint(m * 2048.0);                  /* 11 significant bits */
    if (q == 2048.0) { q = 1024.0; e++; }
    if (e + 14 >= 31) return (uint16_t) (sign | 0x7C00u);
    return (uint16_t) (sign | ((uint32_t) (e + 14) << 10) | ((uint32_t) q - 1024u));
}
static void put16(uint8_t * p, uint16_t h) { p[0] = (uint8_t) h; p[1] = (uint8_t) (h >> 8); }
static uint16_t get16(const uint8_t * p) { return (uint16_t) (p[0] | (p[1] << 8)); }
static float bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t) h << 16; float f; memcpy(&f, &u, 4); return f; }

static const int KV[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

typedef struct { int type, bs, bytes; const char * name; } tinfo;
static const tinfo TYPES[] = {
    { LLMJ_TYPE_F32, 1, 4, "F32" },     { LLMJ_TYPE_F16, 1, 2, "F16" },     { LLMJ_TYPE_BF16, 1, 2, "BF16" },
    { LLMJ_TYPE_Q4_0, 32, 18, "Q4_0" }, { LLMJ_TYPE_Q4_1, 32, 20, "Q4_1" }, { LLMJ_TYPE_Q5_0, 32, 22, "Q5_0" },
    { LLMJ_TYPE_Q5_1, 32, 24, "Q5_1" }, { LLMJ_TYPE_Q8_0, 32, 34, "Q8_0" }, { LLMJ_TYPE_IQ4_NL, 32, 18, "IQ4_NL" },
};
#define N_TYPES (int) (sizeof TYPES / sizeof TYPES[0])
static int is_plain(int type) { return type == LLMJ_TYPE_F32 || type == LLMJ_TYPE_F16 || type == LLMJ_TYPE_BF16; }
static size_t packed_row(const tinfo * t, int64_t cols) { return (size_t) (cols / t->bs) * (size_t) t->bytes; }

/* Decodes one block to floats as ggml's dequantize_row_* does (products exact; Q4_1/Q5_1 add m with
 * one rounding); *m receives the block min for the tolerance. */
static void decode_block(int type, const uint8_t * b, float * w, float * m) {
    *m = 0;
    switch (type) {
        case LLMJ_TYPE_F32: memcpy(w, b, 4); break;
        case LLMJ_TYPE_F16: w[0] = f16_to_f32(get16(b)); break;
        case LLMJ_TYPE_BF16: w[0] = bf16_to_f32(get16(b)); break;
        case LLMJ_TYPE_Q4_0: case LLMJ_TYPE_IQ4_NL: {
            double d = f16_to_f32(get16(b));
            for (int j = 0; j < 16; j++) {
                int lo = b[2 + j] & 15, hi = b[2 + j] >> 4;
                w[j] = (float) (d * (type == LLMJ_TYPE_Q4_0 ? lo - 8 : KV[lo]));
                w[j + 16] = (float) (d * (type == LLMJ_TYPE_Q4_0 ? hi - 8 : KV[hi]));
            }
            break;
        }
        case LLMJ_TYPE_Q4_1: {
            double d = f16_to_f32(get16(b)); *m = f16_to_f32(get16(b + 2));
            for (int j = 0; j < 16; j++) {
                w[j] = (float) (d * (b[4 + j] & 15) + *m);
                w[j + 16] = (float) (d * (b[4 + j] >> 4) + *m);
            }
            break;
        }
        case LLMJ_TYPE_Q5_0: case LLMJ_TYPE_Q5_1: {
            int one = type == LLMJ_TYPE_Q5_1;
            double d = f16_to_f32(get16(b));
            if (one) *m = f16_to_f32(get16(b + 2));
            const uint8_t * qh = b + (one ? 4 : 2), * qs = qh + 4;
            uint32_t h = (uint32_t) qh[0] | ((uint32_t) qh[1] << 8) | ((uint32_t) qh[2] << 16) | ((uint32_t) qh[3] << 24);
            for (int j = 0; j < 16; j++) {
                int v0 = (qs[j] & 15) | (((h >> j) & 1) << 4), v1 = (qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
                w[j] = (float) (one ? d * v0 + *m : d * (v0 - 16));
                w[j + 16] = (float) (one ? d * v1 + *m : d * (v1 - 16));
            }
            break;
        }
        case LLMJ_TYPE_Q8_0: { double d = f16_to_f32(get16(b)); for (int j = 0; j < 32; j++) w[j] = (float) (d * (int8_t) b[2 + j]); break; }
    }
}

static void decode_row(const tinfo * t, const uint8_t * row, int64_t cols, float * w, float * mins) {
    float m;
    for (int64_t b = 0; b < cols / t->bs; b++) {
        decode_block(t->type, row + b * t->bytes, w + b * t->bs, &m);
        if (mins) mins[b] = m;
    }
}

/* Random weights of `rows` rows at stride row_bytes (see the file comment). */
static void fill_weights(const tinfo * t, uint8_t * w, size_t row_bytes, int64_t rows, int64_t cols) {
    int64_t nb = cols / t->bs;
    float * tmp = malloc(sizeof(float) * (size_t) cols);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t * row = w + r * row_bytes;
        for (size_t i = 0; i < row_bytes; i++) row[i] = (uint8_t) rnd32();
        if (t->type == LLMJ_TYPE_Q8_0) {
            for (int64_t i = 0; i < cols; i++) tmp[i] = gauss() * 0.05f;
            if (llmj_quantize_activations(LLMJ_TYPE_Q8_0, tmp, row, cols) != LLMJ_OK) { printf("quantize failed: %s\n", llmj_last_error()); exit(1); }
            continue;
        }
        for (int64_t b = 0; b < nb; b++) {
            uint8_t * blk = row + b * t->bytes;
            float d = ldexpf(1.0f + frand() * 0.5f, -6 - (int) (rnd32() % 4));
            switch (t->type) {
                case LLMJ_TYPE_F32: { float f = frand(); memcpy(blk, &f, 4); break; }
                case LLMJ_TYPE_F16: put16(blk, f32_to_f16(frand())); break;
                case LLMJ_TYPE_BF16: { float f = frand(); uint32_t u; memcpy(&u, &f, 4); put16(blk, (uint16_t) (u >> 16)); break; }
                case LLMJ_TYPE_Q4_0: case LLMJ_TYPE_Q5_0: case LLMJ_TYPE_IQ4_NL: put16(blk, f32_to_f16(rnd32() & 1 ? -d : d)); break;
                case LLMJ_TYPE_Q4_1: case LLMJ_TYPE_Q5_1: put16(blk, f32_to_f16(d)); put16(blk + 2, f32_to_f16(frand() * d * 4)); break;
            }
        }
    }
    free(tmp);
}

static int failures = 0, checks = 0;
#define CK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) { printf("CUDA error %s at %s:%d: %s\n", cudaGetErrorName(e_), __FILE__, __LINE__, cudaGetErrorString(e_)); exit(1); } } while (0)
#define LL(call) do { int s_ = (call); if (s_ != LLMJ_OK) { printf("FAIL %s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #call, s_, llmj_last_error()); failures++; goto out; } } while (0)

static int vec_dot_type(int type) { return llmj_type_vec_dot_type(type); }

/* ---- matmul ------------------------------------------------------------------------------ */
/* layout 0: packed at offset 0; 1: stride + 2 at offset 2; 2: stride + 1 at offset 1 */
static void check_matmul(const tinfo * t, int64_t rows, int64_t cols, int layout, int n, llmj_threadpool * pool) {
    const size_t pad = layout == 0 ? 0 : layout == 2 ? 1 : t->type == LLMJ_TYPE_F32 ? 4 : 2, off = pad;
    const size_t rb = packed_row(t, cols) + pad;
    const size_t wbytes = rb * (size_t) rows + off;
    uint8_t * hw = malloc(wbytes);
    float * x = malloc(sizeof(float) * (size_t) (cols * n));
    float * ycpu = malloc(sizeof(float) * (size_t) (rows * n));
    float * ygpu = malloc(sizeof(float) * (size_t) (rows * n));
    float * y1 = malloc(sizeof(float) * (size_t) rows);
    float * wf = malloc(sizeof(float) * (size_t) cols);
    float * mins = malloc(sizeof(float) * (size_t) (cols / t->bs + 1));
    double * a = malloc(sizeof(double) * (size_t) cols);
    double * sa = malloc(sizeof(double) * (size_t) (cols / 32 + 1));
    void * dw = NULL, * dx = NULL, * dy = NULL, * dwork = NULL;
    const int vt = vec_dot_type(t->type);
    uint8_t * act = malloc((size_t) llmj_type_block_bytes(vt) * (size_t) (cols / llmj_type_block_size(vt)) + 64);
    memset(hw, 0, wbytes);
    fill_weights(t, hw + off, rb, rows, cols);
    for (int64_t i = 0; i < cols * n; i++) x[i] = gauss();
    size_t work = llmj_cuda_matmul_work_size(t->type, cols, n);
    CK(cudaMalloc(&dw, wbytes)); CK(cudaMalloc(&dx, sizeof(float) * (size_t) (cols * n)));
    CK(cudaMalloc(&dy, sizeof(float) * (size_t) (rows * n))); CK(cudaMalloc(&dwork, work ? work : 16));
    CK(cudaMemcpy(dw, hw, wbytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dx, x, sizeof(float) * (size_t) (cols * n), cudaMemcpyHostToDevice));
    LL(llmj_cuda_matmul(t->type, (char *) dw + off, rb, dx, dy, rows, cols, n, dwork, work, NULL));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(ygpu, dy, sizeof(float) * (size_t) (rows * n), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int tok = 0; tok < n; tok++) {
        const float * xt = x + tok * cols;
        if (is_plain(t->type)) {
            LL(llmj_matvec(t->type, hw + off, rb, xt, ycpu + tok * rows, rows, cols));
            for (int64_t i = 0; i < cols; i++) a[i] = xt[i];
        } else {
            LL(llmj_matvec_q(pool, t->type, hw + off, rb, xt, ycpu + tok * rows, rows, cols, NULL, 0));
            LL(llmj_quantize_activations(vt, xt, act, cols));
            for (int64_t b = 0; b < cols / 32; b++) {   /* Q8_0: d qs[32]; Q8_1: d s qs[32] */
                const uint8_t * blk = act + b * llmj_type_block_bytes(vt);
                int q1 = vt == LLMJ_TYPE_Q8_1;
                double d = f16_to_f32(get16(blk));
                sa[b] = q1 ? f16_to_f32(get16(blk + 2)) : 0;
                for (int j = 0; j < 32; j++) a[b * 32 + j] = d * (int8_t) blk[(q1 ? 4 : 2) + j];
            }
        }
        double nb = is_plain(t->type) ? cols / 2.0 : (double) (cols / 32);
        for (int64_t r = 0; r < rows; r++) {
            decode_row(t, hw + off + r * rb, cols, wf, mins);
            double S = 0;
            for (int64_t i = 0; i < cols; i++) S += fabs((double) wf[i] * a[i]);
            if (t->type == LLMJ_TYPE_Q4_1 || t->type == LLMJ_TYPE_Q5_1) {
                for (int64_t b = 0; b < cols / 32; b++) S += fabs((double) mins[b] * sa[b]);
            }
            double tol = ldexp(1.1 * nb + 32, -24) * S;
            double err = fabs((double) ygpu[tok * rows + r] - ycpu[tok * rows + r]);
            if (S > 0 && err / S > worst) worst = err / S;
            checks++;
            if (!(err <= tol)) {
                if (failures < 30) printf("FAIL matmul %s rows=%lld cols=%lld layout=%d n=%d token %d row %lld: gpu %.9g cpu %.9g tol %.3g\n",
                                          t->name, (long long) rows, (long long) cols, layout, n, tok, (long long) r,
                                          ygpu[tok * rows + r], ycpu[tok * rows + r], tol);
                failures++;
                goto out;
            }
        }
    }
    if (n > 1) {   /* grouped tokens == one token at a time, bit for bit */
        size_t work1 = llmj_cuda_matmul_work_size(t->type, cols, 1);
        for (int tok = 0; tok < n; tok++) {
            LL(llmj_cuda_matmul(t->type, (char *) dw + off, rb, (float *) dx + tok * cols, dy, rows, cols, 1, dwork, work1, NULL));
            CK(cudaMemcpy(y1, dy, sizeof(float) * (size_t) rows, cudaMemcpyDeviceToHost));
            checks++;
            if (memcmp(y1, ygpu + tok * rows, sizeof(float) * (size_t) rows) != 0) {
                printf("FAIL matmul %s rows=%lld cols=%lld: token %d of %d differs from a one-token launch\n", t->name,
                       (long long) rows, (long long) cols, tok, n);
                failures++;
                goto out;
            }
        }
    }
    printf("ok   matmul %-6s rows=%-5lld cols=%-5lld layout=%d n=%-2d max |gpu-cpu|/S = %.2e\n", t->name, (long long) rows,
           (long long) cols, layout, n, worst);
out:
    free(act);
    cudaFree(dw); cudaFree(dx); cudaFree(dy); cudaFree(dwork);
    free(hw); free(x); free(ycpu); free(ygpu); free(y1); free(wf); free(mins); free(a); free(sa);
}

/* ---- dequantize_f16 and get_rows ------------------------------------------------------------ */
static void check_dequant(const tinfo * t, int64_t rows, int64_t cols, int layout) {
    const size_t off = layout == 0 ? 0 : t->type == LLMJ_TYPE_F32 ? 4 : 2;
    const size_t rb = packed_row(t, cols) + off;
    const size_t wbytes = rb * (size_t) rows + off;
    const int n_ids = 5;
    const float scale = layout ? 0.37f : 1.0f;
    uint8_t * hw = calloc(1, wbytes);
    uint16_t * got = malloc(2 * (size_t) (rows * cols));
    float * rowsout = malloc(sizeof(float) * (size_t) (n_ids * cols));
    float * wf = malloc(sizeof(float) * (size_t) cols);
    int32_t ids[5] = { 0, (int32_t) (rows - 1), (int32_t) (rows / 2), 0, (int32_t) (rows > 2 ? 1 : 0) };
    void * dw = NULL, * dout = NULL, * dids = NULL, * drows = NULL;
    fill_weights(t, hw + off, rb, rows, cols);
    CK(cudaMalloc(&dw, wbytes)); CK(cudaMalloc(&dout, 2 * (size_t) (rows * cols) + 16));
    CK(cudaMalloc(&dids, sizeof ids)); CK(cudaMalloc(&drows, sizeof(float) * (size_t) (n_ids * cols) + 16));
    CK(cudaMemcpy(dw, hw, wbytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dids, ids, sizeof ids, cudaMemcpyHostToDevice));
    /* layout 1 also writes to outputs that are not 16-byte aligned */
    LL(llmj_cuda_dequantize_f16(t->type, (char *) dw + off, rb, rows, cols, (char *) dout + off, NULL));
    LL(llmj_cuda_get_rows(t->type, (char *) dw + off, rb, (const int32_t *) dids, n_ids, cols, scale,
                          (float *) ((char *) drows + 2 * off), NULL));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(got, (char *) dout + off, 2 * (size_t) (rows * cols), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(rowsout, (char *) drows + 2 * off, sizeof(float) * (size_t) (n_ids * cols), cudaMemcpyDeviceToHost));
    for (int64_t r = 0; r < rows; r++) {
        decode_row(t, hw + off + r * rb, cols, wf, NULL);
        for (int64_t c = 0; c < cols; c++) {
            uint16_t want = f32_to_f16(wf[c]);
            if (got[r * cols + c] != want) {
                printf("FAIL dequantize_f16 %s rows=%lld cols=%lld layout=%d at (%lld, %lld): got 0x%04x want 0x%04x (%.9g)\n",
                       t->name, (long long) rows, (long long) cols, layout, (long long) r, (long long) c, got[r * cols + c],
                       want, wf[c]);
                failures++;
                goto out;
            }
        }
    }
    checks++;
    for (int i = 0; i < n_ids; i++) {
        decode_row(t, hw + off + (size_t) ids[i] * rb, cols, wf, NULL);
        for (int64_t c = 0; c < cols; c++) {
            float want = wf[c] * scale;
            if (memcmp(&want, &rowsout[i * cols + c], 4) != 0) {
                printf("FAIL get_rows %s rows=%lld cols=%lld layout=%d id %d col %lld: got %.9g want %.9g\n", t->name,
                       (long long) rows, (long long) cols, layout, ids[i], (long long) c, rowsout[i * cols + c], want);
                failures++;
                goto out;
            }
        }
    }
    checks++;
    printf("ok   dequantize_f16 + get_rows %-6s rows=%-5lld cols=%-5lld layout=%d (bit-exact)\n", t->name, (long long) rows,
           (long long) cols, layout);
out:
    cudaFree(dw); cudaFree(dout); cudaFree(dids); cudaFree(drows);
    free(hw); free(got); free(rowsout); free(wf);
}

static void expect(int got, int want, const char * what) {
    checks++;
    if (got != want) { printf("FAIL %s: status %d, expected %d (%s)\n", what, got, want, llmj_last_error()); failures++; }
}

static void check_errors(void) {
    void * d = NULL;
    CK(cudaMalloc(&d, 1 << 16));
    float * f = d;
    /* Q8_1 and Q8_K are activation types: no weight kernels */
    expect(llmj_cuda_matmul(LLMJ_TYPE_Q8_1, d, 36, f, f, 1, 256, 1, d, 1 << 16, NULL), LLMJ_ERR_UNSUPPORTED, "matmul Q8_1");
    expect(llmj_cuda_dequantize_f16(LLMJ_TYPE_Q8_K, d, 292, 1, 256, d, NULL), LLMJ_ERR_UNSUPPORTED, "dequantize Q8_K");
    expect(llmj_cuda_get_rows(LLMJ_TYPE_Q8_1, d, 36, (const int32_t *) d, 1, 32, 1.0f, f, NULL), LLMJ_ERR_UNSUPPORTED, "get_rows Q8_1");
    expect(llmj_cuda_matmul(LLMJ_TYPE_Q4_0, d, 18 * 2, f, f, 1, 48, 1, d, 1 << 16, NULL), LLMJ_ERR_INVALID_ARGUMENT, "matmul cols 48");
    expect(llmj_cuda_matmul(LLMJ_TYPE_Q4_0, d, 18 * 2, f, f, 1, 64, 1, d, 8, NULL), LLMJ_ERR_INVALID_ARGUMENT, "matmul small work");
    expect(llmj_cuda_matmul(LLMJ_TYPE_Q4_0, d, 17, f, f, 1, 64, 1, d, 1 << 16, NULL), LLMJ_ERR_INVALID_ARGUMENT, "matmul short rows");
    expect(llmj_cuda_matmul(LLMJ_TYPE_Q4_0, NULL, 36, f, f, 1, 64, 1, d, 1 << 16, NULL), LLMJ_ERR_INVALID_ARGUMENT, "matmul null w");
    expect(llmj_cuda_dequantize_f16(LLMJ_TYPE_Q4_0, d, 37, 2, 64, d, NULL), LLMJ_ERR_INVALID_ARGUMENT, "dequantize odd stride");
    expect(llmj_cuda_dequantize_f16(LLMJ_TYPE_Q5_1, d, 24, 1, 33, d, NULL), LLMJ_ERR_INVALID_ARGUMENT, "dequantize cols 33");
    expect(llmj_cuda_dequantize_f16(LLMJ_TYPE_F16, d, 2, 1, 2, d, NULL), LLMJ_ERR_INVALID_ARGUMENT, "dequantize short F16 rows");
    expect(llmj_cuda_dequantize_f16(LLMJ_TYPE_Q8_0, d, 34, 0, 32, d, NULL), LLMJ_OK, "dequantize zero rows");
    expect(llmj_cuda_get_rows(LLMJ_TYPE_IQ4_NL, d, 18, (const int32_t *) d, 1, 40, 1.0f, f, NULL), LLMJ_ERR_INVALID_ARGUMENT, "get_rows cols 40");
    CK(cudaDeviceSynchronize());
    cudaFree(d);
}

/* ---- timing -------------------------------------------------------------------------------- */
static int cmp_double(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

typedef void (*op_fn)(void * ctx, int i);
static void * blk_src, * blk_dst;   /* 256 MiB pair: a long copy queued before each timed batch */
#define BLOCKER (256u << 20)

/* Median (over BATCHES) of the mean seconds per op in a batch of K back-to-back ops. A large copy is
 * queued first so that the host has queued the whole batch before the GPU reaches it. */
#define BATCHES 15
#define K 20
static double time_op(op_fn op, void * ctx) {
    double t[BATCHES];
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    for (int i = 0; i < K; i++) op(ctx, i);   /* warm-up */
    for (int j = 0; j < BATCHES; j++) {
        CK(cudaMemcpyAsync(blk_dst, blk_src, BLOCKER, cudaMemcpyDeviceToDevice, NULL));
        CK(cudaEventRecord(a, NULL));
        for (int i = 0; i < K; i++) op(ctx, j * K + i);
        CK(cudaEventRecord(b, NULL));
        CK(cudaEventSynchronize(b));
        float ms; CK(cudaEventElapsedTime(&ms, a, b));
        t[j] = ms * 1e-3 / K;
    }
    cudaEventDestroy(a); cudaEventDestroy(b);
    qsort(t, BATCHES, sizeof(double), cmp_double);
    return t[BATCHES / 2];
}

typedef struct { void * dst, * src; size_t bytes; } copy_ctx;
static void op_copy(void * c, int i) {
    copy_ctx * k = c; (void) i;
    CK(cudaMemcpyAsync(k->dst, k->src, k->bytes, cudaMemcpyDeviceToDevice, NULL));
}

typedef struct {
    int type, n, copies;
    size_t rb, stride;   /* row bytes; bytes between weight copies */
    int64_t rows, cols;
    char * w; float * x, * y; void * work; size_t work_bytes; void * out;
} mm_ctx;
static void op_matmul(void * c, int i) {
    mm_ctx * k = c;
    int s = llmj_cuda_matmul(k->type, k->w + (size_t) (i % k->copies) * k->stride, k->rb, k->x, k->y, k->rows, k->cols,
                             k->n, k->work, k->work_bytes, NULL);
    if (s != LLMJ_OK) { printf("bench matmul failed: %s\n", llmj_last_error()); exit(1); }
}
static void op_dequant(void * c, int i) {
    mm_ctx * k = c;
    int s = llmj_cuda_dequantize_f16(k->type, k->w + (size_t) (i % k->copies) * k->stride, k->rb, k->rows, k->cols, k->out, NULL);
    if (s != LLMJ_OK) { printf("bench dequantize failed: %s\n", llmj_last_error()); exit(1); }
}

static void bench(void) {
    int l2 = 0, dev = 0;
    struct cudaDeviceProp prop;
    CK(cudaGetDevice(&dev));
    CK(cudaGetDeviceProperties(&prop, dev));
    CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    printf("\nbench: %s, %d SMs, L2 %d MiB\n", prop.name, prop.multiProcessorCount, l2 >> 20);
    CK(cudaMalloc(&blk_src, BLOCKER)); CK(cudaMalloc(&blk_dst, BLOCKER));
    CK(cudaMemset(blk_src, 1, BLOCKER));
    copy_ctx cc = { blk_dst, blk_src, BLOCKER };
    double tc = time_op(op_copy, &cc);
    double d2d = 2.0 * BLOCKER / tc / 1e9;
    printf("bench D2D cudaMemcpy %u MiB: %.1f us, %.0f GB/s (read + write)\n", BLOCKER >> 20, tc * 1e6, d2d);
    /* one copy of a buffer of the same size, once (first touch excluded by the warm-up) */
    const int64_t shapes[3][2] = { { 4096, 4096 }, { 11008, 4096 }, { 4096, 11008 } };   /* rows x cols */
    const size_t budget = (size_t) 4 * (size_t) l2 > ((size_t) 256 << 20) ? (size_t) 4 * (size_t) l2 : ((size_t) 256 << 20);
    for (int ti = 0; ti < N_TYPES; ti++) {
        const tinfo * t = &TYPES[ti];
        for (int si = 0; si < 3; si++) {
            mm_ctx k = { 0 };
            k.type = t->type; k.rows = shapes[si][0]; k.cols = shapes[si][1];
            k.rb = packed_row(t, k.cols);
            k.stride = (k.rb * (size_t) k.rows + 255) & ~(size_t) 255;
            k.copies = (int) ((budget + k.stride - 1) / k.stride);
            if (k.copies < 2) k.copies = 2;
            CK(cudaMalloc((void **) &k.w, k.stride * (size_t) k.copies));
            CK(cudaMemset(k.w, 0x11, k.stride * (size_t) k.copies));   /* fp16 0x1111: a small normal scale */
            CK(cudaMalloc((void **) &k.x, sizeof(float) * 8 * (size_t) k.cols));
            CK(cudaMemset(k.x, 0, sizeof(float) * 8 * (size_t) k.cols));
            CK(cudaMalloc((void **) &k.y, sizeof(float) * 8 * (size_t) k.rows));
            k.work_bytes = llmj_cuda_matmul_work_size(t->type, k.cols, 8);
            CK(cudaMalloc(&k.work, k.work_bytes ? k.work_bytes : 16));
            const double wgb = (double) k.rb * (double) k.rows / 1e9;
            k.n = 1;
            double t1 = time_op(op_matmul, &k);
            k.n = 8;
            double t8 = time_op(op_matmul, &k);
            printf("bench matmul %-6s %5lldx%-5lld %6.1f MB x%-3d  n=1: %7.1f us %6.0f GB/s (%3.0f%% of D2D)   n=8: %7.1f us (%.2fx n=1)\n",
                   t->name, (long long) k.rows, (long long) k.cols, wgb * 1e3, k.copies, t1 * 1e6, wgb / t1, 100.0 * wgb / t1 / d2d,
                   t8 * 1e6, t8 / t1);
            if (si == 1) {
                CK(cudaMalloc(&k.out, 2 * (size_t) k.rows * (size_t) k.cols));
                double td = time_op(op_dequant, &k);
                double gb = wgb + 2.0 * (double) k.rows * (double) k.cols / 1e9;
                printf("bench dequantize_f16 %-6s %5lldx%-5lld: %7.1f us, %6.0f GB/s read + write (%3.0f%% of D2D)\n", t->name,
                       (long long) k.rows, (long long) k.cols, td * 1e6, gb / td, 100.0 * gb / td / d2d);
                cudaFree(k.out);
            }
            cudaFree(k.w); cudaFree(k.x); cudaFree(k.y); cudaFree(k.work);
        }
    }
    cudaFree(blk_src); cudaFree(blk_dst);
}

int main(int argc, char ** argv) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("no device: %s\n", e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device");
        return 77;
    }
    int do_bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    int only_bench = argc > 2 && strcmp(argv[2], "--only") == 0;
    llmj_threadpool * pool = NULL;
    if (llmj_threadpool_create(8, &pool) != LLMJ_OK) pool = NULL;
    if (!only_bench) {
        check_errors();
        const int64_t rows_list[] = { 1, 7, 33, 4097 };
        for (int ti = 0; ti < N_TYPES; ti++) {
            const tinfo * t = &TYPES[ti];
            const int64_t cols_block[] = { 32, 96, 544, 4096, 11008 }, cols_plain[] = { 1, 33, 96, 4096, 11008 };
            const int64_t * cl = t->bs == 1 ? cols_plain : cols_block;
            for (int ri = 0; ri < 4; ri++) {
                for (int ci = 0; ci < 5; ci++) {
                    int64_t rows = rows_list[ri], cols = cl[ci];
                    check_matmul(t, rows, cols, 0, 1, pool);
                    if (rows <= 33 && cols <= 4096) {
                        check_matmul(t, rows, cols, 1, 1, pool);
                        if (!is_plain(t->type)) check_matmul(t, rows, cols, 2, 1, pool);
                        check_matmul(t, rows, cols, 0, 11, pool);
                    }
                    if (cols % 8 == 0 && (rows <= 33 || cols <= 4096)) {
                        check_dequant(t, rows, cols, 0);
                        check_dequant(t, rows, cols, 1);
                    }
                }
            }
        }
        printf("%d checks, %d failures\n", checks, failures);
    }
    if (do_bench && failures == 0) bench();
    llmj_threadpool_free(pool);
    return failures ? 1 : 0;
}
