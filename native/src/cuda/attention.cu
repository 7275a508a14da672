// Causal attention over a KV cache on the GPU (F32 or F16 cache, grouped-query heads, sliding
// window, logit soft-capping). CPU reference: src/cpu/attention.c (same contract).
//
// Three kernels and a reduction:
//  - flash_mma_kernel (prefill, n >= MMA_MIN_ROWS, head_dim 64/80/96/128/256): FlashAttention-2
//    style. A block of 4 warps owns 64 "rows" of one KV head, a row being a (query, head of the
//    group) pair, so the heads of a GQA group share every K/V tile the block stages in shared
//    memory. Q (scaled, F16) times K^T and P (F16) times V run on tensor cores (mma.sync m16n8k16,
//    float32 accumulators); masking, soft-capping and the online softmax are float32 in registers.
//    The F16 cache streams into shared memory with cp.async (K of the next tile loads during P·V,
//    V during Q·K^T). F32 caches never take this path: choosing an F32 cache asks for float32
//    results, so their prefill runs rows_kernel.
//  - rows_kernel (decode, small n, other head sizes, F32 caches): float32 throughout. A block owns one query
//    row, one KV head and up to 8 heads of its group, and a range of KV positions: chunks of 128
//    positions are scored (one K read shared by the group's heads), soft-maxed online and folded
//    into per-thread output accumulators. For long contexts the KV range is split over several
//    blocks (flash-decoding) that write partial (max, sum, output) triples into `work`;
//    split_reduce_kernel merges them, or (llmj_cuda_attention_q8 with counters) the last block of a row
//    to finish does, one kernel fewer per layer. llmj_cuda_attention_q8 also writes the Q8 activation of
//    the output projection as it writes out. llmj_cuda_rope_attention folds RoPE and the KV-cache write of
//    the decode row into it (rope_store_kv_kernel's values: rope_rotate in common.cuh), another kernel fewer.
//    Launched for a bound (a decode graph records the largest position), split-K uses the splits a launch at the
//    position it runs at would (effective_splits): graph replay and plain launches give the same bits.
//  - short_kernel (one decode row, MHA or grouped-query, head_dim 64, 96 or 128, F16 cache, at most 256 visible
//    positions): the older K/V rows load into shared memory before the q/k/v product has finished (see there); H100,
//    llama2-7b tg128: Q4_0 597 against 537-544 t/s with rows_kernel, GPTQ 4-bit 625-631 against 561-570 (same runs);
//    llama3-8b (32 query heads over 8 KV heads) Q4_0 521.1 / 521.9 against 476.9 / 472.8; a phi3-mini-shaped llama
//    (3072 wide, 32 layers, 32 heads of 96) Q4_0 854.0 / 858.1 against 773.7 / 753.9.
// Accuracy against the CPU's float32 llmj_attention: rows_kernel about 1e-6 of max|v|; the tensor
// core path rounds q*scale and the probabilities to F16: within 1e-3 of max|v| (see
// tests/cuda/test_cuda_attention.cu).
#include "matvec_q.cuh"

#include <stdint.h>

#include <mutex>

namespace {

constexpr float LOG2E = 1.4426950408889634f;

__device__ __forceinline__ int64_t first_visible(int64_t pos, int64_t window) {
    return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
}

// ---- merging split-K partials -------------------------------------------------------------------
// One row's splits s (max m_s, sum l_s, unnormalised output o_s): out = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s,
// an empty split having m = -inf, l = 0, o = 0. The reduce kernel and the rows kernel's last block (counters)
// share this arithmetic, so either gives the same bits. L2: read through L2 only (partials other thread blocks
// of the running kernel wrote).
template <bool L2> static __device__ __forceinline__ float ld_part(const float * p) { return L2 ? __ldcg(p) : *p; }

// One warp: w[s] = e^(m_s - M) for s < splits (lane-strided), returns 1 / sum_s w[s] l_s.
template <bool L2> static __device__ __forceinline__ float merge_weights(const float * ml, int splits, float * w) {
    const int lane = threadIdx.x % 32;
    float mx = -INFINITY;
    for (int s = lane; s < splits; s += 32) mx = fmaxf(mx, ld_part<L2>(ml + 2 * s));
    mx = warp_reduce_max(mx);
    float l = 0.0f;
    for (int s = lane; s < splits; s += 32) {
        const float e = expf(ld_part<L2>(ml + 2 * s) - mx);
        w[s] = e;
        l += e * ld_part<L2>(ml + 2 * s + 1);
    }
    l = warp_reduce_sum(l);
    return 1.0f / l;
}

// sum_s w[s] o_s[d] (po: the row's splits x D partial outputs).
template <bool L2> static __device__ __forceinline__ float merge_out(const float * po, const float * w, int splits, int D, int d) {
    float o = 0.0f;
    for (int s = 0; s < splits; s++) o += w[s] * ld_part<L2>(po + (int64_t) s * D + d);
    return o;
}

// ---- rows kernel (float32, decode and split-K) ------------------------------------------------

constexpr int ROW_THREADS = 256;
constexpr int ROW_WARPS = ROW_THREADS / 32;
constexpr int ROW_CHUNK = 256;    // positions scored per pass (the MHA F16 decode kernel: attn_chunk())
constexpr int MAX_CHUNK = 512;
constexpr int MAX_SPLITS = 64;    // KV splits per row (bounds the work buffer)
constexpr int SPLIT_MAX_ROWS = 8; // split-K only for n <= this (decode, small speculative batches)
constexpr int SPLIT_MIN_LEN = 128;// positions per split at least

// The splits a launch sized for `splits` (its bound's) uses at the position it runs at: as many as a launch sized
// for that position would have (at least SPLIT_MIN_LEN positions each), so a graph recorded for the largest
// position splits short contexts no more than a plain launch does, with the same results. p0: the first row's
// position; the longest row is the last (or the window).
static __device__ __forceinline__ int effective_splits(int splits, int64_t p0, int64_t n, int64_t window) {
    const int64_t ctx = window > 0 && window < p0 + n ? window : p0 + n;
    return (int) max((int64_t) 1, min((int64_t) splits, ctx / SPLIT_MIN_LEN));
}

struct RowArgs {
    const float * q;
    const void * k;
    const void * v;
    float * out;
    float * part_o;   // [n * n_heads][splits][head_dim]
    float * part_ml;  // [n * n_heads][splits][2]: max, sum
    int64_t n, start_pos, n_heads, n_kv_heads, window;
    int head_dim, group, head_batches, splits;
    float scale, softcap;
    const int32_t * dev_pos;   // not NULL: start_pos is read from here (graph replay); start_pos bounds it
    int8_t * act_q;            // not NULL (head_dim % 32 == 0): out also converted to Q8 blocks where this kernel writes
                               // out (one split, or the merge with counters; a reduce kernel converts what it merges)
    q8_act_meta * act_meta;
    unsigned * counters;       // splits > 1: NULL, or one zeroed counter per (query row, KV head, head batch): the last
                               // split block to finish merges the splits (and leaves the counter zeroed)
    // RoPE and the KV write folded in (llmj_cuda_rope_attention; one query row): rk != NULL: q holds the row
    // unrotated, rk / rv its raw k and v; each block rotates its q heads in shared memory, and a block whose range
    // ends at the row's position rotates k and writes the position's K and V cache rows (rope_store_kv_kernel's
    // values) before it reads them. Blocks of one KV head that share that position write the same bits.
    const float * rk;
    const float * rv;
    const float * inv_freq;
    float pos_scale;
    int rope_half, neox;
};

template <typename T> static __device__ __forceinline__ T to_cache(float v);
template <> __device__ __forceinline__ __half to_cache<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ float to_cache<float>(float v) { return v; }

// Raw vectors of VEC cache elements: loaded in one instruction, widened to float later.
template <typename T, int VEC> struct RawVec;
template <> struct RawVec<__half, 4> {
    using raw = uint2;
    static __device__ __forceinline__ raw load(const __half * p) { return *reinterpret_cast<const uint2 *>(p); }
    static __device__ __forceinline__ raw zero() { return make_uint2(0, 0); }
    static __device__ __forceinline__ void widen(const raw & r, float (&f)[4]) {
        const float2 a = __half22float2(*reinterpret_cast<const __half2 *>(&r.x));
        const float2 b = __half22float2(*reinterpret_cast<const __half2 *>(&r.y));
        f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y;
    }
};
template <> struct RawVec<__half, 1> {
    using raw = __half;
    static __device__ __forceinline__ raw load(const __half * p) { return *p; }
    static __device__ __forceinline__ raw zero() { return __float2half(0.0f); }
    static __device__ __forceinline__ void widen(const raw & r, float (&f)[1]) { f[0] = __half2float(r); }
};
template <> struct RawVec<float, 4> {
    using raw = float4;
    static __device__ __forceinline__ raw load(const float * p) { return *reinterpret_cast<const float4 *>(p); }
    static __device__ __forceinline__ raw zero() { return make_float4(0, 0, 0, 0); }
    static __device__ __forceinline__ void widen(const raw & r, float (&f)[4]) { f[0] = r.x; f[1] = r.y; f[2] = r.z; f[3] = r.w; }
};
template <> struct RawVec<float, 1> {
    using raw = float;
    static __device__ __forceinline__ raw load(const float * p) { return *p; }
    static __device__ __forceinline__ raw zero() { return 0.0f; }
    static __device__ __forceinline__ void widen(const raw & r, float (&f)[1]) { f[0] = r; }
};

// Sums each of v[0..NV) over the warp; lane l returns the sum of v[l % NV] (NV a power of two <= 32).
// Costs (5 - log2 NV) * NV + NV - 1 shuffles instead of 5 * NV.
template <int NV> __device__ __forceinline__ float reduce_scatter(float (&v)[NV], int lane) {
    constexpr int LOG_NV = NV >= 32 ? 5 : NV >= 16 ? 4 : NV >= 8 ? 3 : NV >= 4 ? 2 : NV >= 2 ? 1 : 0;
#pragma unroll
    for (int k = 0; k < 5 - LOG_NV; k++) {
#pragma unroll
        for (int i = 0; i < NV; i++) v[i] += __shfl_xor_sync(0xffffffffu, v[i], 16 >> k);
    }
#pragma unroll
    for (int k = 1; k <= LOG_NV; k++) {
        const int s = NV >> k;
        const bool upper = (lane & s) != 0;
#pragma unroll
        for (int i = 0; i < NV / 2; i++) {   // constant trip count, so that v stays in registers
            if (i < s) {
                const float send = upper ? v[i] : v[i + s];
                const float keep = upper ? v[i + s] : v[i];
                v[i] = keep + __shfl_xor_sync(0xffffffffu, send, s);
            }
        }
    }
    return v[0];
}

// Reduces x over the lanes that hold the same head after reduce_scatter<NV> with R positions per head
// (lanes that differ in the low log2(R) bits or in the bits from log2(NV) up).
template <int NV, int R, typename Op> __device__ __forceinline__ float reduce_head(float x, Op op) {
#pragma unroll
    for (int off = 1; off < R; off <<= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, off));
#pragma unroll
    for (int off = NV; off < 32; off <<= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, off));
    return x;
}

