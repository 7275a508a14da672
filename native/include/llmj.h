/*
 * llmj.h - the whole C ABI of llmj's native kernels.
 *
 * Two shared libraries implement it:
 *   libllmj.so       CPU kernels (scalar, AVX2, AVX-512 with runtime dispatch) and the
 *                    common error facility. Always present.
 *   libllmj_cuda.so  CUDA kernels (llmj_cuda_* functions). Built only where nvcc is found;
 *                    needs libllmj.so and libcudart.so.13 loaded first.
 *
 * Conventions (borrowed from llama.h):
 *   - every fallible function returns an int status: LLMJ_OK (0) or one of the LLMJ_ERR_* codes;
 *   - on failure, llmj_last_error() returns a message saying what failed and where; the message
 *     is thread-local and stays valid until the next failing call on the same thread;
 *   - native code never calls abort() or exit();
 *   - tensors are described by a ggml type id, a base pointer and a row stride in bytes;
 *     a matrix of `rows` x `cols` stores each row contiguously (ggml's ne0 = cols).
 */
#ifndef LLMJ_H
#define LLMJ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define LLMJ_API __declspec(dllexport)
#else
#  define LLMJ_API __attribute__((visibility("default")))
#endif

/* ---- status codes ------------------------------------------------------------------------ */
#define LLMJ_OK                    0  /* success */
#define LLMJ_ERR_INVALID_ARGUMENT  1  /* a null pointer, a negative or inconsistent size, a bad enum */
#define LLMJ_ERR_UNSUPPORTED       2  /* valid request this build or CPU/GPU cannot do (type, ISA, arch) */
#define LLMJ_ERR_OUT_OF_MEMORY     3  /* host or device allocation failed */
#define LLMJ_ERR_CUDA              4  /* a CUDA runtime call or kernel launch failed (message has the CUDA error) */
#define LLMJ_ERR_INTERNAL          5  /* a bug in llmj: please report the message */

/* ---- library ----------------------------------------------------------------------------- */
/* Version string of the native library, e.g. "0.1.0". Never NULL. */
LLMJ_API const char * llmj_version(void);

/* Message of the last failing call on this thread ("" if none). Never NULL. */
LLMJ_API const char * llmj_last_error(void);

/* ---- tensor element types (ggml's type ids, so GGUF type fields map 1:1) ------------------ */
#define LLMJ_TYPE_F32   0
#define LLMJ_TYPE_F16   1
#define LLMJ_TYPE_Q4_0  2
#define LLMJ_TYPE_Q4_1  3
#define LLMJ_TYPE_Q5_0  6
#define LLMJ_TYPE_Q5_1  7
#define LLMJ_TYPE_Q8_0  8
#define LLMJ_TYPE_Q8_1  9
#define LLMJ_TYPE_Q2_K  10
#define LLMJ_TYPE_Q3_K  11
#define LLMJ_TYPE_Q4_K  12
#define LLMJ_TYPE_Q5_K  13
#define LLMJ_TYPE_Q6_K  14
#define LLMJ_TYPE_Q8_K  15
#define LLMJ_TYPE_IQ4_NL 20
#define LLMJ_TYPE_IQ4_XS 23
#define LLMJ_TYPE_BF16  30

/* ---- CPU features and kernel selection --------------------------------------------------- */
/* Feature bits reported by llmj_cpu_features(): what the CPU and OS support. */
#define LLMJ_CPU_SSE42       (1u << 0)
#define LLMJ_CPU_AVX         (1u << 1)
#define LLMJ_CPU_AVX2        (1u << 2)
#define LLMJ_CPU_FMA         (1u << 3)
#define LLMJ_CPU_F16C        (1u << 4)
#define LLMJ_CPU_AVX512F     (1u << 5)
#define LLMJ_CPU_AVX512BW    (1u << 6)
#define LLMJ_CPU_AVX512VL    (1u << 7)
#define LLMJ_CPU_AVX512DQ    (1u << 8)
#define LLMJ_CPU_AVX512VNNI  (1u << 9)
#define LLMJ_CPU_AVX512BF16  (1u << 10)
#define LLMJ_CPU_AVXVNNI     (1u << 11)

/* Instruction-set levels the kernels are written for. */
#define LLMJ_ISA_AUTO    0   /* best level the CPU supports (the default) */
#define LLMJ_ISA_SCALAR  1   /* portable C */
#define LLMJ_ISA_AVX2    2   /* AVX2 + FMA + F16C */
#define LLMJ_ISA_AVX512  3   /* AVX-512 F/BW/VL/DQ (+ AVX2 level) */

/* Bitwise OR of LLMJ_CPU_* flags for this CPU and OS. */
LLMJ_API uint32_t llmj_cpu_features(void);

/* Highest LLMJ_ISA_* level this CPU supports. */
LLMJ_API int llmj_cpu_best_isa(void);

/* Select the ISA level every kernel uses from now on, process-wide (LLMJ_ISA_AUTO: the best).
 * Returns LLMJ_ERR_UNSUPPORTED if the CPU lacks the level, LLMJ_ERR_INVALID_ARGUMENT for an
 * unknown level. */
LLMJ_API int llmj_cpu_set_isa(int isa);

/* The ISA level kernels run with now (never LLMJ_ISA_AUTO). */
LLMJ_API int llmj_cpu_isa(void);

/* ---- CPU matrix-vector product ----------------------------------------------------------- */
/* y[r] = sum_c W[r, c] * x[c] for r in [0, rows).
 *   type       LLMJ_TYPE_F32, LLMJ_TYPE_F16 or LLMJ_TYPE_BF16 (others: LLMJ_ERR_UNSUPPORTED)
 *   w          row r starts at (const char *) w + r * row_bytes
 *   row_bytes  >= cols * element size
 *   x          cols floats; y: rows floats (must not overlap w or x)
 * Accumulates in float32 (F16 and BF16 weights are widened exactly). */
