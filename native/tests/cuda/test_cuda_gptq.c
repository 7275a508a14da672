/* CUDA harness for the GPTQ kernels of libllmj_cuda (src/cuda/gptq.cu) against the CPU library's
 * llmj_gptq_matmul in the same process.
 *
 * Cases: rows 1, 7, 33, 4097 x cols 32, 176 (last block padded), 4096, 11008; act-order (a random
 * permutation) on and off; 4 and 8 bits; n = 1, 3 and 9 tokens (9: launches of 8 and 1). Weights:
 * random quants, random zero bytes (z - 1), fp16 scales in [1e-3, 2e-2]; activations gaussian.
 *
 * References and tolerances:
 *   matmul      CPU llmj_gptq_matmul (single thread): the same permutation, the same Q8_0 activation
 *               integers and fp16 d, the same exact int32 block brackets; only the float summation
 *               order differs. Per row and token:
 *                   |gpu - cpu| <= 2^-24 * 2 * (nb + 64) * S,   S = sum_c |W[r,c]| * amax(block of c)
 *               (S bounds sum |W * xq * d|: |xq * d| <= amax of the block; nb blocks per row: the CPU
 *               sums at most nb terms in sequence, the GPU nb / 32 per lane and a 32-way tree).
 *               Every token of a multi-token call must equal a one-token call bit for bit.
 *   dequantize  out[r][perm[c]] = fp16(scale * (q - z)) computed here: bit-exact.
 *
 * Exit status 0: all passed; 1: failures; 77: no CUDA device (ctest: skipped).
 * --bench: GB/s of weight bytes (quants + scales + zeros) read per one-token matmul at 4096x11008 and
 * 11008x4096 (cudaEvents, weight copies rotated over more than 4x L2), next to the device-to-device
 * cudaMemcpy bandwidth of the same run. */
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

/* A host GPTQ matrix with its own arrays (the segment layout's sections, separately). */
typedef struct {
    int bits; int64_t rows, cols, nb;
    int32_t * perm; uint16_t * scales; uint8_t * zeros; uint8_t * qs;
} hmat;

static size_t qbytes(const hmat * h) { return (size_t) h->rows * h->nb * (size_t) (4 * h->bits); }

