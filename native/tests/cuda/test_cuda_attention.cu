// llmj_cuda_attention against the CPU's float32 llmj_attention (libllmj, same process) over awkward
// shapes, then timings. Skips (exit 0, "no device, skipped") where the CUDA runtime finds no device.
//
// Error measure: max |gpu - cpu| / max |v| over the output (attention outputs are weighted means of
// v rows). Tolerances: 1e-3 for the tensor-core prefill path (F16 cache, n >= 16, head_dim
// 64/80/96/128/256: q * scale and the softmax weights are rounded to F16), 1e-5 for the float32 paths
// (decode, split-K, F32 caches, other head sizes). Outputs start poisoned (NaN) and are followed by a guard region that must
// stay untouched.
//
// Timing (cudaEvents, medians): decode (n = 1) for 32 heads x 128 at contexts 512/4096/16384 as GB/s
// of K/V read, next to a device-to-device cudaMemcpy measured in the same run (bytes read + written
// per second); prefill as TFLOP/s (4 * head_dim flops per visible (query, key) pair and head).
// Usage: llmj_cuda_attention_tests [--no-bench]
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "llmj.h"

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); std::exit(2); } } while (0)

namespace {

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t next() { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t) (s >> 16); }
    float uniform() { return (next() & 0xFFFFFF) / 16777216.0f; }
    float gauss() {   // sum of 4 uniforms, unit variance
        return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f;
    }
};

struct Case {
    int64_t n, start_pos, heads, kv_heads, head_dim, window;
    float softcap;
    int type;
    bool use_work;
};

bool tensor_core_path(const Case & c) {
    const int64_t d = c.head_dim;
    return c.type == LLMJ_TYPE_F16 && c.n >= 16 && (d == 64 || d == 80 || d == 96 || d == 128 || d == 256);
}

llmj_threadpool * g_pool = nullptr;
double g_max_err[2] = {0, 0};   // float32 paths, tensor-core path
int g_failures = 0, g_cases = 0;

constexpr int GUARD = 64;
constexpr uint32_t GUARD_BITS = 0x7F7F7F7Fu;

