// RMSNorm on the GPU: one block per row; sum of squares in float, block-reduced. Fused variants
// (llmj_cuda_rms_norm_fused) add a residual first (x += y) and/or convert each output row to the Q8
// activation blocks of the GPTQ kernels (llmj_cuda_rms_norm_q8k: to the Q8_K arrays of repacked K-quant
// products): the same kernel with the parts switched on, so the values are those of llmj_cuda_add,
// llmj_cuda_rms_norm and the activation conversion run one after another.
// CPU reference: src/cpu/norm.c.
#include "kquants.cuh"
#include "matvec_q.cuh"

namespace {

// One row per block: decode normalises a single row, so the whole row is spread over 1024 threads (with 256,
// the one block of a 4096-wide row, and the conversion it carries, took several microseconds). A row shared by
// a cluster of 8 thread blocks (partial sums through distributed shared memory) was slower in the decode graph
// (H100, Q4_0 tg128: 484 against 491 t/s, same run), although ncu times this kernel alone at about 6 us.
constexpr int THREADS = 1024;
// Also tried (H100, llama2-7b tg128, same run, 3 rounds): four consecutive values per thread, so that eight lanes
// convert a block with three shuffle steps per reduction and a 4096-wide row takes one conversion chain instead of
// four: Q4_0 579-583 against 576-582 t/s, Q4_K_M 490-493 against 488-490, Q8_0 362 both: within the noise, like
// glu_q8k_kernel's variants (elementwise.cu): the kernel's cost is its place in the chain (common.cuh).


// Thread i handles elements i, i + THREADS, ...: warp w's elements of one pass are the 32-aligned block
// (pass * THREADS + 32 w) / 32, which is what lets a warp convert a block (dim a multiple of 32). Rows of up
// to THREADS * PER elements stay in registers: all their loads are issued at once (a loop that loads, then
// uses, pays one memory latency per pass, several microseconds per row), and the output pass reads no memory.
constexpr int PER = 8;

// Q8K (dim a multiple of 256, at most THREADS * PER): the output row also goes to shared memory, and after the
// row is done each warp converts 256-value blocks of it to the Q8_K arrays at aq / kd / kbs (kquants.cuh).
template <bool RESID, bool Q8, bool Q8K = false>
__global__ void __launch_bounds__(THREADS, 1) rms_norm_kernel(float * x, const float * y,
                                                          const float * __restrict__ w, float w_offset,
                                                          float * __restrict__ out, int64_t dim, float eps,
                                                          int8_t * __restrict__ aq, q8_act_meta * __restrict__ am,
                                                          float * __restrict__ kd, int16_t * __restrict__ kbs) {
    pdl_wait();
    const int64_t row = blockIdx.x;
    float * xr = x + row * dim;
    float * o = out + row * dim;
    __shared__ float partial[THREADS / 32];
    auto block_sum = [&](float ss) {
        ss = warp_reduce_sum(ss);
        if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
        __syncthreads();
        if (threadIdx.x < 32) {
            float v = threadIdx.x < THREADS / 32 ? partial[threadIdx.x] : 0.0f;
            v = warp_reduce_sum(v);
            if (threadIdx.x == 0) partial[0] = v;
        }
        __syncthreads();
        return partial[0];
    };
    __shared__ float rowbuf[Q8K ? THREADS * PER : 1];
    auto emit = [&](int64_t i, float v) {
        o[i] = v;
        if (Q8K) rowbuf[i] = v;
        if (Q8) {
            const int64_t b = (row * dim + i) / 32;     // this warp's block (whole warps: dim % 32 == 0)
            warp_quantize_q8(v, aq + b * 32, am + b);
        }
    };
    if (dim <= (int64_t) THREADS * PER) {
        float v[PER], g[PER];
#pragma unroll
        for (int k = 0; k < PER; k++) {
            const int64_t i = threadIdx.x + (int64_t) k * THREADS;
            v[k] = 0.0f;
            g[k] = 0.0f;
            if (i < dim) {
                v[k] = xr[i];
                if (RESID) v[k] += y[row * dim + i];
                g[k] = w[i];
            }
        }
        float ss = 0.0f;
#pragma unroll
        for (int k = 0; k < PER; k++) {
            const int64_t i = threadIdx.x + (int64_t) k * THREADS;
            if (i < dim) {
                if (RESID) xr[i] = v[k];
                ss += v[k] * v[k];
            }
        }
        const float scale = rsqrtf(block_sum(ss) / (float) dim + eps);
#pragma unroll
        for (int k = 0; k < PER; k++) {
            const int64_t i = threadIdx.x + (int64_t) k * THREADS;
            if (i < dim) emit(i, v[k] * scale * (g[k] + w_offset));
        }
        if (Q8K) {
            __syncthreads();
            const int lane = threadIdx.x % 32;
            const int64_t nsb = dim / 256;
            for (int64_t blk = threadIdx.x / 32; blk < nsb; blk += THREADS / 32) {
                float q[8];
#pragma unroll
                for (int k = 0; k < 8; k++) q[k] = rowbuf[blk * 256 + 8 * lane + k];
                warp_quantize_q8k(q, aq + row * dim + blk * 256 + 8 * lane, kd + row * nsb + blk, kbs + (row * nsb + blk) * 16);
            }
        }
        return;
    }
    float ss = 0.0f;                                   // longer rows: the same sums, looping
    for (int64_t i = threadIdx.x; i < dim; i += THREADS) {
        float v = xr[i];
        if (RESID) {
            v += y[row * dim + i];
            xr[i] = v;
        }
        ss += v * v;
    }
    const float scale = rsqrtf(block_sum(ss) / (float) dim + eps);
    for (int64_t i = threadIdx.x; i < dim; i += THREADS) emit(i, xr[i] * scale * (w[i] + w_offset));
}

}  // namespace