// One block: query row t, KV head kvh, heads g0..g0+GB-1 of its group (clamped: a batch may hold
// duplicates that are computed and not stored), KV split s of `splits`. Per chunk of CH
// positions: (1) warp w scores positions w*R.., R at a time, the K loads of the next R rows in flight
// while the current ones are reduced; (2) after the block-wide max, the lanes that produced scores
// turn them into probabilities and add them to their running sums; (3) thread (pg, dv) adds p * V
// for VEC output elements and positions pg, pg + npg, ..., 8 V rows in flight.
// Shared memory (floats): q[GB][D] and p[GB][CH], later red[npg][GB][D]; wmax, wl [8][GB]. CH: positions per pass.
template <typename T, int VEC, int GB, int MINB, int CH = ROW_CHUNK>
__global__ void __launch_bounds__(ROW_THREADS, MINB) rows_kernel(RowArgs a) {
    pdl_wait();

    using RV = RawVec<T, VEC>;
    using raw = typename RV::raw;
    constexpr int R = GB <= 4 ? 8 : 4;           // positions a warp scores at once
    constexpr int NV = GB * R;                   // dot products a warp reduces at once (<= 32)
    constexpr int ITER = CH / (ROW_WARPS * R);
    constexpr int U = sizeof(T) == 2 ? 8 : 4;    // V rows in flight per thread
    extern __shared__ float smem[];
    const int D = a.head_dim;
    const int nvec = D / VEC;                    // D % VEC == 0 (dispatch)
    const int npg = ROW_THREADS / nvec;          // position groups in the P·V phase (D <= 256)
    const int nj = (nvec + 31) / 32;             // dimension passes per K row
    const int big = max(GB * D + GB * CH, npg * GB * D);
    float * sq = smem;
    float * sp = sq + GB * D;
    float * sred = smem;                         // after the loop
    float * wmax = smem + big;                   // [ROW_WARPS][GB]
    float * wl = wmax + ROW_WARPS * GB;          // [ROW_WARPS][GB]

    int64_t bid = blockIdx.x;
    const int s = (int) (bid % a.splits); bid /= a.splits;
    const int hb = (int) (bid % a.head_batches); bid /= a.head_batches;
    const int64_t kvh = bid % a.n_kv_heads;
    const int64_t t = bid / a.n_kv_heads;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g0 = hb * GB;

    const int64_t p0 = a.dev_pos ? (int64_t) *a.dev_pos : a.start_pos;
    const int splits = a.splits > 1 ? effective_splits(a.splits, p0, a.n, a.window) : 1;
    if (s >= splits) return;                     // a split this position does not use (the launch's bound has more)
    const int64_t pos = p0 + t;
    const int64_t first = first_visible(pos, a.window);
    const int64_t len = pos - first + 1;
    const int64_t lo = first + len * s / splits, hi = first + len * (s + 1) / splits;

    for (int i = tid; i < GB * D; i += ROW_THREADS) {
        const int g = min(g0 + i / D, a.group - 1);
        sq[i] = a.q[(t * a.n_heads + kvh * a.group + g) * D + i % D];
    }
    const int64_t kv_row = a.n_kv_heads * D;
    if (a.rk) {                                  // folded RoPE and KV write (one query row: t == 0)
        const int half = a.rope_half;
        __syncthreads();
        for (int p = tid; p < GB * half; p += ROW_THREADS) {
            const int g = p / half, i = p % half;
            const int i0 = a.neox ? i : 2 * i, i1 = a.neox ? i + half : 2 * i + 1;
            float r0, r1;
            rope_rotate(sq[g * D + i0], sq[g * D + i1], pos, a.pos_scale, a.inv_freq[i], r0, r1);
            sq[g * D + i0] = r0;
            sq[g * D + i1] = r1;
        }
        if (hi == pos + 1) {                     // this block scores the row's own position: its K and V rows first
            T * kw = const_cast<T *>(static_cast<const T *>(a.k)) + pos * kv_row + kvh * D;
            T * vw = const_cast<T *>(static_cast<const T *>(a.v)) + pos * kv_row + kvh * D;
            const float * kr = a.rk + kvh * D;
            for (int i = tid; i < half; i += ROW_THREADS) {
                const int i0 = a.neox ? i : 2 * i, i1 = a.neox ? i + half : 2 * i + 1;
                float r0, r1;
                rope_rotate(kr[i0], kr[i1], pos, a.pos_scale, a.inv_freq[i], r0, r1);
                kw[i0] = to_cache<T>(r0);
                kw[i1] = to_cache<T>(r1);
            }
            for (int d = tid; d < D; d += ROW_THREADS) {
                if (d >= 2 * half) kw[d] = to_cache<T>(kr[d]);   // not rotated (partial rotary)
                vw[d] = to_cache<T>(a.rv[kvh * D + d]);
            }
        }
    }
    const T * kb = static_cast<const T *>(a.k) + kvh * D;
    const T * vb = static_cast<const T *>(a.v) + kvh * D;
    const int pg = tid / nvec, dv = tid % nvec;
    const int my_idx = lane % NV, my_g = my_idx / R, my_r = my_idx % R;   // the score this lane ends up with
    const bool scorer = lane < NV;

    float acc[GB][VEC];
#pragma unroll
    for (int g = 0; g < GB; g++) {
#pragma unroll
        for (int e = 0; e < VEC; e++) acc[g][e] = 0.0f;
    }
    float m_run[GB];
#pragma unroll
    for (int g = 0; g < GB; g++) m_run[g] = -INFINITY;
    float lsum = 0.0f;   // scorer lanes: sum of head my_g's probabilities they produced
    __syncthreads();

    for (int64_t c0 = lo; c0 < hi; c0 += CH) {
        const int cnt = (int) min((int64_t) CH, hi - c0);
        // (1) scores
        const int steps = ITER * nj;
        auto load_k = [&](int step, raw (&dst)[R]) {
            const int cb = warp * R + (step / nj) * (ROW_WARPS * R);
            const int j = lane + 32 * (step % nj);
#pragma unroll
            for (int r = 0; r < R; r++) {
                dst[r] = cb + r < cnt && j < nvec ? RV::load(kb + (c0 + cb + r) * kv_row + j * VEC) : RV::zero();
            }
        };
        raw kc[R], kn[R];
        load_k(0, kc);
        float dot[NV];
#pragma unroll
        for (int i = 0; i < NV; i++) dot[i] = 0.0f;
        float lmax = -INFINITY;
        for (int step = 0; step < steps; step++) {
            const int cb = warp * R + (step / nj) * (ROW_WARPS * R);
            if (cb >= cnt) break;   // warp-uniform
            if (step + 1 < steps) load_k(step + 1, kn);
            const int j = lane + 32 * (step % nj);
            if (j < nvec) {
                float kf[R][VEC];
#pragma unroll
                for (int r = 0; r < R; r++) RV::widen(kc[r], kf[r]);
#pragma unroll
                for (int g = 0; g < GB; g++) {
                    float qf[VEC];
#pragma unroll
                    for (int e = 0; e < VEC; e++) qf[e] = sq[g * D + j * VEC + e];
#pragma unroll
                    for (int r = 0; r < R; r++) {
#pragma unroll
                        for (int e = 0; e < VEC; e++) dot[g * R + r] += qf[e] * kf[r][e];
                    }
                }
            }
            if (step % nj == nj - 1) {
                const float d = reduce_scatter<NV>(dot, lane);
                if (scorer && cb + my_r < cnt) {
                    float sc = d * a.scale;
                    if (a.softcap > 0.0f) sc = a.softcap * tanhf(sc / a.softcap);
                    sp[my_g * CH + cb + my_r] = sc;
                    lmax = fmaxf(lmax, sc);
                }
#pragma unroll
                for (int i = 0; i < NV; i++) dot[i] = 0.0f;
            }
#pragma unroll
            for (int r = 0; r < R; r++) kc[r] = kn[r];
        }
        lmax = reduce_head<NV, R>(lmax, [](float x, float y) { return fmaxf(x, y); });
        if (lane < NV && my_r == 0) wmax[warp * GB + my_g] = lmax;
        __syncthreads();
        // (2) new running max, probabilities, rescaling
        float corr[GB];
#pragma unroll
        for (int g = 0; g < GB; g++) {
            float mx = wmax[g];
#pragma unroll
            for (int w = 1; w < ROW_WARPS; w++) mx = fmaxf(mx, wmax[w * GB + g]);
            const float m_new = fmaxf(m_run[g], mx);
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;
            corr[g] = expf(m_run[g] - m_use);
            m_run[g] = m_new;
        }
        if (scorer) {
            float mg = 0.0f, cg = 0.0f;
#pragma unroll
            for (int g = 0; g < GB; g++) {
                if (g == my_g) { mg = m_run[g]; cg = corr[g]; }
            }
            lsum *= cg;
#pragma unroll
            for (int i = 0; i < ITER; i++) {
                const int c = warp * R + i * (ROW_WARPS * R) + my_r;
                if (c < cnt) {
                    const float e = expf(sp[my_g * CH + c] - mg);
                    sp[my_g * CH + c] = e;
                    lsum += e;
                }
            }
        }
#pragma unroll
        for (int g = 0; g < GB; g++) {
#pragma unroll
            for (int e = 0; e < VEC; e++) acc[g][e] *= corr[g];
        }
        __syncthreads();
        // (3) out += p · V
        if (pg < npg && pg < cnt) {
            const T * vp = vb + c0 * kv_row + dv * VEC;
            const int nu = (cnt - pg + npg - 1) / npg;
            raw vc[U], vn[U];
#pragma unroll
            for (int u = 0; u < U; u++) vc[u] = u < nu ? RV::load(vp + (int64_t) (pg + u * npg) * kv_row) : RV::zero();
            for (int u0 = 0; u0 < nu; u0 += U) {
                if (u0 + U < nu) {
#pragma unroll
                    for (int u = 0; u < U; u++) {
                        const int uu = u0 + U + u;
                        vn[u] = uu < nu ? RV::load(vp + (int64_t) (pg + uu * npg) * kv_row) : RV::zero();
                    }
                }
#pragma unroll
                for (int u = 0; u < U; u++) {
                    if (u0 + u < nu) {
                        const int c = pg + (u0 + u) * npg;
                        float vf[VEC];
                        RV::widen(vc[u], vf);
#pragma unroll
                        for (int g = 0; g < GB; g++) {
                            const float w = sp[g * CH + c];
#pragma unroll
                            for (int e = 0; e < VEC; e++) acc[g][e] += w * vf[e];
                        }
                    }
                }
#pragma unroll
                for (int u = 0; u < U; u++) vc[u] = vn[u];
            }
        }
        __syncthreads();
    }

    lsum = reduce_head<NV, R>(lsum, [](float x, float y) { return x + y; });
    if (lane < NV && my_r == 0) wl[warp * GB + my_g] = lsum;
    if (pg < npg) {
#pragma unroll
        for (int g = 0; g < GB; g++) {
#pragma unroll
            for (int e = 0; e < VEC; e++) sred[(pg * GB + g) * D + dv * VEC + e] = acc[g][e];
        }
    }
    __syncthreads();
    for (int i = tid; i < GB * D; i += ROW_THREADS) {
        const int g = i / D, d = i % D;
        if (g0 + g >= a.group) continue;
        float o = 0.0f, l = 0.0f;
        for (int p = 0; p < npg; p++) o += sred[(p * GB + g) * D + d];
#pragma unroll
        for (int w = 0; w < ROW_WARPS; w++) l += wl[w * GB + g];
        float m = -INFINITY;
#pragma unroll
        for (int gg = 0; gg < GB; gg++) {
            if (gg == g) m = m_run[gg];
        }
        const int64_t row = t * a.n_heads + kvh * a.group + g0 + g;
        if (splits == 1) {
            const float y = o / l;
            a.out[row * D + d] = y;
            if (a.act_q) {                       // whole warps here: D % 32 == 0, g uniform per warp
                const int64_t b0 = row * D + d - lane;
                warp_quantize_q8(y, a.act_q + b0, a.act_meta + b0 / 32);
            }
        } else {
            a.part_o[(row * a.splits + s) * D + d] = o;
            if (d == 0) {
                a.part_ml[(row * a.splits + s) * 2] = m;
                a.part_ml[(row * a.splits + s) * 2 + 1] = l;
            }
        }
    }
    if (splits == 1 || !a.counters) return;
    // The last of the row's split blocks to finish merges them (threadFenceReduction's pattern).
    __shared__ bool last;
    __threadfence();                             // this block's partials are visible before it is counted
    __syncthreads();
    const int64_t cid = blockIdx.x / a.splits;
    if (tid == 0) last = atomicAdd(a.counters + cid, 1u) == (unsigned) (splits - 1);
    __syncthreads();
    if (!last) return;
    __threadfence();
    float * w = smem;                            // [GB][MAX_SPLITS], then inv[GB] (the scores are done with)
    float * inv = smem + GB * MAX_SPLITS;
    if (warp < GB && g0 + warp < a.group) {
        const int64_t row = t * a.n_heads + kvh * a.group + g0 + warp;
        const float iv = merge_weights<true>(a.part_ml + row * a.splits * 2, splits, w + warp * MAX_SPLITS);
        if (lane == 0) inv[warp] = iv;
    }
    __syncthreads();
    for (int i = tid; i < GB * D; i += ROW_THREADS) {
        const int g = i / D, d = i % D;
        if (g0 + g >= a.group) continue;         // warp-uniform when D % 32 == 0
        const int64_t row = t * a.n_heads + kvh * a.group + g0 + g;
        const float y = merge_out<true>(a.part_o + row * a.splits * D, w + g * MAX_SPLITS, splits, D, d) * inv[g];
        a.out[row * D + d] = y;
        if (a.act_q) {
            const int64_t b0 = row * D + d - lane;
            warp_quantize_q8(y, a.act_q + b0, a.act_meta + b0 / 32);
        }
    }
    if (tid == 0) a.counters[cid] = 0;           // ready for the next call
}