LLMJ_API int llmj_matvec(int type, const void * w, size_t row_bytes,
                         const float * x, float * y, int64_t rows, int64_t cols);

/* ---- type layout ------------------------------------------------------------------------- */
/* Elements per block of a ggml type (1 for F32/F16/BF16, 32 for Q4_0..Q8_1 and IQ4_NL, 256 for the
 * K-quants and IQ4_XS), or 0 if llmj does not know the type. */
LLMJ_API int llmj_type_block_size(int type);

/* Bytes per block of a ggml type (e.g. Q4_0: 18, Q8_1: 36, Q8_K: 292), or 0 if unknown. */
LLMJ_API int llmj_type_block_bytes(int type);

/* The type activations are converted to before a product with weights of `type` (ggml's
 * vec_dot_type): Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for Q2_K..Q6_K and
 * IQ4_XS, F16 for F16, BF16 for BF16, F32 for F32. -1 if `type` has no product kernel. */
LLMJ_API int llmj_type_vec_dot_type(int type);

/* ---- thread pool ------------------------------------------------------------------------- */
/* A persistent pool of worker threads for the CPU kernels. The thread that calls a kernel takes
 * part as worker 0, so a pool of n threads starts n-1 OS threads. Between jobs the workers spin
 * briefly and then sleep on a futex, so one dispatch costs a few microseconds when they are awake.
 * A pool runs one kernel at a time: do not call kernels on the same pool from two threads at once.
 * Everywhere a pool is taken, NULL means "run on the calling thread only". */
typedef struct llmj_threadpool llmj_threadpool;

/* Creates a pool of n_threads (1..256; 1 starts no OS thread). Returns LLMJ_OK and *out, or
 * LLMJ_ERR_INVALID_ARGUMENT / LLMJ_ERR_OUT_OF_MEMORY / LLMJ_ERR_INTERNAL (thread creation failed). */
LLMJ_API int llmj_threadpool_create(int n_threads, llmj_threadpool ** out);

/* Stops and joins the workers and frees the pool. NULL is ignored. */
LLMJ_API void llmj_threadpool_free(llmj_threadpool * pool);

/* Number of threads including the caller (1 for NULL). */
LLMJ_API int llmj_threadpool_size(const llmj_threadpool * pool);

/* ---- quantized products (weights in any ggml block format, activations quantized like ggml) -- */
/* Converts n floats to `vec_dot_type` (LLMJ_TYPE_Q8_0, Q8_1, Q8_K, F16, BF16 or F32) exactly as
 * ggml's x86 CPU backend does (bit for bit): Q8_0/Q8_1 use amax/127 and round-half-to-even
 * (ggml's AVX branch), Q8_K is ggml's quantize_row_q8_K, F16/BF16 round to nearest even.
 * n must be a multiple of the type's block size; out receives n / block_size blocks. */
LLMJ_API int llmj_quantize_activations(int vec_dot_type, const float * x, void * out, int64_t n);

/* Bytes of scratch llmj_matvec_q needs for `cols` activations of weights of `type`: the activation
 * row converted to the vec_dot_type, plus (for Q8_0 and Q8_1) per-block float arrays the
 * kernels use; 0 for F32 and for unsupported types. Any alignment works; 64 bytes is best. */
LLMJ_API size_t llmj_matvec_work_size(int type, int64_t cols);

/* Bytes of scratch llmj_matmul_q needs: n_tokens converted activation rows. */
LLMJ_API size_t llmj_matmul_work_size(int type, int64_t cols, int64_t n_tokens);

/* y[r] = sum_c W[r, c] * x[c] for r in [0, rows), computed as ggml computes it: x converted to the
 * weight type's vec_dot_type (llmj_quantize_activations), then exact integer block dot products
 * scaled in float32. Like ggml, F16 and BF16 weights see x rounded to F16 / BF16 first
 * (llmj_matvec keeps x in float32 for F16).
 *   pool       NULL (single-threaded) or a pool; rows are split across its threads. The result
 *              does not depend on the number of threads (bit for bit).
 *   type       F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
 *              IQ4_NL, IQ4_XS (others: LLMJ_ERR_UNSUPPORTED)
 *   w          row r starts at (const char *) w + r * row_bytes
 *   row_bytes  >= (cols / block_size) * block_bytes
 *   cols       a multiple of the type's block size (32 or 256)
 *   x          cols floats; y: rows floats (must not overlap w, x or work)
 *   work       >= llmj_matvec_work_size(type, cols) bytes of scratch, or NULL to let llmj allocate
 *              it for this call (LLMJ_ERR_OUT_OF_MEMORY if that fails)
 * Accuracy: |y - exact| <= ~1e-6 * sum_c |W[r,c] * xq[c]| where xq is the converted activation. */
LLMJ_API int llmj_matvec_q(llmj_threadpool * pool, int type, const void * w, size_t row_bytes,
                           const float * x, float * y, int64_t rows, int64_t cols,
                           void * work, size_t work_bytes);

/* Y[t, r] = sum_c W[r, c] * X[t, c] for n_tokens activation rows (prefill). Same contract as
 * llmj_matvec_q, with token t's activations at x + t * x_stride floats and its outputs at
 * y + t * y_stride floats (x_stride >= cols, y_stride >= rows). Each token's result equals
 * llmj_matvec_q on that token bit for bit. Weight rows are read once per group of tokens.
 *   work       >= llmj_matmul_work_size(type, cols, n_tokens) bytes, or NULL (allocated) */