static hmat make(int bits, int64_t rows, int64_t cols, int act_order) {
    hmat h = { bits, rows, cols, (cols + 31) / 32, NULL, NULL, NULL, NULL };
    size_t nbr = (size_t) rows * h.nb;
    h.scales = malloc(2 * nbr); h.zeros = malloc(nbr); h.qs = malloc(qbytes(&h));
    for (size_t i = 0; i < nbr; i++) {
        h.scales[i] = f32_to_f16(1e-3f + 1.9e-2f * (rnd32() >> 8) / 16777216.0f);
        h.zeros[i] = (uint8_t) (rnd32() % (bits == 4 ? 16 : 256));
    }
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
static void hfree(hmat * h) { free(h->perm); free(h->scales); free(h->zeros); free(h->qs); }

static int qat(const hmat * h, int64_t r, int64_t j) {   /* quant of sorted column j */
    const uint8_t * q = h->qs + ((size_t) r * h->nb + j / 32) * (size_t) (4 * h->bits);
    int i = (int) (j % 32);
    return h->bits == 8 ? q[i] : i < 16 ? q[i] & 15 : q[i - 16] >> 4;
}
static float wat(const hmat * h, int64_t r, int64_t j) {
    size_t b = (size_t) r * h->nb + j / 32;
    return f16_to_f32(h->scales[b]) * (float) (qat(h, r, j) - (h->zeros[b] + 1));
}

static llmj_gptq_matrix desc(const hmat * h, void * perm, void * scales, void * zeros, void * qs) {
    llmj_gptq_matrix m = { h->bits, h->rows, h->cols, perm, scales, zeros, qs };
    return m;
}

static int failures = 0;

static void run_case(int bits, int64_t rows, int64_t cols, int act_order, int n) {
    hmat h = make(bits, rows, cols, act_order);
    float * x = malloc(sizeof(float) * (size_t) (n * cols));
    for (int64_t i = 0; i < n * cols; i++) x[i] = gauss();
    float * ycpu = malloc(sizeof(float) * (size_t) (n * rows)), * ygpu = malloc(sizeof(float) * (size_t) (n * rows));
    llmj_gptq_matrix hm = desc(&h, h.perm, h.scales, h.zeros, h.qs);
    if (llmj_gptq_matmul(NULL, &hm, x, (size_t) cols, ycpu, (size_t) rows, n, NULL, 0) != LLMJ_OK) {
        printf("CPU llmj_gptq_matmul failed: %s\n", llmj_last_error()); exit(1);
    }
    void * dperm = NULL, * dsc, * dz, * dq, * dx, * dy, * dwork, * dout;
    size_t nbr = (size_t) rows * h.nb, work = llmj_cuda_gptq_work_size(cols, n);
    if (h.perm) { CK(cudaMalloc(&dperm, 4 * (size_t) cols)); CK(cudaMemcpy(dperm, h.perm, 4 * (size_t) cols, cudaMemcpyHostToDevice)); }
    CK(cudaMalloc(&dsc, 2 * nbr)); CK(cudaMemcpy(dsc, h.scales, 2 * nbr, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dz, nbr)); CK(cudaMemcpy(dz, h.zeros, nbr, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dq, qbytes(&h))); CK(cudaMemcpy(dq, h.qs, qbytes(&h), cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dx, sizeof(float) * (size_t) (n * cols)));
    CK(cudaMemcpy(dx, x, sizeof(float) * (size_t) (n * cols), cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dy, sizeof(float) * (size_t) (n * rows)));
    CK(cudaMalloc(&dwork, work));
    CK(cudaMalloc(&dout, 2 * (size_t) (rows * cols)));
    llmj_gptq_matrix dm = desc(&h, dperm, dsc, dz, dq);
    if (llmj_cuda_gptq_matmul(&dm, dx, dy, n, dwork, work, NULL) != LLMJ_OK) {
        printf("llmj_cuda_gptq_matmul failed: %s\n", llmj_last_error()); exit(1);
    }
    CK(cudaMemcpy(ygpu, dy, sizeof(float) * (size_t) (n * rows), cudaMemcpyDeviceToHost));
    /* tolerance per row and token */
    double worst = 0; int bad = 0;
    double * absw = malloc(sizeof(double) * nbr);   /* sum_{c in block} |W[r,c]| */
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < h.nb; b++) {
            size_t i = (size_t) r * h.nb + b;
            double sc = fabs((double) f16_to_f32(h.scales[i])), a = 0;
            for (int64_t j = b * 32; j < b * 32 + 32 && j < cols; j++) a += sc * abs(qat(&h, r, j) - (h.zeros[i] + 1));
            absw[i] = a;
        }
    }
    for (int t = 0; t < n; t++) {
        const float * xt = x + (size_t) t * cols;
        float * amax = malloc(sizeof(float) * (size_t) h.nb);
        for (int64_t b = 0; b < h.nb; b++) {
            float a = 0;
            for (int64_t j = b * 32; j < b * 32 + 32 && j < cols; j++) {
                float v = fabsf(xt[h.perm ? h.perm[j] : j]); if (v > a) a = v;
            }
            amax[b] = a;
        }
        for (int64_t r = 0; r < rows; r++) {
            double S = 0;
            for (int64_t b = 0; b < h.nb; b++) S += absw[(size_t) r * h.nb + b] * amax[b];
            double tol = ldexp(1, -24) * 2 * (double) (h.nb + 64) * S;
            double err = fabs((double) ygpu[t * rows + r] - ycpu[t * rows + r]);
            if (S > 0 && err / S > worst) worst = err / S;
            if (!(err <= tol)) {
                if (bad++ < 3) printf("  row %lld token %d: gpu %.9g cpu %.9g err %.3g tol %.3g\n", (long long) r, t,
                                      ygpu[t * rows + r], ycpu[t * rows + r], err, tol);
            }
        }
        free(amax);
    }
    free(absw);
    /* each token of the batch equals a one-token call */
    int batch_bad = 0;
    if (n > 1) {
        float * y1 = malloc(sizeof(float) * (size_t) rows);
        for (int t = 0; t < n; t++) {
            if (llmj_cuda_gptq_matmul(&dm, (float *) dx + (size_t) t * cols, dy, 1, dwork, work, NULL) != LLMJ_OK) {
                printf("llmj_cuda_gptq_matmul failed: %s\n", llmj_last_error()); exit(1);
            }
            CK(cudaMemcpy(y1, dy, sizeof(float) * (size_t) rows, cudaMemcpyDeviceToHost));
            if (memcmp(y1, ygpu + (size_t) t * rows, sizeof(float) * (size_t) rows) != 0) batch_bad++;
        }
        free(y1);
    }
    /* dequantize, bit-exact */
    int deq_bad = 0;
    if (n == 1) {
        if (llmj_cuda_gptq_dequantize_f16(&dm, dout, NULL) != LLMJ_OK) {
            printf("llmj_cuda_gptq_dequantize_f16 failed: %s\n", llmj_last_error()); exit(1);
        }
        uint16_t * got = malloc(2 * (size_t) (rows * cols));
        CK(cudaMemcpy(got, dout, 2 * (size_t) (rows * cols), cudaMemcpyDeviceToHost));
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < cols; j++) {
                int64_t c = h.perm ? h.perm[j] : j;
                if (got[r * cols + c] != f32_to_f16(wat(&h, r, j)) && deq_bad++ < 3) {
                    printf("  dequant [%lld][%lld]: gpu %04x want %04x\n", (long long) r, (long long) c,
                           got[r * cols + c], f32_to_f16(wat(&h, r, j)));
                }
            }
        }
        free(got);
    }
    int ok = bad == 0 && batch_bad == 0 && deq_bad == 0;
    if (!ok) failures++;
    printf("%s gptq%d %5lldx%-5lld act_order=%d n=%d: max |gpu-cpu|/S %.2e (bound 2^-24*2*(nb+64) = %.2e)%s%s\n",
           ok ? "ok  " : "FAIL", bits, (long long) rows, (long long) cols, act_order, n, worst,
           ldexp(1, -24) * 2 * (double) (h.nb + 64), batch_bad ? ", batch != single" : "",
           deq_bad ? ", dequantize mismatch" : "");
    cudaFree(dperm); cudaFree(dsc); cudaFree(dz); cudaFree(dq); cudaFree(dx); cudaFree(dy); cudaFree(dwork); cudaFree(dout);
    free(x); free(ycpu); free(ygpu); hfree(&h);
}