// Merges the splits of one (query row, head) (merge_weights / merge_out).
// With act_q (head_dim a multiple of 32, 128 threads: warp w writes elements 32w .. 32w + 31 of a pass),
// each warp also converts its 32 outputs to a Q8 activation block (warp_quantize_q8: the quantizer's
// arithmetic), the input of the GPTQ-layout product that follows.
// Rows of `splits` partials each, of which the position uses effective_splits (one: the rows kernel wrote out).
__global__ void split_reduce_kernel(const float * part_o, const float * part_ml,
                                    float * __restrict__ out, int D, int splits, int8_t * __restrict__ act_q,
                                    q8_act_meta * __restrict__ act_meta, const int32_t * dev_pos, int64_t start_pos,
                                    int64_t n, int64_t window) {
    pdl_wait();

    const int used = effective_splits(splits, dev_pos ? (int64_t) *dev_pos : start_pos, n, window);
    if (used == 1) return;
    __shared__ float w[MAX_SPLITS];
    __shared__ float inv;
    const int64_t row = blockIdx.x;
    if (threadIdx.x < 32) {
        const float iv = merge_weights<false>(part_ml + row * splits * 2, used, w);
        if (threadIdx.x == 0) inv = iv;
    }
    __syncthreads();
    const float * po = part_o + row * splits * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float y = merge_out<false>(po, w, used, D, d) * inv;
        out[row * D + d] = y;
        if (act_q) {
            const int64_t b0 = row * D + d - threadIdx.x % 32;       // the warp's block
            warp_quantize_q8(y, act_q + b0, act_meta + b0 / 32);
        }
    }
}