LLMJ_API int llmj_matmul_q(llmj_threadpool * pool, int type, const void * w, size_t row_bytes,
                           const float * x, size_t x_stride, float * y, size_t y_stride,
                           int64_t rows, int64_t cols, int64_t n_tokens,
                           void * work, size_t work_bytes);

/* ---- packed Q4_0 / Q8_0 (prepared once at load, like ggml-cpu's "repack" buffers) ------------
 * A Q4_0 or Q8_0 matrix rearranged so that the AVX512-VNNI kernels stream it with no transposes:
 * groups of 16 rows, each block column of a group stored as the 16 rows' quants interleaved 4 bytes
 * at a time (Q8_0 biased to unsigned) with the 16 fp16 scales apart. Same size as the ggml rows plus
 * the last group's padding. Products over it compute every row as the AVX512-VNNI tile kernels do
 * (exact integer block sums, one fused multiply-add per block in block order), so they equal
 * llmj_matmul_q / llmj_matvec_q on the ggml rows bit for bit at that level, and the same bits at every
 * ISA level (AVX2 kernels at the AVX2 level and AVX-512 without VNNI, where llmj_matmul_q's eight-block
 * order makes the unpacked products differ by float rounding; a portable kernel, slowly, below) and for
 * any pool. */

/* Zero-filled, page-aligned memory of `bytes` (> 0) for data prepared at load, such as packed
 * matrices: an anonymous mapping that asks for transparent huge pages (much cheaper to fault in than
 * 4 KiB pages on some virtual machines). Free it with llmj_pages_free(p, the same bytes). */
LLMJ_API int llmj_pages_alloc(size_t bytes, void ** out);
LLMJ_API void llmj_pages_free(void * p, size_t bytes);

/* Bytes of the packed form of a rows x cols matrix of `type`; 0 if the type has none (types other
 * than Q4_0 and Q8_0), rows or cols is not positive, or cols is not a multiple of 32. */
LLMJ_API size_t llmj_matmul_q_packed_size(int type, int64_t rows, int64_t cols);

/* 1 if packing `type` pays at the active ISA level (AVX2 and up: Q4_0 and Q8_0), else 0 (then keep
 * the ggml rows: llmj_matmul_q is the faster path). */
LLMJ_API int llmj_matmul_q_pack_recommended(int type);

/* Packs rows x cols weights of `type` (row r at (const char *) w + r * row_bytes) into `packed`,
 * which must be 64-byte aligned and hold llmj_matmul_q_packed_size(type, rows, cols) bytes; groups
 * are split across the pool's threads. */
LLMJ_API int llmj_matmul_q_pack(llmj_threadpool * pool, int type, const void * w, size_t row_bytes,
                                int64_t rows, int64_t cols, void * packed, size_t packed_bytes);

/* llmj_matmul_q (n_tokens >= 1; 1 is the matvec) over a packed matrix of packed_bytes bytes;
 * work >= llmj_matmul_work_size(type, cols, n_tokens) bytes, or NULL (allocated). */
LLMJ_API int llmj_matmul_q_packed(llmj_threadpool * pool, int type, const void * packed, size_t packed_bytes,
                                  const float * x, size_t x_stride, float * y, size_t y_stride,
                                  int64_t rows, int64_t cols, int64_t n_tokens,
                                  void * work, size_t work_bytes);

/* Up to LLMJ_MATMUL_MULTI_MAX packed matrices of one type and `cols` sharing the input x (q/k/v,
 * gate/up): x is converted once and the matrices' rows are shared out in one pool dispatch. Matrix k
 * (packed[k], packed_bytes[k], rows[k] rows) writes token t's outputs at ys[k] + t * rows[k]. Each
 * output equals llmj_matmul_q_packed on that matrix alone bit for bit. work: llmj_matmul_work_size. */
#define LLMJ_MATMUL_MULTI_MAX 4
LLMJ_API int llmj_matmul_q_packed_multi(llmj_threadpool * pool, int type, int n_mats, const void * const * packed,
                                        const size_t * packed_bytes, const int64_t * rows, const float * x, size_t x_stride,
                                        float * const * ys, int64_t cols, int64_t n_tokens, void * work, size_t work_bytes);

/* ---- GPTQ products (llmj's repacked layout: io.llmj.quant.gptq.GptqMatrix) --------------------
 * A GPTQ linear layer of `rows` output features and `cols` input features, as llmj repacks an
 * AutoGPTQ/GPTQModel checkpoint at load: rows contiguous, input columns sorted by group (act-order
 * undone, the activation permuted instead), 32-column blocks (the last zero-padded) each with an fp16
 * scale and a zero point, W[r, perm[j]] = scale[r][j/32] * (q[r][j] - (zeros[r][j/32] + 1)). */