/* ---- bench --------------------------------------------------------------------------------- */
static double time_loop(int bits, int64_t rows, int64_t cols, int act_order, int n) {
    hmat h = make(bits, rows, cols, act_order);
    size_t nbr = (size_t) rows * h.nb;
    size_t wbytes = qbytes(&h) + 3 * nbr;             /* quants + scales + zeros */
    int l2; CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
    int copies = (int) (4.0 * l2 / wbytes) + 2;
    void ** dq = malloc(sizeof(void *) * copies), ** dsc = malloc(sizeof(void *) * copies), ** dz = malloc(sizeof(void *) * copies);
    for (int i = 0; i < copies; i++) {
        CK(cudaMalloc(&dq[i], qbytes(&h))); CK(cudaMemcpy(dq[i], h.qs, qbytes(&h), cudaMemcpyHostToDevice));
        CK(cudaMalloc(&dsc[i], 2 * nbr)); CK(cudaMemcpy(dsc[i], h.scales, 2 * nbr, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&dz[i], nbr)); CK(cudaMemcpy(dz[i], h.zeros, nbr, cudaMemcpyHostToDevice));
    }
    void * dperm = NULL, * dx, * dy, * dwork;
    if (h.perm) { CK(cudaMalloc(&dperm, 4 * (size_t) cols)); CK(cudaMemcpy(dperm, h.perm, 4 * (size_t) cols, cudaMemcpyHostToDevice)); }
    CK(cudaMalloc(&dx, sizeof(float) * (size_t) (n * cols))); CK(cudaMemset(dx, 0, sizeof(float) * (size_t) (n * cols)));
    CK(cudaMalloc(&dy, sizeof(float) * (size_t) (n * rows)));
    size_t work = llmj_cuda_gptq_work_size(cols, n);
    CK(cudaMalloc(&dwork, work));
    llmj_gptq_matrix * ms = malloc(sizeof(llmj_gptq_matrix) * copies);
    for (int i = 0; i < copies; i++) ms[i] = desc(&h, dperm, dsc[i], dz[i], dq[i]);
    const int ITERS = 200;
    for (int i = 0; i < 20; i++) llmj_cuda_gptq_matmul(&ms[i % copies], dx, dy, n, dwork, work, NULL);
    cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, NULL));
    for (int i = 0; i < ITERS; i++) {
        if (llmj_cuda_gptq_matmul(&ms[i % copies], dx, dy, n, dwork, work, NULL) != LLMJ_OK) {
            printf("bench failed: %s\n", llmj_last_error()); exit(1);
        }
    }
    CK(cudaEventRecord(b, NULL)); CK(cudaEventSynchronize(b));
    float ms_; CK(cudaEventElapsedTime(&ms_, a, b));
    double sec = ms_ * 1e-3 / ITERS;
    printf("bench gptq%d %5lldx%-5lld act_order=%d n=%d: %7.1f us, %6.0f GB/s of weights (%.1f MB, %d copies)\n", bits,
           (long long) rows, (long long) cols, act_order, n, sec * 1e6, wbytes / sec / 1e9, wbytes / 1e6, copies);
    for (int i = 0; i < copies; i++) { cudaFree(dq[i]); cudaFree(dsc[i]); cudaFree(dz[i]); }
    cudaFree(dperm); cudaFree(dx); cudaFree(dy); cudaFree(dwork);
    free(dq); free(dsc); free(dz); free(ms); hfree(&h);
    cudaEventDestroy(a); cudaEventDestroy(b);
    return wbytes / sec / 1e9;
}

