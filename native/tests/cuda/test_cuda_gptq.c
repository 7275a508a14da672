/* CUDA harness for the GPTQ kernels of libllmj_cuda (src/cuda/gptq.cu) against the CPU library in the
 * same process: llmj_cuda_gptq_matmul, _matmul_multi, _dequantize_f16, _get_rows and _repack_q.
 *
 * Cases:
 *   matmul      rows 1, 7, 33, 4097 x cols 32, 176 (last block padded), 4096, 11008; act-order (a random
 *               permutation) on and off; 4 and 8 bits; n = 1, 3 and 9 tokens (9: launches of 8 and 1);
 *               asymmetric (random zero bytes z - 1) and symmetric (zeros NULL: zero point 2^(bits-1)).
 *               Weights: random quants, fp16 scales in [1e-3, 2e-2]; activations gaussian.
 *   get_rows    4 and 8 bits, asymmetric and symmetric, act-order on and off, rows x cols 1x32, 33x176,
 *               4097x4096: 9 ids (0, rows - 1, repeats, random) with scale 0.7071068, and one id with 1.
 *   repack_q    Q4_0 and Q8_0 rows (fp16 d of random sign, |d| in [2^-9, 1.5 * 2^-6]; random quants, Q8_0
 *               in [-127, 127] as ggml's quantizer writes them) of rows 1, 7, 33, 4097 x cols 32, 4096,
 *               11008, n = 1, 3, 9; padded rows (row_bytes = minimum + 6, source at a 2-byte offset, the
 *               gaps random bytes) for two shapes per type; error status (no crash, no sticky CUDA error)
 *               for Q4_1 / F16 and for cols % 32 != 0.
 *   multi       count 1..4 matrices sharing the input: rows 4096/1024/1024/33 x cols 4096, and 33/7/1/4097 x
 *               cols 176 with act-order (one perm pointer for all); 4 and 8 bits, asymmetric and symmetric;
 *               n = 1, 3, 9. Error status for count 0 and 5, mismatched cols, bits and perm pointers, zeros
 *               NULL next to non-NULL (and a valid call of the same matrices as the control).
 *
 * References and tolerances:
 *   matmul      CPU llmj_gptq_matmul (single thread): the same permutation, the same Q8_0 activation
 *               integers and fp16 d, the same exact int32 block brackets; only the float summation
 *               order differs. Per row and token:
 *                   |gpu - cpu| <= 2^-24 * 2 * (nb + 64) * S,   S = sum_c |W[r,c]| * amax(block of c)
 *               (S bounds sum |W * xq * d|: |xq * d| <= amax of the block; nb blocks per row: the CPU
 *               sums at most nb terms in sequence, the GPU nb / 32 per lane and a 32-way tree).
 *               Every token of a multi-token call must equal a one-token call bit for bit.
 *               Symmetric: the CPU with zeros NULL is the reference, and must equal bit for bit the CPU
 *               with an explicit zeros array of 2^(bits-1) - 1 (the same integers in the same order).
 *   dequantize  out[r][perm[c]] = fp16(scale * (q - z)) computed here: bit-exact (both zero layouts).
 *   get_rows    out[t][perm[j]] = (float(scale_fp16) * (float) (q - z)) * scale, two float32 multiplies
 *               computed here: exact equality. Each step is one correctly rounded IEEE multiply (not
 *               contractible into an FMA), so the documented value leaves a kernel no freedom; every
 *               operand and result is 0 or above 1e-4 in magnitude, far from float32's denormals (no
 *               flush-to-zero effects).
 *   repack_q    qs and scales byte-exact against the repack done here (scales = d; Q4_0 qs as they are,
 *               Q8_0 q + 128; device outputs prefilled with 0xAB). The GPTQ product of the repacked matrix
 *               (zeros and perm NULL) against the CPU llmj_matmul_q on the original Q4_0 / Q8_0 rows: the
 *               same Q8_0 activation integers, d and integer block dots, so the matmul bound above with
 *               W = d * (q - 8) or d * q; the CPU llmj_gptq_matmul of the host repack against
 *               llmj_matmul_q within the same bound; for n = 1 also dequantize_f16 (bit-exact) and
 *               get_rows of rows 0, rows / 2, rows - 1 (exact) of the repacked matrix.
 *   multi       each output bit-identical (memcmp) to a separate llmj_cuda_gptq_matmul call (the two
 *               output buffers prefilled with different bytes), and within the matmul bound of the CPU.
 *
 * Exit status 0: all passed; 1: failures; 77: no CUDA device (ctest: skipped).
 * LLMJ_GPTQ_KERNEL (0..3, gptq.cu's VARIANTS; unset: the library's default) selects the one-token matmul kernel variant; the
 * library reads it once per process, so run this binary once per variant; every line of the benchmark
 * names the value it ran with.
 * --bench: after the correctness cases, a timing section (cudaEvents, mean of many calls after a warm-up,
 * weight copies rotated over more than 4x L2); --bench-only: the timing section alone. Lines
 * "bench LLMJ_GPTQ_KERNEL=<v> matmul ...": GB/s of weight bytes read per one-token call (quants + scales
 * + zeros where present; a multi call: the sum over its matrices), for 4-bit asym 4096x11008, 11008x4096
 * (also act-order and 8 tokens), the same at 8 bits, 4-bit sym 4096x4096, 4096x11008, 11008x4096,
 * 32000x4096, 8-bit sym 4096x4096, 11008x4096, multi 3 x 4096x4096 and 2 x 11008x4096 4-bit sym. Lines
 * "bench LLMJ_GPTQ_KERNEL=<v> dequantize_f16 ...": GB/s of input (quants + scales + zeros + perm) plus F16
 * output bytes, 4-bit sym and 4-bit asym act-order 11008x4096. Each timed configuration is checked once
 * against the CPU (matmul bound; dequantize bit-exact on sampled rows): "check ok" or "check FAIL" (exit 1).
 * Next to them the device-to-device cudaMemcpy bandwidth of the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "llmj.h"

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t) (rng >> 32);
}
static float gauss(void) {
    double u1 = (rnd32() + 1.0) / 4294967297.0, u2 = rnd32() / 4294967296.0;
    return (float) (sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}
static float f16_to_f32_slow(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (float) (s ? -v : v);
}
static float F16[65536];
static float f16_to_f32(uint16_t h) { return F16[h]; }
static uint16_t f32_to_f16(float f) {   /* round to nearest even, finite inputs */
    uint32_t u; memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t) ((u >> 16) & 0x8000u);
    double a = fabs((double) f);
    if (a == 0) return sign;
    if (a >= 65520.0) return (uint16_t) (sign | 0x7C00u);
    if (a < ldexp(1, -14)) return (uint16_t) (sign | (uint16_t) nearbyint(a * 16777216.0));
    int e; double m = frexp(a, &e);
    double q = nearbyint(m * 2048.0);
    if (q == 2048.0) { q = 1024.0; e++; }
    if (e + 14 >= 31) return (uint16_t) (sign | 0x7C00u);
    return (uint16_t) (sign | ((uint32_t) (e + 14) << 10) | ((uint32_t) q - 1024u));
}

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); exit(1); } } while (0)

/* The kernel variant this process runs with (the library reads the variable itself). */
static const char * kernel_var(void) {
    const char * v = getenv("LLMJ_GPTQ_KERNEL");
    return v ? v : "unset";
}

/* A host GPTQ matrix with its own arrays (the segment layout's sections, separately). zeros NULL:
 * symmetric. absw: sum_{c in block} |W[r,c]| per [row][block] for the tolerance, made on first use. */