typedef struct llmj_gptq_matrix {
    int32_t bits;             /* 4 or 8 (others: LLMJ_ERR_UNSUPPORTED) */
    int64_t rows;             /* output features */
    int64_t cols;             /* input features */
    const int32_t * perm;     /* cols entries: x'[j] = x[perm[j]]; NULL: no permutation */
    const uint16_t * scales;  /* fp16 [rows][blocks], blocks = ceil(cols / 32) */
    const uint8_t * zeros;    /* zero point minus one, [rows][blocks]; NULL: symmetric, every zero point
                               * 2^(bits-1) (what llmj_cuda_gptq_repack_q makes of Q4_0 / Q8_0) */
    const void * qs;          /* [rows][blocks][4 * bits] bytes: 4 bits: byte i = column i (low nibble) |
                               * column i + 16 (high nibble) of the block; 8 bits: byte i = column i */
    int32_t format;           /* 0: the GPTQ layout above (CPU and CUDA). LLMJ_TYPE_Q4_K / _Q5_K / _Q6_K: a ggml
                               * K-quant matrix in this layout (llmj_cuda_kquant_repack; CUDA kernels only),
                               * with perm and zeros NULL, bits 4 / 5 / 6, cols a multiple of 256, and `super`: */
    const uint16_t * super;   /* K-quant formats: fp16 per row and 256-column super-block: Q4_K and Q5_K d, dmin
                               * pairs; Q6_K d. NULL for format 0. */
    int32_t group_blocks;     /* format 0, CUDA kernels only: 2, 4, 8, ... (a power of two): scales and zeros hold
                               * one entry per group of that many consecutive blocks of a row, [rows][ceil(blocks /
                               * group_blocks)] (a checkpoint's group of 64, 128, ... columns stored once instead of
                               * per block); 0 or 1: one per block as above. */
    int32_t act32;            /* K-quant formats, CUDA kernels: nonzero: the products read Q8_0 activation blocks (one d
                               * per 32 columns, as format 0's: llmj_cuda_gptq_matmul_multi converts with format 0's
                               * quantizer, and the converted activations of llmj_cuda_rms_norm_fused, llmj_cuda_glu_q8
                               * and llmj_cuda_attention_q8 fit) instead of Q8_K (one d per 256 columns, the CPU's
                               * arithmetic): a block contributes (float) (sc * sum q xq) * (d * dx) - (float) (m * sum
                               * xq) * (dmin * dx) with dx the block's own d. Ignored for format 0. */
} llmj_gptq_matrix;

/* Bytes of scratch llmj_gptq_matmul needs for n_tokens activation rows of cols (0 if either is <= 0). */
LLMJ_API size_t llmj_gptq_work_size(int64_t cols, int64_t n_tokens);

/* Y[t, r] = sum_c W[r, c] * X[t, c] for n_tokens rows (token t at x + t * x_stride floats, its output
 * at y + t * y_stride; strides ignored for one token). Each token's activation is permuted, converted
 * to Q8_0 blocks as ggml's x86 backend does (llmj_quantize_activations), and each block contributes
 * scale * d * (sum q * xq - z * sum xq), the bracket an exact integer. Rows are split across the pool;
 * the result does not depend on the thread count.
 *   work  >= llmj_gptq_work_size(cols, n_tokens) bytes, or NULL (allocated for the call)
 * Accuracy: |y - exact on xq| <= ~1e-6 * sum_c |W[r,c] * xq[c]|. */
LLMJ_API int llmj_gptq_matmul(llmj_threadpool * pool, const llmj_gptq_matrix * m, const float * x, size_t x_stride,
                              float * y, size_t y_stride, int64_t n_tokens, void * work, size_t work_bytes);

/* llmj_gptq_matmul for one token. */
LLMJ_API int llmj_gptq_matvec(llmj_threadpool * pool, const llmj_gptq_matrix * m, const float * x, float * y,
                              void * work, size_t work_bytes);

/* ---- CPU element-wise and attention ops (float32 activations, token-major rows) --------------
 * Each takes an optional thread pool (NULL: the calling thread alone). */

/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * (w + w_offset) for n rows of dim; out may alias x.
 * The sum of squares accumulates in double. */
LLMJ_API int llmj_rms_norm(llmj_threadpool * pool, const float * x, const float * w, float w_offset, float * out,
                           int64_t dim, int64_t n, float eps);

/* Rotates, in place, n rows of n_heads heads of head_dim: pair i of row t turns by the angle
 * (start_pos + t) * pos_scale * inv_freq[i], i < rope_dims / 2. neox != 0 pairs (i, i + rope_dims/2),
 * else (2i, 2i+1) (llama.cpp's normal mode). */
LLMJ_API int llmj_rope(llmj_threadpool * pool, float * x, int64_t n, int64_t n_heads, int64_t head_dim,
                       int64_t rope_dims, int64_t start_pos, const float * inv_freq, float pos_scale, int neox);

/* Causal attention of n query rows (positions start_pos..start_pos+n-1, rows of n_heads * head_dim)
 * over cache rows 0..start_pos+n-1 (rows of n_kv_heads * head_dim, LLMJ_TYPE_F32 or LLMJ_TYPE_F16):
 * scores q·k * scale, soft-capped (softcap > 0: softcap * tanh(s / softcap)), restricted to the last
 * `window` positions when window > 0, softmax, weighted sum of v. out: n rows of n_heads * head_dim. */
LLMJ_API int llmj_attention(llmj_threadpool * pool, const float * q, const void * k_cache, const void * v_cache,
                            int cache_type, float * out, int64_t n, int64_t start_pos, int64_t n_heads,
                            int64_t n_kv_heads, int64_t head_dim, float scale, float softcap, int64_t window);

/* out[i] = silu(gate[i]) * up[i] (SwiGLU) / gelu_tanh(gate[i]) * up[i] (GeGLU); out may alias gate. */
LLMJ_API int llmj_swiglu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n);
LLMJ_API int llmj_geglu(llmj_threadpool * pool, const float * gate, const float * up, float * out, int64_t n);

/* Reads `bytes` bytes at p once, split across the pool's threads (benchmarks measure memory bandwidth
 * with it next to the kernels). *checksum receives a value derived from every byte. */
LLMJ_API int llmj_memory_read(llmj_threadpool * pool, const void * p, size_t bytes, uint64_t * checksum);

/* ---- CUDA (libllmj_cuda.so) -------------------------------------------------------------- */
/* Same contract as llmj_matvec, with w, x and y in device memory, enqueued on `stream`
 * (a cudaStream_t; NULL means the legacy default stream). Returns after the launch; errors
 * found at launch are returned, errors during execution surface at the next synchronisation. */
LLMJ_API int llmj_cuda_matvec(int type, const void * w, size_t row_bytes,
                              const float * x, float * y, int64_t rows, int64_t cols,
                              void * stream);