// ---- tensor-core flash kernel (prefill) -------------------------------------------------------

constexpr int MMA_BR = 64;          // rows per block (16 per warp)
constexpr int MMA_THREADS = 128;
constexpr int MMA_MIN_ROWS = 16;    // queries per call from which prefill takes the tensor-core path

struct FlashArgs {
    const float * q;
    const void * k;
    const void * v;
    float * out;
    int64_t n, start_pos, n_heads, n_kv_heads, window;
    int group;
    float qscale;    // scale, times log2(e) when there is no soft-capping
    float softcap;
};

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const __half * p) {
    const unsigned a = (unsigned) __cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const __half * p) {
    const unsigned a = (unsigned) __cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

// c += a (16x16, row) * b (16x8, col); F16 inputs, F32 accumulators.
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void cp_async16(void * smem, const void * gmem) {
    const unsigned s = (unsigned) __cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

__device__ __forceinline__ uint32_t pack_half2(float x, float y) {
    const __half2 h = __floats2half2_rn(x, y);
    return *reinterpret_cast<const uint32_t *>(&h);
}

template <int D> __host__ __device__ constexpr int mma_bc() { return D <= 128 ? 64 : 32; }
template <int D> constexpr size_t mma_smem_bytes() { return (size_t) (MMA_BR + 2 * mma_bc<D>()) * (D + 8) * sizeof(__half); }

// Stages rows kv0..kv0+BC-1 of one KV head into shared memory as F16 (rows >= kv_hi are zeroed so
// that masked probabilities, 0, never meet uninitialised values).
template <typename T, int D, int BC>
__device__ __forceinline__ void stage_tile(__half * dst, const T * src, int64_t kv_row, int64_t kv0, int64_t kv_hi, int tid) {
    static_assert(sizeof(T) == 2, "the tensor-core kernel reads F16 caches");
    constexpr int SD = D + 8, CPR = D / 8;
#pragma unroll
    for (int c = tid; c < BC * CPR; c += MMA_THREADS) {
        const int r = c / CPR, cc = c % CPR;
        __half * d = dst + r * SD + cc * 8;
        const int64_t p = kv0 + r;
        if (p < kv_hi) {
            cp_async16(d, src + p * kv_row + cc * 8);
        } else {
            *reinterpret_cast<uint4 *>(d) = make_uint4(0, 0, 0, 0);
        }
    }
}

template <typename T, int D>
__global__ void __launch_bounds__(MMA_THREADS) flash_mma_kernel(FlashArgs a) {
    pdl_wait();

    constexpr int BC = mma_bc<D>();
    constexpr int SD = D + 8;          // padded row: ldmatrix rows fall on distinct banks
    constexpr int NT_S = BC / 8;       // S n-tiles per warp
    constexpr int KS_QK = D / 16;
    constexpr int NT_O = D / 8;
    constexpr int KS_PV = BC / 16;
    constexpr bool Q_IN_REGS = D <= 128;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    __half * sQ = reinterpret_cast<__half *>(smem_raw);
    __half * sK = sQ + MMA_BR * SD;
    __half * sV = sK + BC * SD;

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t G = a.group;
    const int64_t rows = a.n * G;
    const int64_t i0 = (int64_t) (gridDim.x - 1 - blockIdx.x) * MMA_BR;   // the longest tiles first
    const int64_t kvh = blockIdx.y;
    const int64_t kv_row = a.n_kv_heads * D;
    const T * kb = static_cast<const T *>(a.k) + kvh * D;
    const T * vb = static_cast<const T *>(a.v) + kvh * D;

    // Q tile (rows past the end repeat the last row and are not stored)
    for (int e = tid; e < MMA_BR * D / 2; e += MMA_THREADS) {
        const int r = e / (D / 2), d2 = e % (D / 2);
        const int64_t i = min(i0 + r, rows - 1);
        const int64_t t = i / G, g = i % G;
        const float2 x = *reinterpret_cast<const float2 *>(a.q + (t * a.n_heads + kvh * G + g) * D + 2 * d2);
        *reinterpret_cast<uint32_t *>(sQ + r * SD + 2 * d2) = pack_half2(x.x * a.qscale, x.y * a.qscale);
    }

    const int64_t i_last = min(i0 + MMA_BR - 1, rows - 1);
    const int64_t kv_lo = first_visible(a.start_pos + i0 / G, a.window);
    const int64_t kv_hi = a.start_pos + i_last / G + 1;
    int64_t row_lo[2], row_hi[2];   // visible positions of this thread's two rows
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int64_t i = min(i0 + warp * 16 + lane / 4 + 8 * j, rows - 1);
        row_hi[j] = a.start_pos + i / G;
        row_lo[j] = first_visible(row_hi[j], a.window);
    }

    stage_tile<T, D, BC>(sK, kb, kv_row, kv_lo, kv_hi, tid);
    cp_async_commit();
    __syncthreads();

    uint32_t qf[Q_IN_REGS ? KS_QK : 1][4];
    if constexpr (Q_IN_REGS) {
#pragma unroll
        for (int ks = 0; ks < KS_QK; ks++) ldmatrix_x4(qf[ks], sQ + (warp * 16 + lane % 16) * SD + ks * 16 + (lane / 16) * 8);
    }

    float o[NT_O][4];
#pragma unroll
    for (int dt = 0; dt < NT_O; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    const bool capped = a.softcap > 0.0f;
    const float inv_cap = capped ? 1.0f / a.softcap : 0.0f;

    for (int64_t kv0 = kv_lo; kv0 < kv_hi; kv0 += BC) {
        cp_async_wait_all();
        __syncthreads();                       // K tile in; every warp is done with the previous V tile
        stage_tile<T, D, BC>(sV, vb, kv_row, kv0, kv_hi, tid);
        cp_async_commit();

        float sacc[NT_S][4];
#pragma unroll
        for (int nt = 0; nt < NT_S; nt++) sacc[nt][0] = sacc[nt][1] = sacc[nt][2] = sacc[nt][3] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < KS_QK; ks++) {
            uint32_t af[4];
            if constexpr (Q_IN_REGS) {
                af[0] = qf[ks][0]; af[1] = qf[ks][1]; af[2] = qf[ks][2]; af[3] = qf[ks][3];
            } else {
                ldmatrix_x4(af, sQ + (warp * 16 + lane % 16) * SD + ks * 16 + (lane / 16) * 8);
            }
#pragma unroll
            for (int nt2 = 0; nt2 < NT_S / 2; nt2++) {
                uint32_t bf[4];
                ldmatrix_x4(bf, sK + (nt2 * 16 + lane % 8 + 8 * (lane / 16)) * SD + ks * 16 + 8 * ((lane / 8) % 2));
                mma_16816(sacc[2 * nt2], af, bf[0], bf[1]);
                mma_16816(sacc[2 * nt2 + 1], af, bf[2], bf[3]);
            }
        }

        // mask, soft-cap, online softmax (log2 domain)
        int lo_rel[2], hi_rel[2];
#pragma unroll
        for (int j = 0; j < 2; j++) {
            lo_rel[j] = (int) max(min(row_lo[j] - kv0, (int64_t) BC), (int64_t) -1);
            hi_rel[j] = (int) max(min(row_hi[j] - kv0, (int64_t) BC), (int64_t) -1);
        }
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < NT_S; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int j = e / 2, col = nt * 8 + 2 * (lane % 4) + (e % 2);
                float x = sacc[nt][e];
                if (capped) x = a.softcap * tanhf(x * inv_cap) * LOG2E;
                if (col < lo_rel[j] || col > hi_rel[j]) x = -INFINITY;
                sacc[nt][e] = x;
                mx[j] = fmaxf(mx[j], x);
            }
        }
        float corr[2], m_use[2];
#pragma unroll
        for (int j = 0; j < 2; j++) {
            mx[j] = fmaxf(mx[j], __shfl_xor_sync(0xffffffffu, mx[j], 1));
            mx[j] = fmaxf(mx[j], __shfl_xor_sync(0xffffffffu, mx[j], 2));
            const float m_new = fmaxf(m[j], mx[j]);
            m_use[j] = m_new == -INFINITY ? 0.0f : m_new;
            corr[j] = exp2f(m[j] - m_use[j]);
            m[j] = m_new;
        }
        float rs[2] = {0.0f, 0.0f};
#pragma unroll
        for (int nt = 0; nt < NT_S; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float p = exp2f(sacc[nt][e] - m_use[e / 2]);
                sacc[nt][e] = p;
                rs[e / 2] += p;
            }
        }
