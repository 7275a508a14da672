// CUDA K-quant kernels (src/cuda/matvec_k.cu) against the CPU library in the same process.
//
//   - Q8_K activation conversion: GPU vs llmj_quantize_activations(Q8_K), bit for bit (qs, d, bsums),
//     on random rows plus edge blocks (all zero, +/- ties of the largest magnitude, exact .5 roundings).
//   - Products (public llmj_cuda_matmul, n = 1 and 3) vs llmj_matvec_q / llmj_matmul_q. Both sum the
//     same exact per-super-block terms in float32, in a different order, so
//         |gpu - cpu| <= (nb + 8) * 2^-23 * S,  S = sum_i (|d sc q_i * a_i| + |dmin m_i * a_i|)
//     (nb = super-blocks per row, a_i the Q8_K activation value, terms decoded in double).
//   - Dequantization to F16 (llmj_cuda_kquant_dequantize_f16) and get_rows (public llmj_cuda_get_rows)
//     vs ggml's dequantize_row_* written out here in float32: both evaluate the same float32
//     operations, so the expected difference is 0; the check allows 2^-22 relative (get_rows) and one
//     F16 step (dequantize) and prints how many values were not bit-identical.
//   Weights are random block bytes with sane fp16 scales (every bit pattern of the quant and scale
//   fields is a valid block, so all scale / min / quant values occur); shapes rows {1, 7, 33, 4097} x
//   cols {256, 768, 4096, 11008}, plus padded and unaligned row strides (generic load path).
//
// --bench (after the checks) / --bench-only: decode timing (cudaEvents, median of many single launches, weight copies rotated so that
// they exceed the L2 several times) for 4096x4096, 11008x4096 and 4096x11008 (rows x cols), as GB/s of
// weight bytes, next to a device-to-device cudaMemcpy and a plain read kernel measured in the same run.
//
// Exit code 0 with "no CUDA device, skipped" where cudaGetDeviceCount fails or finds none.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "llmj.h"
#include "cuda/kquants.cuh"

#define CK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) { \
    std::fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); std::exit(2); } } while (0)

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32() { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t) (rng >> 32); }
static float frand() { return (float) ((rnd32() >> 8) / (double) (1u << 24)) * 2.0f - 1.0f; }

struct TypeInfo { int type, bytes; const char * name; };
static const TypeInfo TYPES[] = {
    {LLMJ_TYPE_Q2_K, 84, "Q2_K"}, {LLMJ_TYPE_Q3_K, 110, "Q3_K"}, {LLMJ_TYPE_Q4_K, 144, "Q4_K"},
    {LLMJ_TYPE_Q5_K, 176, "Q5_K"}, {LLMJ_TYPE_Q6_K, 210, "Q6_K"}, {LLMJ_TYPE_IQ4_XS, 136, "IQ4_XS"},
};
static const int KV[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static float f16f(const uint8_t * p) { uint16_t h = (uint16_t) (p[0] | (p[1] << 8)); __half_raw r; r.x = h; return __half2float(__half(r)); }
static void put_f16(uint8_t * p, float v) { __half_raw r = __half(__float2half_rn(v)); p[0] = (uint8_t) r.x; p[1] = (uint8_t) (r.x >> 8); }

// ---- reference decoders (ggml's dequantize_row_*, float32) and, for the product bound, the two parts
// of each weight in double: wq = d * scale * q, wm = dmin * min.
static void k4_scale_min(int j, const uint8_t * q, int * d, int * m) {
    if (j < 4) { *d = q[j] & 63; *m = q[j + 4] & 63; }
    else { *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}

static void deq_block(int type, const uint8_t * b, float * y, double * wq, double * wm) {
    switch (type) {
        case LLMJ_TYPE_Q2_K: {
            const uint8_t * sc = b, * q = b + 16;
            const float d = f16f(b + 80), mn = f16f(b + 82);
            int is = 0, k = 0;
            for (int n = 0; n < 256; n += 128, q += 32)
                for (int shift = 0; shift < 8; shift += 2)
                    for (int half = 0; half < 2; half++, is++) {
                        const float dl = d * (float) (sc[is] & 0xF), ml = mn * (float) (sc[is] >> 4);
                        for (int l = 0; l < 16; l++, k++) {
                            const int qv = (q[16 * half + l] >> shift) & 3;
                            y[k] = dl * (float) qv - ml;
                            wq[k] = (double) d * (sc[is] & 0xF) * qv; wm[k] = (double) mn * (sc[is] >> 4);
                        }
                    }
            break;
        }
        case LLMJ_TYPE_Q3_K: {
            const uint8_t * hm = b, * q = b + 32, * s = b + 96;
            const float d = f16f(b + 108);
            int sc[16];
            for (int j = 0; j < 16; j++) {
                const int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4, hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
                sc[j] = (lo | (hi << 4)) - 32;
            }
            int is = 0, k = 0, mbit = 1;
            for (int n = 0; n < 256; n += 128, q += 32)
                for (int shift = 0; shift < 8; shift += 2, mbit <<= 1)
                    for (int half = 0; half < 2; half++, is++) {
                        const float dl = d * (float) sc[is];
                        for (int l = 0; l < 16; l++, k++) {
                            const int qv = ((q[16 * half + l] >> shift) & 3) - ((hm[16 * half + l] & mbit) ? 0 : 4);
                            y[k] = dl * (float) qv;
                            wq[k] = (double) d * sc[is] * qv; wm[k] = 0;
                        }
                    }
            break;
        }
        case LLMJ_TYPE_Q4_K: case LLMJ_TYPE_Q5_K: {
            const bool five = type == LLMJ_TYPE_Q5_K;
            const float d = f16f(b), mn = f16f(b + 2);
            const uint8_t * s = b + 4, * qh = b + 16, * q = b + (five ? 48 : 16);
            for (int j = 0; j < 8; j++) {
                int sc, m;
                k4_scale_min(j, s, &sc, &m);
                const float d1 = d * (float) sc, m1 = mn * (float) m;
                for (int l = 0; l < 32; l++) {
                    int v = (j & 1) ? q[32 * (j / 2) + l] >> 4 : q[32 * (j / 2) + l] & 15;
                    if (five && ((qh[l] >> j) & 1)) v += 16;
                    y[32 * j + l] = d1 * (float) v - m1;
                    wq[32 * j + l] = (double) d * sc * v; wm[32 * j + l] = (double) mn * m;
                }
            }
            break;
        }
        case LLMJ_TYPE_Q6_K: {
            const uint8_t * ql = b, * qh = b + 128;
            const int8_t * sc = (const int8_t *) (b + 192);
            const float d = f16f(b + 208);
            for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8)
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    const int qs4[4] = {q1, q2, q3, q4};
                    for (int r = 0; r < 4; r++) {
                        y[n + l + 32 * r] = d * (float) sc[is + 2 * r] * (float) qs4[r];
                        wq[n + l + 32 * r] = (double) d * sc[is + 2 * r] * qs4[r]; wm[n + l + 32 * r] = 0;
                    }
                }
            break;
        }
        case LLMJ_TYPE_IQ4_XS: {
            const float d = f16f(b);
            const int sh = b[2] | (b[3] << 8);
            for (int ib = 0; ib < 8; ib++) {
                const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
                const float dl = d * (float) (ls - 32);
                const uint8_t * qs = b + 8 + 16 * ib;
                for (int j = 0; j < 16; j++) {
                    y[32 * ib + j] = dl * (float) KV[qs[j] & 15];
                    y[32 * ib + j + 16] = dl * (float) KV[qs[j] >> 4];
                    wq[32 * ib + j] = (double) d * (ls - 32) * KV[qs[j] & 15];
                    wq[32 * ib + j + 16] = (double) d * (ls - 32) * KV[qs[j] >> 4];
                    wm[32 * ib + j] = wm[32 * ib + j + 16] = 0;
                }
            }
            break;
        }
    }
}