/* The device-resident ops of the CUDA backend: the same contracts as the CPU ops above, with every
 * pointer in device memory and the work enqueued on `stream` (a cudaStream_t; NULL: the legacy
 * default stream). Launch errors are returned; execution errors surface at the next synchronisation.
 * Weight types with kernels: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL (others:
 * LLMJ_ERR_UNSUPPORTED). Block-type weights (rows and base) must be 2-byte aligned, as every ggml
 * block is; 16-byte aligned rows (cols a multiple of 256) take the fastest loads. */

/* out[t] = dequantized row ids[t] of table (rows of row_bytes, cols elements) * scale; ids in device memory. */
LLMJ_API int llmj_cuda_get_rows(int type, const void * table, size_t row_bytes, const int32_t * ids, int64_t n,
                                int64_t cols, float scale, float * out, void * stream);
LLMJ_API int llmj_cuda_rms_norm(const float * x, const float * w, float w_offset, float * out, int64_t dim, int64_t n,
                                float eps, void * stream);
/* Position in device memory (CUDA graphs): the ops that take a start position (rope, store_kv, attention)
 * also take `dev_pos`, an int32 in device memory or NULL. When it is not NULL the kernels read the start
 * position from it when they run, so a captured graph can be replayed at any position; `start_pos` is
 * then only an upper bound of that position (attention sizes its launch with it). */

/* inv_freq: rope_dims / 2 floats in device memory. */
LLMJ_API int llmj_cuda_rope(float * x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rope_dims,
                            int64_t start_pos, const float * inv_freq, float pos_scale, int neox,
                            const int32_t * dev_pos, void * stream);
LLMJ_API int llmj_cuda_store_kv(const float * src, void * cache, int cache_type, int64_t kv_dim, int64_t n,
                                int64_t start_pos, const int32_t * dev_pos, void * stream);
/* Fused decode steps (each equals the unfused calls bit for bit):
 * llmj_cuda_rope_store_kv: llmj_cuda_rope of q (n rows of n_heads heads) and of k (n rows of n_kv_heads
 * heads), then llmj_cuda_store_kv of k and v (rows of n_kv_heads * head_dim) into the caches: one kernel. */
LLMJ_API int llmj_cuda_rope_store_kv(float * q, float * k, const float * v, int64_t n, int64_t n_heads, int64_t n_kv_heads,
                                     int64_t head_dim, int64_t rope_dims, int64_t start_pos, const float * inv_freq,
                                     float pos_scale, int neox, void * k_cache, void * v_cache, int cache_type,
                                     const int32_t * dev_pos, void * stream);
/* llmj_cuda_rms_norm with two optional parts: y != NULL first adds the residual (x += y, written back,
 * as llmj_cuda_add), and act != NULL (dim a multiple of 32) also converts each output row to the Q8
 * activation blocks the GPTQ kernels read (llmj_cuda_gptq_matmul_act: the same integers and scales
 * llmj_cuda_gptq_matmul computes from out); act: llmj_cuda_gptq_work_size(dim, n) bytes, 16-byte aligned. */
LLMJ_API int llmj_cuda_rms_norm_fused(float * x, const float * y, const float * w, float w_offset, float * out,
                                      int64_t dim, int64_t n, float eps, void * act, void * stream);
/* llmj_cuda_glu that also converts out (n floats, n a multiple of 32: token rows of any multiple of 32
 * columns) to Q8 activation blocks in act, as llmj_cuda_rms_norm_fused does. */
LLMJ_API int llmj_cuda_glu_q8(const float * gate, const float * up, float * out, int64_t n, int gelu, void * act,
                              void * stream);
/* The Q8_K forms, for products of K-quant matrices repacked by llmj_cuda_kquant_repack: the output converted as
 * llmj_cuda_gptq_matmul converts a K-quant format's input (Q8_K, as the CPU's K-quant dots), into act
 * (llmj_cuda_gptq_work_size bytes, 16-byte aligned), read by llmj_cuda_gptq_matmul_act / _act_add.
 * llmj_cuda_rms_norm_q8k: llmj_cuda_rms_norm_fused with act, dim a multiple of 256 and at most 8192;
 * llmj_cuda_glu_q8k: llmj_cuda_glu_q8 with n a multiple of 256. */
LLMJ_API int llmj_cuda_rms_norm_q8k(float * x, const float * y, const float * w, float w_offset, float * out,
                                    int64_t dim, int64_t n, float eps, void * act, void * stream);
LLMJ_API int llmj_cuda_glu_q8k(const float * gate, const float * up, float * out, int64_t n, int gelu, void * act,
                               void * stream);
/* Scratch llmj_cuda_attention may use for n query rows (bytes; 0: it needs none). With it, decoding over
 * a long context splits each row's KV range over several blocks (flash-decoding); without it
 * (work NULL or smaller), one block walks the whole range. */
LLMJ_API size_t llmj_cuda_attention_work_size(int64_t n, int64_t n_heads, int64_t head_dim);
/* The contract of llmj_attention; head_dim <= 256. An F16 cache with n >= 16 and head_dim
 * 64/80/96/128/256 runs a tensor-core kernel that rounds q * scale and the softmax weights to F16
 * (results within 1e-3 of max|v| of the float32 ones); every other case (F32 caches included)
 * computes in float32. With dev_pos, the launch is sized for the bound start_pos and the KV range split as a
 * launch at the position it reads would split it (the same results as that launch). One row (MHA or
 * grouped-query) with head_dim 64, 96 or 128 over an F16 cache with a bound of at most 256 positions runs a
 * short-context kernel. */