#pragma unroll
        for (int j = 0; j < 2; j++) l[j] = l[j] * corr[j] + rs[j];
#pragma unroll
        for (int dt = 0; dt < NT_O; dt++) {
            o[dt][0] *= corr[0]; o[dt][1] *= corr[0];
            o[dt][2] *= corr[1]; o[dt][3] *= corr[1];
        }

        cp_async_wait_all();
        __syncthreads();                       // V tile in; every warp is done with this K tile
        if (kv0 + BC < kv_hi) {
            stage_tile<T, D, BC>(sK, kb, kv_row, kv0 + BC, kv_hi, tid);
            cp_async_commit();
        }

#pragma unroll
        for (int kk = 0; kk < KS_PV; kk++) {
            uint32_t pa[4];
            pa[0] = pack_half2(sacc[2 * kk][0], sacc[2 * kk][1]);
            pa[1] = pack_half2(sacc[2 * kk][2], sacc[2 * kk][3]);
            pa[2] = pack_half2(sacc[2 * kk + 1][0], sacc[2 * kk + 1][1]);
            pa[3] = pack_half2(sacc[2 * kk + 1][2], sacc[2 * kk + 1][3]);
#pragma unroll
            for (int dt2 = 0; dt2 < NT_O / 2; dt2++) {
                uint32_t bf[4];
                ldmatrix_x4_trans(bf, sV + (kk * 16 + lane % 8 + 8 * ((lane / 8) % 2)) * SD + dt2 * 16 + 8 * (lane / 16));
                mma_16816(o[2 * dt2], pa, bf[0], bf[1]);
                mma_16816(o[2 * dt2 + 1], pa, bf[2], bf[3]);
            }
        }
    }

#pragma unroll
    for (int j = 0; j < 2; j++) {
        l[j] += __shfl_xor_sync(0xffffffffu, l[j], 1);
        l[j] += __shfl_xor_sync(0xffffffffu, l[j], 2);
        const int64_t i = i0 + warp * 16 + lane / 4 + 8 * j;
        if (i >= rows) continue;
        const int64_t t = i / G, g = i % G;
        float * dst = a.out + (t * a.n_heads + kvh * G + g) * D;
        const float inv = 1.0f / l[j];
#pragma unroll
        for (int dt = 0; dt < NT_O; dt++) {
            *reinterpret_cast<float2 *>(dst + dt * 8 + 2 * (lane % 4)) = make_float2(o[dt][2 * j] * inv, o[dt][2 * j + 1] * inv);
        }
    }
}

template <typename T, int D>
int launch_flash(const FlashArgs & a, cudaStream_t stream) {
    const size_t smem = mma_smem_bytes<D>();
    if (smem > 48 * 1024) {
        const cudaError_t err = cudaFuncSetAttribute(flash_mma_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
        if (err != cudaSuccess) {
            return llmj_internal_fail(LLMJ_ERR_CUDA, "llmj_cuda_attention", "%zu bytes of shared memory: %s", smem,
                                      cudaGetErrorString(err));
        }
    }
    const int64_t tiles = (a.n * a.group + MMA_BR - 1) / MMA_BR;
    if (tiles > INT32_MAX || a.n_kv_heads > 65535) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "attention grid too large (%lld tiles, %lld KV heads)", (long long) tiles,
                         (long long) a.n_kv_heads);
    }
    launch_pdl(flash_mma_kernel<T, D>, dim3((unsigned) tiles, (unsigned) a.n_kv_heads), MMA_THREADS, smem, stream, a);
    return llmj_cuda_check_launch("llmj_cuda_attention");
}

template <typename T>
int dispatch_flash(int64_t head_dim, const FlashArgs & a, cudaStream_t stream) {
    switch (head_dim) {
        case 64: return launch_flash<T, 64>(a, stream);
        case 80: return launch_flash<T, 80>(a, stream);
        case 96: return launch_flash<T, 96>(a, stream);
        case 128: return launch_flash<T, 128>(a, stream);
        case 256: return launch_flash<T, 256>(a, stream);
        default: return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "no tensor-core attention for head_dim %lld", (long long) head_dim);
    }
}

bool flash_head_dim(int64_t d) { return d == 64 || d == 80 || d == 96 || d == 128 || d == 256; }

// ---- short-context decode (one query row, F16 cache) --------------------------------------------
// Decode at a short context is a chain of dependent latencies, not DRAM traffic: rows_kernel waits for the q/k/v
// product, then reads q, the RoPE frequencies, the new row's k and v, the older K rows and the V rows one phase
// after another (H100, llama2-7b Q4_0: about 7.5 us of a token's 32 layers each, for 2 MB of KV per layer at 128
// positions). short_kernel (one block per head, the whole range [first, pos] in shared memory, at most SHORT_MAX
// positions) issues the loads of rows first .. pos - 1 with cp.async *before* pdl_wait, while the product still runs:
// those rows were written by kernels that have finished (an earlier token's attention or RoPE/KV-write kernel, or a
// prefill: every kernel before this one's predecessor has finished once this kernel is launched, launch_pdl's
// contract in common.cuh), and nothing running writes them; so was the position in dev_pos. After the wait one round of loads brings q and the
// position's own k and v (ROPE: rotated here, written to the cache and to shared memory with the bits
// rope_store_kv_kernel writes; otherwise read from the cache that kernel wrote); scores, softmax and P·V then run
// from shared memory. Float32 as rows_kernel, in another order (the same tolerance against the CPU).
// Grouped-query attention: still one block per query head, each loading its KV head's rows (the group's blocks read
// the same rows, from L2 after the first); with ROPE every block of a group rotates the shared k row itself (the same
// bits) and only the group's first block writes the position's k and v to the caches.
// Tried and dropped (2026-11-25, H100, tg128, same run, alternating): the kernel held to 32 registers
// (__launch_bounds__(256, 8); 8-92 bytes of spills), so that a 1024-thread o product block (56 registers for Q4_0) fits
// beside it on an SM and starts its weight loads before this kernel ends: Q4_0 593-596 against 620-622 t/s, Q4_K_M
// 547-548 against 557, Q8_0 372 against 377-378.
constexpr int SHORT_THREADS = 256;
constexpr int SHORT_WARPS = SHORT_THREADS / 32;
constexpr int SHORT_MAX = 256;   // positions (<= SHORT_THREADS: one probability per thread)
constexpr int SHORT_R = 16;      // positions a warp scores at once