// Random block bytes with sane fp16 scale fields.
static void fill_weights(const TypeInfo & t, uint8_t * w, size_t row_bytes, int64_t rows, int64_t cols) {
    const int64_t nb = cols / 256;
    for (int64_t r = 0; r < rows; r++) {
        uint8_t * row = w + r * row_bytes;
        for (size_t i = 0; i < row_bytes; i++) row[i] = (uint8_t) rnd32();
        for (int64_t b = 0; b < nb; b++) {
            uint8_t * blk = row + b * t.bytes;
            const float d = std::ldexp(1.0f + frand() * 0.5f, -6 - (int) (rnd32() % 4));
            switch (t.type) {
                case LLMJ_TYPE_Q2_K: put_f16(blk + 80, d); put_f16(blk + 82, d * 0.5f); break;
                case LLMJ_TYPE_Q3_K: put_f16(blk + 108, d); break;
                case LLMJ_TYPE_Q4_K: case LLMJ_TYPE_Q5_K: put_f16(blk, d); put_f16(blk + 2, frand() * d * 4); break;
                case LLMJ_TYPE_Q6_K: put_f16(blk + 208, d); break;
                case LLMJ_TYPE_IQ4_XS: put_f16(blk, (rnd32() & 1) ? -d : d); break;
            }
        }
    }
}

static int failures = 0, checks = 0;
#define EXPECT(cond, ...) do { checks++; if (!(cond)) { failures++; std::printf("FAIL: "); std::printf(__VA_ARGS__); std::printf("\n"); } } while (0)

static void * dalloc(size_t bytes) { void * p = nullptr; CK(cudaMalloc(&p, bytes ? bytes : 1)); return p; }

// ---- Q8_K conversion ---------------------------------------------------------------------------
static void check_q8k() {
    const int64_t cols = 2048, n = 3, nb = cols / 256;
    std::vector<float> x((size_t) (n * cols));
    for (auto & v : x) v = frand() * 3.0f;
    // block 1 of token 0 zero; block 2: +/- tie of the largest magnitude (first one wins);
    // block 3: max 127 and k + 0.5 values (round half to even); block 4: tiny values
    for (int i = 0; i < 256; i++) x[256 + i] = 0.0f;
    x[512 + 10] = -5.0f; x[512 + 20] = 5.0f;
    for (int i = 0; i < 256; i++) x[768 + i] = (float) ((i % 200) - 100) + 0.5f;
    x[768 + 7] = 127.0f;
    for (int i = 0; i < 256; i++) x[1024 + i] = frand() * 1e-30f;
    float * dx = (float *) dalloc(x.size() * 4);
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    const size_t wb = llmj_cuda_kquant_work_size(LLMJ_TYPE_Q4_K, cols, n);
    char * dw = (char *) dalloc(wb);
    EXPECT(llmj_cuda_kquant_quantize_q8k(dx, cols, n, dw, wb, 0) == LLMJ_OK, "quantize_q8k: %s", llmj_last_error());
    std::vector<char> g(wb);
    CK(cudaMemcpy(g.data(), dw, wb, cudaMemcpyDeviceToHost));
    std::vector<uint8_t> c((size_t) (n * nb * 292));
    EXPECT(llmj_quantize_activations(LLMJ_TYPE_Q8_K, x.data(), c.data(), n * cols) == LLMJ_OK, "cpu q8_K");
    const int8_t * gq = (const int8_t *) g.data();
    const float * gd = (const float *) (g.data() + llmj_cuda_q8k_d_offset(cols, n));
    const int16_t * gb = (const int16_t *) (g.data() + llmj_cuda_q8k_bsums_offset(cols, n));
    int bad = 0;
    for (int64_t blk = 0; blk < n * nb; blk++) {
        const uint8_t * cb = c.data() + blk * 292;
        float cd; std::memcpy(&cd, cb, 4);
        if (std::memcmp(&cd, &gd[blk], 4) != 0) { if (bad++ < 5) std::printf("  q8_K block %lld: d gpu %a cpu %a\n", (long long) blk, gd[blk], cd); }
        if (std::memcmp(cb + 4, gq + blk * 256, 256) != 0) { if (bad++ < 5) std::printf("  q8_K block %lld: qs differ\n", (long long) blk); }
        if (std::memcmp(cb + 260, gb + blk * 16, 32) != 0) { if (bad++ < 5) std::printf("  q8_K block %lld: bsums differ\n", (long long) blk); }
    }
    EXPECT(bad == 0, "Q8_K conversion differs from the CPU in %d fields", bad);
    std::printf("Q8_K conversion: %lld blocks, %s\n", (long long) (n * nb), bad ? "DIFFERENT" : "bit-identical to the CPU");
    CK(cudaFree(dx)); CK(cudaFree(dw));
}

// ---- products ----------------------------------------------------------------------------------
static double worst_ratio = 0;   // max |gpu - cpu| / (nb * 2^-24 * S)

static void check_matmul(const TypeInfo & t, int64_t rows, int64_t cols, size_t pad, int n) {
    const int64_t nb = cols / 256;
    const size_t row_bytes = (size_t) nb * t.bytes + pad;
    std::vector<uint8_t> w(row_bytes * rows + 16);
    fill_weights(t, w.data(), row_bytes, rows, cols);
    std::vector<float> x((size_t) (n * cols));
    for (auto & v : x) v = frand();
    // CPU
    std::vector<float> yc((size_t) (n * rows));
    const size_t cwork = llmj_matmul_work_size(t.type, cols, n);
    std::vector<uint8_t> cw(cwork + 64);
    int st = n == 1 ? llmj_matvec_q(nullptr, t.type, w.data(), row_bytes, x.data(), yc.data(), rows, cols, cw.data(), cwork)
                    : llmj_matmul_q(nullptr, t.type, w.data(), row_bytes, x.data(), cols, yc.data(), rows, rows, cols, n, cw.data(), cwork);
    EXPECT(st == LLMJ_OK, "cpu product %s: %s", t.name, llmj_last_error());
    // bound S from the CPU's Q8_K activations and the decoded weights
    std::vector<uint8_t> xq((size_t) (n * nb * 292));
    llmj_quantize_activations(LLMJ_TYPE_Q8_K, x.data(), xq.data(), n * cols);
    std::vector<double> S((size_t) (n * rows), 0.0);
    {
        std::vector<float> y(256); std::vector<double> wq(256), wm(256);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++) {
                deq_block(t.type, w.data() + r * row_bytes + b * t.bytes, y.data(), wq.data(), wm.data());
                for (int tk = 0; tk < n; tk++) {
                    const uint8_t * ab = xq.data() + (tk * nb + b) * 292;
                    float ad; std::memcpy(&ad, ab, 4);
                    double s = 0;
                    for (int i = 0; i < 256; i++) s += (std::fabs(wq[i]) + std::fabs(wm[i])) * std::fabs((double) ad * (int8_t) ab[4 + i]);
                    S[tk * rows + r] += s;
                }
            }
    }
    // GPU through the public entry, with sentinels after y
    const int GUARD = 8;
    const float SENT = -12345.678f;
    uint8_t * dw = (uint8_t *) dalloc(w.size());
    float * dx = (float *) dalloc(x.size() * 4);
    float * dy = (float *) dalloc((n * rows + GUARD) * 4);
    const size_t gwork = llmj_cuda_matmul_work_size(t.type, cols, n);
    EXPECT(gwork == llmj_cuda_kquant_work_size(t.type, cols, n) && gwork > 0, "work size routing %s", t.name);
    void * dwork = dalloc(gwork);
    CK(cudaMemcpy(dw, w.data(), w.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    std::vector<float> yg((size_t) (n * rows + GUARD), SENT);
    CK(cudaMemcpy(dy, yg.data(), yg.size() * 4, cudaMemcpyHostToDevice));
    st = llmj_cuda_matmul(t.type, dw, row_bytes, dx, dy, rows, cols, n, dwork, gwork, nullptr);
    EXPECT(st == LLMJ_OK, "llmj_cuda_matmul %s: %s", t.name, llmj_last_error());
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(yg.data(), dy, yg.size() * 4, cudaMemcpyDeviceToHost));
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n * rows; i++) {
        const double tol = (double) (nb + 8) * std::ldexp(1.0, -23) * S[i] + 1e-30;
        const double err = std::fabs((double) yg[i] - yc[i]);
        worst = std::max(worst, err / (nb * std::ldexp(1.0, -24) * S[i] + 1e-30));
        if (!(err <= tol)) {
            if (bad++ < 3) std::printf("  %s rows=%lld cols=%lld n=%d pad=%zu: y[%lld] gpu %.9g cpu %.9g tol %.3g\n", t.name,
                                       (long long) rows, (long long) cols, n, pad, (long long) i, yg[i], yc[i], tol);
        }
    }
    for (int i = 0; i < GUARD; i++) if (yg[n * rows + i] != SENT) bad++;
    worst_ratio = std::max(worst_ratio, worst);
    EXPECT(bad == 0, "%s product rows=%lld cols=%lld n=%d pad=%zu: %d bad values", t.name, (long long) rows, (long long) cols, n, pad, bad);
    CK(cudaFree(dw)); CK(cudaFree(dx)); CK(cudaFree(dy)); CK(cudaFree(dwork));
}