LLMJ_API int llmj_cuda_attention(const float * q, const void * k_cache, const void * v_cache, int cache_type,
                                 float * out, int64_t n, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads,
                                 int64_t head_dim, float scale, float softcap, int64_t window, const int32_t * dev_pos,
                                 void * work, size_t work_bytes, void * stream);
/* llmj_cuda_attention that also converts out (n rows of n_heads * head_dim) to Q8 activation blocks in act
 * (llmj_cuda_gptq_work_size(n_heads * head_dim, n) bytes, 16-byte aligned), as llmj_cuda_rms_norm_fused does:
 * the input of the llmj_cuda_gptq_matmul_act that follows. head_dim a multiple of 32. The decode kernels
 * convert as they write out; tensor-core prefill runs the quantizer after. counters: NULL, or
 * n * n_heads uint32 of device memory, zeroed before the first call and left zeroed by each: split-K decode
 * then merges the splits in the last block of each row to finish instead of a reduce kernel (same results). */
LLMJ_API int llmj_cuda_attention_q8(const float * q, const void * k_cache, const void * v_cache, int cache_type,
                                    float * out, int64_t n, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads,
                                    int64_t head_dim, float scale, float softcap, int64_t window, const int32_t * dev_pos,
                                    void * work, size_t work_bytes, void * act, uint32_t * counters, void * stream);
/* One decode row (n = 1): llmj_cuda_rope_store_kv of (q, k, v) followed by llmj_cuda_attention_q8 (act != NULL;
 * counters as there) or llmj_cuda_attention (act NULL), in one kernel, each value equal bit for bit to those
 * calls'. q, k, v are read unrotated and left so; the cache rows of the position are written as
 * llmj_cuda_rope_store_kv writes them. */
LLMJ_API int llmj_cuda_rope_attention(const float * q, const float * k, const float * v, void * k_cache, void * v_cache,
                                      int cache_type, float * out, int64_t start_pos, int64_t n_heads, int64_t n_kv_heads,
                                      int64_t head_dim, int64_t rope_dims, const float * inv_freq, float pos_scale, int neox,
                                      float scale, float softcap, int64_t window, const int32_t * dev_pos, void * work,
                                      size_t work_bytes, void * act, uint32_t * counters, void * stream);
/* gelu != 0: GeGLU (tanh GELU), else SwiGLU; out may alias gate. */
LLMJ_API int llmj_cuda_glu(const float * gate, const float * up, float * out, int64_t n, int gelu, void * stream);
LLMJ_API int llmj_cuda_add(float * x, const float * y, int64_t n, void * stream);
/* x[t] += b for n rows of dim (biases). */
LLMJ_API int llmj_cuda_add_rows(float * x, const float * b, int64_t dim, int64_t n, void * stream);
LLMJ_API int llmj_cuda_softcap(float * x, float cap, int64_t n, void * stream);
/* Scratch llmj_cuda_matmul needs (activations converted to Q8_0 / Q8_1 quants for the block types;
 * 0 for F32/F16/BF16), in bytes. The work buffer must be 16-byte aligned. */
LLMJ_API size_t llmj_cuda_matmul_work_size(int type, int64_t cols, int64_t n);
/* y[t] = W x[t] for n token rows (x: n rows of cols floats, y: n rows of `rows` floats). Block-type
 * weights multiply activations converted to their vec_dot_type (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1
 * for Q4_1/Q5_1) exactly as llmj_quantize_activations does, with exact integer block dot products
 * (ggml's definition) scaled in float32: the result equals llmj_matvec_q up to the order of the float
 * additions. Weight rows are read once per group of up to 8 tokens. F32/F16/BF16 weights multiply
 * float32 activations (as llmj_matvec). cols: a multiple of 32 for the block types. */
LLMJ_API int llmj_cuda_matmul(int type, const void * w, size_t row_bytes, const float * x, float * y, int64_t rows,
                              int64_t cols, int64_t n, void * work, size_t work_bytes, void * stream);

/* llmj_cuda_matmul for count (1..4) F32 / F16 / BF16 matrices of one type that share their input (a layer's
 * q/k/v or gate/up): rows[k] rows of row_bytes at ws[k], outputs ys[k] (n * rows[k] floats, token t at
 * ys[k] + t * rows[k]); one launch per token for all of them. Each output equals llmj_cuda_matmul's bit for
 * bit. Other types: LLMJ_ERR_UNSUPPORTED. */
LLMJ_API int llmj_cuda_matmul_multi(int type, int count, const void * const * ws, const int64_t * rows, size_t row_bytes,
                                    const float * x, float * const * ys, int64_t cols, int64_t n, void * stream);

/* llmj_cuda_matmul for count (1..4) K-quant matrices (Q2_K..Q6_K, IQ4_XS; each its own type, row size and
 * rows) that share their input x (n rows of cols, a multiple of 256): x is converted to Q8_K once, then each
 * product runs on that conversion (one conversion kernel instead of count). Each output equals
 * llmj_cuda_matmul's bit for bit. work: llmj_cuda_matmul_work_size(types[0], cols, n) bytes, 16-byte aligned. */
LLMJ_API int llmj_cuda_matmul_kquant_shared(int count, const int * types, const void * const * ws, const size_t * row_bytes,
                                            const int64_t * rows, const float * x, float * const * ys, int64_t cols,
                                            int64_t n, void * work, size_t work_bytes, void * stream);

/* ---- CUDA GPTQ products (src/cuda/gptq.cu) -------------------------------------------------
 * `m` is a host struct whose pointers (perm, scales, zeros, qs, super) are device memory (qs 16-byte
 * aligned, as in a device copy of a GptqMatrix segment); bits 4 or 8, or a K-quant format
 * (llmj_cuda_kquant_repack). */