void run_case(const Case & c) {
    const int64_t ctx = c.start_pos + c.n, qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
    Rng r((uint64_t) (c.n * 1000003 + c.start_pos * 7919 + c.heads * 131 + c.head_dim * 17 + c.window * 3 + c.type)
          ^ (uint64_t) c.softcap);
    std::vector<float> q(c.n * qd), k(ctx * kvd), v(ctx * kvd);
    for (auto & x : q) x = 1.5f * r.gauss();
    for (auto & x : k) x = r.gauss();
    for (auto & x : v) x = r.gauss();
    const bool f16 = c.type == LLMJ_TYPE_F16;
    std::vector<__half> kh, vh;
    if (f16) {   // the CPU reads the same F16 values
        kh.resize(k.size()); vh.resize(v.size());
        for (size_t i = 0; i < k.size(); i++) { kh[i] = __float2half(k[i]); k[i] = __half2float(kh[i]); }
        for (size_t i = 0; i < v.size(); i++) { vh[i] = __float2half(v[i]); v[i] = __half2float(vh[i]); }
    }
    const void * kc = f16 ? (const void *) kh.data() : (const void *) k.data();
    const void * vc = f16 ? (const void *) vh.data() : (const void *) v.data();
    const size_t cache_bytes = (size_t) ctx * kvd * (f16 ? 2 : 4);
    const float scale = 1.0f / std::sqrt((float) c.head_dim);

    std::vector<float> ref(c.n * qd);
    if (llmj_attention(g_pool, q.data(), kc, vc, c.type, ref.data(), c.n, c.start_pos, c.heads, c.kv_heads, c.head_dim,
                       scale, c.softcap, c.window) != LLMJ_OK) {
        std::printf("FAIL cpu reference: %s\n", llmj_last_error());
        g_failures++;
        return;
    }

    float *dq, *dout;
    void *dk, *dv, *dwork = nullptr;
    CK(cudaMalloc(&dq, q.size() * 4));
    CK(cudaMalloc(&dk, cache_bytes));
    CK(cudaMalloc(&dv, cache_bytes));
    CK(cudaMalloc(&dout, (ref.size() + GUARD) * 4));
    CK(cudaMemcpy(dq, q.data(), q.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, kc, cache_bytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, vc, cache_bytes, cudaMemcpyHostToDevice));
    CK(cudaMemset(dout, 0xFF, ref.size() * 4));   // NaN
    CK(cudaMemset(dout + ref.size(), 0x7F, GUARD * 4));
    const size_t work = c.use_work ? llmj_cuda_attention_work_size(c.n, c.heads, c.head_dim) : 0;
    if (work) CK(cudaMalloc(&dwork, work));
    const int rc = llmj_cuda_attention(dq, dk, dv, c.type, dout, c.n, c.start_pos, c.heads, c.kv_heads, c.head_dim, scale,
                                       c.softcap, c.window, nullptr, dwork, work, nullptr);
    CK(cudaDeviceSynchronize());
    std::vector<float> got(ref.size() + GUARD);
    CK(cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost));
    // decode rows again with the position in device memory (CUDA-graph replay) and a looser bound on the host
    std::vector<float> got_dev;
    int rc_dev = LLMJ_OK;
    if (c.n <= 8) {
        int32_t * dpos;
        const int32_t p32 = (int32_t) c.start_pos;
        CK(cudaMalloc(&dpos, 4));
        CK(cudaMemcpy(dpos, &p32, 4, cudaMemcpyHostToDevice));
        CK(cudaMemset(dout, 0xFF, ref.size() * 4));
        rc_dev = llmj_cuda_attention(dq, dk, dv, c.type, dout, c.n, c.start_pos + 1000, c.heads, c.kv_heads, c.head_dim,
                                     scale, c.softcap, c.window, dpos, dwork, work, nullptr);
        CK(cudaDeviceSynchronize());
        got_dev.resize(ref.size());
        CK(cudaMemcpy(got_dev.data(), dout, got_dev.size() * 4, cudaMemcpyDeviceToHost));
        cudaFree(dpos);
    }
    cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(dout);
    if (dwork) cudaFree(dwork);

    g_cases++;
    char desc[256];
    std::snprintf(desc, sizeof desc, "n=%lld pos=%lld heads=%lld/%lld hd=%lld window=%lld softcap=%g %s work=%s",
                  (long long) c.n, (long long) c.start_pos, (long long) c.heads, (long long) c.kv_heads,
                  (long long) c.head_dim, (long long) c.window, c.softcap, f16 ? "F16" : "F32", work ? "yes" : "no");
    if (rc != LLMJ_OK) {
        std::printf("FAIL %s: status %d: %s\n", desc, rc, llmj_last_error());
        g_failures++;
        return;
    }
    double vmax = 0, err = 0;
    for (float x : v) vmax = std::max(vmax, (double) std::fabs(x));
    int64_t worst = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        const double e = std::isfinite(got[i]) ? std::fabs((double) got[i] - ref[i]) : INFINITY;
        if (!(e <= err)) { err = e; worst = (int64_t) i; }
    }
    if (rc_dev != LLMJ_OK) {
        std::printf("FAIL %s with dev_pos: status %d: %s\n", desc, rc_dev, llmj_last_error());
        g_failures++;
        return;
    }
    for (size_t i = 0; i < got_dev.size(); i++) {   // device-position run: same tolerance
        const double e = std::isfinite(got_dev[i]) ? std::fabs((double) got_dev[i] - ref[i]) : INFINITY;
        if (!(e <= err)) { err = e; worst = (int64_t) i; }
    }
    for (int i = 0; i < GUARD; i++) {
        uint32_t bits;
        std::memcpy(&bits, &got[ref.size() + i], 4);
        if (bits != GUARD_BITS) {
            std::printf("FAIL %s: guard word %d after the output overwritten\n", desc, i);
            g_failures++;
            return;
        }
    }
    const int path = tensor_core_path(c) ? 1 : 0;
    const double rel = err / vmax, tol = path ? 1e-3 : 1e-5;
    g_max_err[path] = std::max(g_max_err[path], rel);
    if (!(rel <= tol)) {
        std::printf("FAIL %s: max error %.3g of max|v| (tolerance %.0e) at element %lld: got %g, cpu %g\n", desc, rel, tol,
                    (long long) worst, got[worst], ref[worst]);
        g_failures++;
    }
}