// ---- dequantization / get_rows -------------------------------------------------------------------
static void check_dequant(const TypeInfo & t, int64_t rows, int64_t cols, size_t pad) {
    const int64_t nb = cols / 256;
    const size_t row_bytes = (size_t) nb * t.bytes + pad;
    std::vector<uint8_t> w(row_bytes * rows + 16);
    fill_weights(t, w.data(), row_bytes, rows, cols);
    std::vector<float> ref((size_t) (rows * cols));
    std::vector<double> wq(256), wm(256);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < nb; b++) deq_block(t.type, w.data() + r * row_bytes + b * t.bytes, &ref[r * cols + b * 256], wq.data(), wm.data());
    uint8_t * dw = (uint8_t *) dalloc(w.size());
    CK(cudaMemcpy(dw, w.data(), w.size(), cudaMemcpyHostToDevice));
    // F16 (dense; the output one element off 16-byte alignment when pad is odd, to take the scalar store path)
    const size_t off = pad % 2;
    __half * dh = (__half *) dalloc((rows * cols + 1) * 2);
    int st = llmj_cuda_kquant_dequantize_f16(t.type, dw, row_bytes, rows, cols, dh + off, nullptr);
    EXPECT(st == LLMJ_OK, "dequantize_f16 %s: %s", t.name, llmj_last_error());
    std::vector<__half> h((size_t) (rows * cols));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(h.data(), dh + off, h.size() * 2, cudaMemcpyDeviceToHost));
    int bad = 0, inexact = 0;
    for (size_t i = 0; i < h.size(); i++) {
        const uint16_t g = __half_raw(h[i]).x, e = __half_raw(__float2half_rn(ref[i])).x;
        if (g != e) {
            inexact++;
            const int dist = std::abs((int) (int16_t) (g ^ 0x8000) - (int) (int16_t) (e ^ 0x8000));
            if (((g ^ e) & 0x8000) || dist > 1) {
                if (bad++ < 3) std::printf("  %s dequant rows=%lld cols=%lld [%zu]: gpu %g ref %g\n", t.name, (long long) rows,
                                           (long long) cols, i, __half2float(h[i]), ref[i]);
            }
        }
    }
    EXPECT(bad == 0, "%s dequantize_f16 rows=%lld cols=%lld pad=%zu: %d values off by more than one F16 step", t.name,
           (long long) rows, (long long) cols, pad, bad);
    if (inexact) std::printf("  note: %s dequantize_f16: %d of %zu values not bit-identical\n", t.name, inexact, h.size());
    // get_rows through the public entry: the last (up to) 40 rows reversed, plus row 0 again; scale 0.75
    std::vector<int32_t> ids;
    for (int64_t r = rows - 1; r >= 0 && r >= rows - 40; r--) ids.push_back((int32_t) r);
    ids.push_back(0);
    const int64_t n = (int64_t) ids.size();
    int32_t * did = (int32_t *) dalloc(ids.size() * 4);
    float * dout = (float *) dalloc((n * cols + 1) * 4);
    CK(cudaMemcpy(did, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
    const float scale = 0.75f;
    st = llmj_cuda_get_rows(t.type, dw, row_bytes, did, n, cols, scale, dout + off, nullptr);
    EXPECT(st == LLMJ_OK, "llmj_cuda_get_rows %s: %s", t.name, llmj_last_error());
    std::vector<float> o((size_t) (n * cols));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(o.data(), dout + off, o.size() * 4, cudaMemcpyDeviceToHost));
    bad = 0; inexact = 0;
    for (int64_t k = 0; k < n; k++)
        for (int64_t c = 0; c < cols; c++) {
            const float e = ref[ids[k] * cols + c] * scale, g = o[k * cols + c];
            if (g != e) {
                inexact++;
                if (!(std::fabs(g - e) <= std::ldexp(std::fabs(e), -22))) {
                    if (bad++ < 3) std::printf("  %s get_rows id %d col %lld: gpu %g ref %g\n", t.name, ids[k], (long long) c, g, e);
                }
            }
        }
    EXPECT(bad == 0, "%s get_rows rows=%lld cols=%lld pad=%zu: %d bad values", t.name, (long long) rows, (long long) cols, pad, bad);
    if (inexact) std::printf("  note: %s get_rows: %d values not bit-identical\n", t.name, inexact);
    CK(cudaFree(dw)); CK(cudaFree(dh)); CK(cudaFree(did)); CK(cudaFree(dout));
}