struct ShortArgs {
    const float * q;
    __half * k;                  // caches (ROPE: the position's rows are written)
    __half * v;
    float * out;
    int8_t * act_q;              // not NULL: out also converted to Q8 blocks
    q8_act_meta * act_meta;
    int64_t start_pos, n_heads, window;
    int group;                   // query heads per KV head
    const int32_t * dev_pos;     // not NULL: the position (graph replay); start_pos bounds it
    float scale, softcap;
    int cap;                     // rows of shared memory per cache (>= the longest visible range)
    // ROPE: q, rk and rv hold the row's unrotated q, k and its v (llmj_cuda_rope_attention)
    const float * rk;
    const float * rv;
    const float * inv_freq;
    float pos_scale;
    int rope_half, neox;
};

size_t short_smem(int d, int cap) {
    const int npg = SHORT_THREADS / (d / 4);
    return (size_t) 2 * cap * d * sizeof(__half) + sizeof(float) * ((size_t) d + cap + (size_t) npg * d + 2 * SHORT_WARPS);
}

template <int D, bool ROPE>
__global__ void __launch_bounds__(SHORT_THREADS, 1) short_kernel(ShortArgs a) {
    static_assert(D == 64 || D == 96 || D == 128, "head_dim 64, 96 or 128");
    constexpr int VEC = D / 32;                  // dims per lane in the scores (96: lane l holds l, l + 32, l + 64)
    constexpr int NVEC = D / 4;                  // P·V: threads per row, 4 dims each
    constexpr int NPG = SHORT_THREADS / NVEC;    // P·V position groups (96: 10, threads 240.. idle)
    constexpr int PIECES = D * 2 / 16;           // 16-byte pieces per cache row
    extern __shared__ __align__(16) unsigned char short_smem_raw[];
    __half * sk = reinterpret_cast<__half *>(short_smem_raw);
    __half * sv = sk + (size_t) a.cap * D;
    float * sq = reinterpret_cast<float *>(sv + (size_t) a.cap * D);
    float * sp = sq + D;                         // [cap] scores, then probabilities
    float * sred = sp + a.cap;                   // [NPG][D]
    float * wred = sred + NPG * D;               // [2][SHORT_WARPS]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t h = blockIdx.x;
    const int64_t kvh = h / a.group;             // the block's KV head
    const bool writer = h % a.group == 0;        // ROPE: the block that writes the KV head's new row
    const int64_t kv_row = a.n_heads / a.group * D;
    const int64_t pos = a.dev_pos ? (int64_t) *a.dev_pos : a.start_pos;
    const int64_t first = first_visible(pos, a.window);
    const int len = (int) (pos - first + 1);     // <= cap (the host bounds it)
    const int last = len - 1;                    // the position's own row

    for (int i = tid; i < last * PIECES; i += SHORT_THREADS) {
        const int r = i / PIECES, c = i % PIECES;
        const int64_t g = (first + r) * kv_row + kvh * D + c * 8;
        cp_async16(sk + r * D + c * 8, a.k + g);
        cp_async16(sv + r * D + c * 8, a.v + g);
    }
    cp_async_commit();
    const int half = a.rope_half;
    const float inv = ROPE && tid < half ? a.inv_freq[tid] : 0.0f;   // constant input
    pdl_wait();

    __half * kw = a.k + pos * kv_row + kvh * D;
    __half * vw = a.v + pos * kv_row + kvh * D;
    if (ROPE) {
        const float * qr = a.q + h * D;
        const float * kr = a.rk + kvh * D;
        if (tid < half) {
            const int i0 = a.neox ? tid : 2 * tid, i1 = a.neox ? tid + half : 2 * tid + 1;
            const float q0 = qr[i0], q1 = qr[i1], k0 = kr[i0], k1 = kr[i1];
            float r0, r1;
            rope_rotate(q0, q1, pos, a.pos_scale, inv, r0, r1);
            sq[i0] = r0;
            sq[i1] = r1;
            rope_rotate(k0, k1, pos, a.pos_scale, inv, r0, r1);
            const __half h0 = __float2half_rn(r0), h1 = __float2half_rn(r1);
            if (writer) {
                kw[i0] = h0;
                kw[i1] = h1;
            }
            sk[last * D + i0] = h0;
            sk[last * D + i1] = h1;
        }
        for (int d = 2 * half + tid; d < D; d += SHORT_THREADS) {   // not rotated (partial rotary)
            sq[d] = qr[d];
            const __half hk = __float2half_rn(kr[d]);
            if (writer) kw[d] = hk;
            sk[last * D + d] = hk;
        }
        if (tid < D) {
            const __half hv = __float2half_rn(a.rv[kvh * D + tid]);
            if (writer) vw[tid] = hv;
            sv[last * D + tid] = hv;
        }
    } else if (tid < D) {
        sq[tid] = a.q[h * D + tid];
        sk[last * D + tid] = kw[tid];
        sv[last * D + tid] = vw[tid];
    }
    cp_async_wait_all();
    __syncthreads();

    // (1) scores: warp w takes the chunks of SHORT_R positions w, w + SHORT_WARPS, ...; lane l holds q[VEC l ..)
    float qf[VEC];
#pragma unroll
    for (int e = 0; e < VEC; e++) qf[e] = VEC == 3 ? sq[lane + 32 * e] : sq[VEC * lane + e];
    float lmax = -INFINITY;
    for (int c0 = warp * SHORT_R; c0 < len; c0 += SHORT_WARPS * SHORT_R) {
        float dot[SHORT_R];
#pragma unroll
        for (int r = 0; r < SHORT_R; r++) {
            dot[r] = 0.0f;
            if (c0 + r < len) {                  // warp-uniform
                const __half * kp = sk + (c0 + r) * D + (VEC == 3 ? lane : VEC * lane);
                if constexpr (VEC == 3) {        // dims lane, lane + 32, lane + 64
                    dot[r] = qf[0] * __half2float(kp[0]) + qf[1] * __half2float(kp[32]) + qf[2] * __half2float(kp[64]);
                } else if constexpr (VEC == 4) {
                    const uint2 raw = *reinterpret_cast<const uint2 *>(kp);
                    const float2 x = __half22float2(*reinterpret_cast<const __half2 *>(&raw.x));
                    const float2 y = __half22float2(*reinterpret_cast<const __half2 *>(&raw.y));
                    dot[r] = qf[0] * x.x + qf[1] * x.y + qf[2] * y.x + qf[3] * y.y;
                } else {
                    const float2 x = __half22float2(*reinterpret_cast<const __half2 *>(kp));
                    dot[r] = qf[0] * x.x + qf[1] * x.y;
                }
            }
        }
        const float d = reduce_scatter<SHORT_R>(dot, lane);   // lanes l and l + 16: position c0 + l % 16
        if (lane < SHORT_R && c0 + lane < len) {
            float sc = d * a.scale;
            if (a.softcap > 0.0f) sc = a.softcap * tanhf(sc / a.softcap);
            sp[c0 + lane] = sc;
            lmax = fmaxf(lmax, sc);
        }
    }
    lmax = warp_reduce_max(lmax);
    if (lane == 0) wred[warp] = lmax;
    __syncthreads();
    // (2) probabilities, one position per thread
    float m = wred[0];
#pragma unroll
    for (int w = 1; w < SHORT_WARPS; w++) m = fmaxf(m, wred[w]);
    float e = 0.0f;
    if (tid < len) {
        e = expf(sp[tid] - m);
        sp[tid] = e;
    }
    e = warp_reduce_sum(e);
    if (lane == 0) wred[SHORT_WARPS + warp] = e;
    __syncthreads();
    // (3) P·V: thread (pg, dv) sums positions pg, pg + NPG, ... for dims 4 dv .. 4 dv + 3
    const int pg = tid / NVEC, dv = tid % NVEC;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int j = pg; pg < NPG && j < len; j += NPG) {
        const float p = sp[j];
        const uint2 raw = *reinterpret_cast<const uint2 *>(sv + j * D + 4 * dv);
        const float2 x = __half22float2(*reinterpret_cast<const __half2 *>(&raw.x));
        const float2 y = __half22float2(*reinterpret_cast<const __half2 *>(&raw.y));
        acc[0] += p * x.x;
        acc[1] += p * x.y;
        acc[2] += p * y.x;
        acc[3] += p * y.y;
    }
    if (pg < NPG) {
#pragma unroll
        for (int i = 0; i < 4; i++) sred[pg * D + 4 * dv + i] = acc[i];
    }
    __syncthreads();
    if (tid < D) {                               // whole warps (D % 32 == 0)
        float l = 0.0f;
#pragma unroll
        for (int w = 0; w < SHORT_WARPS; w++) l += wred[SHORT_WARPS + w];
        float o = 0.0f;
#pragma unroll
        for (int p = 0; p < NPG; p++) o += sred[p * D + tid];
        const float y = o / l;
        a.out[h * D + tid] = y;
        if (a.act_q) {
            const int64_t b0 = h * D + tid - lane;
            warp_quantize_q8(y, a.act_q + b0, a.act_meta + b0 / 32);
        }
    }
}