/* Scratch llmj_cuda_gptq_matmul needs for n tokens of cols (bytes; 0 if either is <= 0). */
LLMJ_API size_t llmj_cuda_gptq_work_size(int64_t cols, int64_t n);
/* y[t] = W x[t] for n dense token rows (x: n x cols floats, y: n x rows floats, device memory): each
 * activation permuted, converted to Q8_0 blocks as llmj_gptq_matmul does, exact integer block dots
 * scaled in float32: equals llmj_gptq_matmul up to the order of the float additions. Weight rows are
 * read once per group of up to 8 tokens. work: >= llmj_cuda_gptq_work_size bytes, 16-byte aligned. */
LLMJ_API int llmj_cuda_gptq_matmul(const llmj_gptq_matrix * m, const float * x, float * y, int64_t n, void * work,
                                   size_t work_bytes, void * stream);
/* W as a dense row-major F16 matrix `out` (rows * cols halves, device memory, original column order:
 * out[r][perm[j]] = fp16(scale * (q - z))): the input of the cuBLAS prefill GEMM. */
LLMJ_API int llmj_cuda_gptq_dequantize_f16(const llmj_gptq_matrix * m, void * out, void * stream);
/* y_k[t] = W_k x[t] for count (1..4) matrices that share their input (a layer's q/k/v or gate/up): same
 * bits and format (or any mix of the K-quant formats), cols and perm pointer, all with zeros or all
 * without. The activation is converted once and the
 * products run as one kernel; each y_k equals llmj_cuda_gptq_matmul(&ms[k], ...) bit for bit.
 * ys[k]: n * ms[k].rows floats (token t at ys[k] + t * ms[k].rows). work: llmj_cuda_gptq_work_size. */
LLMJ_API int llmj_cuda_gptq_matmul_multi(int count, const llmj_gptq_matrix * ms, const float * x, float * const * ys,
                                         int64_t n, void * work, size_t work_bytes, void * stream);
/* llmj_cuda_gptq_matmul_multi from an activation already converted (act: n rows of cols = ms[0].cols, made
 * by llmj_cuda_rms_norm_fused or llmj_cuda_glu_q8 for format 0, by llmj_cuda_rms_norm_q8k or
 * llmj_cuda_glu_q8k for the K-quant formats): perm NULL and cols a multiple of 32. */
LLMJ_API int llmj_cuda_gptq_matmul_act(int count, const llmj_gptq_matrix * ms, const void * act, float * const * ys,
                                       int64_t n, void * stream);
/* y[t] += W x[t] from an activation already converted (as llmj_cuda_gptq_matmul_act with count 1): a
 * product and the residual add after it in one kernel, each y equal bit for bit to the product followed
 * by llmj_cuda_add. */
LLMJ_API int llmj_cuda_gptq_matmul_act_add(const llmj_gptq_matrix * m, const void * act, float * y, int64_t n,
                                           void * stream);
/* A product with the residual add and the next RMS norm folded in, for one-token decode chains: the norm's
 * reduction over the whole row is deferred to the products that read its output, so no kernel runs between.
 * llmj_cuda_gptq_matmul_act_add_norm: y[t] += W x[t] (as llmj_cuda_gptq_matmul_act_add; m: format 0 or a K-quant
 * with act32, rows and cols multiples of 32), then norm_act receives, per 32-value block b of y[t], the Q8 conversion of
 * y[t][c] * (gain[c] + gain_offset) with an unrounded float d, and sum_c y[t][c]^2 over the block. norm_act:
 * llmj_cuda_gptq_norm_act_size(rows, n) bytes, 16-byte aligned; gain: rows floats.
 * llmj_cuda_gptq_matmul_norm_act: y_k[t] = rsqrt(sum of token t's block sums / cols + eps) * W_k q[t] for count
 * (1..4) format-0 matrices (or K-quants with act32) sharing the input (as llmj_cuda_gptq_matmul_act), q[t] the
 * conversion in norm_act:
 * llmj_cuda_rms_norm followed by the products, up to rounding (the scale applied after the dot, not before the
 * conversion). Thread blocks of 1024 threads; n tokens run one at a time. */
LLMJ_API size_t llmj_cuda_gptq_norm_act_size(int64_t dim, int64_t n);
LLMJ_API int llmj_cuda_gptq_matmul_act_add_norm(const llmj_gptq_matrix * m, const void * act, float * y, int64_t n,
                                                const float * gain, float gain_offset, void * norm_act, void * stream);
LLMJ_API int llmj_cuda_gptq_matmul_norm_act(int count, const llmj_gptq_matrix * ms, const void * norm_act, float eps,
                                            float * const * ys, int64_t n, void * stream);
/* The gate and up products of a deferred norm's activation with the gated activation folded in, for one-token decode
 * chains: out[t][r] = glu(g, u), g and u row r of llmj_cuda_gptq_matmul_norm_act's y_0[t] and y_1[t] for ms[0] (gate) and
 * ms[1] (up), one format (format 0 or a K-quant with act32) and rows a multiple of 32; glu: silu(g) * u (gelu 0) or
 * gelu_tanh(g) * u (gelu 1), as llmj_cuda_glu. act receives out as llmj_cuda_glu_q8 converts it (the input of
 * llmj_cuda_gptq_matmul_act / _act_add / _act_add_norm; llmj_cuda_gptq_work_size(rows, n) bytes, 16-byte aligned), so
 * no GLU kernel runs between the gate / up and the down products. Equal to llmj_cuda_gptq_matmul_norm_act followed by
 * llmj_cuda_glu_q8 up to the order of the float additions. n tokens run one at a time. */
LLMJ_API int llmj_cuda_gptq_matmul_norm_glu(const llmj_gptq_matrix * ms, const void * norm_act, float eps, int gelu, float * out,
                                            void * act, int64_t n, void * stream);
