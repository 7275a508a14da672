// Matrix-vector products on the GPU: F32, F16 and BF16 weights times float32 activations (this file),
// and the C entry points llmj_cuda_matvec / llmj_cuda_matmul, which also dispatch the 32-element block
// types (activation conversion: quantize.cu; block kernels: matvec_q.cu).
// kernel -> launcher -> C entry point, as in ggml-cuda. CPU references: src/cpu/matvec.c (float types,
// float32 x) and src/cpu/matvec_q.c (block types), plus the Java reference in the tests.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"
#include "matvec_q.cuh"
#include "kquants.cuh"

namespace {

constexpr int WARP = 32;
constexpr int WARPS = 4;      // warps per thread block
constexpr int ROWS = 2;       // rows per warp in the wide kernel (each x vector read serves both)
constexpr int ROWS_PER_BLOCK = 4;   // scalar fallback: one warp per row

// ---- wide kernel: 16-byte loads ----------------------------------------------------------------
// Row base, row stride and x 16-byte aligned. Lane l reads 16-byte vectors l, l + 32, ... of each of
// its warp's rows (four vectors per row in flight per iteration), the matching x as float4, and the
// remaining cols % (elements per vector) elements one by one; a warp reduction gives each row.
template <int TYPE> struct fvec;
template <> struct fvec<LLMJ_TYPE_F32> {
    static constexpr int N = 4;
    static __device__ __forceinline__ float dot(const uint4 v, const float4 * x) {
        const float4 a = x[0];
        return __uint_as_float(v.x) * a.x + __uint_as_float(v.y) * a.y + __uint_as_float(v.z) * a.z
             + __uint_as_float(v.w) * a.w;
    }
};
template <> struct fvec<LLMJ_TYPE_F16> {
    static constexpr int N = 8;
    static __device__ __forceinline__ float2 h2(uint32_t u) {
        __half2 h;
        memcpy(&h, &u, 4);
        return __half22float2(h);
    }
    static __device__ __forceinline__ float dot(const uint4 v, const float4 * x) {
        const float4 a = x[0], b = x[1];
        const float2 w0 = h2(v.x), w1 = h2(v.y), w2 = h2(v.z), w3 = h2(v.w);
        return w0.x * a.x + w0.y * a.y + w1.x * a.z + w1.y * a.w + w2.x * b.x + w2.y * b.y + w3.x * b.z + w3.y * b.w;
    }
};
template <> struct fvec<LLMJ_TYPE_BF16> {
    static constexpr int N = 8;
    static __device__ __forceinline__ float lo(uint32_t u) { return __uint_as_float(u << 16); }
    static __device__ __forceinline__ float hi(uint32_t u) { return __uint_as_float(u & 0xFFFF0000u); }
    static __device__ __forceinline__ float dot(const uint4 v, const float4 * x) {
        const float4 a = x[0], b = x[1];
        return lo(v.x) * a.x + hi(v.x) * a.y + lo(v.y) * a.z + hi(v.y) * a.w + lo(v.z) * b.x + hi(v.z) * b.y
             + lo(v.w) * b.z + hi(v.w) * b.w;
    }
};

static __device__ __forceinline__ float plain_elem(int type, const char * row, int64_t i) {
    if (type == LLMJ_TYPE_F32) return reinterpret_cast<const float *>(row)[i];
    if (type == LLMJ_TYPE_F16) return __half2float(reinterpret_cast<const __half *>(row)[i]);
    return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(row)[i]);
}

// Up to MAX_PARTS matrices sharing x (q/k/v, gate/up) in one launch: thread blocks [end[k-1], end[k]) work
// on part k. KS warps of a block share its rows and split each row's vectors (KS = 1: a warp owns its
// rows), adding their sums through shared memory in a fixed order. The first weight loads are issued
// before the wait for the kernel that wrote x (programmatic launch).
constexpr int MAX_PARTS = 4;
struct fpart {
    const char * w;
    float * y;
    int64_t rows;
};
struct fparts {
    fpart p[MAX_PARTS];
    unsigned end[MAX_PARTS];       // cumulative thread-block counts
    int count;
};

