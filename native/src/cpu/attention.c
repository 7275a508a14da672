/* Causal attention over a KV cache (F32 or F16), grouped-query heads, optional sliding window and
 * logit soft-capping. One task per (query row, head), split across threads; each task computes
 * scores q·k_j * scale for the visible positions, a softmax, and the weighted sum of v_j.
 * The q·k dot product and the v accumulation have scalar, AVX2 and AVX-512 variants. At the AVX-512
 * level, head_dim 32/64/96/128 run a thread's consecutive heads of one KV group together with q and the
 * output rows held in registers (head_rows_avx512), each K/V row converted once for them, instead of a
 * call per position and head that reloads q and loads and stores the output row: the same fused
 * multiply-adds in the same order per head as the per-position AVX-512 functions; only the softmax's
 * exponentials (16 at a time, vexp.h, within 1 ulp of expf) and their sum (in 16 lanes) differ. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "vexp.h"
#define LLMJ_X86 1
#endif

/* ---- scalar -------------------------------------------------------------------------------- */
static float dot_scalar(const float * q, const void * k, int f16, int64_t d) {
    float s = 0;
    if (f16) {
        const uint16_t * kh = k;
        for (int64_t i = 0; i < d; i++) s += q[i] * llmj_fp16_to_fp32(kh[i]);
    } else {
        const float * kf = k;
        for (int64_t i = 0; i < d; i++) s += q[i] * kf[i];
    }
    return s;
}

static void axpy_scalar(float * acc, float a, const void * v, int f16, int64_t d) {
    if (f16) {
        const uint16_t * vh = v;
        for (int64_t i = 0; i < d; i++) acc[i] += a * llmj_fp16_to_fp32(vh[i]);
    } else {
        const float * vf = v;
        for (int64_t i = 0; i < d; i++) acc[i] += a * vf[i];
    }
}

#ifdef LLMJ_X86
/* ---- AVX2 + FMA + F16C --------------------------------------------------------------------- */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline __m256 load8(const void * p, int f16, int64_t i) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) ((const uint16_t *) p + i)))
               : _mm256_loadu_ps((const float *) p + i);
}

AVX2_TARGET static float dot_avx2(const float * q, const void * k, int f16, int64_t d) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k, f16, i), acc);
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    float s = _mm_cvtss_f32(lo);
    for (; i < d; i++) s += q[i] * (f16 ? _cvtsh_ss(((const uint16_t *) k)[i]) : ((const float *) k)[i]);
    return s;
}

AVX2_TARGET static void axpy_avx2(float * acc, float a, const void * v, int f16, int64_t d) {
    const __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(av, load8(v, f16, i), _mm256_loadu_ps(acc + i)));
    for (; i < d; i++) acc[i] += a * (f16 ? _cvtsh_ss(((const uint16_t *) v)[i]) : ((const float *) v)[i]);
}

/* ---- AVX-512 ------------------------------------------------------------------------------- */
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

AVX512_TARGET static inline __m512 load16(const void * p, int f16, int64_t i, __mmask16 m) {
    return f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *) p + i))
               : _mm512_maskz_loadu_ps(m, (const float *) p + i);
}

AVX512_TARGET static float dot_avx512(const float * q, const void * k, int f16, int64_t d) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i += 16) {
        const __mmask16 m = d - i >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << (d - i)) - 1u);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load16(k, f16, i, m), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512_TARGET static void axpy_avx512(float * acc, float a, const void * v, int f16, int64_t d) {
    const __m512 av = _mm512_set1_ps(a);
    for (int64_t i = 0; i < d; i += 16) {
        const __mmask16 m = d - i >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << (d - i)) - 1u);
        _mm512_mask_storeu_ps(acc + i, m, _mm512_fmadd_ps(av, load16(v, f16, i, m), _mm512_maskz_loadu_ps(m, acc + i)));
    }
}