static void check_errors() {
    float * p = (float *) dalloc(1024);
    EXPECT(llmj_cuda_matmul(LLMJ_TYPE_Q4_K, p, 144, p, p, 1, 300, 1, p, 1 << 20, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "cols not a multiple of 256 must be rejected");
    EXPECT(llmj_cuda_matmul(LLMJ_TYPE_Q4_K, p, 100, p, p, 1, 256, 1, p, 1 << 20, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "short row_bytes must be rejected");
    EXPECT(llmj_cuda_matmul(LLMJ_TYPE_Q6_K, p, 210, p, p, 1, 256, 1, p, 8, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "small work buffer must be rejected");
    EXPECT(llmj_cuda_matmul(LLMJ_TYPE_Q6_K, nullptr, 210, p, p, 1, 256, 1, p, 1 << 20, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "null weights must be rejected");
    EXPECT(llmj_cuda_get_rows(LLMJ_TYPE_Q5_K, p, 176, nullptr, 1, 256, 1.0f, p, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "null ids must be rejected");
    EXPECT(llmj_cuda_kquant_dequantize_f16(LLMJ_TYPE_Q8_0, p, 34, 1, 32, (__half *) p, nullptr) == LLMJ_ERR_UNSUPPORTED,
           "non-K type must be refused by the K dequantizer");
    EXPECT(llmj_cuda_matmul(LLMJ_TYPE_Q2_K, p, 84, p, p, 1, 256, 0, nullptr, 0, nullptr) == LLMJ_OK, "n = 0 is a no-op");
    CK(cudaFree(p));
}

// llmj_cuda_matmul_kquant_shared (one Q8_K conversion for up to 4 matrices of mixed K types) against separate
// llmj_cuda_matmul calls: the same bits.
static void check_shared(int n) {
    const int64_t cols = 1024;
    const TypeInfo * ts[3] = {&TYPES[2], &TYPES[2], &TYPES[4]};   // Q4_K, Q4_K, Q6_K (a Q4_K_M layer's q/k/v)
    const int64_t rows[3] = {64, 33, 7};
    int types[3];
    const void * ws[3];
    size_t row_bytes[3];
    float * ys[3];
    float * yref[3];
    for (int k = 0; k < 3; k++) {
        types[k] = ts[k]->type;
        row_bytes[k] = (size_t) (cols / 256) * ts[k]->bytes;
        std::vector<uint8_t> w(row_bytes[k] * rows[k]);
        fill_weights(*ts[k], w.data(), row_bytes[k], rows[k], cols);
        void * dw = dalloc(w.size());
        CK(cudaMemcpy(dw, w.data(), w.size(), cudaMemcpyHostToDevice));
        ws[k] = dw;
        ys[k] = (float *) dalloc(sizeof(float) * n * rows[k]);
        yref[k] = (float *) dalloc(sizeof(float) * n * rows[k]);
    }
    std::vector<float> x(n * cols);
    for (float & v : x) v = frand();
    float * dx = (float *) dalloc(sizeof(float) * x.size());
    CK(cudaMemcpy(dx, x.data(), sizeof(float) * x.size(), cudaMemcpyHostToDevice));
    const size_t work = llmj_cuda_matmul_work_size(LLMJ_TYPE_Q4_K, cols, n);
    void * dwork = dalloc(work), * dwork2 = dalloc(work);
    int st = LLMJ_OK;
    for (int k = 0; k < 3 && st == LLMJ_OK; k++) {
        st = llmj_cuda_matmul(types[k], ws[k], row_bytes[k], dx, yref[k], rows[k], cols, n, dwork, work, nullptr);
    }
    EXPECT(st == LLMJ_OK, "separate products failed: %s", llmj_last_error());
    st = llmj_cuda_matmul_kquant_shared(3, types, ws, row_bytes, rows, dx, ys, cols, n, dwork2, work, nullptr);
    EXPECT(st == LLMJ_OK, "llmj_cuda_matmul_kquant_shared failed: %s", llmj_last_error());
    CK(cudaDeviceSynchronize());
    for (int k = 0; k < 3 && st == LLMJ_OK; k++) {
        std::vector<float> a(n * rows[k]), b(n * rows[k]);
        CK(cudaMemcpy(a.data(), yref[k], sizeof(float) * a.size(), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(b.data(), ys[k], sizeof(float) * b.size(), cudaMemcpyDeviceToHost));
        EXPECT(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0, "shared product %d (n=%d) != llmj_cuda_matmul", k, n);
    }
    const int q8 = LLMJ_TYPE_Q8_0;
    EXPECT(llmj_cuda_matmul_kquant_shared(0, types, ws, row_bytes, rows, dx, ys, cols, n, dwork2, work, nullptr)
           == LLMJ_ERR_INVALID_ARGUMENT, "count 0 must be rejected");
    EXPECT(llmj_cuda_matmul_kquant_shared(1, &q8, ws, row_bytes, rows, dx, ys, cols, n, dwork2, work, nullptr)
           == LLMJ_ERR_UNSUPPORTED, "a non-K type must be refused");
    EXPECT(llmj_cuda_matmul_kquant_shared(3, types, ws, row_bytes, rows, dx, ys, cols, n, dwork2, 8, nullptr)
           == LLMJ_ERR_INVALID_ARGUMENT, "a small work buffer must be rejected");
    for (int k = 0; k < 3; k++) { CK(cudaFree((void *) ws[k])); CK(cudaFree(ys[k])); CK(cudaFree(yref[k])); }
    CK(cudaFree(dx)); CK(cudaFree(dwork)); CK(cudaFree(dwork2));
}

// ---- timing -----------------------------------------------------------------------------------
__global__ void read_kernel(const int4 * __restrict__ p, size_t n, int * out) {
    int acc = 0;
    for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t) gridDim.x * blockDim.x) {
        const int4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x7fffffff) *out = acc;   // never true in practice; keeps the loads
}

// ---- Q4_K / Q6_K repacked into the GPTQ layout (llmj_cuda_kquant_repack) ----------------------------
// The repacked matrix against the ggml blocks decoded here (deq_block):
//   - dequantize_f16: the same float32 operations as ggml's dequantize_row_*, then F16: equal (a count of
//     values off by more than one F16 step must be 0);
//   - get_rows: the same values times the scale, exactly;
//   - products (n tokens): the activation converted to Q8_K by the CPU (llmj_quantize_activations, the
//     integers and d the GPU conversion makes, as for the block-layout kernels), the reference
//     sum_sb d_sb sum_i w_i xq_i in double with w_i = wq - wm decoded in double: the GPU sums exact int32
//     block dots scaled in float32, so |gpu - ref| <= (nb + 8) * 2^-22 * S, S = sum |w_i xq_i d_sb|;
//   - a two-matrix llmj_cuda_gptq_matmul_multi call: each output equal bit for bit to its single call.
static double worst_repack = 0;   // max |gpu - ref| / (nb * 2^-24 * S)
struct Repacked { uint8_t * qs; uint16_t * sc; uint16_t * sup; llmj_gptq_matrix m; };

static Repacked repack_on_device(const TypeInfo & t, const void * dsrc, size_t row_bytes, int64_t rows, int64_t cols) {
    const bool q6 = t.type == LLMJ_TYPE_Q6_K;
    const int bits = t.type == LLMJ_TYPE_Q4_K ? 4 : t.type == LLMJ_TYPE_Q5_K ? 5 : 6;
    const int64_t nb = cols / 32, nsb = cols / 256;
    Repacked r;
    r.qs = (uint8_t *) dalloc((size_t) rows * nb * (bits == 4 ? 16 : bits == 5 ? 20 : 24));
    r.sc = (uint16_t *) dalloc((size_t) rows * nb * 2);
    r.sup = (uint16_t *) dalloc((size_t) rows * nsb * (q6 ? 2 : 4));
    EXPECT(llmj_cuda_kquant_repack(t.type, dsrc, row_bytes, rows, cols, r.qs, r.sc, r.sup, nullptr) == LLMJ_OK,
           "%s repack: %s", t.name, llmj_last_error());
    r.m = llmj_gptq_matrix{};
    r.m.bits = bits; r.m.rows = rows; r.m.cols = cols; r.m.scales = r.sc; r.m.qs = r.qs;
    r.m.format = t.type; r.m.super = r.sup;
    return r;
}
static void free_repacked(Repacked & r) { CK(cudaFree(r.qs)); CK(cudaFree(r.sc)); CK(cudaFree(r.sup)); }

static void check_repack(const TypeInfo & t, int64_t rows, int64_t cols, size_t pad, int n) {
    const size_t row_bytes = (size_t) (cols / 256) * t.bytes + pad;
    const int64_t nb = cols / 32;
    std::vector<uint8_t> w(row_bytes * rows);
    fill_weights(t, w.data(), row_bytes, rows, cols);
    std::vector<float> yv((size_t) (rows * cols));
    std::vector<double> wq((size_t) (rows * cols)), wm((size_t) (rows * cols));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < cols / 256; b++) {
            const size_t o = (size_t) (r * cols + b * 256);
            deq_block(t.type, w.data() + r * row_bytes + b * t.bytes, &yv[o], &wq[o], &wm[o]);
        }
    void * dsrc = dalloc(w.size());
    CK(cudaMemcpy(dsrc, w.data(), w.size(), cudaMemcpyHostToDevice));
    Repacked rp = repack_on_device(t, dsrc, row_bytes, rows, cols);
    CK(cudaFree(dsrc));
    // dequantize_f16
    __half * dh = (__half *) dalloc((size_t) rows * cols * 2);
    EXPECT(llmj_cuda_gptq_dequantize_f16(&rp.m, dh, nullptr) == LLMJ_OK, "%s dequantize: %s", t.name, llmj_last_error());
    std::vector<__half> h((size_t) (rows * cols));
    CK(cudaMemcpy(h.data(), dh, h.size() * 2, cudaMemcpyDeviceToHost));
    int64_t off = 0, far = 0;
    for (size_t i = 0; i < h.size(); i++) {
        const float want = __half2float(__float2half_rn(yv[i])), got = __half2float(h[i]);
        if (got != want) {
            off++;
            if (std::fabs(got - want) > std::ldexp(std::fabs(want), -10) + 6e-8f) far++;
        }
    }
    EXPECT(far == 0, "%s repacked %lldx%lld dequantize_f16: %lld values more than one F16 step off (%lld not equal)", t.name,
           (long long) rows, (long long) cols, (long long) far, (long long) off);
    CK(cudaFree(dh));
    // get_rows
    const int32_t ids[3] = {0, (int32_t) (rows / 2), (int32_t) (rows - 1)};
    int32_t * did = (int32_t *) dalloc(sizeof ids);
    CK(cudaMemcpy(did, ids, sizeof ids, cudaMemcpyHostToDevice));
    float * dr = (float *) dalloc(3 * cols * 4);
    EXPECT(llmj_cuda_gptq_get_rows(&rp.m, did, 3, 0.75f, dr, nullptr) == LLMJ_OK, "%s get_rows: %s", t.name, llmj_last_error());
    std::vector<float> gr((size_t) (3 * cols));
    CK(cudaMemcpy(gr.data(), dr, gr.size() * 4, cudaMemcpyDeviceToHost));
    int64_t bad = 0;
    for (int k = 0; k < 3; k++)
        for (int64_t c = 0; c < cols; c++) bad += gr[k * cols + c] != yv[ids[k] * cols + c] * 0.75f;
    EXPECT(bad == 0, "%s repacked get_rows: %lld values differ", t.name, (long long) bad);
    CK(cudaFree(did)); CK(cudaFree(dr));
    // products
    std::vector<float> x((size_t) (n * cols));
    for (auto & v : x) v = frand() * 2.0f;
    float * dx = (float *) dalloc(x.size() * 4);
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    float * dy = (float *) dalloc((size_t) (n * rows) * 4);
    float * dy2 = (float *) dalloc((size_t) (n * rows) * 4);
    const size_t wk = llmj_cuda_gptq_work_size(cols, n);
    void * work = dalloc(wk);
    EXPECT(llmj_cuda_gptq_matmul(&rp.m, dx, dy, n, work, wk, nullptr) == LLMJ_OK, "%s repacked matmul: %s", t.name, llmj_last_error());
    std::vector<float> y((size_t) (n * rows));
    CK(cudaMemcpy(y.data(), dy, y.size() * 4, cudaMemcpyDeviceToHost));
    std::vector<uint8_t> xq((size_t) (cols / 256 * 292));   // block_q8_K: float d, int8 qs[256], int16 bsums[16]
    double worst = 0;
    for (int tkn = 0; tkn < n; tkn++) {
        EXPECT(llmj_quantize_activations(LLMJ_TYPE_Q8_K, &x[(size_t) tkn * cols], xq.data(), cols) == LLMJ_OK, "cpu q8_K");
        for (int64_t r = 0; r < rows; r++) {
            double ref = 0, S = 0;
            for (int64_t b = 0; b < cols / 256; b++) {
                const uint8_t * blk = &xq[(size_t) b * 292];
                float df;
                std::memcpy(&df, blk, 4);
                const double d = df;
                double sb = 0, ab = 0;
                for (int i = 0; i < 256; i++) {
                    const size_t o = (size_t) (r * cols + b * 256 + i);
                    const double wv = wq[o] - wm[o], p = wv * (int8_t) blk[4 + i];
                    sb += p; ab += std::fabs(p);
                }
                ref += d * sb; S += std::fabs(d) * ab;
            }
            const double err = std::fabs(y[(size_t) (tkn * rows + r)] - ref), unit = nb * std::ldexp(S, -24);
            if (unit > 0) worst = std::max(worst, err / unit);
            EXPECT(err <= (nb + 8) * std::ldexp(S, -22), "%s repacked %lldx%lld n=%d token %d row %lld: gpu %.9g ref %.9g (S %.3g)",
                   t.name, (long long) rows, (long long) cols, n, tkn, (long long) r, y[(size_t) (tkn * rows + r)], ref, S);
            if (err > (nb + 8) * std::ldexp(S, -22)) { tkn = n; break; }
        }
    }
    worst_repack = std::max(worst_repack, worst);
    // two matrices sharing the input: each output equal to its single call
    llmj_gptq_matrix ms[2] = {rp.m, rp.m};
    ms[1].rows = rows > 1 ? rows - 1 : rows;
    CK(cudaMemset(dy, 0x7F, (size_t) (n * rows) * 4)); CK(cudaMemset(dy2, 0x3F, (size_t) (n * rows) * 4));
    float * ys[2] = {dy, dy2};
    EXPECT(llmj_cuda_gptq_matmul_multi(2, ms, dx, ys, n, work, wk, nullptr) == LLMJ_OK, "%s repacked multi: %s", t.name, llmj_last_error());
    std::vector<float> m0((size_t) (n * rows)), m1((size_t) (n * ms[1].rows)), s1((size_t) (n * ms[1].rows));
    CK(cudaMemcpy(m0.data(), dy, m0.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(m1.data(), dy2, m1.size() * 4, cudaMemcpyDeviceToHost));
    EXPECT(llmj_cuda_gptq_matmul(&ms[1], dx, dy2, n, work, wk, nullptr) == LLMJ_OK, "single");
    CK(cudaMemcpy(s1.data(), dy2, s1.size() * 4, cudaMemcpyDeviceToHost));
    EXPECT(std::memcmp(m0.data(), y.data(), m0.size() * 4) == 0 && std::memcmp(m1.data(), s1.data(), m1.size() * 4) == 0,
           "%s repacked multi output differs from the single calls", t.name);
    CK(cudaFree(dx)); CK(cudaFree(dy)); CK(cudaFree(dy2)); CK(cudaFree(work));
    free_repacked(rp);
}

// A Q4_K, a Q5_K and a Q6_K matrix in one llmj_cuda_gptq_matmul_multi call (FMT_KMIX): each output equal to its single call.
static void check_repack_mixed(int n) {
    const int64_t cols = 1024, rows[3] = {300, 77, 129};
    const TypeInfo * ts[3] = {&TYPES[2], &TYPES[4], &TYPES[3]};
    Repacked rp[3];
    float * dy[3];
    for (int k = 0; k < 3; k++) {
        const size_t row_bytes = (size_t) (cols / 256) * ts[k]->bytes;
        std::vector<uint8_t> w(row_bytes * rows[k]);
        fill_weights(*ts[k], w.data(), row_bytes, rows[k], cols);
        void * dsrc = dalloc(w.size());
        CK(cudaMemcpy(dsrc, w.data(), w.size(), cudaMemcpyHostToDevice));
        rp[k] = repack_on_device(*ts[k], dsrc, row_bytes, rows[k], cols);
        CK(cudaFree(dsrc));
        dy[k] = (float *) dalloc((size_t) (n * rows[k]) * 4);
        CK(cudaMemset(dy[k], 0x7F, (size_t) (n * rows[k]) * 4));
    }
    std::vector<float> x((size_t) (n * cols));
    for (auto & v : x) v = frand();
    float * dx = (float *) dalloc(x.size() * 4);
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    const size_t wk = llmj_cuda_gptq_work_size(cols, n);
    void * work = dalloc(wk);
    llmj_gptq_matrix ms[3] = {rp[0].m, rp[1].m, rp[2].m};
    EXPECT(llmj_cuda_gptq_matmul_multi(3, ms, dx, dy, n, work, wk, nullptr) == LLMJ_OK, "mixed multi: %s", llmj_last_error());
    for (int k = 0; k < 3; k++) {
        std::vector<float> multi((size_t) (n * rows[k])), single(multi.size());
        CK(cudaMemcpy(multi.data(), dy[k], multi.size() * 4, cudaMemcpyDeviceToHost));
        EXPECT(llmj_cuda_gptq_matmul(&ms[k], dx, dy[k], n, work, wk, nullptr) == LLMJ_OK, "single: %s", llmj_last_error());
        CK(cudaMemcpy(single.data(), dy[k], single.size() * 4, cudaMemcpyDeviceToHost));
        EXPECT(std::memcmp(multi.data(), single.data(), multi.size() * 4) == 0, "mixed Q4_K + Q6_K + Q5_K multi n=%d: output %d differs "
               "from its single call", n, k);
        CK(cudaFree(dy[k]));
        free_repacked(rp[k]);
    }
    CK(cudaFree(dx)); CK(cudaFree(work));
}

// The fused Q8_K writers: llmj_cuda_rms_norm_q8k (with and without the residual) and llmj_cuda_glu_q8k write the
// same floats as llmj_cuda_rms_norm_fused / llmj_cuda_glu, and the same Q8_K arrays as llmj_cuda_kquant_quantize_q8k
// of those floats (bit for bit); a repacked product from them (llmj_cuda_gptq_matmul_act, _act_add) equals
// llmj_cuda_gptq_matmul (which converts the input itself) bit for bit.
static void check_q8k_writers() {
    const int64_t dim = 4096, n = 3, ff = 11008 / 256 * 256;
    std::vector<float> x((size_t) (n * dim)), y(x.size()), g((size_t) dim), gate((size_t) ff * n), up(gate.size());
    for (auto & v : x) v = frand() * 2.0f;
    for (auto & v : y) v = frand();
    for (auto & v : g) v = 1.0f + frand() * 0.5f;
    for (auto & v : gate) v = frand() * 4.0f;
    for (auto & v : up) v = frand() * 2.0f;
    for (int i = 0; i < 256; i++) x[256 + i] = 0.0f;   // a zero block in token 0 (y is added: not zero with the residual)
    auto up_f = [](const std::vector<float> & h) { float * d = (float *) dalloc(h.size() * 4); CK(cudaMemcpy(d, h.data(), h.size() * 4, cudaMemcpyHostToDevice)); return d; };
    float * dg = up_f(g), * dy = up_f(y), * dgate = up_f(gate), * dup = up_f(up);
    const size_t wk = std::max(llmj_cuda_gptq_work_size(dim, n), llmj_cuda_gptq_work_size(ff * n, 1));
    void * fused = dalloc(wk), * plain = dalloc(wk);
    float * o1 = (float *) dalloc((size_t) ff * n * 4), * o2 = (float *) dalloc((size_t) ff * n * 4);
    auto same_bytes = [&](const void * a, const void * b, size_t bytes) {
        std::vector<char> ha(bytes), hb(bytes);
        CK(cudaMemcpy(ha.data(), a, bytes, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(hb.data(), b, bytes, cudaMemcpyDeviceToHost));
        return std::memcmp(ha.data(), hb.data(), bytes) == 0;
    };
    for (int resid = 0; resid < 2; resid++) {
        float * dx1 = up_f(x), * dx2 = up_f(x);
        CK(cudaMemset(fused, 0x55, wk)); CK(cudaMemset(plain, 0x55, wk));
        EXPECT(llmj_cuda_rms_norm_q8k(dx1, resid ? dy : nullptr, dg, 0.0f, o1, dim, n, 1e-5f, fused, nullptr) == LLMJ_OK,
               "rms_norm_q8k: %s", llmj_last_error());
        EXPECT(llmj_cuda_rms_norm_fused(dx2, resid ? dy : nullptr, dg, 0.0f, o2, dim, n, 1e-5f, nullptr, nullptr) == LLMJ_OK,
               "rms_norm_fused: %s", llmj_last_error());
        EXPECT(llmj_cuda_kquant_quantize_q8k(o2, dim, n, plain, wk, nullptr) == LLMJ_OK, "quantize_q8k");
        EXPECT(same_bytes(o1, o2, (size_t) (n * dim) * 4) && same_bytes(dx1, dx2, (size_t) (n * dim) * 4),
               "rms_norm_q8k (resid %d): floats differ from rms_norm_fused", resid);
        EXPECT(same_bytes(fused, plain, llmj_cuda_kquant_work_size(LLMJ_TYPE_Q4_K, dim, n)), "rms_norm_q8k (resid %d): Q8_K "
               "arrays differ from llmj_cuda_kquant_quantize_q8k", resid);
        CK(cudaFree(dx1)); CK(cudaFree(dx2));
    }
    // products from the norm's conversion: Q4_K 512 x 4096 and Q6_K 300 x 4096 (a mixed launch), and act_add
    const float * act_src = o2;   // the normalised rows of the last case
    Repacked rp[2];
    const TypeInfo * ts[2] = {&TYPES[2], &TYPES[4]};
    const int64_t rows[2] = {512, 300};
    for (int k = 0; k < 2; k++) {
        const size_t row_bytes = (size_t) (dim / 256) * ts[k]->bytes;
        std::vector<uint8_t> w(row_bytes * rows[k]);
        fill_weights(*ts[k], w.data(), row_bytes, rows[k], dim);
        void * dsrc = dalloc(w.size());
        CK(cudaMemcpy(dsrc, w.data(), w.size(), cudaMemcpyHostToDevice));
        rp[k] = repack_on_device(*ts[k], dsrc, row_bytes, rows[k], dim);
        CK(cudaFree(dsrc));
    }
    llmj_gptq_matrix ms[2] = {rp[0].m, rp[1].m};
    float * ya[2] = {(float *) dalloc(n * 512 * 4), (float *) dalloc(n * 300 * 4)};
    float * yb = (float *) dalloc(n * 512 * 4);
    void * work = dalloc(wk);
    EXPECT(llmj_cuda_gptq_matmul_act(2, ms, fused, ya, n, nullptr) == LLMJ_OK, "matmul_act: %s", llmj_last_error());
    for (int k = 0; k < 2; k++) {
        EXPECT(llmj_cuda_gptq_matmul(&ms[k], act_src, yb, n, work, wk, nullptr) == LLMJ_OK, "matmul: %s", llmj_last_error());
        EXPECT(same_bytes(ya[k], yb, (size_t) (n * rows[k]) * 4), "matmul_act from rms_norm_q8k differs from matmul (%s)", ts[k]->name);
    }
    CK(cudaMemcpy(yb, ya[0], n * 512 * 4, cudaMemcpyDeviceToDevice));
    EXPECT(llmj_cuda_gptq_matmul_act_add(&ms[0], fused, yb, n, nullptr) == LLMJ_OK, "act_add: %s", llmj_last_error());
    EXPECT(llmj_cuda_add(ya[0], ya[0], n * 512, nullptr) == LLMJ_OK, "add");
    EXPECT(same_bytes(ya[0], yb, (size_t) (n * 512) * 4), "matmul_act_add differs from the product plus llmj_cuda_add");
    // GLU
    for (int gelu = 0; gelu < 2; gelu++) {
        CK(cudaMemset(fused, 0x55, wk)); CK(cudaMemset(plain, 0x55, wk));
        EXPECT(llmj_cuda_glu_q8k(dgate, dup, o1, ff * n, gelu, fused, nullptr) == LLMJ_OK, "glu_q8k: %s", llmj_last_error());
        EXPECT(llmj_cuda_glu(dgate, dup, o2, ff * n, gelu, nullptr) == LLMJ_OK, "glu");
        EXPECT(llmj_cuda_kquant_quantize_q8k(o2, ff, n, plain, wk, nullptr) == LLMJ_OK, "quantize_q8k");
        EXPECT(same_bytes(o1, o2, (size_t) (ff * n) * 4), "glu_q8k (gelu %d): floats differ from llmj_cuda_glu", gelu);
        EXPECT(same_bytes(fused, plain, llmj_cuda_kquant_work_size(LLMJ_TYPE_Q4_K, ff, n)), "glu_q8k (gelu %d): Q8_K arrays "
               "differ from llmj_cuda_kquant_quantize_q8k", gelu);
    }
    EXPECT(llmj_cuda_rms_norm_q8k(o1, nullptr, dg, 0.0f, o2, 300, 1, 1e-5f, fused, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "rms_norm_q8k dim 300: invalid");
    EXPECT(llmj_cuda_glu_q8k(dgate, dup, o1, 100, 0, fused, nullptr) == LLMJ_ERR_INVALID_ARGUMENT, "glu_q8k n 100: invalid");
    for (auto & r : rp) free_repacked(r);
    for (void * p : {(void *) dg, (void *) dy, (void *) dgate, (void *) dup, fused, plain, (void *) o1, (void *) o2, (void *) ya[0],
                     (void *) ya[1], (void *) yb, work}) CK(cudaFree(p));
}

static void check_repack_errors() {
    uint16_t * dummy = (uint16_t *) dalloc(4096);
    EXPECT(llmj_cuda_kquant_repack(LLMJ_TYPE_Q3_K, dummy, 110, 1, 256, dummy, dummy, dummy, nullptr) == LLMJ_ERR_UNSUPPORTED,
           "repack Q3_K: unsupported");
    EXPECT(llmj_cuda_kquant_repack(LLMJ_TYPE_Q4_K, dummy, 144, 1, 300, dummy, dummy, dummy, nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "repack cols 300: invalid");
    llmj_gptq_matrix m = {};
    m.bits = 4; m.rows = 4; m.cols = 256; m.scales = dummy; m.qs = dummy; m.format = LLMJ_TYPE_Q6_K; m.super = dummy;
    float * dy = (float *) dalloc(64);
    void * work = dalloc(llmj_cuda_gptq_work_size(256, 1));
    EXPECT(llmj_cuda_gptq_matmul(&m, dy, dy, 1, work, llmj_cuda_gptq_work_size(256, 1), nullptr) == LLMJ_ERR_INVALID_ARGUMENT,
           "Q6_K format with bits 4: invalid");
    m.format = 99;
    EXPECT(llmj_cuda_gptq_matmul(&m, dy, dy, 1, work, llmj_cuda_gptq_work_size(256, 1), nullptr) == LLMJ_ERR_UNSUPPORTED,
           "unknown format: unsupported");
    m.format = LLMJ_TYPE_Q4_K;
    float hx[256] = {0}, hy[4];
    EXPECT(llmj_gptq_matvec(nullptr, &m, hx, hy, nullptr, 0) == LLMJ_ERR_UNSUPPORTED, "CPU gptq matvec of a K-quant format: unsupported");
    CK(cudaFree(dummy)); CK(cudaFree(dy)); CK(cudaFree(work));
}

static double median(std::vector<float> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }

// Holds the stream for `ns` nanoseconds, so the host can queue a batch of launches behind it and the
// batch then runs back to back (the timings exclude host launch latency).
__global__ void spin_kernel(long long ns) {
    long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do { asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); } while (t - t0 < ns);
}

// Times `launch(i, stream)` for i = 0, 1, ...: per launch with events between queued launches (median),
// and per launch inside a CUDA graph of B launches (the way a decode loop runs; average over the graph,
// median over graph launches), in microseconds.
template <class F>
static void time_launches(F launch, double * per_launch_us, double * graph_us) {
    const int B = 40, batches = 8;
    static cudaEvent_t ev[B + 1];
    static cudaStream_t s;
    static bool made = false;
    if (!made) { for (auto & e : ev) CK(cudaEventCreate(&e)); CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); made = true; }
    std::vector<float> each, avg;
    for (int w = 0; w < 5; w++) launch(w, s);   // warm-up
    for (int b = 0; b < batches; b++) {
        spin_kernel<<<1, 1, 0, s>>>(2000000);
        CK(cudaEventRecord(ev[0], s));
        for (int i = 0; i < B; i++) { launch(b * B + i, s); CK(cudaEventRecord(ev[i + 1], s)); }
        CK(cudaEventSynchronize(ev[B]));
        for (int i = 0; i < B; i++) { float ms; CK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1])); each.push_back(ms); }
    }
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < B; i++) launch(i, s);
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    for (int r = 0; r < 12; r++) {
        CK(cudaEventRecord(ev[0], s));
        CK(cudaGraphLaunch(ge, s));
        CK(cudaEventRecord(ev[1], s));
        CK(cudaEventSynchronize(ev[1]));
        float ms; CK(cudaEventElapsedTime(&ms, ev[0], ev[1])); if (r >= 2) avg.push_back(ms / B);
    }
    CK(cudaGraphExecDestroy(ge)); CK(cudaGraphDestroy(g));
    CK(cudaGetLastError());
    *per_launch_us = median(each) * 1e3;
    *graph_us = median(avg) * 1e3;
}

static void bench() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    const size_t l2 = (size_t) prop.l2CacheSize;
    const size_t span = std::max((size_t) 256 << 20, 4 * l2);   // bytes of weight copies rotated through
    std::printf("\n== timing on %s (%d SMs, L2 %zu MiB); cudaEvents ==\n",
                prop.name, prop.multiProcessorCount, l2 >> 20);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    // reference bandwidths on a 512 MiB buffer
    const size_t big = (size_t) 512 << 20;
    char * a = (char *) dalloc(big);
    char * b = (char *) dalloc(big);
    CK(cudaMemset(a, 1, big)); CK(cudaMemset(b, 2, big));
    std::vector<float> ts;
    for (int i = 0; i < 25; i++) {
        CK(cudaEventRecord(e0));
        CK(cudaMemcpyAsync(b, a, big, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(e1)); CK(cudaEventSynchronize(e1));
        float ms; CK(cudaEventElapsedTime(&ms, e0, e1)); if (i >= 3) ts.push_back(ms);
    }
    const double d2d = 2.0 * big / (median(ts) * 1e-3) / 1e9;   // bytes read + written
    ts.clear();
    int * dflag = (int *) dalloc(4);
    for (int i = 0; i < 25; i++) {
        CK(cudaEventRecord(e0));
        read_kernel<<<prop.multiProcessorCount * 8, 256>>>((const int4 *) a, big / 16, dflag);
        CK(cudaEventRecord(e1)); CK(cudaEventSynchronize(e1));
        float ms; CK(cudaEventElapsedTime(&ms, e0, e1)); if (i >= 3) ts.push_back(ms);
    }
    const double rd = big / (median(ts) * 1e-3) / 1e9;
    CK(cudaFree(a)); CK(cudaFree(b)); CK(cudaFree(dflag));
    std::printf("D2D cudaMemcpy 512 MiB: %.0f GB/s (read + write bytes)   read kernel: %.0f GB/s\n", d2d, rd);
    std::printf("kern: the product alone (activations converted once); op: llmj_cuda_matmul (Q8_K conversion + product);\n"
                "read: a plain 16-byte streaming read of the same weight bytes. 'us': median per launch with events between\n"
                "queued launches; 'graph': average per launch in a CUDA graph of 40 (GB/s from it; %%read: vs the read kernel).\n");
    std::printf("%-7s %-12s %6s %5s | %7s %8s %6s %5s %5s | %7s %8s %6s | %7s %8s %6s\n", "type", "rows x cols", "MB", "copy",
                "kern us", "graph us", "GB/s", "%D2D", "%read", "op us", "graph us", "GB/s", "read us", "graph us", "GB/s");
    const int64_t shapes[3][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
    for (const TypeInfo & t : TYPES) {
        for (auto & sh : shapes) {
            const int64_t rows = sh[0], cols = sh[1];
            const size_t row_bytes = (size_t) (cols / 256) * t.bytes, bytes = row_bytes * rows;
            const int copies = (int) std::max<size_t>(2, (span + bytes - 1) / bytes);
            std::vector<uint8_t> w(bytes);
            fill_weights(t, w.data(), row_bytes, rows, cols);
            std::vector<void *> dw(copies);
            for (int c = 0; c < copies; c++) { dw[c] = dalloc(bytes); CK(cudaMemcpy(dw[c], w.data(), bytes, cudaMemcpyHostToDevice)); }
            std::vector<float> x((size_t) cols);
            for (auto & v : x) v = frand();
            float * dx = (float *) dalloc(cols * 4);
            float * dy = (float *) dalloc(rows * 4);
            CK(cudaMemcpy(dx, x.data(), cols * 4, cudaMemcpyHostToDevice));
            const size_t wk = llmj_cuda_kquant_work_size(t.type, cols, 1);
            void * work = dalloc(wk);
            llmj_cuda_kquant_quantize_q8k(dx, cols, 1, work, wk, nullptr);
            double mk, gk_us, mo, go_us, mr, gr_us;
            time_launches([&](int i, cudaStream_t s) { llmj_cuda_kquant_matmul_preq(t.type, dw[i % copies], row_bytes, work, dy, rows, cols, 1, s); }, &mk, &gk_us);
            time_launches([&](int i, cudaStream_t s) { llmj_cuda_matmul(t.type, dw[i % copies], row_bytes, dx, dy, rows, cols, 1, work, wk, s); }, &mo, &go_us);
            time_launches([&](int i, cudaStream_t s) { read_kernel<<<prop.multiProcessorCount * 8, 256, 0, s>>>((const int4 *) dw[i % copies], bytes / 16, (int *) dy); }, &mr, &gr_us);
            const double gk = bytes / (gk_us * 1e-6) / 1e9, go = bytes / (go_us * 1e-6) / 1e9, gr = bytes / (gr_us * 1e-6) / 1e9;
            char shape[32];
            std::snprintf(shape, sizeof shape, "%lldx%lld", (long long) rows, (long long) cols);
            std::printf("%-7s %-12s %6.1f %5d | %7.2f %8.2f %6.0f %4.0f%% %4.0f%% | %7.2f %8.2f %6.0f | %7.2f %8.2f %6.0f\n", t.name, shape,
                        bytes / 1e6, copies, mk, gk_us, gk, 100 * gk / d2d, 100 * gk / gr, mo, go_us, go, mr, gr_us, gr);
            for (void * p : dw) CK(cudaFree(p));
            CK(cudaFree(dx)); CK(cudaFree(dy)); CK(cudaFree(work));
        }
    }
    // Q4_K / Q6_K repacked (llmj_cuda_kquant_repack): llmj_cuda_gptq_matmul (Q8_K conversion + product); GB/s of the
    // repacked bytes (Q4_K 148 per 256 weights, Q5_K 180, Q6_K 210)
    std::printf("repacked (llmj_cuda_gptq_matmul, Q8_K conversion + product; GB/s of the repacked bytes):\n");
    for (const TypeInfo & t : TYPES) {
        if (t.type != LLMJ_TYPE_Q4_K && t.type != LLMJ_TYPE_Q5_K && t.type != LLMJ_TYPE_Q6_K) continue;
        for (auto & sh : shapes) {
            const int64_t rows = sh[0], cols = sh[1];
            const size_t row_bytes = (size_t) (cols / 256) * t.bytes, bytes = row_bytes * rows;
            const size_t rbytes = (size_t) rows * (cols / 256) * (t.type == LLMJ_TYPE_Q4_K ? 148 : t.type == LLMJ_TYPE_Q5_K ? 180 : 210);
            const int copies = (int) std::max<size_t>(2, (span + rbytes - 1) / rbytes);
            std::vector<uint8_t> w(bytes);
            fill_weights(t, w.data(), row_bytes, rows, cols);
            void * dsrc = dalloc(bytes);
            CK(cudaMemcpy(dsrc, w.data(), bytes, cudaMemcpyHostToDevice));
            std::vector<Repacked> rp;
            for (int c = 0; c < copies; c++) rp.push_back(repack_on_device(t, dsrc, row_bytes, rows, cols));
            CK(cudaFree(dsrc));
            float * dx = (float *) dalloc(cols * 4);
            float * dy = (float *) dalloc(rows * 4);
            std::vector<float> x((size_t) cols);
            for (auto & v : x) v = frand();
            CK(cudaMemcpy(dx, x.data(), cols * 4, cudaMemcpyHostToDevice));
            const size_t wk = llmj_cuda_gptq_work_size(cols, 1);
            void * work = dalloc(wk);
            double mo, go_us;
            time_launches([&](int i, cudaStream_t s) { llmj_cuda_gptq_matmul(&rp[i % copies].m, dx, dy, 1, work, wk, s); }, &mo, &go_us);
            std::printf("%-7s %lldx%-7lld %6.1f MB %4d copies | op %7.2f us, graph %7.2f us, %6.0f GB/s\n", t.name, (long long) rows,
                        (long long) cols, rbytes / 1e6, copies, mo, go_us, rbytes / (go_us * 1e-6) / 1e9);
            for (auto & r : rp) free_repacked(r);
            CK(cudaFree(dx)); CK(cudaFree(dy)); CK(cudaFree(work));
        }
    }
    // few tokens: Q4_K 4096x4096 with n = 1..8 (weights read ceil(n / 4) times)
    {
        const TypeInfo & t = TYPES[2];
        const int64_t rows = 4096, cols = 4096;
        const size_t row_bytes = (size_t) (cols / 256) * t.bytes, bytes = row_bytes * rows;
        const int copies = (int) ((span + bytes - 1) / bytes);
        std::vector<uint8_t> w(bytes);
        fill_weights(t, w.data(), row_bytes, rows, cols);
        std::vector<void *> dw(copies);
        for (int c = 0; c < copies; c++) { dw[c] = dalloc(bytes); CK(cudaMemcpy(dw[c], w.data(), bytes, cudaMemcpyHostToDevice)); }
        float * dx = (float *) dalloc(8 * cols * 4);
        float * dy = (float *) dalloc(8 * rows * 4);
        std::vector<float> x((size_t) (8 * cols));
        for (auto & v : x) v = frand();
        CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
        const size_t wk = llmj_cuda_kquant_work_size(t.type, cols, 8);
        void * work = dalloc(wk);
        std::printf("Q4_K 4096x4096, n tokens (whole op, us per launch in a graph):");
        for (int n = 1; n <= 8; n++) {
            double m, bavg;
            time_launches([&](int i, cudaStream_t s) { llmj_cuda_matmul(t.type, dw[i % copies], row_bytes, dx, dy, rows, cols, n, work, wk, s); }, &m, &bavg);
            std::printf("  n=%d %.2f", n, bavg);
        }
        std::printf("\n");
        for (void * p : dw) CK(cudaFree(p));
        CK(cudaFree(dx)); CK(cudaFree(dy)); CK(cudaFree(work));
    }
    CK(cudaEventDestroy(e0)); CK(cudaEventDestroy(e1));
}

int main(int argc, char ** argv) {
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
        std::printf("no CUDA device, skipped (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 0;
    }
    const bool do_bench = argc > 1 && std::strncmp(argv[1], "--bench", 7) == 0;
    if (argc > 1 && std::strcmp(argv[1], "--bench-only") == 0) {
        bench();
        return 0;
    }
    check_q8k();
    check_errors();
    check_repack_errors();
    check_repack_mixed(1);
    check_repack_mixed(3);
    check_q8k_writers();
    std::printf("Q8_K writers done (%d checks so far, %d failures)\n", checks, failures);
    for (const TypeInfo & t : TYPES) {
        if (t.type != LLMJ_TYPE_Q4_K && t.type != LLMJ_TYPE_Q5_K && t.type != LLMJ_TYPE_Q6_K) continue;
        for (int64_t rows : {1, 7, 33, 4097})
            for (int64_t cols : {256, 768, 4096, 11008}) check_repack(t, rows, cols, 0, rows == 4097 ? 1 : 3);
        check_repack(t, 33, 768, 6, 1);    // padded, 2-byte aligned row stride
        check_repack(t, 19, 1024, 0, 9);   // more tokens than one pass takes (8 + 1)
        check_repack(t, 64, 2048, 0, 8);
        std::printf("%-6s repacked done (%d checks so far, %d failures)\n", t.name, checks, failures);
    }
    std::printf("repacked products: worst |gpu - ref| = %.3f x nb * 2^-24 * S (the check allows (nb + 8) * 4 x that)\n", worst_repack);
    check_shared(1);
    check_shared(3);
    const int64_t rows_list[] = {1, 7, 33, 4097};
    const int64_t cols_list[] = {256, 768, 4096, 11008};
    for (const TypeInfo & t : TYPES) {
        for (int64_t rows : rows_list)
            for (int64_t cols : cols_list) {
                check_matmul(t, rows, cols, 0, 1);
                check_matmul(t, rows, cols, 0, 3);
                check_dequant(t, rows, cols, 0);
            }
        // padded strides: 16-byte padding keeps the fast path; +6 and +1 take the generic loads
        for (size_t pad : {(size_t) 16, (size_t) 6, (size_t) 1}) {
            check_matmul(t, 33, 768, pad, 1);
            check_matmul(t, 7, 4096, pad, 3);
            check_dequant(t, 33, 768, pad);
        }
        check_matmul(t, 33, 1024, 0, 9);   // more tokens than one kernel takes (4 + 4 + 1)
        std::printf("%-6s done (%d checks so far, %d failures)\n", t.name, checks, failures);
    }
    std::printf("products: worst |gpu - cpu| = %.3f x nb * 2^-24 * S (the check allows (nb + 8) * 2^-23 * S)\n", worst_ratio);
    if (do_bench) bench();
    std::printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