static void bench(void) {
    struct cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
    printf("\nbench: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    size_t bytes = 512u << 20;
    void * s, * d; CK(cudaMalloc(&s, bytes)); CK(cudaMalloc(&d, bytes));
    CK(cudaMemcpy(d, s, bytes, cudaMemcpyDeviceToDevice));
    cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, NULL));
    for (int i = 0; i < 10; i++) CK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, NULL));
    CK(cudaEventRecord(b, NULL)); CK(cudaEventSynchronize(b));
    float ms; CK(cudaEventElapsedTime(&ms, a, b));
    printf("bench D2D cudaMemcpy 512 MiB: %.0f GB/s (read + write)\n", 2.0 * bytes * 10 / (ms * 1e-3) / 1e9);
    cudaFree(s); cudaFree(d);
    for (int bits = 4; bits <= 8; bits += 4) {
        time_loop(bits, 4096, 11008, 0, 1);
        time_loop(bits, 11008, 4096, 0, 1);
        time_loop(bits, 11008, 4096, 1, 1);
        time_loop(bits, 11008, 4096, 0, 8);
    }
}

int main(int argc, char ** argv) {
    for (int i = 0; i < 65536; i++) F16[i] = f16_to_f32_slow((uint16_t) i);
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("no CUDA device, skipped\n");
        return 77;
    }
    const int64_t ROWS_[] = {1, 7, 33, 4097};
    const int64_t COLS_[] = {32, 176, 4096, 11008};
    const int NS[] = {1, 3, 9};
    for (int bits = 4; bits <= 8; bits += 4)
        for (int ri = 0; ri < 4; ri++)
            for (int ci = 0; ci < 4; ci++)
                for (int ao = 0; ao < 2; ao++)
                    for (int ni = 0; ni < 3; ni++) run_case(bits, ROWS_[ri], COLS_[ci], ao, NS[ni]);
    printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0 && failures == 0) bench();
    return failures ? 1 : 0;
}