/* G heads of one KV group (consecutive query heads of one row), head_dim = 16 * NV; G and NV are constants
 * at each call site, so q and o stay in registers (G * NV <= 16). Each position's K and V chunks are loaded
 * and converted once for the G heads. Per head, the arithmetic of dot_avx512 / axpy_avx512 exactly: per
 * position, acc = fma(q_i, k_i, acc) over the 16-float chunks i in order, then _mm512_reduce_add_ps;
 * o_i = fma(w, v_i, o_i); so the same scores as the per-position calls, whatever G (the softmax differs by
 * float rounding: vector exponentials). qrow / orow: head 0's rows
 * (the others follow, head_dim apart); scores: G rows of `stride` floats, positions first..pos.
 * Measured (native/dev/bench_attention.c, one decode row, 32 heads over 8 KV heads, F16 cache, 2 threads,
 * dev VM; against LLMJ_CPU_ATTN_FIXED=0): with one head per call, head_dim 64 at 64 / 256 / 1024 positions
 * 10.6-13.2 / 40.4-46.4 / 180-203 us against 14.9-18.4 / 57.0-59.0 / 260-307; head_dim 128 17.7-18.5 /
 * 64.4-66.7 / 288-309 against 26.7-27.1 / 92.6-97.5 / 428-435. Grouped (the default), same run, against one head
 * per call and the per-position calls: head_dim 64 (4 heads) 12.1-13.3 / 43.6-50.3 / 159-195 against 11.8-15.4 /
 * 40.4-45.0 / 172-186 and 17.1-19.8 / 64.7-79.4 / 288-329; head_dim 128 (2 heads) 12.4-17.5 / 47.2-53.2 / 192-217
 * against 16.5-21.0 / 63.2-73.7 / 280-296 and 22.6-24.4 / 87.7-102.7 / 423-465.
 * The softmax's expf calls took a third of that: with the vector exponentials, one thread, head_dim 64, 64 / 256
 * positions 15.2-15.4 / 53.6-59.7 us against 21.6-21.9 / 85.7-86.7 (same session); 2 threads 7.5-9.8 / 29.2-31.6. */
AVX512_TARGET static inline __attribute__((always_inline)) void head_rows_avx512(
        const float * qrow, const char * k, const char * v, int64_t kv_row, int f16, int64_t first, int64_t pos,
        float scale, float softcap, float * scores, int64_t stride, float * orow, const int NV, const int G) {
    __m512 q[16], o[16];   /* [g * NV + i] */
    for (int g = 0; g < G; g++) {
        for (int i = 0; i < NV; i++) q[g * NV + i] = _mm512_loadu_ps(qrow + (int64_t) g * 16 * NV + 16 * i);
    }
    float max[8], inv[8];
    for (int g = 0; g < G; g++) max[g] = -INFINITY;
    for (int64_t p = first; p <= pos; p++) {
        const char * kr = k + p * kv_row;
        __m512 kk[8];
        for (int i = 0; i < NV; i++) kk[i] = load16(kr, f16, 16 * i, (__mmask16) 0xFFFF);
        for (int g = 0; g < G; g++) {
            __m512 acc = _mm512_setzero_ps();
            for (int i = 0; i < NV; i++) acc = _mm512_fmadd_ps(q[g * NV + i], kk[i], acc);
            float sc = _mm512_reduce_add_ps(acc) * scale;
            if (softcap > 0) sc = softcap * tanhf(sc / softcap);
            scores[g * stride + p] = sc;
            if (sc > max[g]) max[g] = sc;
        }
    }
    for (int g = 0; g < G; g++) {   /* e^(s - max) 16 at a time (vexp.h), summed in 16 lanes */
        float * sg = scores + g * stride;
        const __m512 mx = _mm512_set1_ps(max[g]);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t p = first; p <= pos; p += 16) {
            const __mmask16 m = pos + 1 - p >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << (pos + 1 - p)) - 1u);
            const __m512 e = llmj_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sg + p), mx));
            _mm512_mask_storeu_ps(sg + p, m, e);
            sum = _mm512_mask_add_ps(sum, m, sum, e);
        }
        inv[g] = 1.0f / _mm512_reduce_add_ps(sum);
    }
    for (int g = 0; g < G; g++) {
        for (int i = 0; i < NV; i++) o[g * NV + i] = _mm512_setzero_ps();
    }
    for (int64_t p = first; p <= pos; p++) {
        const char * vr = v + p * kv_row;
        __m512 vv[8];
        for (int i = 0; i < NV; i++) vv[i] = load16(vr, f16, 16 * i, (__mmask16) 0xFFFF);
        for (int g = 0; g < G; g++) {
            const __m512 w = _mm512_set1_ps(scores[g * stride + p] * inv[g]);
            for (int i = 0; i < NV; i++) o[g * NV + i] = _mm512_fmadd_ps(w, vv[i], o[g * NV + i]);
        }
    }
    for (int g = 0; g < G; g++) {
        for (int i = 0; i < NV; i++) _mm512_storeu_ps(orow + (int64_t) g * 16 * NV + 16 * i, o[g * NV + i]);
    }
}