// LLMJ_ATTN_SHORT=0 turns short_kernel off (a measurement knob; read once).
bool short_enabled() {
    static const int on = llmj_env_int("LLMJ_ATTN_SHORT", 0, 1, 1);
    return on != 0;
}

template <int D, bool ROPE>
int launch_short(const ShortArgs & a, cudaStream_t stream, const char * where) {
    const size_t smem = short_smem(D, a.cap);
    // The shared-memory limit raised on device i for SHORT_MAX rows, at the first launch whatever its size: that one
    // runs before a decode graph is recorded (CudaBackend's warm-up step), so recording calls no attribute setter.
    static bool raised[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64 || !raised[dev]) {
        const cudaError_t err = cudaFuncSetAttribute(short_kernel<D, ROPE>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                     (int) short_smem(D, SHORT_MAX));
        if (err != cudaSuccess) {
            return llmj_internal_fail(LLMJ_ERR_CUDA, where, "%zu bytes of shared memory: %s", smem, cudaGetErrorString(err));
        }
        if (dev >= 0 && dev < 64) raised[dev] = true;
    }
    launch_pdl(short_kernel<D, ROPE>, (unsigned) a.n_heads, SHORT_THREADS, smem, stream, a);
    return llmj_cuda_check_launch(where);
}

using RowKernel = void (*)(RowArgs);

// Resident blocks per SM the F16-cache kernel for one head per KV head (MHA) is compiled for: LLMJ_ATTN_MINB
// (2..4, default 3; a measurement knob). H100, llama2-7b Q4_0 tg128 at depth 4096, pairs of runs (t/s): 2: 338 /
// 341 / 341 / 345, 3: 343 / 347 / 347 / 345 (80 registers and 64 bytes of spills instead of 106 registers), 4: 313
// (64 registers, more spills). The grouped-query kernels stay at 2: at 3 the test_cuda_attention decode timing
// of an 8B GQA shape went from 20.5 to 27.2 us at 4096 positions (spills).
int attn_minb() {
    static const int m = llmj_env_int("LLMJ_ATTN_MINB", 2, 4, 3);
    return m;
}

// Positions the MHA F16-cache kernel scores per pass: LLMJ_ATTN_CHUNK (128, 256 or 512; default 128; a measurement
// knob). H100, llama2-7b Q4_0 tg128 at depth 4096, two rounds (t/s): 128: 353.7 / 357.2, 256: 349.7 / 353.6,
// 512: 348.4 / 348.7; tg128 at depth 0 the same within noise (521 / 514 against 522 / 512).
int attn_chunk() {
    static const int c = llmj_env_int("LLMJ_ATTN_CHUNK", 128, MAX_CHUNK, 128);
    return c == 256 || c == 512 ? c : 128;
}

// A rows kernel instance and the positions per pass (CH) it was built with (its shared memory depends on it).
struct RowPick {
    RowKernel kernel;
    int chunk;
};

template <typename T, int VEC>
RowPick pick_rows_gb(int gb) {
    switch (gb) {
        case 1:
            if constexpr (sizeof(T) == 2 && VEC == 4) {
                if (attn_minb() == 3) {
                    if (attn_chunk() == 256) return {rows_kernel<T, VEC, 1, 3, 256>, 256};
                    if (attn_chunk() == 512) return {rows_kernel<T, VEC, 1, 3, 512>, 512};
                    return {rows_kernel<T, VEC, 1, 3, 128>, 128};
                }
                if (attn_minb() == 4) return {rows_kernel<T, VEC, 1, 4>, ROW_CHUNK};
            }
            return {rows_kernel<T, VEC, 1, 2>, ROW_CHUNK};
        case 2: return {rows_kernel<T, VEC, 2, 2>, ROW_CHUNK};
        case 4: return {rows_kernel<T, VEC, 4, 2>, ROW_CHUNK};
        default: return {rows_kernel<T, VEC, 8, 2>, ROW_CHUNK};
    }
}

size_t rows_smem(int head_dim, int vec, int gb, int chunk) {
    const int npg = ROW_THREADS / (head_dim / vec);
    const int big = max(gb * head_dim + gb * chunk, npg * gb * head_dim);
    return sizeof(float) * ((size_t) big + 2 * ROW_WARPS * gb);
}

// Percent of one wave of resident blocks split-K decode aims for: LLMJ_ATTN_WAVE_PCT (10..800, default 100;
// a measurement knob). H100, llama2-7b Q4_0 tg128 at depth 4096 (t/s): 50% 297, 75% 331, 100% 340, 200% 320,
// 400% 296: one wave.
int wave_pct() {
    static const int w = llmj_env_int("LLMJ_ATTN_WAVE_PCT", 10, 800, 100);
    return w;
}

// Blocks of `k` (with `smem` bytes) resident per SM times the SM count, cached per (kernel, smem, device).
int64_t rows_capacity(RowKernel k, size_t smem) {
    struct Entry { RowKernel k; size_t smem; int dev; int64_t capacity; };
    static Entry cache[16];
    static int used = 0;
    static std::mutex lock;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 0;
    std::lock_guard<std::mutex> guard(lock);
    for (int i = 0; i < used; i++) {
        if (cache[i].k == k && cache[i].smem == smem && cache[i].dev == dev) return cache[i].capacity;
    }
    int sms = 0, per_sm = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess
            || cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, ROW_THREADS, smem) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    const Entry e = {k, smem, dev, (int64_t) sms * per_sm};
    cache[used < 16 ? used++ : (int) (e.capacity % 16)] = e;
    return e.capacity;
}

bool aligned(const void * p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

}  // namespace

extern "C" size_t llmj_cuda_attention_work_size(int64_t n, int64_t n_heads, int64_t head_dim) {
    if (n <= 0 || n > SPLIT_MAX_ROWS || n_heads <= 0 || head_dim <= 0) return 0;
    return (size_t) n * (size_t) n_heads * MAX_SPLITS * (size_t) (head_dim + 2) * sizeof(float);
}