/* out[t][c] = scale * W[ids[t]][c] for n ids (device memory; 0 <= ids[t] < rows): an embedding lookup on a
 * table in this layout, values as llmj_cuda_gptq_dequantize_f16's before the F16 rounding. */
LLMJ_API int llmj_cuda_gptq_get_rows(const llmj_gptq_matrix * m, const int32_t * ids, int64_t n, float scale, float * out,
                                     void * stream);
/* Repacks rows x cols weights of type LLMJ_TYPE_Q4_0 or LLMJ_TYPE_Q8_0 (row r at src + r * row_bytes,
 * 2-byte aligned; device memory) into this layout with perm NULL and zeros NULL: scales[r][b] = the
 * block's d; 4 bits: qs bytes as they are (element i low nibble, i + 16 high; zero point 8); 8 bits:
 * q + 128 (zero point 128). qs: rows * cols / 2 (Q4_0) or rows * cols (Q8_0) bytes, 16-byte aligned;
 * scales: rows * cols / 32 fp16. The GPTQ products then compute ggml's Q4_0 / Q8_0 block dots with the
 * same integers and scales (llmj_cuda_matmul's, up to the order of the float additions) from 16-byte
 * aligned, coalesced loads. */
LLMJ_API int llmj_cuda_gptq_repack_q(int type, const void * src, size_t row_bytes, int64_t rows, int64_t cols, void * qs,
                                     uint16_t * scales, void * stream);
/* Repacks rows x cols weights of type LLMJ_TYPE_Q4_K, LLMJ_TYPE_Q5_K or LLMJ_TYPE_Q6_K (ggml super-blocks of 256, row r
 * at src + r * row_bytes; device memory; cols a multiple of 256) into the llmj_gptq_matrix format of that
 * type, every 32-column block b of row r described by
 *   Q4_K: qs: 16 bytes (byte i = q of column i | q of column i + 16 << 4, q in 0..15); scales[r][b] =
 *         sc | m << 8 (the block's 6-bit scale and min); super[r][b / 8] = d, dmin:
 *         W = d * sc * q - dmin * m;
 *   Q5_K: as Q4_K with q in 0..31: qs holds the 16-byte low parts of every block of every row, then a
 *         uint32 per block (bit i = the fifth bit of column i);
 *   Q6_K: qs: the 16-byte low parts of every block of every row (byte i = low 4 bits of column i | those
 *         of column i + 16 << 4), then the 8-byte high parts (byte i = high 2 bits of columns i, i + 8,
 *         i + 16, i + 24 at bits 0, 2, 4, 6); scales[r][b] = (uint8) sc[first 16 columns] | (uint8)
 *         sc[last 16] << 8 (int8 scales); super[r][b / 8] = d: W = d * sc * (q - 32), q in 0..63.
 * qs: rows * cols / 2 (Q4_K), rows * cols * 5 / 8 (Q5_K) or rows * cols * 3 / 4 (Q6_K) bytes, 16-byte
 * aligned; scales: rows * cols / 32 entries; super: rows * cols / 256 * (Q4_K, Q5_K: 2, Q6_K: 1) entries,
 * 4-byte aligned. The GPTQ products
 * (llmj_cuda_gptq_matmul, _multi; not the _act entries, whose activation is Q8_0) convert the activation
 * to Q8_K as the CPU's K-quant dots do and sum exact int32 block dots scaled in float32: they equal
 * llmj_cuda_matmul on the ggml blocks up to the order of the float additions. */
LLMJ_API int llmj_cuda_kquant_repack(int type, const void * src, size_t row_bytes, int64_t rows, int64_t cols, void * qs,
                                     uint16_t * scales, uint16_t * super, void * stream);

/* ---- CUDA prefill GEMM inputs (the product itself is cuBLAS, called from Java) ------------------- */
/* Dequantizes rows x cols weights of `type` (row r at (const char *) w + r * row_bytes) into a dense
 * row-major F16 matrix `out` (rows * cols halves, device memory) on `stream` (prefill GEMM input).
 * Types: every type llmj_cuda_matmul supports. */
LLMJ_API int llmj_cuda_dequantize_f16(int type, const void * w, size_t row_bytes, int64_t rows, int64_t cols,
                                      void * out, void * stream);
/* Converts n floats (device memory) to out_type, LLMJ_TYPE_F16 or LLMJ_TYPE_BF16, rounding to nearest
 * even (IEEE: overflow to +-inf, NaN stays NaN), into `out` (n halves, device memory) on `stream`:
 * activations (and F32 weights) for the tensor-core GEMM. Other types: LLMJ_ERR_UNSUPPORTED. */
LLMJ_API int llmj_cuda_convert_f32(const float * x, void * out, int out_type, int64_t n, void * stream);

/* ---- CUDA token choice (decode steps that never send their logits to the host) ------------------ */
/* Greedy choice over the n logits (device memory) of a decode step, on `stream`. step (device memory) is the
 * step's int32 pair {token, position}: it becomes {id, position + 1}, so a recorded step replayed next reads
 * the chosen token. id is the index of the largest logit, the lowest among equal ones, NaN never chosen (0
 * when every logit is NaN or -inf). The choice is also written to ring (ring_size entries of 4 int32, pinned
 * host memory the device can address) at entry (position + 1) % ring_size: {position + 1, id, the float bits
 * of log(softmax(logits))[id] (NaN if a logit is NaN), 0}, the position written last. One thread block. */
LLMJ_API int llmj_cuda_pick_greedy(const float * logits, int64_t n, int32_t * step, int32_t * ring, int32_t ring_size,
                                   void * stream);

#ifdef __cplusplus
}
#endif

#endif /* LLMJ_H */