/* The most heads of one KV group one call of head_rows_fixed takes for head_dim (q and o in registers); 1 for
 * the head sizes it does not take (their per-position path needs one row of scores) */
static int fixed_group_max(int64_t head_dim) {
    return head_dim == 32 ? 8 : head_dim == 64 ? 4 : head_dim == 96 || head_dim == 128 ? 2 : 1;
}

/* head_rows_avx512 for head_dim 32/64/96/128 and G = 1, 2, 4 or 8 (at most fixed_group_max) heads; 0 if
 * head_dim is another size */
AVX512_TARGET static int head_rows_fixed(const float * qrow, const char * k, const char * v, int64_t kv_row, int f16,
                                         int64_t first, int64_t pos, float scale, float softcap, float * scores,
                                         int64_t stride, float * orow, int64_t head_dim, int G) {
#define HR(NV, GG) head_rows_avx512(qrow, k, v, kv_row, f16, first, pos, scale, softcap, scores, stride, orow, NV, GG)
    switch (head_dim) {
    case 32: if (G == 8) HR(2, 8); else if (G == 4) HR(2, 4); else if (G == 2) HR(2, 2); else HR(2, 1); return 1;
    case 64: if (G == 4) HR(4, 4); else if (G == 2) HR(4, 2); else HR(4, 1); return 1;
    case 96: if (G == 2) HR(6, 2); else HR(6, 1); return 1;
    case 128: if (G == 2) HR(8, 2); else HR(8, 1); return 1;
    default: return 0;
    }
#undef HR
}
#endif

/* ---- the job ------------------------------------------------------------------------------- */
#ifdef LLMJ_X86
/* Measurement knob LLMJ_CPU_ATTN_FIXED at the AVX-512 level: 0 keeps the per-position calls, 1 takes one head
 * per register-resident call, anything else (the default) several heads of a KV group per call. */
static int fixed_enabled(void) {
    static _Atomic int cached = -1;   /* generators may call from several threads: any of them may set it */
    int c = atomic_load_explicit(&cached, memory_order_relaxed);
    if (c < 0) {
        const char * e = getenv("LLMJ_CPU_ATTN_FIXED");
        c = !e ? 2 : e[0] == '0' ? 0 : e[0] == '1' ? 1 : 2;
        atomic_store_explicit(&cached, c, memory_order_relaxed);
    }
    return c;
}
#endif

typedef float (*dot_fn)(const float *, const void *, int, int64_t);
typedef void (*axpy_fn)(float *, float, const void *, int, int64_t);

typedef struct {
    const float * q;
    const char * k;
    const char * v;
    int f16;
    float * out;
    int64_t n, start_pos, n_heads, n_kv_heads, head_dim, window;
    float scale, softcap;
    dot_fn dot;
    axpy_fn axpy;
    int fixed;               /* AVX-512 level: head_rows_fixed takes head_dim 32/64/96/128 */
    int fixed_group;         /* ... up to this many heads of a KV group per call (LLMJ_CPU_ATTN_FIXED=1: one) */
    int failed;
} attn_job;