template <int TYPE, int KS>
__global__ void __launch_bounds__(WARPS * WARP)
matvec_float_wide_kernel(const fparts parts, size_t row_bytes, const float * x, int64_t cols) {
    constexpr int N = fvec<TYPE>::N;
    constexpr int KG = WARP * KS;                      // lanes sharing a row
    constexpr int U = 4;                               // vectors per row in flight per lane
    unsigned base;
    const auto P = launch_part(parts.p, parts.end, parts.count, base);
    const unsigned blk = blockIdx.x - base;
    const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    const int64_t rows = P.rows;
    const int64_t row0 = (int64_t) blk * (ROWS * (WARPS / KS)) + (KS == 1 ? warp * ROWS : 0);
    if (row0 >= rows) return;                          // KS > 1: the whole block returns together
    const int kl = KS == 1 ? lane : warp * WARP + lane;
    const uint4 * wr[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        wr[r] = reinterpret_cast<const uint4 *>(P.w + (row0 + r < rows ? row0 + r : row0) * row_bytes);
    }
    const float4 * xv = reinterpret_cast<const float4 *>(x);
    const int64_t nvec = cols / N;
    float acc[ROWS] = {};
    bool waited = false;
    int64_t i = kl;
    for (; i + (U - 1) * KG < nvec; i += U * KG) {
        uint4 v[ROWS][U];
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
#pragma unroll
            for (int u = 0; u < U; u++) v[r][u] = __ldcs(wr[r] + i + u * KG);
        }
        if (!waited) {                                 // weights in flight: now wait for x
            pdl_wait();
            waited = true;
        }
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
#pragma unroll
            for (int u = 0; u < U; u++) acc[r] += fvec<TYPE>::dot(v[r][u], xv + (i + u * KG) * (N / 4));
        }
    }
    pdl_wait();
    for (; i < nvec; i += KG) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) acc[r] += fvec<TYPE>::dot(__ldcs(wr[r] + i), xv + i * (N / 4));
    }
    for (int64_t c = nvec * N + kl; c < cols; c += KG) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) acc[r] += plain_elem(TYPE, reinterpret_cast<const char *>(wr[r]), c) * x[c];
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) acc[r] = warp_reduce_sum(acc[r]);
    float * y = P.y;
    if (KS == 1) {
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < ROWS; r++) {
                if (row0 + r < rows) y[row0 + r] = acc[r];
            }
        }
    } else {
        __shared__ float red[KS][ROWS];
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < ROWS; r++) red[warp][r] = acc[r];
        }
        __syncthreads();
        if (threadIdx.x < ROWS && row0 + threadIdx.x < rows) {
            float s = red[0][threadIdx.x];
#pragma unroll
            for (int w = 1; w < KS; w++) s += red[w][threadIdx.x];
            y[row0 + threadIdx.x] = s;
        }
    }
}

// ---- scalar fallback (any alignment) ---------------------------------------------------------------
// One warp computes one row: lanes stride over the columns, then a warp-shuffle reduction.
template <int TYPE>
__global__ void matvec_float_kernel(const char * __restrict__ w, size_t row_bytes, const float * x,
                                    float * __restrict__ y, int64_t rows, int64_t cols) {
    pdl_wait();

    const int64_t row = (int64_t) blockIdx.x * ROWS_PER_BLOCK + threadIdx.y;
    if (row >= rows) return;
    const char * wr = w + row * row_bytes;
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += WARP) sum += plain_elem(TYPE, wr, c) * x[c];
    sum = warp_reduce_sum(sum);
    if (threadIdx.x == 0) y[row] = sum;
}

// ---- launcher -------------------------------------------------------------------------------
// KS of the wide kernel: LLMJ_MATVEC_KS=1 or 4 (measurements; read once), default 4.
int wide_ks() {
    static const int ks = llmj_env_int("LLMJ_MATVEC_KS", 1, 1, WARPS);   // 1, or anything else: WARPS
    return ks;
}

// The products of count matrices sharing x (16-byte aligned weights, rows and x: the wide kernel).
template <int TYPE>
void launch_wide(fparts parts, size_t row_bytes, const float * x, int64_t cols, cudaStream_t stream) {
    const int ks = wide_ks();
    const int rpb = ROWS * (WARPS / ks);
    unsigned total = 0;
    for (int k = 0; k < parts.count; k++) {
        total += (unsigned) ((parts.p[k].rows + rpb - 1) / rpb);
        parts.end[k] = total;
    }
    if (ks == 1) {
        launch_pdl(matvec_float_wide_kernel<TYPE, 1>, total, WARPS * WARP, 0, stream, parts, row_bytes, x, cols);
    } else {
        launch_pdl(matvec_float_wide_kernel<TYPE, WARPS>, total, WARPS * WARP, 0, stream, parts, row_bytes, x, cols);
    }
}