typedef struct {
    int bits; int64_t rows, cols, nb;
    int32_t * perm; uint16_t * scales; uint8_t * zeros; uint8_t * qs;
    double * absw;
} hmat;

static size_t qbytes(const hmat * h) { return (size_t) h->rows * h->nb * (size_t) (4 * h->bits); }

static hmat make(int bits, int64_t rows, int64_t cols, int act_order, int sym) {
    hmat h = { bits, rows, cols, (cols + 31) / 32, NULL, NULL, NULL, NULL, NULL };
    size_t nbr = (size_t) rows * h.nb;
    h.scales = malloc(2 * nbr); h.zeros = malloc(nbr); h.qs = malloc(qbytes(&h));
    for (size_t i = 0; i < nbr; i++) {
        h.scales[i] = f32_to_f16(1e-3f + 1.9e-2f * (rnd32() >> 8) / 16777216.0f);
        h.zeros[i] = (uint8_t) (rnd32() % (bits == 4 ? 16 : 256));
    }
    if (sym) { free(h.zeros); h.zeros = NULL; }
    for (size_t i = 0; i < qbytes(&h); i++) h.qs[i] = (uint8_t) rnd32();
    /* padding columns carry zero quants, as the repacker writes them */
    if (cols % 32) {
        for (int64_t r = 0; r < rows; r++) {
            uint8_t * q = h.qs + ((size_t) r * h.nb + h.nb - 1) * (size_t) (4 * bits);
            for (int64_t c = cols % 32; c < 32; c++) {
                if (bits == 8) q[c] = 0;
                else if (c < 16) q[c] &= 0xF0; else q[c - 16] &= 0x0F;
            }
        }
    }
    if (act_order) {
        h.perm = malloc(4 * (size_t) cols);
        for (int64_t c = 0; c < cols; c++) h.perm[c] = (int32_t) c;
        for (int64_t c = cols - 1; c > 0; c--) {
            int64_t j = rnd32() % (uint32_t) (c + 1);
            int32_t t = h.perm[c]; h.perm[c] = h.perm[j]; h.perm[j] = t;
        }
    }
    return h;
}
static void hfree(hmat * h) { free(h->perm); free(h->scales); free(h->zeros); free(h->qs); free(h->absw); }

static int qat(const hmat * h, int64_t r, int64_t j) {   /* quant of sorted column j */
    const uint8_t * q = h->qs + ((size_t) r * h->nb + j / 32) * (size_t) (4 * h->bits);
    int i = (int) (j % 32);
    return h->bits == 8 ? q[i] : i < 16 ? q[i] & 15 : q[i - 16] >> 4;
}
static int zpt(const hmat * h, size_t b) {                /* zero point of block b (row-major index) */
    return h->zeros ? h->zeros[b] + 1 : 1 << (h->bits - 1);
}
static float wat(const hmat * h, int64_t r, int64_t j) {
    size_t b = (size_t) r * h->nb + j / 32;
    return f16_to_f32(h->scales[b]) * (float) (qat(h, r, j) - zpt(h, b));
}

static llmj_gptq_matrix desc(const hmat * h, void * perm, void * scales, void * zeros, void * qs) {
    llmj_gptq_matrix m = { h->bits, h->rows, h->cols, perm, scales, zeros, qs };
    return m;
}
static llmj_gptq_matrix hdesc(const hmat * h) { return desc(h, h->perm, h->scales, h->zeros, h->qs); }

/* Device copies of a host matrix's arrays (perm only where the host has one, zeros likewise). */
typedef struct { void * perm, * scales, * zeros, * qs; } dmat;

static dmat upload(const hmat * h) {
    dmat d = { NULL, NULL, NULL, NULL };
    size_t nbr = (size_t) h->rows * h->nb;
    if (h->perm) { CK(cudaMalloc(&d.perm, 4 * (size_t) h->cols)); CK(cudaMemcpy(d.perm, h->perm, 4 * (size_t) h->cols, cudaMemcpyHostToDevice)); }
    CK(cudaMalloc(&d.scales, 2 * nbr)); CK(cudaMemcpy(d.scales, h->scales, 2 * nbr, cudaMemcpyHostToDevice));
    if (h->zeros) { CK(cudaMalloc(&d.zeros, nbr)); CK(cudaMemcpy(d.zeros, h->zeros, nbr, cudaMemcpyHostToDevice)); }
    CK(cudaMalloc(&d.qs, qbytes(h))); CK(cudaMemcpy(d.qs, h->qs, qbytes(h), cudaMemcpyHostToDevice));
    return d;
}
static void dfree(dmat * d) { cudaFree(d->perm); cudaFree(d->scales); cudaFree(d->zeros); cudaFree(d->qs); }
static llmj_gptq_matrix ddesc(const hmat * h, const dmat * d) { return desc(h, d->perm, d->scales, d->zeros, d->qs); }

static void * dalloc(size_t bytes) { void * p; CK(cudaMalloc(&p, bytes)); return p; }
static void * dcopy(const void * src, size_t bytes) {
    void * p = dalloc(bytes); CK(cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice)); return p;
}

static void cpu_gptq(const llmj_gptq_matrix * m, const float * x, int n, float * y) {
    if (llmj_gptq_matmul(NULL, m, x, (size_t) m->cols, y, (size_t) m->rows, n, NULL, 0) != LLMJ_OK) {
        printf("CPU llmj_gptq_matmul failed: %s\n", llmj_last_error()); exit(1);
    }
}
static void gpu_gptq(const llmj_gptq_matrix * dm, const float * dx, float * dy, int64_t n, void * dwork, size_t work) {
    if (llmj_cuda_gptq_matmul(dm, dx, dy, n, dwork, work, NULL) != LLMJ_OK) {
        printf("llmj_cuda_gptq_matmul failed: %s\n", llmj_last_error()); exit(1);
    }
}

static int failures = 0;

/* The matmul bound of the header for n tokens (x: n x cols, outputs n x rows): the number of values
 * outside it; *worst = max(*worst, max |got - ref| / S). */
static int check_tol(hmat * h, const float * x, int n, const float * yref, const float * ygot, double * worst,
                     const char * what) {
    int64_t rows = h->rows, cols = h->cols;
    if (!h->absw) {
        h->absw = malloc(sizeof(double) * (size_t) rows * h->nb);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t b = 0; b < h->nb; b++) {
                size_t i = (size_t) r * h->nb + b;
                double sc = fabs((double) f16_to_f32(h->scales[i])), a = 0;
                int z = zpt(h, i);
                for (int64_t j = b * 32; j < b * 32 + 32 && j < cols; j++) a += sc * abs(qat(h, r, j) - z);
                h->absw[i] = a;
            }
        }
    }
    int bad = 0;
    float * amax = malloc(sizeof(float) * (size_t) h->nb);
    for (int t = 0; t < n; t++) {
        const float * xt = x + (size_t) t * cols;
        for (int64_t b = 0; b < h->nb; b++) {
            float a = 0;
            for (int64_t j = b * 32; j < b * 32 + 32 && j < cols; j++) {
                float v = fabsf(xt[h->perm ? h->perm[j] : j]); if (v > a) a = v;
            }
            amax[b] = a;
        }
        for (int64_t r = 0; r < rows; r++) {
            double S = 0;
            for (int64_t b = 0; b < h->nb; b++) S += h->absw[(size_t) r * h->nb + b] * amax[b];
            double tol = ldexp(1, -24) * 2 * (double) (h->nb + 64) * S;
            double err = fabs((double) ygot[t * rows + r] - yref[t * rows + r]);
            if (S > 0 && err / S > *worst) *worst = err / S;
            if (!(err <= tol)) {
                if (bad++ < 3) printf("  %s row %lld token %d: got %.9g want %.9g err %.3g tol %.3g\n", what,
                                      (long long) r, t, ygot[t * rows + r], yref[t * rows + r], err, tol);
            }
        }
    }
    free(amax);
    return bad;
}