namespace {

// CHECK_STREAM_ARGS and LLMJ_FAIL naming the entry point `where` the shared body runs for.
#define CHECK_ARGS_AT(where, cond, ...) \
    do { if (!(cond)) return llmj_internal_fail(LLMJ_ERR_INVALID_ARGUMENT, where, __VA_ARGS__); } while (0)

// RoPE and the KV write folded into the decode kernel (llmj_cuda_rope_attention), or none.
struct RopeFold {
    const float * k;
    const float * v;
    const float * inv_freq;
    float pos_scale;
    int half, neox;
};

int attention(const float * q, const void * k_cache, const void * v_cache, int cache_type, float * out, int64_t n,
              int64_t start_pos, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float softcap,
              int64_t window, const int32_t * dev_pos, void * work, size_t work_bytes, void * act, unsigned * counters,
              cudaStream_t s, const char * where, const RopeFold * rope = nullptr) {
    if (cache_type != LLMJ_TYPE_F32 && cache_type != LLMJ_TYPE_F16) {
        return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, where, "KV cache type %d (F32 and F16 are supported)", cache_type);
    }
    CHECK_ARGS_AT(where, n >= 0 && start_pos >= 0 && n_heads > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0 && head_dim > 0
                      && window >= 0 && softcap >= 0, "bad shape n=%lld pos=%lld heads=%lld kv_heads=%lld head_dim=%lld window=%lld",
                      (long long) n, (long long) start_pos, (long long) n_heads, (long long) n_kv_heads, (long long) head_dim,
                      (long long) window);
    if (head_dim > 256) {
        return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, where, "head_dim %lld > 256", (long long) head_dim);
    }
    if (n == 0) return LLMJ_OK;
    CHECK_ARGS_AT(where, q && k_cache && v_cache && out, "null device pointer");
    const bool f16 = cache_type == LLMJ_TYPE_F16;
    const int64_t group = n_heads / n_kv_heads;

    if (!rope && !dev_pos && f16 && n >= MMA_MIN_ROWS && flash_head_dim(head_dim) && aligned(q, 8) && aligned(out, 8) && aligned(k_cache, 16)
            && aligned(v_cache, 16)) {
        const FlashArgs a = {q, k_cache, v_cache, out, n, start_pos, n_heads, n_kv_heads, window, (int) group,
                             softcap > 0 ? scale : scale * LOG2E, softcap};
        const int rc = dispatch_flash<__half>(head_dim, a, s);
        if (rc != LLMJ_OK || !act) return rc;
        launch_quantize_q8_act(out, n_heads * head_dim, n, n_heads * head_dim, act, s);
        return llmj_cuda_check_launch(where);
    }

    const int64_t bound = window > 0 && window < start_pos + n ? window : start_pos + n;   // the longest visible range
    if (n == 1 && f16 && (head_dim == 64 || head_dim == 96 || head_dim == 128) && bound <= SHORT_MAX && short_enabled()
            && aligned(k_cache, 16) && aligned(v_cache, 16)) {
        ShortArgs a = {q, static_cast<__half *>(const_cast<void *>(k_cache)), static_cast<__half *>(const_cast<void *>(v_cache)),
                       out, static_cast<int8_t *>(act), nullptr, start_pos, n_heads, window, (int) group, dev_pos, scale,
                       softcap,
                       (int) ((bound + 15) / 16 * 16), nullptr, nullptr, nullptr, 0.0f, 0, 0};
        if (act) a.act_meta = reinterpret_cast<q8_act_meta *>(static_cast<char *>(act) + q8_act_meta_offset(n_heads * head_dim, 1));
        if (rope) {
            a.rk = rope->k;
            a.rv = rope->v;
            a.inv_freq = rope->inv_freq;
            a.pos_scale = rope->pos_scale;
            a.rope_half = rope->half;
            a.neox = rope->neox;
            return head_dim == 64 ? launch_short<64, true>(a, s, where)
                 : head_dim == 96 ? launch_short<96, true>(a, s, where) : launch_short<128, true>(a, s, where);
        }
        return head_dim == 64 ? launch_short<64, false>(a, s, where)
             : head_dim == 96 ? launch_short<96, false>(a, s, where) : launch_short<128, false>(a, s, where);
    }
    const int gb = group <= 1 ? 1 : group <= 2 ? 2 : group <= 4 ? 4 : 8;
    const int head_batches = (int) ((group + gb - 1) / gb);
    const int64_t base_blocks = n * n_kv_heads * head_batches;
    const bool vec4 = head_dim % 4 == 0 && aligned(k_cache, f16 ? 8 : 16) && aligned(v_cache, f16 ? 8 : 16);
    const RowPick pick = f16 ? (vec4 ? pick_rows_gb<__half, 4>(gb) : pick_rows_gb<__half, 1>(gb))
                             : (vec4 ? pick_rows_gb<float, 4>(gb) : pick_rows_gb<float, 1>(gb));
    const RowKernel kernel = pick.kernel;
    const size_t smem = rows_smem((int) head_dim, vec4 ? 4 : 1, gb, pick.chunk);
    int splits = 1;
    if (work && n <= SPLIT_MAX_ROWS && work_bytes >= llmj_cuda_attention_work_size(n, n_heads, head_dim)) {
        // one full wave of resident blocks, at least SPLIT_MIN_LEN positions per split
        const int64_t ctx = window > 0 && window < start_pos + n ? window : start_pos + n;   // the longest row
        const int64_t want = rows_capacity(kernel, smem) * wave_pct() / 100 / base_blocks;
        const int64_t by_len = ctx / SPLIT_MIN_LEN;
        splits = (int) max((int64_t) 1, min(min(want, by_len), (int64_t) MAX_SPLITS));
    }
    const int64_t blocks = base_blocks * splits;
    if (blocks > INT32_MAX) return llmj_internal_fail(LLMJ_ERR_UNSUPPORTED, where, "attention grid too large (%lld blocks)", (long long) blocks);
    float * part_o = static_cast<float *>(work);
    float * part_ml = part_o ? part_o + n * n_heads * splits * head_dim : nullptr;
    int8_t * act_q = static_cast<int8_t *>(act);
    q8_act_meta * act_meta = act ? reinterpret_cast<q8_act_meta *>(static_cast<char *>(act) + q8_act_meta_offset(n_heads * head_dim, n))
                                 : nullptr;
    const bool merge_in_kernel = splits > 1 && counters;
    const RowArgs a = {q, k_cache, v_cache, out, part_o, part_ml, n, start_pos, n_heads, n_kv_heads, window,
                       (int) head_dim, (int) group, head_batches, splits, scale, softcap, dev_pos,
                       act_q, act_meta,
                       merge_in_kernel ? counters : nullptr,
                       rope ? rope->k : nullptr, rope ? rope->v : nullptr, rope ? rope->inv_freq : nullptr,
                       rope ? rope->pos_scale : 0.0f, rope ? rope->half : 0, rope ? rope->neox : 0};
    launch_pdl(kernel, (unsigned) blocks, ROW_THREADS, smem, s, a);
    int rc = llmj_cuda_check_launch(where);
    if (rc != LLMJ_OK || splits == 1 || merge_in_kernel) return rc;
    launch_pdl(split_reduce_kernel, (unsigned) (n * n_heads), 128, 0, s, part_o, part_ml, out, (int) head_dim, splits,
               act_q, act_meta, dev_pos, start_pos, n, window);
    return llmj_cuda_check_launch(where);
}

}  // namespace

extern "C" int llmj_cuda_attention(const float * q, const void * k_cache, const void * v_cache, int cache_type, float * out,
                                   int64_t n, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                                   float scale, float softcap, int64_t window, const int32_t * dev_pos, void * work,
                                   size_t work_bytes, void * stream) {
    return attention(q, k_cache, v_cache, cache_type, out, n, start_pos, n_heads, n_kv_heads, head_dim, scale, softcap, window,
                     dev_pos, work, work_bytes, nullptr, nullptr, static_cast<cudaStream_t>(stream), __func__);
}

extern "C" int llmj_cuda_attention_q8(const float * q, const void * k_cache, const void * v_cache, int cache_type, float * out,
                                      int64_t n, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                                      float scale, float softcap, int64_t window, const int32_t * dev_pos, void * work,
                                      size_t work_bytes, void * act, uint32_t * counters, void * stream) {
    CHECK_STREAM_ARGS(head_dim % 32 == 0 && head_dim <= 256, "head_dim %lld is not a multiple of 32 up to 256", (long long) head_dim);
    CHECK_STREAM_ARGS(act && reinterpret_cast<uintptr_t>(act) % 16 == 0, "act %p is null or not 16-byte aligned", act);
    return attention(q, k_cache, v_cache, cache_type, out, n, start_pos, n_heads, n_kv_heads, head_dim, scale, softcap, window,
                     dev_pos, work, work_bytes, act, counters, static_cast<cudaStream_t>(stream), __func__);
}

extern "C" int llmj_cuda_rope_attention(const float * q, const float * k, const float * v, void * k_cache, void * v_cache,
                                        int cache_type, float * out, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads,
                                        int64_t head_dim, int64_t rope_dims, const float * inv_freq, float pos_scale, int neox,
                                        float scale, float softcap, int64_t window, const int32_t * dev_pos, void * work,
                                        size_t work_bytes, void * act, uint32_t * counters, void * stream) {
    CHECK_STREAM_ARGS(k && v && inv_freq, "null device pointer (k=%p v=%p inv_freq=%p)", (const void *) k, (const void *) v,
                      (const void *) inv_freq);
    CHECK_STREAM_ARGS(head_dim > 0 && rope_dims > 0 && rope_dims <= head_dim && rope_dims % 2 == 0,
                      "bad rope_dims %lld for head_dim %lld", (long long) rope_dims, (long long) head_dim);
    CHECK_STREAM_ARGS(!act || (head_dim % 32 == 0 && reinterpret_cast<uintptr_t>(act) % 16 == 0),
                      "act %p needs head_dim %lld a multiple of 32 and 16-byte alignment", act, (long long) head_dim);
    const RopeFold rope = {k, v, inv_freq, pos_scale, (int) (rope_dims / 2), neox ? 1 : 0};
    return attention(q, k_cache, v_cache, cache_type, out, 1, start_pos, n_heads, n_kv_heads, head_dim, scale, softcap, window,
                     dev_pos, work, work_bytes, act, act ? counters : nullptr, static_cast<cudaStream_t>(stream), __func__, &rope);
}