template <int TYPE>
void launch_float(const char * w, size_t row_bytes, const float * x, float * y, int64_t rows, int64_t cols,
                  cudaStream_t stream) {
    const bool wide = reinterpret_cast<uintptr_t>(w) % 16 == 0 && row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
    if (wide) {
        fparts parts = {};
        parts.count = 1;
        parts.p[0] = {w, y, rows};
        launch_wide<TYPE>(parts, row_bytes, x, cols, stream);
    } else {
        const dim3 block(WARP, ROWS_PER_BLOCK);
        const dim3 grid((unsigned) ((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK));
        launch_pdl(matvec_float_kernel<TYPE>, grid, block, 0, stream, w, row_bytes, x, y, rows, cols);
    }
}

void launch_matvec(int type, const void * w, size_t row_bytes, const float * x, float * y,
                   int64_t rows, int64_t cols, cudaStream_t stream) {
    const char * wb = static_cast<const char *>(w);
    if (type == LLMJ_TYPE_F32) {
        launch_float<LLMJ_TYPE_F32>(wb, row_bytes, x, y, rows, cols, stream);
    } else if (type == LLMJ_TYPE_F16) {
        launch_float<LLMJ_TYPE_F16>(wb, row_bytes, x, y, rows, cols, stream);
    } else {
        launch_float<LLMJ_TYPE_BF16>(wb, row_bytes, x, y, rows, cols, stream);
    }
}

}  // namespace

extern "C" size_t llmj_cuda_matmul_work_size(int type, int64_t cols, int64_t n) {
    if (llmj_cuda_is_kquant(type)) return llmj_cuda_kquant_work_size(type, cols, n);
    if (llmj_cuda_type_ok(type) && type != LLMJ_TYPE_F32 && type != LLMJ_TYPE_F16 && type != LLMJ_TYPE_BF16
        && cols > 0 && cols % 32 == 0 && n > 0) {
        return q8_act_bytes(cols, n);
    }
    return 0;
}

extern "C" int llmj_cuda_matmul(int type, const void * w, size_t row_bytes, const float * x, float * y, int64_t rows,
                                int64_t cols, int64_t n, void * work, size_t work_bytes, void * stream) {
    if (!llmj_cuda_type_ok(type)) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d has no CUDA kernel", type);
    }
    if (llmj_cuda_is_kquant(type)) {
        return llmj_cuda_kquant_matmul(type, w, row_bytes, x, y, rows, cols, n, work, work_bytes, static_cast<cudaStream_t>(stream));
    }
    CHECK_STREAM_ARGS(rows > 0 && cols > 0 && n >= 0 && rows <= 0x7FFFFFFFLL && cols <= 0x7FFFFFFFLL,
                      "bad shape rows=%lld cols=%lld n=%lld", (long long) rows, (long long) cols, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(w && x && y, "null device pointer");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool plain = type == LLMJ_TYPE_F32 || type == LLMJ_TYPE_F16 || type == LLMJ_TYPE_BF16;
    if (plain) {
        const size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
        CHECK_STREAM_ARGS(row_bytes >= (size_t) cols * elem && row_bytes % elem == 0,
                          "row_bytes %zu must be a multiple of %zu and at least cols %lld x %zu", row_bytes, elem,
                          (long long) cols, elem);
        for (int64_t t = 0; t < n; t++) {
            launch_matvec(type, w, row_bytes, x + t * cols, y + t * rows, rows, cols, s);
        }
        return llmj_cuda_check_launch(__func__);
    }
    CHECK_STREAM_ARGS(cols % 32 == 0, "cols %lld is not a multiple of 32", (long long) cols);
    const size_t min_row = (size_t) (cols / 32) * (size_t) llmj_type_block_bytes(type);
    CHECK_STREAM_ARGS(row_bytes >= min_row, "row_bytes %zu < %zu bytes of %lld blocks", row_bytes, min_row,
                      (long long) (cols / 32));
    const size_t need = llmj_cuda_matmul_work_size(type, cols, n);
    CHECK_STREAM_ARGS(work && work_bytes >= need, "work buffer of %zu bytes, %zu needed", work_bytes, need);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(work) % 16 == 0, "work buffer %p is not 16-byte aligned", work);
    launch_quantize_q8_act(x, cols, n, cols, work, s);
    launch_matvec_q(type, w, row_bytes, work, y, rows, rows, cols, n, s);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_matmul_multi(int type, int count, const void * const * ws, const int64_t * rows, size_t row_bytes,
                                      const float * x, float * const * ys, int64_t cols, int64_t n, void * stream) {
    if (type != LLMJ_TYPE_F32 && type != LLMJ_TYPE_F16 && type != LLMJ_TYPE_BF16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d: shared-input products take F32, F16 or BF16", type);
    }
    CHECK_STREAM_ARGS(count >= 1 && count <= MAX_PARTS, "count %d is not 1..%d", count, MAX_PARTS);
    CHECK_STREAM_ARGS(ws && rows && ys, "null weight, row-count or output array");
    CHECK_STREAM_ARGS(cols > 0 && cols <= 0x7FFFFFFFLL && n >= 0, "bad shape cols=%lld n=%lld", (long long) cols, (long long) n);
    const size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
    CHECK_STREAM_ARGS(row_bytes >= (size_t) cols * elem && row_bytes % elem == 0,
                      "row_bytes %zu must be a multiple of %zu and at least cols %lld x %zu", row_bytes, elem,
                      (long long) cols, elem);
    bool aligned = row_bytes % 16 == 0;
    for (int k = 0; k < count; k++) {
        CHECK_STREAM_ARGS(rows[k] > 0 && rows[k] <= 0x7FFFFFFFLL, "bad row count %lld of matrix %d", (long long) rows[k], k);
        CHECK_STREAM_ARGS(ws[k] && ys[k], "null device pointer of matrix %d", k);
        aligned = aligned && reinterpret_cast<uintptr_t>(ws[k]) % 16 == 0;
    }
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x, "null input pointer");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    for (int64_t t = 0; t < n; t++) {
        const float * xt = x + t * cols;
        if (aligned && reinterpret_cast<uintptr_t>(xt) % 16 == 0) {   // llmj_cuda_matmul's choice, for all at once
            fparts parts = {};
            parts.count = count;
            for (int k = 0; k < count; k++) {
                parts.p[k] = {static_cast<const char *>(ws[k]), ys[k] + t * rows[k], rows[k]};
            }
            if (type == LLMJ_TYPE_F32) launch_wide<LLMJ_TYPE_F32>(parts, row_bytes, xt, cols, s);
            else if (type == LLMJ_TYPE_F16) launch_wide<LLMJ_TYPE_F16>(parts, row_bytes, xt, cols, s);
            else launch_wide<LLMJ_TYPE_BF16>(parts, row_bytes, xt, cols, s);
        } else {
            for (int k = 0; k < count; k++) launch_matvec(type, ws[k], row_bytes, xt, ys[k] + t * rows[k], rows[k], cols, s);
        }
    }
    return llmj_cuda_check_launch(__func__);
}