/* Tokens of an n-token result (ygpu, already downloaded) that differ from one-token calls. dy is reused. */
static int batch_vs_single(const llmj_gptq_matrix * dm, const float * dx, int n, const float * ygpu, float * dy,
                           void * dwork, size_t work) {
    if (n <= 1) return 0;
    int bad = 0;
    size_t rows = (size_t) dm->rows;
    float * y1 = malloc(sizeof(float) * rows);
    for (int t = 0; t < n; t++) {
        gpu_gptq(dm, dx + (size_t) t * dm->cols, dy, 1, dwork, work);
        CK(cudaMemcpy(y1, dy, sizeof(float) * rows, cudaMemcpyDeviceToHost));
        if (memcmp(y1, ygpu + (size_t) t * rows, sizeof(float) * rows) != 0) bad++;
    }
    free(y1);
    return bad;
}

/* llmj_cuda_gptq_dequantize_f16 against fp16(wat) on every row_step-th row and the last: mismatches. */
static int dequant_check(const hmat * h, const llmj_gptq_matrix * dm, int64_t row_step) {
    int64_t rows = h->rows, cols = h->cols;
    void * dout = dalloc(2 * (size_t) (rows * cols));
    if (llmj_cuda_gptq_dequantize_f16(dm, dout, NULL) != LLMJ_OK) {
        printf("llmj_cuda_gptq_dequantize_f16 failed: %s\n", llmj_last_error()); exit(1);
    }
    uint16_t * got = malloc(2 * (size_t) (rows * cols));
    CK(cudaMemcpy(got, dout, 2 * (size_t) (rows * cols), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (r % row_step != 0 && r != rows - 1) continue;
        for (int64_t j = 0; j < cols; j++) {
            int64_t c = h->perm ? h->perm[j] : j;
            uint16_t want = f32_to_f16(wat(h, r, j));
            if (got[r * cols + c] != want && bad++ < 3) {
                printf("  dequant [%lld][%lld]: gpu %04x want %04x\n", (long long) r, (long long) c, got[r * cols + c], want);
            }
        }
    }
    free(got); cudaFree(dout);
    return bad;
}

/* llmj_cuda_gptq_get_rows of nid ids (host array) against (float(scale) * (q - z)) * scale: mismatches
 * (a failing call counts as one). */
static int get_rows_check(const hmat * h, const llmj_gptq_matrix * dm, const int32_t * ids, int nid, float scale) {
    int64_t cols = h->cols;
    size_t out_bytes = sizeof(float) * (size_t) nid * (size_t) cols;
    void * dids = dcopy(ids, sizeof(int32_t) * (size_t) nid);
    float * dout = dalloc(out_bytes);
    CK(cudaMemset(dout, 0xFF, out_bytes));   /* NaN: an unwritten value never compares equal */
    int bad = 0;
    if (llmj_cuda_gptq_get_rows(dm, dids, nid, scale, dout, NULL) != LLMJ_OK) {
        printf("  llmj_cuda_gptq_get_rows failed: %s\n", llmj_last_error());
        bad = 1;
    } else {
        float * got = malloc(out_bytes);
        CK(cudaMemcpy(got, dout, out_bytes, cudaMemcpyDeviceToHost));
        for (int t = 0; t < nid; t++) {
            for (int64_t j = 0; j < cols; j++) {
                int64_t c = h->perm ? h->perm[j] : j;
                float want = wat(h, ids[t], j) * scale;
                float g = got[(size_t) t * cols + c];
                if (g != want && bad++ < 3) {
                    printf("  get_rows id %d [%lld]: gpu %.9g want %.9g\n", ids[t], (long long) c, g, want);
                }
            }
        }
        free(got);
    }
    cudaFree(dids); cudaFree(dout);
    return bad;
}

/* ---- matmul and dequantize, asymmetric and symmetric ------------------------------------------ */
static void run_case(int bits, int64_t rows, int64_t cols, int act_order, int n, int sym) {
    hmat h = make(bits, rows, cols, act_order, sym);
    float * x = malloc(sizeof(float) * (size_t) (n * cols));
    for (int64_t i = 0; i < n * cols; i++) x[i] = gauss();
    float * ycpu = malloc(sizeof(float) * (size_t) (n * rows)), * ygpu = malloc(sizeof(float) * (size_t) (n * rows));
    llmj_gptq_matrix hm = hdesc(&h);
    cpu_gptq(&hm, x, n, ycpu);
    int zeros_bad = 0;
    if (sym) {   /* the CPU's NULL zeros == explicit zero bytes 2^(bits-1) - 1, bit for bit */
        size_t nbr = (size_t) rows * h.nb;
        uint8_t * z = malloc(nbr);
        memset(z, (1 << (bits - 1)) - 1, nbr);
        float * y2 = malloc(sizeof(float) * (size_t) (n * rows));
        llmj_gptq_matrix hz = desc(&h, h.perm, h.scales, z, h.qs);
        cpu_gptq(&hz, x, n, y2);
        zeros_bad = memcmp(y2, ycpu, sizeof(float) * (size_t) (n * rows)) != 0;
        free(z); free(y2);
    }
    dmat d = upload(&h);
    size_t work = llmj_cuda_gptq_work_size(cols, n);
    float * dx = dcopy(x, sizeof(float) * (size_t) (n * cols)), * dy = dalloc(sizeof(float) * (size_t) (n * rows));
    void * dwork = dalloc(work);
    llmj_gptq_matrix dm = ddesc(&h, &d);
    gpu_gptq(&dm, dx, dy, n, dwork, work);
    CK(cudaMemcpy(ygpu, dy, sizeof(float) * (size_t) (n * rows), cudaMemcpyDeviceToHost));
    double worst = 0;
    int bad = check_tol(&h, x, n, ycpu, ygpu, &worst, "gpu vs cpu");
    int batch_bad = batch_vs_single(&dm, dx, n, ygpu, dy, dwork, work);
    int deq_bad = n == 1 ? dequant_check(&h, &dm, 1) : 0;
    int ok = bad == 0 && batch_bad == 0 && deq_bad == 0 && zeros_bad == 0;
    if (!ok) failures++;
    printf("%s gptq%d %s %5lldx%-5lld act_order=%d n=%d: max |gpu-cpu|/S %.2e (bound 2^-24*2*(nb+64) = %.2e)%s%s%s\n",
           ok ? "ok  " : "FAIL", bits, sym ? "sym " : "asym", (long long) rows, (long long) cols, act_order, n, worst,
           ldexp(1, -24) * 2 * (double) (h.nb + 64), batch_bad ? ", batch != single" : "",
           deq_bad ? ", dequantize mismatch" : "", zeros_bad ? ", CPU zeros NULL != explicit zero points" : "");
    dfree(&d); cudaFree(dx); cudaFree(dy); cudaFree(dwork);
    free(x); free(ycpu); free(ygpu); hfree(&h);
}

/* ---- get_rows -------------------------------------------------------------------------------- */
static void run_get_rows(int bits, int64_t rows, int64_t cols, int act_order, int sym) {
    hmat h = make(bits, rows, cols, act_order, sym);
    dmat d = upload(&h);
    llmj_gptq_matrix dm = ddesc(&h, &d);
    uint32_t R = (uint32_t) rows;
    int32_t ids[9] = { 0, (int32_t) (rows - 1), (int32_t) (rnd32() % R), (int32_t) (rows / 2), 0,
                       (int32_t) (rnd32() % R), (int32_t) (rows - 1), (int32_t) (rnd32() % R), (int32_t) (rnd32() % R) };
    int32_t one = (int32_t) (rows - 1);
    int bad = get_rows_check(&h, &dm, ids, 9, 0.7071068f) + get_rows_check(&h, &dm, &one, 1, 1.0f);
    if (bad) failures++;
    printf("%s get_rows gptq%d %s %5lldx%-5lld act_order=%d: 9 ids x 0.7071068 and 1 id x 1, exact%s\n",
           bad ? "FAIL" : "ok  ", bits, sym ? "sym " : "asym", (long long) rows, (long long) cols, act_order,
           bad ? ": mismatches" : "");
    dfree(&d); hfree(&h);
}

/* ---- repack of Q4_0 / Q8_0 ------------------------------------------------------------------- */
/* Scales and zero points per group (group_blocks gb > 1): a matrix whose blocks repeat their group's scale and zero,
 * given once per block and once per group: matmul (n tokens), dequantize_f16 and get_rows give the same bits. */
static void run_grouped(int bits, int64_t rows, int64_t cols, int gb, int n, int act_order, int sym) {
    hmat h = make(bits, rows, cols, act_order, sym);
    const int64_t ng = (h.nb + gb - 1) / gb;
    uint16_t * gs = malloc(2 * (size_t) (rows * ng));
    uint8_t * gz = sym ? NULL : malloc((size_t) (rows * ng));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < h.nb; b++) {
            const size_t i = (size_t) (r * h.nb + b), g = (size_t) (r * ng + b / gb);
            if (b % gb == 0) { gs[g] = h.scales[i]; if (gz) gz[g] = h.zeros[i]; }
            h.scales[i] = gs[g];
            if (gz) h.zeros[i] = gz[g];
        }
    dmat d = upload(&h);
    void * dgs = dcopy(gs, 2 * (size_t) (rows * ng)), * dgz = gz ? dcopy(gz, (size_t) (rows * ng)) : NULL;
    llmj_gptq_matrix per_block = ddesc(&h, &d), grouped = desc(&h, d.perm, dgs, dgz, d.qs);
    grouped.group_blocks = gb;
    float * x = malloc(sizeof(float) * (size_t) (n * cols));
    for (int64_t i = 0; i < n * cols; i++) x[i] = gauss();
    float * dx = dcopy(x, sizeof(float) * (size_t) (n * cols));
    float * y1 = dalloc(sizeof(float) * (size_t) (n * rows)), * y2 = dalloc(sizeof(float) * (size_t) (n * rows));
    size_t work = llmj_cuda_gptq_work_size(cols, n);
    void * dwork = dalloc(work);
    gpu_gptq(&per_block, dx, y1, n, dwork, work);
    gpu_gptq(&grouped, dx, y2, n, dwork, work);
    size_t yb = sizeof(float) * (size_t) (n * rows), hb = 2 * (size_t) (rows * cols);
    float * h1 = malloc(yb), * h2 = malloc(yb);
    CK(cudaMemcpy(h1, y1, yb, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(h2, y2, yb, cudaMemcpyDeviceToHost));
    int ok = memcmp(h1, h2, yb) == 0;
    void * o1 = dalloc(hb), * o2 = dalloc(hb);
    ok &= llmj_cuda_gptq_dequantize_f16(&per_block, o1, NULL) == LLMJ_OK && llmj_cuda_gptq_dequantize_f16(&grouped, o2, NULL) == LLMJ_OK;
    uint16_t * f1 = malloc(hb), * f2 = malloc(hb);
    CK(cudaMemcpy(f1, o1, hb, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(f2, o2, hb, cudaMemcpyDeviceToHost));
    ok &= memcmp(f1, f2, hb) == 0;
    int32_t ids[3] = {0, (int32_t) (rows / 2), (int32_t) (rows - 1)};
    int32_t * dids = dcopy(ids, sizeof ids);
    float * e1 = dalloc(sizeof(float) * 3 * (size_t) cols), * e2 = dalloc(sizeof(float) * 3 * (size_t) cols);
    ok &= llmj_cuda_gptq_get_rows(&per_block, dids, 3, 0.5f, e1, NULL) == LLMJ_OK
          && llmj_cuda_gptq_get_rows(&grouped, dids, 3, 0.5f, e2, NULL) == LLMJ_OK;
    float * g1 = malloc(sizeof(float) * 3 * (size_t) cols), * g2 = malloc(sizeof(float) * 3 * (size_t) cols);
    CK(cudaMemcpy(g1, e1, sizeof(float) * 3 * (size_t) cols, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(g2, e2, sizeof(float) * 3 * (size_t) cols, cudaMemcpyDeviceToHost));
    ok &= memcmp(g1, g2, sizeof(float) * 3 * (size_t) cols) == 0;
    printf("%s grouped %d-bit %s rows=%lld cols=%lld group_blocks=%d act_order=%d n=%d: matmul, dequantize_f16, get_rows "
           "equal to per-block scales\n", ok ? "ok  " : "FAIL", bits, sym ? "sym" : "asym", (long long) rows, (long long) cols, gb,
           act_order, n);
    if (!ok) failures++;
    free(h1); free(h2); free(f1); free(f2); free(g1); free(g2); free(x); free(gs); free(gz);
    cudaFree(y1); cudaFree(y2); cudaFree(dwork); cudaFree(dx); cudaFree(o1); cudaFree(o2); cudaFree(dids); cudaFree(e1);
    cudaFree(e2); cudaFree(dgs); cudaFree(dgz);
    dfree(&d); hfree(&h);
}

static void run_repack(int type, int64_t rows, int64_t cols, int n, int pad) {
    const int q4 = type == LLMJ_TYPE_Q4_0, bb = q4 ? 18 : 34, bits = q4 ? 4 : 8;
    const int64_t nb = cols / 32;
    const size_t rb = (size_t) nb * bb + (pad ? 6 : 0), off = pad ? 2 : 0, src_bytes = off + (size_t) rows * rb;
    uint8_t * src = malloc(src_bytes);
    for (size_t i = 0; i < src_bytes; i++) src[i] = (uint8_t) rnd32();   /* gaps stay random */
    hmat hr = { bits, rows, cols, nb, NULL, malloc(2 * (size_t) rows * nb), NULL, NULL, NULL };
    hr.qs = malloc(qbytes(&hr));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t * blk = src + off + (size_t) r * rb + (size_t) b * bb;
            float dv = ldexpf(1.0f + 0.5f * (float) (rnd32() >> 8) / 16777216.0f, -6 - (int) (rnd32() % 4));
            uint16_t dh = f32_to_f16((rnd32() & 1) ? -dv : dv);
            memcpy(blk, &dh, 2);                             /* little-endian, as GGUF */
            size_t i = (size_t) r * nb + b;
            hr.scales[i] = dh;
            uint8_t * q = hr.qs + i * (size_t) (4 * bits);
            if (q4) {
                memcpy(q, blk + 2, 16);
            } else {
                for (int k = 0; k < 32; k++) {
                    int v = (int) (rnd32() % 255) - 127;
                    blk[2 + k] = (uint8_t) (int8_t) v;
                    q[k] = (uint8_t) (v + 128);
                }
            }
        }
    }
    const size_t nbr = (size_t) rows * nb;
    uint8_t * dsrc = dcopy(src, src_bytes);
    void * dqs = dalloc(qbytes(&hr)), * dsc = dalloc(2 * nbr);
    CK(cudaMemset(dqs, 0xAB, qbytes(&hr))); CK(cudaMemset(dsc, 0xAB, 2 * nbr));
    const char * tn = q4 ? "q4_0" : "q8_0";
    int st = llmj_cuda_gptq_repack_q(type, dsrc + off, rb, rows, cols, dqs, dsc, NULL);
    if (st != LLMJ_OK) {
        printf("FAIL repack %s %5lldx%-5lld: status %d: %s\n", tn, (long long) rows, (long long) cols, st, llmj_last_error());
        failures++;
        cudaFree(dsrc); cudaFree(dqs); cudaFree(dsc); free(src); hfree(&hr);
        return;
    }
    CK(cudaDeviceSynchronize());
    uint8_t * gq = malloc(qbytes(&hr)); uint16_t * gs = malloc(2 * nbr);
    CK(cudaMemcpy(gq, dqs, qbytes(&hr), cudaMemcpyDeviceToHost)); CK(cudaMemcpy(gs, dsc, 2 * nbr, cudaMemcpyDeviceToHost));
    size_t q_bad = 0, s_bad = 0;
    for (size_t i = 0; i < qbytes(&hr); i++) q_bad += gq[i] != hr.qs[i];
    for (size_t i = 0; i < nbr; i++) s_bad += gs[i] != hr.scales[i];
    free(gq); free(gs);
    /* products: GPTQ on the device copy vs the CPU's Q4_0 / Q8_0 product on the original rows */
    float * x = malloc(sizeof(float) * (size_t) (n * cols));
    for (int64_t i = 0; i < n * cols; i++) x[i] = gauss();
    float * ycpu = malloc(sizeof(float) * (size_t) (n * rows)), * ycg = malloc(sizeof(float) * (size_t) (n * rows));
    float * ygpu = malloc(sizeof(float) * (size_t) (n * rows));
    if (llmj_matmul_q(NULL, type, src + off, rb, x, (size_t) cols, ycpu, (size_t) rows, rows, cols, n, NULL, 0) != LLMJ_OK) {
        printf("CPU llmj_matmul_q failed: %s\n", llmj_last_error()); exit(1);
    }
    llmj_gptq_matrix hm = hdesc(&hr);
    cpu_gptq(&hm, x, n, ycg);
    size_t work = llmj_cuda_gptq_work_size(cols, n);
    float * dx = dcopy(x, sizeof(float) * (size_t) (n * cols)), * dy = dalloc(sizeof(float) * (size_t) (n * rows));
    void * dwork = dalloc(work);
    llmj_gptq_matrix dm = desc(&hr, NULL, dsc, NULL, dqs);
    gpu_gptq(&dm, dx, dy, n, dwork, work);
    CK(cudaMemcpy(ygpu, dy, sizeof(float) * (size_t) (n * rows), cudaMemcpyDeviceToHost));
    double worst = 0, worst_cpu = 0;
    int bad = check_tol(&hr, x, n, ycpu, ygpu, &worst, "gpu gptq vs cpu q");
    int cpu_bad = check_tol(&hr, x, n, ycpu, ycg, &worst_cpu, "cpu gptq vs cpu q");
    int batch_bad = batch_vs_single(&dm, dx, n, ygpu, dy, dwork, work);
    int deq_bad = 0, rows_bad = 0;
    if (n == 1) {
        deq_bad = dequant_check(&hr, &dm, 1);
        int32_t ids[3] = { 0, (int32_t) (rows / 2), (int32_t) (rows - 1) };
        rows_bad = get_rows_check(&hr, &dm, ids, 3, 0.7071068f);
    }
    int ok = q_bad == 0 && s_bad == 0 && bad == 0 && cpu_bad == 0 && batch_bad == 0 && deq_bad == 0 && rows_bad == 0;
    if (!ok) failures++;
    printf("%s repack %s %5lldx%-5lld row_bytes=min+%d n=%d: qs/scales bytes wrong %zu/%zu; max |gpu-cpu_q|/S %.2e, "
           "|cpu_gptq-cpu_q|/S %.2e (bound %.2e)%s%s%s%s%s\n",
           ok ? "ok  " : "FAIL", tn, (long long) rows, (long long) cols, pad ? 6 : 0, n, q_bad, s_bad, worst, worst_cpu,
           ldexp(1, -24) * 2 * (double) (nb + 64), bad ? ", gpu out of bound" : "", cpu_bad ? ", cpu gptq out of bound" : "",
           batch_bad ? ", batch != single" : "", deq_bad ? ", dequantize mismatch" : "", rows_bad ? ", get_rows mismatch" : "");
    cudaFree(dsrc); cudaFree(dqs); cudaFree(dsc); cudaFree(dx); cudaFree(dy); cudaFree(dwork);
    free(src); free(x); free(ycpu); free(ycg); free(ygpu); hfree(&hr);
}

/* A call that must fail with a status (not crash, not leave a sticky CUDA error). */
static void expect_error(const char * what, int st) {
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaGetLastError();
    int ok = st != LLMJ_OK && e == cudaSuccess;
    if (!ok) failures++;
    printf("%s %s: status %d (%s)%s%s\n", ok ? "ok  " : "FAIL", what, st, st != LLMJ_OK ? llmj_last_error() : "expected an error",
           e != cudaSuccess ? ", CUDA error: " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
}
static void expect_ok(const char * what, int st) {
    CK(cudaDeviceSynchronize());
    if (st != LLMJ_OK) failures++;
    printf("%s %s: status %d%s%s\n", st == LLMJ_OK ? "ok  " : "FAIL", what, st, st != LLMJ_OK ? ": " : "",
           st != LLMJ_OK ? llmj_last_error() : "");
}

static void repack_errors(void) {
    uint8_t * dsrc = dalloc(1024);                      /* enough for every row_bytes below */
    void * dqs = dalloc(4 * 64), * dsc = dalloc(4 * 2 * 2);
    CK(cudaMemset(dsrc, 0, 1024));
    expect_ok("repack control: q4_0 4x64", llmj_cuda_gptq_repack_q(LLMJ_TYPE_Q4_0, dsrc, 36, 4, 64, dqs, dsc, NULL));
    expect_ok("repack control: q8_0 4x64", llmj_cuda_gptq_repack_q(LLMJ_TYPE_Q8_0, dsrc, 68, 4, 64, dqs, dsc, NULL));
    expect_error("repack error: type q4_1", llmj_cuda_gptq_repack_q(LLMJ_TYPE_Q4_1, dsrc, 40, 4, 64, dqs, dsc, NULL));
    expect_error("repack error: type f16", llmj_cuda_gptq_repack_q(LLMJ_TYPE_F16, dsrc, 128, 4, 64, dqs, dsc, NULL));
    expect_error("repack error: q4_0 cols 48", llmj_cuda_gptq_repack_q(LLMJ_TYPE_Q4_0, dsrc, 36, 4, 48, dqs, dsc, NULL));
    expect_error("repack error: q8_0 cols 48", llmj_cuda_gptq_repack_q(LLMJ_TYPE_Q8_0, dsrc, 68, 4, 48, dqs, dsc, NULL));
    cudaFree(dsrc); cudaFree(dqs); cudaFree(dsc);
}

/* ---- matmul_multi ---------------------------------------------------------------------------- */
/* Four matrices of one shape set sharing one input (set 1: one act-order perm pointer for all); every
 * count 1..4 and n = 1, 3, 9. */
static void run_multi_set(int bits, int sym, int set) {
    static const int64_t ROWS_A[4] = {4096, 1024, 1024, 33}, ROWS_B[4] = {33, 7, 1, 4097};
    const int64_t cols = set ? 176 : 4096;
    const int64_t * R = set ? ROWS_B : ROWS_A;
    int32_t * perm = NULL;
    void * dperm = NULL;
    if (set) {
        perm = malloc(4 * (size_t) cols);
        for (int64_t c = 0; c < cols; c++) perm[c] = (int32_t) c;
        for (int64_t c = cols - 1; c > 0; c--) {
            int64_t j = rnd32() % (uint32_t) (c + 1);
            int32_t t = perm[c]; perm[c] = perm[j]; perm[j] = t;
        }
        dperm = dcopy(perm, 4 * (size_t) cols);
    }
    hmat h[4]; dmat d[4]; llmj_gptq_matrix dm[4], hm[4];
    float * ym[4], * ys[4];   /* device outputs: multi, separate */
    for (int k = 0; k < 4; k++) {
        h[k] = make(bits, R[k], cols, 0, sym);
        d[k] = upload(&h[k]);
        h[k].perm = perm; d[k].perm = dperm;            /* shared: freed once below */
        dm[k] = ddesc(&h[k], &d[k]); hm[k] = hdesc(&h[k]);
        ym[k] = dalloc(sizeof(float) * 9 * (size_t) R[k]); ys[k] = dalloc(sizeof(float) * 9 * (size_t) R[k]);
    }
    const int NS[] = {1, 3, 9};
    for (int ni = 0; ni < 3; ni++) {
        int n = NS[ni];
        float * x = malloc(sizeof(float) * (size_t) (n * cols));
        for (int64_t i = 0; i < n * cols; i++) x[i] = gauss();
        float * ycpu[4], * yh = malloc(sizeof(float) * (size_t) n * 4097), * yh2 = malloc(sizeof(float) * (size_t) n * 4097);
        for (int k = 0; k < 4; k++) { ycpu[k] = malloc(sizeof(float) * (size_t) n * R[k]); cpu_gptq(&hm[k], x, n, ycpu[k]); }
        size_t work = llmj_cuda_gptq_work_size(cols, n);
        float * dx = dcopy(x, sizeof(float) * (size_t) (n * cols));
        void * dwork = dalloc(work);
        for (int count = 1; count <= 4; count++) {
            for (int k = 0; k < count; k++) {
                CK(cudaMemset(ym[k], 0xFF, sizeof(float) * (size_t) n * R[k]));
                CK(cudaMemset(ys[k], 0x7F, sizeof(float) * (size_t) n * R[k]));
            }
            int st = llmj_cuda_gptq_matmul_multi(count, dm, dx, ym, n, dwork, work, NULL);
            int same_bad = 0, bad = 0;
            double worst = 0;
            if (st != LLMJ_OK) printf("  llmj_cuda_gptq_matmul_multi failed: %s\n", llmj_last_error());
            CK(cudaDeviceSynchronize());
            for (int k = 0; k < count && st == LLMJ_OK; k++) {
                size_t bytes = sizeof(float) * (size_t) n * R[k];
                gpu_gptq(&dm[k], dx, ys[k], n, dwork, work);
                CK(cudaMemcpy(yh, ym[k], bytes, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(yh2, ys[k], bytes, cudaMemcpyDeviceToHost));
                if (memcmp(yh, yh2, bytes) != 0) {
                    same_bad++;
                    printf("  multi output %d (%lld rows) != separate call\n", k, (long long) R[k]);
                }
                bad += check_tol(&h[k], x, n, ycpu[k], yh, &worst, "multi vs cpu");
            }
            int ok = st == LLMJ_OK && same_bad == 0 && bad == 0;
            if (!ok) failures++;
            char rl[64] = "";
            for (int k = 0; k < count; k++) {
                size_t l = strlen(rl);
                snprintf(rl + l, sizeof(rl) - l, "%s%lld", k ? "/" : "", (long long) R[k]);
            }
            printf("%s multi gptq%d %s count=%d rows=%s cols=%lld act_order=%d n=%d: %s separate calls, max |gpu-cpu|/S %.2e\n",
                   ok ? "ok  " : "FAIL", bits, sym ? "sym " : "asym", count, rl, (long long) cols, set, n,
                   st != LLMJ_OK ? "call failed," : same_bad ? "!=" : "==", worst);
        }
        for (int k = 0; k < 4; k++) free(ycpu[k]);
        free(x); free(yh); free(yh2); cudaFree(dx); cudaFree(dwork);
    }
    for (int k = 0; k < 4; k++) {
        h[k].perm = NULL; d[k].perm = NULL;
        dfree(&d[k]); hfree(&h[k]); cudaFree(ym[k]); cudaFree(ys[k]);
    }
    free(perm); cudaFree(dperm);
}

static void multi_errors(void) {
    enum { A4, A8, S4, C4, P4, Q4, NM };
    hmat h[NM] = { make(4, 7, 64, 0, 0), make(8, 7, 64, 0, 0), make(4, 7, 64, 0, 1), make(4, 7, 96, 0, 0),
                   make(4, 7, 64, 1, 0), make(4, 7, 64, 1, 0) };
    dmat d[NM]; llmj_gptq_matrix m[NM];
    for (int k = 0; k < NM; k++) { d[k] = upload(&h[k]); m[k] = ddesc(&h[k], &d[k]); }
    size_t work = llmj_cuda_gptq_work_size(96, 1);
    float * dx = dalloc(sizeof(float) * 96), * y[5];
    CK(cudaMemset(dx, 0, sizeof(float) * 96));
    void * dwork = dalloc(work);
    for (int k = 0; k < 5; k++) y[k] = dalloc(sizeof(float) * 7);
#define MS(...) ((llmj_gptq_matrix[]) { __VA_ARGS__ })
    expect_ok("multi control: 2 x 4-bit asym", llmj_cuda_gptq_matmul_multi(2, MS(m[A4], m[A4]), dx, y, 1, dwork, work, NULL));
    expect_ok("multi control: 2 x 4-bit act-order, one perm", llmj_cuda_gptq_matmul_multi(2, MS(m[P4], m[P4]), dx, y, 1, dwork, work, NULL));
    expect_ok("multi control: 4 x 4-bit", llmj_cuda_gptq_matmul_multi(4, MS(m[A4], m[A4], m[A4], m[A4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: count 0", llmj_cuda_gptq_matmul_multi(0, MS(m[A4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: count 5",
                 llmj_cuda_gptq_matmul_multi(5, MS(m[A4], m[A4], m[A4], m[A4], m[A4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: cols 64 and 96", llmj_cuda_gptq_matmul_multi(2, MS(m[A4], m[C4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: bits 4 and 8", llmj_cuda_gptq_matmul_multi(2, MS(m[A4], m[A8]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: zeros then NULL", llmj_cuda_gptq_matmul_multi(2, MS(m[A4], m[S4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: zeros NULL then not", llmj_cuda_gptq_matmul_multi(2, MS(m[S4], m[A4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: perm NULL and not", llmj_cuda_gptq_matmul_multi(2, MS(m[A4], m[P4]), dx, y, 1, dwork, work, NULL));
    expect_error("multi error: two perm pointers", llmj_cuda_gptq_matmul_multi(2, MS(m[P4], m[Q4]), dx, y, 1, dwork, work, NULL));
#undef MS
    for (int k = 0; k < NM; k++) { dfree(&d[k]); hfree(&h[k]); }
    for (int k = 0; k < 5; k++) cudaFree(y[k]);
    cudaFree(dx); cudaFree(dwork);
}

/* ---- bench --------------------------------------------------------------------------------- */
static int l2_bytes(void) { int l2; CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0)); return l2; }

static int bench_call(int count, const llmj_gptq_matrix * ms, const float * dx, float * const * ys, int n, void * dwork,
                      size_t work) {
    return count == 1 ? llmj_cuda_gptq_matmul(ms, dx, ys[0], n, dwork, work, NULL)
                      : llmj_cuda_gptq_matmul_multi(count, ms, dx, ys, n, dwork, work, NULL);
}

/* One llmj_cuda_gptq_matmul (count 1) or llmj_cuda_gptq_matmul_multi call of count matrices of rows[k] x
 * cols (act_order: one shared perm), n tokens; then one call checked against the CPU. */
static void bench_matmul(int bits, int sym, int act_order, int count, const int64_t * rows, int64_t cols, int n) {
    hmat h[4];
    size_t wbytes = 0;
    for (int k = 0; k < count; k++) {
        h[k] = make(bits, rows[k], cols, act_order && k == 0, sym);
        if (k > 0) h[k].perm = h[0].perm;
        size_t nbr = (size_t) rows[k] * h[k].nb;
        wbytes += qbytes(&h[k]) + 2 * nbr + (sym ? 0 : nbr);   /* quants + scales + zeros */
    }
    int copies = (int) (4.0 * l2_bytes() / wbytes) + 2;
    void * dperm = h[0].perm ? dcopy(h[0].perm, 4 * (size_t) cols) : NULL;
    dmat * d = malloc(sizeof(dmat) * (size_t) (copies * count));
    llmj_gptq_matrix * ms = malloc(sizeof(llmj_gptq_matrix) * (size_t) (copies * count));
    for (int i = 0; i < copies; i++) {
        for (int k = 0; k < count; k++) {
            hmat t = h[k]; t.perm = NULL;
            d[i * count + k] = upload(&t);
            d[i * count + k].perm = dperm;
            ms[i * count + k] = ddesc(&h[k], &d[i * count + k]);
        }
    }
    float * x = malloc(sizeof(float) * (size_t) (n * cols));
    for (int64_t i = 0; i < n * cols; i++) x[i] = gauss();
    float * dx = dcopy(x, sizeof(float) * (size_t) (n * cols)), * ys[4];
    for (int k = 0; k < count; k++) ys[k] = dalloc(sizeof(float) * (size_t) n * rows[k]);
    size_t work = llmj_cuda_gptq_work_size(cols, n);
    void * dwork = dalloc(work);
    const int ITERS = 200;
    for (int i = 0; i < 20; i++) bench_call(count, &ms[(i % copies) * count], dx, ys, n, dwork, work);
    cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, NULL));
    for (int i = 0; i < ITERS; i++) {
        if (bench_call(count, &ms[(i % copies) * count], dx, ys, n, dwork, work) != LLMJ_OK) {
            printf("bench failed: %s\n", llmj_last_error()); exit(1);
        }
    }
    CK(cudaEventRecord(b, NULL)); CK(cudaEventSynchronize(b));
    float ms_; CK(cudaEventElapsedTime(&ms_, a, b));
    double sec = ms_ * 1e-3 / ITERS;
    /* check: one call on copy 0 against the CPU */
    if (bench_call(count, ms, dx, ys, n, dwork, work) != LLMJ_OK) { printf("bench failed: %s\n", llmj_last_error()); exit(1); }
    int bad = 0;
    double worst = 0;
    for (int k = 0; k < count; k++) {
        float * yg = malloc(sizeof(float) * (size_t) n * rows[k]), * yc = malloc(sizeof(float) * (size_t) n * rows[k]);
        CK(cudaMemcpy(yg, ys[k], sizeof(float) * (size_t) n * rows[k], cudaMemcpyDeviceToHost));
        llmj_gptq_matrix hm = hdesc(&h[k]);
        cpu_gptq(&hm, x, n, yc);
        bad += check_tol(&h[k], x, n, yc, yg, &worst, "bench check");
        free(yg); free(yc);
    }
    if (bad) failures++;
    char rl[64];
    if (count == 1) snprintf(rl, sizeof(rl), "%lld", (long long) rows[0]);
    else if (rows[0] == rows[count - 1]) snprintf(rl, sizeof(rl), "%dx%lld", count, (long long) rows[0]);
    else snprintf(rl, sizeof(rl), "%lld/...", (long long) rows[0]);
    printf("bench LLMJ_GPTQ_KERNEL=%s matmul%s gptq%d %s rows=%-7s cols=%-5lld act_order=%d n=%d: %7.1f us, %6.0f GB/s "
           "of weights (%.1f MB, %d copies), check %s (max |gpu-cpu|/S %.1e)\n",
           kernel_var(), count > 1 ? "_multi" : "", bits, sym ? "sym " : "asym", rl, (long long) cols, act_order, n,
           sec * 1e6, wbytes / sec / 1e9, wbytes / 1e6, copies, bad ? "FAIL" : "ok", worst);
    fflush(stdout);
    for (int i = 0; i < copies * count; i++) { d[i].perm = NULL; dfree(&d[i]); }
    for (int k = 0; k < count; k++) { if (k > 0) h[k].perm = NULL; hfree(&h[k]); cudaFree(ys[k]); }
    cudaFree(dperm); cudaFree(dx); cudaFree(dwork);
    free(d); free(ms); free(x);
    cudaEventDestroy(a); cudaEventDestroy(b);
}

/* llmj_cuda_gptq_dequantize_f16: GB/s of input (quants + scales + zeros + perm) plus F16 output bytes. */
static void bench_dequant(int bits, int sym, int act_order, int64_t rows, int64_t cols) {
    hmat h = make(bits, rows, cols, act_order, sym);
    size_t nbr = (size_t) rows * h.nb;
    size_t in_bytes = qbytes(&h) + 2 * nbr + (sym ? 0 : nbr) + (act_order ? 4 * (size_t) cols : 0);
    size_t out_bytes = 2 * (size_t) (rows * cols);
    int copies = (int) (4.0 * l2_bytes() / in_bytes) + 2;
    dmat * d = malloc(sizeof(dmat) * (size_t) copies);
    llmj_gptq_matrix * ms = malloc(sizeof(llmj_gptq_matrix) * (size_t) copies);
    for (int i = 0; i < copies; i++) { d[i] = upload(&h); ms[i] = ddesc(&h, &d[i]); }
    void * dout = dalloc(out_bytes);
    const int ITERS = 30;
    for (int i = 0; i < 3; i++) llmj_cuda_gptq_dequantize_f16(&ms[i % copies], dout, NULL);
    cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, NULL));
    for (int i = 0; i < ITERS; i++) {
        if (llmj_cuda_gptq_dequantize_f16(&ms[i % copies], dout, NULL) != LLMJ_OK) {
            printf("bench failed: %s\n", llmj_last_error()); exit(1);
        }
    }
    CK(cudaEventRecord(b, NULL)); CK(cudaEventSynchronize(b));
    float ms_; CK(cudaEventElapsedTime(&ms_, a, b));
    double sec = ms_ * 1e-3 / ITERS;
    int bad = dequant_check(&h, &ms[0], 97);
    if (bad) failures++;
    printf("bench LLMJ_GPTQ_KERNEL=%s dequantize_f16 gptq%d %s rows=%-7lld cols=%-5lld act_order=%d: %7.1f us, %6.0f GB/s "
           "of input + F16 output (%.1f + %.1f MB, %d copies), check %s\n",
           kernel_var(), bits, sym ? "sym " : "asym", (long long) rows, (long long) cols, act_order, sec * 1e6,
           (in_bytes + out_bytes) / sec / 1e9, in_bytes / 1e6, out_bytes / 1e6, copies, bad ? "FAIL" : "ok");
    fflush(stdout);
    for (int i = 0; i < copies; i++) dfree(&d[i]);
    cudaFree(dout); free(d); free(ms); hfree(&h);
    cudaEventDestroy(a); cudaEventDestroy(b);
}

static void bench(void) {
    struct cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
    printf("\nbench: %s, %d SMs, LLMJ_GPTQ_KERNEL=%s\n", prop.name, prop.multiProcessorCount, kernel_var());
    size_t bytes = 512u << 20;
    void * s, * d; CK(cudaMalloc(&s, bytes)); CK(cudaMalloc(&d, bytes));
    CK(cudaMemcpy(d, s, bytes, cudaMemcpyDeviceToDevice));
    cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, NULL));
    for (int i = 0; i < 10; i++) CK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, NULL));
    CK(cudaEventRecord(b, NULL)); CK(cudaEventSynchronize(b));
    float ms; CK(cudaEventElapsedTime(&ms, a, b));
    printf("bench LLMJ_GPTQ_KERNEL=%s D2D cudaMemcpy 512 MiB: %.0f GB/s (read + write)\n", kernel_var(),
           2.0 * bytes * 10 / (ms * 1e-3) / 1e9);
    cudaFree(s); cudaFree(d); cudaEventDestroy(a); cudaEventDestroy(b);
    const int64_t R4096[] = {4096, 4096, 4096}, R11008[] = {11008, 11008}, R32000[] = {32000};
    for (int bits = 4; bits <= 8; bits += 4) {           /* asymmetric (GPTQ checkpoints) */
        bench_matmul(bits, 0, 0, 1, R4096, 11008, 1);
        bench_matmul(bits, 0, 0, 1, R11008, 4096, 1);
        bench_matmul(bits, 0, 1, 1, R11008, 4096, 1);
        bench_matmul(bits, 0, 0, 1, R11008, 4096, 8);
    }
    bench_matmul(4, 1, 0, 1, R4096, 4096, 1);            /* symmetric (repacked Q4_0 / Q8_0) */
    bench_matmul(4, 1, 0, 1, R4096, 11008, 1);
    bench_matmul(4, 1, 0, 1, R11008, 4096, 1);
    bench_matmul(4, 1, 0, 1, R32000, 4096, 1);
    bench_matmul(8, 1, 0, 1, R4096, 4096, 1);
    bench_matmul(8, 1, 0, 1, R11008, 4096, 1);
    bench_matmul(4, 1, 0, 3, R4096, 4096, 1);            /* q/k/v-like and gate/up-like multi calls */
    bench_matmul(4, 1, 0, 2, R11008, 4096, 1);
    bench_dequant(4, 1, 0, 11008, 4096);
    bench_dequant(4, 0, 1, 11008, 4096);
}

int main(int argc, char ** argv) {
    int bench_after = 0, bench_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0) bench_after = 1;
        else if (strcmp(argv[i], "--bench-only") == 0) bench_only = 1;
        else { printf("usage: %s [--bench | --bench-only]\n", argv[0]); return 2; }
    }
    for (int i = 0; i < 65536; i++) F16[i] = f16_to_f32_slow((uint16_t) i);
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("no CUDA device, skipped\n");
        return 77;
    }
    printf("LLMJ_GPTQ_KERNEL=%s\n", kernel_var());
    if (!bench_only) {
        const int64_t ROWS_[] = {1, 7, 33, 4097};
        const int64_t COLS_[] = {32, 176, 4096, 11008};
        const int NS[] = {1, 3, 9};
        for (int sym = 0; sym <= 1; sym++)
            for (int bits = 4; bits <= 8; bits += 4)
                for (int ri = 0; ri < 4; ri++)
                    for (int ci = 0; ci < 4; ci++)
                        for (int ao = 0; ao < 2; ao++)
                            for (int ni = 0; ni < 3; ni++) run_case(bits, ROWS_[ri], COLS_[ci], ao, NS[ni], sym);
        const int64_t GR_ROWS[] = {1, 33, 4097}, GR_COLS[] = {32, 176, 4096};
        for (int sym = 0; sym <= 1; sym++)
            for (int bits = 4; bits <= 8; bits += 4)
                for (int si = 0; si < 3; si++)
                    for (int ao = 0; ao < 2; ao++) run_get_rows(bits, GR_ROWS[si], GR_COLS[si], ao, sym);
        const int64_t RQ_COLS[] = {32, 4096, 11008};
        for (int q = 0; q < 2; q++) {
            int type = q ? LLMJ_TYPE_Q8_0 : LLMJ_TYPE_Q4_0;
            for (int ri = 0; ri < 4; ri++)
                for (int ci = 0; ci < 3; ci++)
                    for (int ni = 0; ni < 3; ni++) run_repack(type, ROWS_[ri], RQ_COLS[ci], NS[ni], 0);
            run_repack(type, 33, 4096, 3, 1);
            run_repack(type, 7, 11008, 1, 1);
        }
        repack_errors();
        for (int bits = 4; bits <= 8; bits += 4) {
            run_grouped(bits, 33, 4096, 4, 1, 0, 0);
            run_grouped(bits, 7, 11008, 4, 3, 0, 0);      /* 344 blocks: the last group short */
            run_grouped(bits, 4097, 4096, 2, 1, 0, 1);
            run_grouped(bits, 17, 176, 4, 9, 1, 0);       /* act-order, a partial last block */
            run_grouped(bits, 5, 2048, 8, 2, 0, 0);
        }
        {   /* not a power of two: rejected */
            hmat h = make(4, 4, 256, 0, 0); dmat d = upload(&h);
            llmj_gptq_matrix m = ddesc(&h, &d); m.group_blocks = 3;
            float * dx = dalloc(4 * 256), * dy = dalloc(16);
            size_t work = llmj_cuda_gptq_work_size(256, 1); void * dw = dalloc(work);
            expect_error("group_blocks 3", llmj_cuda_gptq_matmul(&m, dx, dy, 1, dw, work, NULL));
            m.group_blocks = 4;
            float hx[256] = {0}, hy[4];
            expect_error("CPU group_blocks 4", llmj_gptq_matmul(NULL, &m, hx, 256, hy, 4, 1, NULL, 0));
            cudaFree(dx); cudaFree(dy); cudaFree(dw); dfree(&d); hfree(&h);
        }
        for (int bits = 4; bits <= 8; bits += 4)
            for (int sym = 0; sym <= 1; sym++)
                for (int set = 0; set < 2; set++) run_multi_set(bits, sym, set);
        multi_errors();
        printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
    }
    if ((bench_after || bench_only) && failures == 0) {
        bench();
        if (failures) printf("FAILED: %d benchmark checks\n", failures);
    }
    return failures ? 1 : 0;
}