extern "C" int llmj_cuda_rms_norm(const float * x, const float * w, float w_offset, float * out, int64_t dim, int64_t n,
                                  float eps, void * stream) {
    CHECK_STREAM_ARGS(dim > 0 && n >= 0 && n < 0x7FFFFFFF, "bad shape dim=%lld n=%lld", (long long) dim, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && w && out, "null device pointer");
    launch_pdl(rms_norm_kernel<false, false>, (unsigned) n, THREADS, 0, static_cast<cudaStream_t>(stream), 
        const_cast<float *>(x), nullptr, w, w_offset, out, dim, eps, nullptr, nullptr, nullptr, nullptr);
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_rms_norm_fused(float * x, const float * y, const float * w, float w_offset, float * out,
                                        int64_t dim, int64_t n, float eps, void * act, void * stream) {
    CHECK_STREAM_ARGS(dim > 0 && n >= 0 && n < 0x7FFFFFFF, "bad shape dim=%lld n=%lld", (long long) dim, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && w && out, "null device pointer");
    CHECK_STREAM_ARGS(!act || dim % 32 == 0, "dim %lld is not a multiple of 32 (needed to convert the activation)",
                      (long long) dim);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(act) % 16 == 0, "act %p is not 16-byte aligned", act);
    int8_t * aq = static_cast<int8_t *>(act);
    q8_act_meta * am = act ? reinterpret_cast<q8_act_meta *>(static_cast<char *>(act) + q8_act_meta_offset(dim, n)) : nullptr;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const unsigned grid = (unsigned) n;
    if (y && act) {
        launch_pdl(rms_norm_kernel<true, true>, grid, THREADS, 0, s, x, y, w, w_offset, out, dim, eps, aq, am, (float *) nullptr, (int16_t *) nullptr);
    } else if (y) {
        launch_pdl(rms_norm_kernel<true, false>, grid, THREADS, 0, s, x, y, w, w_offset, out, dim, eps, aq, am, (float *) nullptr, (int16_t *) nullptr);
    } else if (act) {
        launch_pdl(rms_norm_kernel<false, true>, grid, THREADS, 0, s, x, y, w, w_offset, out, dim, eps, aq, am, (float *) nullptr, (int16_t *) nullptr);
    } else {
        launch_pdl(rms_norm_kernel<false, false>, grid, THREADS, 0, s, x, y, w, w_offset, out, dim, eps, aq, am, (float *) nullptr, (int16_t *) nullptr);
    }
    return llmj_cuda_check_launch(__func__);
}

extern "C" int llmj_cuda_rms_norm_q8k(float * x, const float * y, const float * w, float w_offset, float * out, int64_t dim,
                                      int64_t n, float eps, void * act, void * stream) {
    CHECK_STREAM_ARGS(dim > 0 && n >= 0 && n < 0x7FFFFFFF, "bad shape dim=%lld n=%lld", (long long) dim, (long long) n);
    if (n == 0) return LLMJ_OK;
    CHECK_STREAM_ARGS(x && w && out && act, "null device pointer");
    CHECK_STREAM_ARGS(dim % 256 == 0 && dim <= (int64_t) THREADS * PER, "dim %lld must be a multiple of 256 and at most %d",
                      (long long) dim, THREADS * PER);
    CHECK_STREAM_ARGS(reinterpret_cast<uintptr_t>(act) % 16 == 0, "act %p is not 16-byte aligned", act);
    char * a = static_cast<char *>(act);
    int8_t * aq = reinterpret_cast<int8_t *>(a);
    float * kd = reinterpret_cast<float *>(a + llmj_cuda_q8k_d_offset(dim, n));
    int16_t * kbs = reinterpret_cast<int16_t *>(a + llmj_cuda_q8k_bsums_offset(dim, n));
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (y) {
        launch_pdl(rms_norm_kernel<true, false, true>, (unsigned) n, THREADS, 0, s, x, y, w, w_offset, out, dim, eps, aq,
                   (q8_act_meta *) nullptr, kd, kbs);
    } else {
        launch_pdl(rms_norm_kernel<false, false, true>, (unsigned) n, THREADS, 0, s, x, y, w, w_offset, out, dim, eps, aq,
                   (q8_act_meta *) nullptr, kd, kbs);
    }
    return llmj_cuda_check_launch(__func__);
}