// ---- entry point ----------------------------------------------------------------------------
extern "C" int llmj_cuda_matvec(int type, const void * w, size_t row_bytes, const float * x,
                                float * y, int64_t rows, int64_t cols, void * stream) {
    if (type != LLMJ_TYPE_F32 && type != LLMJ_TYPE_F16 && type != LLMJ_TYPE_BF16) {
        return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "weight type %d is not supported (F32=0, F16=1, BF16=30 are)", type);
    }
    if (rows < 0 || cols < 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "negative shape rows=%lld cols=%lld",
                         (long long) rows, (long long) cols);
    }
    if (rows == 0) return LLMJ_OK;
    if (!w || !x || !y) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "null device pointer (w=%p x=%p y=%p)",
                         w, (const void *) x, (void *) y);
    }
    const size_t elem = type == LLMJ_TYPE_F32 ? 4 : 2;
    if (row_bytes < (size_t) cols * elem || row_bytes % elem != 0) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT,
                         "row_bytes %zu must be a multiple of %zu and at least cols %lld x %zu",
                         row_bytes, elem, (long long) cols, elem);
    }
    if ((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK > 0x7FFFFFFFLL) {
        return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "too many rows (%lld)", (long long) rows);
    }
    launch_matvec(type, w, row_bytes, x, y, rows, cols, static_cast<cudaStream_t>(stream));
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_matmul_kquant_shared(int count, const int * types, const void * const * ws, const size_t * row_bytes,
                                              const int64_t * rows, const float * x, float * const * ys, int64_t cols,
                                              int64_t n, void * work, size_t work_bytes, void * stream) {
    CHECK_STREAM_ARGS(count >= 1 && count <= 4, "count %d is not 1..4", count);
    CHECK_STREAM_ARGS(types && ws && row_bytes && rows && ys, "null array");
    for (int k = 0; k < count; k++) {
        if (!llmj_cuda_is_kquant(types[k])) {
            return LLMJ_FAIL(LLMJ_ERR_UNSUPPORTED, "matrix %d: type %d is not a K-quant (Q2_K..Q6_K, IQ4_XS)", k, types[k]);
        }
    }
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    int st = llmj_cuda_kquant_quantize_q8k(x, cols, n, work, work_bytes, s);
    for (int k = 0; k < count && st == LLMJ_OK; k++) {
        st = llmj_cuda_kquant_matmul_preq(types[k], ws[k], row_bytes[k], work, ys[k], rows[k], cols, n, s);
    }
    return st;
}