// llmj_cuda_rope_attention against llmj_cuda_rope_store_kv then llmj_cuda_attention(_q8) on the same inputs (position
// in device memory, as in graph replay): the same bits in out, in the Q8 activation and in the whole caches.
// extra: the position bound passed is pos + extra (graph replay records the largest position); bounds up to 256 take the
// short-context kernel for head_dim 64, 96 or 128 and an F16 cache, larger ones the rows kernel.
void run_rope_case(int64_t pos, int64_t heads, int64_t kv_heads, int64_t hd, int64_t rope_dims, int neox, int type, bool q8,
                   int64_t window, float softcap, int64_t extra = 1000) {
    const int64_t ctx = pos + 1, qd = heads * hd, kvd = kv_heads * hd;
    const bool f16 = type == LLMJ_TYPE_F16;
    const size_t es = f16 ? 2 : 4, cache_bytes = (size_t) ctx * kvd * es;
    Rng r((uint64_t) (pos * 31 + heads * 7 + kv_heads * 3 + hd + rope_dims * 5 + neox + type * 11 + q8));
    std::vector<float> q(qd), k(kvd), v(kvd), inv(rope_dims / 2);
    for (auto & x : q) x = 1.5f * r.gauss();
    for (auto & x : k) x = r.gauss();
    for (auto & x : v) x = r.gauss();
    for (int64_t i = 0; i < rope_dims / 2; i++) inv[i] = std::pow(10000.0f, -2.0f * (float) i / (float) rope_dims);
    std::vector<unsigned char> cache(cache_bytes);
    if (f16) {
        for (size_t i = 0; i < cache_bytes / 2; i++) { __half h = __float2half(r.gauss()); std::memcpy(&cache[2 * i], &h, 2); }
    } else {
        for (size_t i = 0; i < cache_bytes / 4; i++) { float f = r.gauss(); std::memcpy(&cache[4 * i], &f, 4); }
    }
    const float scale = 1.0f / std::sqrt((float) hd);
    const size_t work = llmj_cuda_attention_work_size(1, heads, hd);
    const size_t act_bytes = q8 ? llmj_cuda_gptq_work_size(qd, 1) : 0;
    float *dq1, *dk1, *dq2, *dk2, *dv, *dinv, *out1, *out2;
    void *kc1, *vc1, *kc2, *vc2, *work1, *work2, *act1 = nullptr, *act2 = nullptr;
    uint32_t *cnt1, *cnt2;
    int32_t * dpos;
    CK(cudaMalloc(&dq1, qd * 4)); CK(cudaMalloc(&dq2, qd * 4)); CK(cudaMalloc(&dk1, kvd * 4)); CK(cudaMalloc(&dk2, kvd * 4));
    CK(cudaMalloc(&dv, kvd * 4)); CK(cudaMalloc(&dinv, inv.size() * 4)); CK(cudaMalloc(&out1, qd * 4)); CK(cudaMalloc(&out2, qd * 4));
    CK(cudaMalloc(&kc1, cache_bytes)); CK(cudaMalloc(&vc1, cache_bytes)); CK(cudaMalloc(&kc2, cache_bytes)); CK(cudaMalloc(&vc2, cache_bytes));
    CK(cudaMalloc(&work1, work)); CK(cudaMalloc(&work2, work)); CK(cudaMalloc(&cnt1, heads * 4)); CK(cudaMalloc(&cnt2, heads * 4));
    CK(cudaMalloc(&dpos, 4));
    if (q8) { CK(cudaMalloc(&act1, act_bytes)); CK(cudaMalloc(&act2, act_bytes)); CK(cudaMemset(act1, 0, act_bytes)); CK(cudaMemset(act2, 0, act_bytes)); }
    const int32_t p32 = (int32_t) pos;
    CK(cudaMemcpy(dpos, &p32, 4, cudaMemcpyHostToDevice));
    for (float * d : {dq1, dq2}) CK(cudaMemcpy(d, q.data(), qd * 4, cudaMemcpyHostToDevice));
    for (float * d : {dk1, dk2}) CK(cudaMemcpy(d, k.data(), kvd * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, v.data(), kvd * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dinv, inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
    for (void * d : {kc1, vc1, kc2, vc2}) CK(cudaMemcpy(d, cache.data(), cache_bytes, cudaMemcpyHostToDevice));
    CK(cudaMemset(cnt1, 0, heads * 4)); CK(cudaMemset(cnt2, 0, heads * 4));
    CK(cudaMemset(out1, 0xFF, qd * 4)); CK(cudaMemset(out2, 0x7F, qd * 4));
    int rc = llmj_cuda_rope_store_kv(dq1, dk1, dv, 1, heads, kv_heads, hd, rope_dims, pos + extra, dinv, 1.0f, neox, kc1, vc1,
                                     type, dpos, nullptr);
    if (rc == LLMJ_OK) {
        rc = q8 ? llmj_cuda_attention_q8(dq1, kc1, vc1, type, out1, 1, pos + extra, heads, kv_heads, hd, scale, softcap, window,
                                         dpos, work1, work, act1, cnt1, nullptr)
                : llmj_cuda_attention(dq1, kc1, vc1, type, out1, 1, pos + extra, heads, kv_heads, hd, scale, softcap, window, dpos,
                                      work1, work, nullptr);
    }
    const int rc2 = llmj_cuda_rope_attention(dq2, dk2, dv, kc2, vc2, type, out2, pos + extra, heads, kv_heads, hd, rope_dims, dinv,
                                             1.0f, neox, scale, softcap, window, dpos, work2, work, act2, cnt2, nullptr);
    CK(cudaDeviceSynchronize());
    bool same = rc == LLMJ_OK && rc2 == LLMJ_OK;
    if (!same) std::printf("  status %d / %d: %s\n", rc, rc2, llmj_last_error());
    auto cmp = [&](const void * a, const void * b, size_t bytes, const char * what) {
        std::vector<unsigned char> ha(bytes), hb(bytes);
        CK(cudaMemcpy(ha.data(), a, bytes, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hb.data(), b, bytes, cudaMemcpyDeviceToHost));
        if (std::memcmp(ha.data(), hb.data(), bytes) != 0) { std::printf("  %s differs\n", what); same = false; }
    };
    if (same) {
        cmp(out1, out2, qd * 4, "out");
        cmp(kc1, kc2, cache_bytes, "K cache");
        cmp(vc1, vc2, cache_bytes, "V cache");
        if (q8) cmp(act1, act2, act_bytes, "Q8 activation");
        std::vector<uint32_t> c(heads);
        CK(cudaMemcpy(c.data(), cnt2, heads * 4, cudaMemcpyDeviceToHost));
        for (uint32_t x : c) if (x != 0) { std::printf("  counters not left zeroed\n"); same = false; break; }
    }
    g_cases++;
    if (!same) g_failures++;
    std::printf("%s rope+attention pos=%lld (bound %lld) heads=%lld/%lld hd=%lld rope_dims=%lld %s %s %s window=%lld softcap=%g: "
                "fused %s rope_store_kv + attention\n", same ? "ok  " : "FAIL", (long long) pos, (long long) (pos + extra),
                (long long) heads, (long long) kv_heads,
                (long long) hd, (long long) rope_dims, neox ? "neox" : "normal", f16 ? "F16" : "F32", q8 ? "q8" : "f32-out",
                (long long) window, softcap, same ? "==" : "!=");
    for (void * d : {(void *) dq1, (void *) dq2, (void *) dk1, (void *) dk2, (void *) dv, (void *) dinv, (void *) out1,
                     (void *) out2, kc1, vc1, kc2, vc2, work1, work2, (void *) cnt1, (void *) cnt2, (void *) dpos, act1, act2}) {
        if (d) cudaFree(d);
    }
}

// Split-K decode launched for a larger bound (graph replay records the largest position, the position in device
// memory) against a plain launch at the position: the same splits are used, so the same bits in out and in the Q8
// activation; with the last block merging (counters) and with the reduce kernel.
void run_bound_case(int64_t pos, int64_t heads, int64_t kv_heads, int64_t hd, bool q8, bool counters) {
    const int64_t ctx = pos + 1, qd = heads * hd, kvd = kv_heads * hd;
    Rng r((uint64_t) (pos * 13 + heads * 5 + kv_heads + hd * 3 + q8 * 7 + counters));
    std::vector<__half> cache((size_t) ctx * kvd);
    std::vector<float> q(qd);
    for (auto & x : q) x = 1.5f * r.gauss();
    const size_t work = llmj_cuda_attention_work_size(1, heads, hd), act_bytes = llmj_cuda_gptq_work_size(qd, 1);
    float *dq, *out1, *out2;
    void *kc, *vc, *work1, *act1, *act2;
    uint32_t * cnt;
    int32_t * dpos;
    CK(cudaMalloc(&dq, qd * 4)); CK(cudaMalloc(&out1, qd * 4)); CK(cudaMalloc(&out2, qd * 4));
    CK(cudaMalloc(&kc, cache.size() * 2)); CK(cudaMalloc(&vc, cache.size() * 2)); CK(cudaMalloc(&work1, work));
    CK(cudaMalloc(&act1, act_bytes)); CK(cudaMalloc(&act2, act_bytes)); CK(cudaMalloc(&cnt, heads * 4)); CK(cudaMalloc(&dpos, 4));
    for (void * d : {kc, vc}) {
        for (auto & x : cache) x = __float2half(r.gauss());
        CK(cudaMemcpy(d, cache.data(), cache.size() * 2, cudaMemcpyHostToDevice));
    }
    const int32_t p32 = (int32_t) pos;
    CK(cudaMemcpy(dpos, &p32, 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dq, q.data(), qd * 4, cudaMemcpyHostToDevice));
    CK(cudaMemset(cnt, 0, heads * 4)); CK(cudaMemset(act1, 0, act_bytes)); CK(cudaMemset(act2, 0, act_bytes));
    const float scale = 1.0f / std::sqrt((float) hd);
    int rc[2];
    for (int i = 0; i < 2; i++) {
        const int64_t sp = i == 0 ? pos : pos + 5000;
        const int32_t * dp = i == 0 ? nullptr : dpos;
        float * o = i == 0 ? out1 : out2;
        void * a = i == 0 ? act1 : act2;
        rc[i] = q8 ? llmj_cuda_attention_q8(dq, kc, vc, LLMJ_TYPE_F16, o, 1, sp, heads, kv_heads, hd, scale, 0.0f, 0, dp, work1,
                                            work, a, counters ? cnt : nullptr, nullptr)
                   : llmj_cuda_attention(dq, kc, vc, LLMJ_TYPE_F16, o, 1, sp, heads, kv_heads, hd, scale, 0.0f, 0, dp, work1, work,
                                         nullptr);
        CK(cudaDeviceSynchronize());
    }
    bool same = rc[0] == LLMJ_OK && rc[1] == LLMJ_OK;
    auto cmp = [&](const void * x, const void * y, size_t bytes) {
        std::vector<unsigned char> hx(bytes), hy(bytes);
        CK(cudaMemcpy(hx.data(), x, bytes, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hy.data(), y, bytes, cudaMemcpyDeviceToHost));
        return std::memcmp(hx.data(), hy.data(), bytes) == 0;
    };
    if (same) same = cmp(out1, out2, qd * 4) && (!q8 || cmp(act1, act2, act_bytes));
    g_cases++;
    if (!same) g_failures++;
    std::printf("%s split-K bound pos=%lld heads=%lld/%lld hd=%lld %s%s: launched for pos + 5000 %s launched for pos\n",
                same ? "ok  " : "FAIL", (long long) pos, (long long) heads, (long long) kv_heads, (long long) hd, q8 ? "q8" : "f32-out",
                q8 ? (counters ? " counters" : " reduce kernel") : "", same ? "==" : "!=");
    for (void * d : {(void *) dq, (void *) out1, (void *) out2, kc, vc, work1, act1, act2, (void *) cnt, (void *) dpos}) cudaFree(d);
}

bool api_checks() {
    bool ok = true;
    float * d;
    CK(cudaMalloc(&d, 1024));
    // bad arguments are refused with a status, never a crash
    ok &= llmj_cuda_attention(d, d, d, LLMJ_TYPE_F16, d, 1, 0, 3, 2, 64, 1, 0, 0, nullptr, nullptr, 0, nullptr) == LLMJ_ERR_INVALID_ARGUMENT;
    ok &= llmj_cuda_attention(d, d, d, LLMJ_TYPE_BF16, d, 1, 0, 4, 2, 64, 1, 0, 0, nullptr, nullptr, 0, nullptr) == LLMJ_ERR_UNSUPPORTED;
    ok &= llmj_cuda_attention(d, d, d, LLMJ_TYPE_F16, d, 1, 0, 4, 2, 512, 1, 0, 0, nullptr, nullptr, 0, nullptr) == LLMJ_ERR_UNSUPPORTED;
    ok &= llmj_cuda_attention(d, d, d, LLMJ_TYPE_F16, d, 0, 0, 4, 2, 64, 1, 0, 0, nullptr, nullptr, 0, nullptr) == LLMJ_OK;
    ok &= llmj_cuda_attention_work_size(1, 32, 128) > 0 && llmj_cuda_attention_work_size(512, 32, 128) == 0;
    cudaFree(d);
    if (!ok) std::printf("FAIL argument checks\n");
    return ok;
}

// ---- timing ---------------------------------------------------------------------------------

template <typename F> float median_ms(F && f, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    f();
    f();
    CK(cudaDeviceSynchronize());
    std::vector<float> ms;
    for (int i = 0; i < reps; i++) {
        CK(cudaEventRecord(a));
        f();
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        float t;
        CK(cudaEventElapsedTime(&t, a, b));
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

void fill_random_half(void * d, size_t count, uint64_t seed) {
    std::vector<__half> h(count);
    Rng r(seed);
    for (auto & x : h) x = __float2half(r.gauss());
    CK(cudaMemcpy(d, h.data(), count * 2, cudaMemcpyHostToDevice));
}

void bench() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    std::printf("\n== timing on %s (%d SMs) ==\n", prop.name, prop.multiProcessorCount);
    const size_t copy_bytes = (size_t) 512 << 20;
    void *src, *dst;
    CK(cudaMalloc(&src, copy_bytes));
    CK(cudaMalloc(&dst, copy_bytes));
    CK(cudaMemset(src, 1, copy_bytes));
    const float copy_ms = median_ms([&] { CK(cudaMemcpyAsync(dst, src, copy_bytes, cudaMemcpyDeviceToDevice)); }, 10);
    const double copy_gbs = 2.0 * copy_bytes / (copy_ms * 1e-3) / 1e9;
    std::printf("D2D cudaMemcpy 512 MiB: %.3f ms, %.0f GB/s (read + write)\n", copy_ms, copy_gbs);
    cudaFree(src);
    cudaFree(dst);

    struct Shape { int64_t heads, kv_heads, head_dim; const char * name; };
    const Shape shapes[] = {{32, 32, 128, "32x128 (7B, MHA)"}, {32, 8, 128, "32/8x128 (8B, GQA)"}};
    const int64_t max_ctx = 16384;
    for (const Shape & sh : shapes) {
        const int64_t kvd = sh.kv_heads * sh.head_dim;
        void *dk, *dv, *dwork;
        float *dq, *dout;
        CK(cudaMalloc(&dk, (size_t) max_ctx * kvd * 2));
        CK(cudaMalloc(&dv, (size_t) max_ctx * kvd * 2));
        fill_random_half(dk, (size_t) max_ctx * kvd, 1);
        fill_random_half(dv, (size_t) max_ctx * kvd, 2);
        const size_t work = llmj_cuda_attention_work_size(1, sh.heads, sh.head_dim);
        CK(cudaMalloc(&dwork, work));
        CK(cudaMalloc(&dq, 2048 * sh.heads * sh.head_dim * 4));
        CK(cudaMalloc(&dout, 2048 * sh.heads * sh.head_dim * 4));
        std::vector<float> hq(2048 * sh.heads * sh.head_dim);
        Rng r(3);
        for (auto & x : hq) x = r.gauss();
        CK(cudaMemcpy(dq, hq.data(), hq.size() * 4, cudaMemcpyHostToDevice));
        const float scale = 1.0f / std::sqrt((float) sh.head_dim);
        for (int64_t ctx : {512, 4096, 16384}) {
            const double bytes = 2.0 * ctx * kvd * 2;
            float ms[2];
            for (int w = 0; w < 2; w++) {
                ms[w] = median_ms([&] {
                    if (llmj_cuda_attention(dq, dk, dv, LLMJ_TYPE_F16, dout, 1, ctx - 1, sh.heads, sh.kv_heads, sh.head_dim,
                                            scale, 0, 0, nullptr, w ? dwork : nullptr, w ? work : 0, nullptr) != LLMJ_OK) {
                        std::printf("FAIL bench: %s\n", llmj_last_error());
                        std::exit(1);
                    }
                }, 50);
            }
            std::printf("decode %-20s F16 ctx %6lld: split-K %8.1f us %6.0f GB/s (%3.0f%% of memcpy) | one block per row %8.1f us %6.0f GB/s\n",
                        sh.name, (long long) ctx, ms[1] * 1e3, bytes / (ms[1] * 1e-3) / 1e9,
                        100.0 * bytes / (ms[1] * 1e-3) / 1e9 / copy_gbs, ms[0] * 1e3, bytes / (ms[0] * 1e-3) / 1e9);
        }
        for (int type : {LLMJ_TYPE_F16, LLMJ_TYPE_F32}) {
            if (type == LLMJ_TYPE_F32) {   // reuse the buffers: 2048 + 2048 rows fit in max_ctx F16 rows
                std::vector<float> hk((size_t) 4096 * kvd);
                for (auto & x : hk) x = r.gauss();
                CK(cudaMemcpy(dk, hk.data(), hk.size() * 4, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(dv, hk.data(), hk.size() * 4, cudaMemcpyHostToDevice));
            }
            for (auto np : {std::pair<int64_t, int64_t>{512, 0}, {512, 3584}, {2048, 0}}) {
                const int64_t n = np.first, pos = np.second;
                double pairs = 0;
                for (int64_t t = 0; t < n; t++) pairs += (double) (pos + t + 1);
                const double flops = 4.0 * sh.head_dim * sh.heads * pairs;
                const float ms = median_ms([&] {
                    if (llmj_cuda_attention(dq, dk, dv, type, dout, n, pos, sh.heads, sh.kv_heads, sh.head_dim, scale, 0, 0,
                                            nullptr, nullptr, 0, nullptr) != LLMJ_OK) {
                        std::printf("FAIL bench: %s\n", llmj_last_error());
                        std::exit(1);
                    }
                }, 20);
                std::printf("prefill %-20s %-18s n %5lld from pos %5lld: %8.1f us %6.1f TFLOP/s\n", sh.name,
                            type == LLMJ_TYPE_F16 ? "F16 (tensor cores)" : "F32 (float32 path)", (long long) n, (long long) pos, ms * 1e3,
                            flops / (ms * 1e-3) / 1e12);
            }
        }
        cudaFree(dk); cudaFree(dv); cudaFree(dwork); cudaFree(dq); cudaFree(dout);
    }
}

}  // namespace

int main(int argc, char ** argv) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("test_cuda_attention: no device, skipped\n");
        return 0;
    }
    const bool do_bench = !(argc > 1 && std::strcmp(argv[1], "--no-bench") == 0);
    const int threads = (int) std::max(1u, std::min(32u, std::thread::hardware_concurrency()));
    if (llmj_threadpool_create(threads, &g_pool) != LLMJ_OK) {
        std::printf("FAIL thread pool: %s\n", llmj_last_error());
        return 1;
    }
    bool ok = api_checks();

    const int64_t ns[] = {1, 3, 17, 64, 200}, poss[] = {0, 5, 1000, 4000};
    const int64_t heads[][2] = {{8, 2}, {4, 4}, {14, 2}};
    const int64_t dims[] = {64, 80, 128, 256};
    int idx = 0;
    for (int64_t n : ns) {
        for (int64_t pos : poss) {
            for (auto & h : heads) {
                for (int64_t d : dims) {
                    const int variant = idx++ % 4;   // (window, softcap) cycles through all four
                    const int64_t window = variant & 1 ? 7 : 0;
                    const float cap = variant & 2 ? 50.0f : 0.0f;
                    run_case({n, pos, h[0], h[1], d, window, cap, LLMJ_TYPE_F16, true});
                    run_case({n, pos, h[0], h[1], d, window, cap, LLMJ_TYPE_F32, idx % 2 == 0});
                }
            }
        }
    }
    // other head sizes (96 on tensor cores; 8, 33 and 112 on the float32 path), stronger soft-capping
    for (int64_t d : {8, 33, 96, 112}) {
        for (int type : {LLMJ_TYPE_F16, LLMJ_TYPE_F32}) {
            run_case({64, 100, 6, 3, d, 0, 0.0f, type, true});
            run_case({33, 7, 6, 2, d, 20, 5.0f, type, true});
            run_case({1, 3000, 6, 3, d, 0, 0.0f, type, true});
            run_case({2, 2999, 12, 1, d, 1000, 5.0f, type, true});
        }
    }
    // the shapes of core's BackendOps attention test (heads, kv heads, head_dim, n, pos, softcap, window)
    for (int type : {LLMJ_TYPE_F16, LLMJ_TYPE_F32}) {
        for (auto & b : {std::vector<int>{1, 1, 1, 1, 0, 0, 0}, {4, 2, 16, 5, 0, 0, 0}, {8, 1, 33, 1, 40, 0, 0},
                         {4, 4, 64, 3, 17, 50, 0}, {6, 3, 8, 7, 9, 0, 4}}) {
            run_case({b[3], b[4], b[0], b[1], b[2], b[6], (float) b[5], type, true});
        }
    }
    // one query row, head_dim 64 / 96 / 128, F16 cache, at most 256 visible positions: the short-context kernel (MHA,
    // llama3's and mistral's groups of 4, a group of 2, multi-query; phi3's head_dim 96)
    run_case({1, 255, 4, 4, 128, 0, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 255, 32, 8, 128, 0, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 77, 8, 4, 64, 0, 30.0f, LLMJ_TYPE_F16, true});
    run_case({1, 0, 16, 1, 64, 0, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 700, 32, 8, 128, 200, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 255, 32, 32, 96, 0, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 90, 8, 2, 96, 0, 50.0f, LLMJ_TYPE_F16, true});
    run_case({1, 500, 4, 4, 96, 128, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 200, 16, 16, 64, 0, 30.0f, LLMJ_TYPE_F16, true});
    run_case({1, 130, 32, 32, 128, 0, 0.0f, LLMJ_TYPE_F16, false});
    run_case({1, 700, 8, 8, 128, 256, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 700, 8, 8, 64, 100, 0.0f, LLMJ_TYPE_F16, true});
    // MHA and wide groups on the split-K path, window longer than the context, tiny window
    run_case({1, 9000, 16, 16, 128, 0, 0.0f, LLMJ_TYPE_F16, true});
    run_case({1, 9000, 16, 1, 64, 0, 0.0f, LLMJ_TYPE_F16, true});
    run_case({4, 5000, 32, 8, 128, 8192, 0.0f, LLMJ_TYPE_F16, true});
    run_case({100, 50, 8, 8, 128, 1, 0.0f, LLMJ_TYPE_F16, true});
    run_case({300, 0, 10, 2, 64, 0, 30.0f, LLMJ_TYPE_F32, true});

    // RoPE and the KV write folded into decode attention: MHA, GQA, wide groups, partial rotary, NeoX order, both caches,
    // with and without the Q8 output, one block (short) and split-K (long) contexts, window and soft-capping
    for (int64_t pos : {0, 5, 300, 3000}) {
        for (int type : {LLMJ_TYPE_F16, LLMJ_TYPE_F32}) {
            for (int q8 = 0; q8 <= 1; q8++) {
                run_rope_case(pos, 8, 8, 128, 128, 0, type, q8, 0, 0.0f);
                run_rope_case(pos, 8, 2, 64, 64, 1, type, q8, 0, 0.0f);
                run_rope_case(pos, 4, 4, 128, 64, 0, type, q8, 0, 0.0f);
                run_rope_case(pos, 16, 1, 64, 32, 1, type, q8, pos > 100 ? 100 : 0, q8 ? 30.0f : 0.0f);
            }
        }
    }
    // the short-context kernel (the bound at most 256 positions): MHA and grouped-query (one writer per KV head), head_dim
    // 128 and 64, full and partial rotary, NeoX order, window and soft-capping, the longest range it takes
    for (int64_t pos : {0, 1, 17, 100, 255}) {
        for (int q8 = 0; q8 <= 1; q8++) {
            const int64_t extra = pos == 255 ? 0 : 3;
            run_rope_case(pos, 8, 8, 128, 128, 0, LLMJ_TYPE_F16, q8, 0, 0.0f, extra);
            run_rope_case(pos, 32, 8, 128, 128, 0, LLMJ_TYPE_F16, q8, 0, 0.0f, extra);
            run_rope_case(pos, 8, 2, 64, 64, 1, LLMJ_TYPE_F16, q8, pos > 50 ? 50 : 0, 0.0f, extra);
            run_rope_case(pos, 16, 1, 64, 32, 1, LLMJ_TYPE_F16, q8, 0, q8 ? 30.0f : 0.0f, extra);
            run_rope_case(pos, 32, 32, 96, 96, 1, LLMJ_TYPE_F16, q8, 0, 0.0f, extra);
            run_rope_case(pos, 8, 4, 96, 64, 0, LLMJ_TYPE_F16, q8, pos > 50 ? 50 : 0, 0.0f, extra);
            run_rope_case(pos, 4, 4, 128, 64, 1, LLMJ_TYPE_F16, q8, pos > 50 ? 50 : 0, q8 ? 30.0f : 0.0f, extra);
            run_rope_case(pos, 12, 12, 64, 32, 0, LLMJ_TYPE_F16, q8, 0, 0.0f, extra);
        }
    }
    run_rope_case(1000, 8, 8, 128, 128, 1, LLMJ_TYPE_F16, true, 200, 0.0f, 5);   // a window: a long context in 200 rows
    for (int64_t pos : {300, 700, 3000}) {
        run_bound_case(pos, 32, 32, 128, true, true);
        run_bound_case(pos, 32, 8, 128, true, false);
        run_bound_case(pos, 16, 2, 64, false, false);
    }
    std::printf("test_cuda_attention: %d cases, %d failures; max error / max|v|: float32 paths %.3g (tolerance 1e-5), "
                "tensor-core path %.3g (tolerance 1e-3)\n", g_cases, g_failures, g_max_err[0], g_max_err[1]);
    ok &= g_failures == 0;
    if (do_bench) bench();
    llmj_threadpool_free(g_pool);
    std::printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