static void attention_tasks(void * p, int ith, int nth) {
    attn_job * j = p;
    const int64_t tasks = j->n * j->n_heads;
    int64_t a, b;
    llmj_split(tasks, ith, nth, &a, &b);
    if (a >= b) return;
    const int64_t elem = j->f16 ? 2 : 4;
    const int64_t kv_row = j->n_kv_heads * j->head_dim * elem;
    const int64_t group = j->n_heads / j->n_kv_heads;
    const int64_t stride = j->start_pos + j->n;
    const int gmax = j->fixed_group;   /* 1 unless the grouped calls run */
    float * scores = malloc(sizeof(float) * (size_t) (stride * gmax));
    if (!scores) {
        j->failed = 1;
        return;
    }
    for (int64_t task = a; task < b; task++) {
        const int64_t t = task / j->n_heads, h = task % j->n_heads, kvh = h / group;
        const int64_t pos = j->start_pos + t;
        const int64_t first = j->window > 0 && pos - j->window + 1 > 0 ? pos - j->window + 1 : 0;
        const float * q = j->q + (t * j->n_heads + h) * j->head_dim;
        const int64_t head_off = kvh * j->head_dim * elem;
        float * o = j->out + (t * j->n_heads + h) * j->head_dim;
#ifdef LLMJ_X86
        if (j->fixed) {
            /* this thread's next heads of the same row and KV group, in a power-of-two batch */
            int64_t run = group - h % group;
            if (run > b - task) run = b - task;
            int G = 1;
            while (2 * G <= gmax && 2 * G <= run) G *= 2;
            if (head_rows_fixed(q, j->k + head_off, j->v + head_off, kv_row, j->f16, first, pos, j->scale, j->softcap,
                                scores, stride, o, j->head_dim, G)) {
                task += G - 1;
                continue;
            }
        }
#endif
        float max = -INFINITY;
        for (int64_t p = first; p <= pos; p++) {
            float s = j->dot(q, j->k + p * kv_row + head_off, j->f16, j->head_dim) * j->scale;
            if (j->softcap > 0) s = j->softcap * tanhf(s / j->softcap);
            scores[p] = s;
            if (s > max) max = s;
        }
        float sum = 0;
        for (int64_t p = first; p <= pos; p++) {
            scores[p] = expf(scores[p] - max);
            sum += scores[p];
        }
        for (int64_t i = 0; i < j->head_dim; i++) o[i] = 0;
        const float inv = 1.0f / sum;
        for (int64_t p = first; p <= pos; p++) j->axpy(o, scores[p] * inv, j->v + p * kv_row + head_off, j->f16, j->head_dim);
    }
    free(scores);
}

int llmj_attention(llmj_threadpool * pool, const float * q, const void * k_cache, const void * v_cache, int cache_type,
                   float * out, int64_t n, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                   float scale, float softcap, int64_t window) {
    if (cache_type != LLMJ_TYPE_F32 && cache_type != LLMJ_TYPE_F16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "KV cache type %d (F32=0 and F16=1 are supported)", cache_type);
    }
    if (n < 0 || start_pos < 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0
            || window < 0 || !(softcap >= 0)) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "bad shape n=%lld pos=%lld heads=%lld kv_heads=%lld head_dim=%lld window=%lld",
                         (long long) n, (long long) start_pos, (long long) n_heads, (long long) n_kv_heads,
                         (long long) head_dim, (long long) window);
    }
    if (n == 0) return LLMJ_OK;
    if (!q || !k_cache || !v_cache || !out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null pointer");
    attn_job j = { q, k_cache, v_cache, cache_type == LLMJ_TYPE_F16, out, n, start_pos, n_heads, n_kv_heads, head_dim,
                   window, scale, softcap, dot_scalar, axpy_scalar, 0, 1, 0 };
#ifdef LLMJ_X86
    const int isa = llmj_cpu_active_isa();
    if (isa == LLMJ_ISA_AVX512) {
        j.dot = dot_avx512;
        j.axpy = axpy_avx512;
        const int fixed = fixed_enabled();
        j.fixed = fixed > 0;
        j.fixed_group = fixed > 1 ? fixed_group_max(head_dim) : 1;
    }
    else if (isa == LLMJ_ISA_AVX2) { j.dot = dot_avx2; j.axpy = axpy_avx2; }
#endif
    /* small jobs (a tiny model's decode step) cost less than waking the pool */
    const double work = (double) n * (double) n_heads * (double) (start_pos + n) * (double) head_dim;
    llmj_threadpool_run(work >= 65536.0 ? pool : NULL, attention_tasks, &j);
    if (j.failed) return LLMJ_FAIL(LLMJ_ERR_OUT_OF_MEMORY, "no memory for %lld attention scores", (long long) (start_pos + n));
    return LLMJ_OK;
}
