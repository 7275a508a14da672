/* llmj against ggml's own numbers (shared/testdata/quant, llama.cpp@c392e50, see its README):
 *   - llmj_quantize_activations(V, act) equals act.V byte for byte for V = Q8_0, Q8_1, Q8_K, F16,
 *     BF16 (ggml's x86 CPU from_float), at every ISA level;
 *   - llmj_matvec_q(T, q.T, act) matches dot.T (ggml's CPU vec_dot) for all 14 types and F32:
 *       |y - dot| <= 2e-6 * sum_c |deq.T[r,c] * act[c]|
 *     (the README measures ggml's own float32 noise at <= 4.8e-7 of that sum).
 * The data directory is LLMJ_TESTDATA (environment) or the compiled-in default; if the files are
 * missing the test is skipped (exit 0) unless CI=true. Includes a minimal GGUF v3 reader (test
 * code only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmj.h"

#ifndef LLMJ_TESTDATA_DEFAULT
#define LLMJ_TESTDATA_DEFAULT "../../shared/testdata"
#endif

/* ---- minimal GGUF reader ---- */
typedef struct { char name[96]; int type; int64_t ne[4]; int nd; uint64_t off; } gtensor;
typedef struct { uint8_t * buf; size_t size; gtensor * t; int nt; const uint8_t * data; } gguf;

static int rd(const gguf * g, size_t * pos, void * out, size_t n) {
    if (*pos + n > g->size) return -1;
    memcpy(out, g->buf + *pos, n);
    *pos += n;
    return 0;
}
static uint64_t rd64(const gguf * g, size_t * pos) { uint64_t v = 0; rd(g, pos, &v, 8); return v; }
static uint32_t rd32(const gguf * g, size_t * pos) { uint32_t v = 0; rd(g, pos, &v, 4); return v; }

static int skip_value(const gguf * g, size_t * pos, uint32_t type) {
    static const int sz[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    if (type > 12) return -1;
    if (type == 8) { uint64_t n = rd64(g, pos); *pos += n; return *pos <= g->size ? 0 : -1; }
    if (type == 9) {
        uint32_t et = rd32(g, pos); uint64_t n = rd64(g, pos);
        for (uint64_t i = 0; i < n; i++) if (skip_value(g, pos, et)) return -1;
        return 0;
    }
    *pos += (size_t) sz[type];
    return *pos <= g->size ? 0 : -1;
}

static int gguf_open(const char * path, gguf * g) {
    memset(g, 0, sizeof *g);
    FILE * f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END); g->size = (size_t) ftell(f); fseek(f, 0, SEEK_SET);
    g->buf = malloc(g->size);
    if (fread(g->buf, 1, g->size, f) != g->size) { fclose(f); return -1; }
    fclose(f);
    size_t pos = 0;
    if (rd32(g, &pos) != 0x46554747u || rd32(g, &pos) != 3) return -1;   /* "GGUF", v3 */
    uint64_t nt = rd64(g, &pos), nkv = rd64(g, &pos);
    uint32_t align = 32;
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t kl = rd64(g, &pos);
        int is_align = kl == 17 && pos + 17 <= g->size && memcmp(g->buf + pos, "general.alignment", 17) == 0;
        pos += kl;
        uint32_t type = rd32(g, &pos);
        if (is_align && type == 4) { align = rd32(g, &pos); continue; }
        if (skip_value(g, &pos, type)) return -1;
    }
    g->t = calloc(nt, sizeof *g->t);
    g->nt = (int) nt;
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t nl = rd64(g, &pos);
        if (nl >= sizeof g->t[i].name) return -1;
        rd(g, &pos, g->t[i].name, nl);
        g->t[i].nd = (int) rd32(g, &pos);
        for (int d = 0; d < g->t[i].nd && d < 4; d++) g->t[i].ne[d] = (int64_t) rd64(g, &pos);
        g->t[i].type = (int) rd32(g, &pos);
        g->t[i].off = rd64(g, &pos);
    }
    pos = (pos + align - 1) / align * align;
    g->data = g->buf + pos;
    return 0;
}

static const uint8_t * tensor(const gguf * g, const char * name, int * type) {
    for (int i = 0; i < g->nt; i++) {
        if (strcmp(g->t[i].name, name) == 0) { if (type) *type = g->t[i].type; return g->data + g->t[i].off; }
    }
    return NULL;
}

static int failures = 0, checks = 0;

int main(void) {
    const char * env = getenv("LLMJ_TESTDATA");
    char dir[1024], p1[1200], p2[1200];
    snprintf(dir, sizeof dir, "%s", env && *env ? env : LLMJ_TESTDATA_DEFAULT);
    snprintf(p1, sizeof p1, "%s/quant/quant-vectors.gguf", dir);
    snprintf(p2, sizeof p2, "%s/quant/quant-vectors-act.gguf", dir);
    gguf gv, ga;
    if (gguf_open(p1, &gv) || gguf_open(p2, &ga)) {
        const char * ci = getenv("CI");
        printf("%s: cannot read %s / %s\n", ci && strcmp(ci, "true") == 0 ? "FAIL" : "SKIP", p1, p2);
        return ci && strcmp(ci, "true") == 0 ? 1 : 0;
    }
    const float * act = (const float *) tensor(&ga, "act", NULL);
    const float * src = (const float *) tensor(&gv, "source", NULL);
    if (!act || !src) { printf("FAIL: act/source tensors missing\n"); return 1; }
    enum { ROWS = 8, COLS = 512 };

    static const struct { const char * name; int type; } ACT[] = {
        { "Q8_0", LLMJ_TYPE_Q8_0 }, { "Q8_1", LLMJ_TYPE_Q8_1 }, { "Q8_K", LLMJ_TYPE_Q8_K },
        { "F16", LLMJ_TYPE_F16 }, { "BF16", LLMJ_TYPE_BF16 },
    };
    static const struct { const char * name; int type; } W[] = {
        { "Q4_0", LLMJ_TYPE_Q4_0 }, { "Q4_1", LLMJ_TYPE_Q4_1 }, { "Q5_0", LLMJ_TYPE_Q5_0 }, { "Q5_1", LLMJ_TYPE_Q5_1 },
        { "Q8_0", LLMJ_TYPE_Q8_0 }, { "Q2_K", LLMJ_TYPE_Q2_K }, { "Q3_K", LLMJ_TYPE_Q3_K }, { "Q4_K", LLMJ_TYPE_Q4_K },
        { "Q5_K", LLMJ_TYPE_Q5_K }, { "Q6_K", LLMJ_TYPE_Q6_K }, { "IQ4_NL", LLMJ_TYPE_IQ4_NL },
        { "IQ4_XS", LLMJ_TYPE_IQ4_XS }, { "BF16", LLMJ_TYPE_BF16 }, { "F16", LLMJ_TYPE_F16 }, { "F32", LLMJ_TYPE_F32 },
    };
    uint8_t out[COLS * 4];
    llmj_threadpool * pool = NULL;
    llmj_threadpool_create(2, &pool);
    for (int isa = LLMJ_ISA_SCALAR; isa <= LLMJ_ISA_AVX512; isa++) {
        if (llmj_cpu_set_isa(isa) != LLMJ_OK) { printf("isa %d: not supported here, skipped\n", isa); continue; }
        for (size_t i = 0; i < sizeof ACT / sizeof ACT[0]; i++) {
            char name[64]; int gt;
            snprintf(name, sizeof name, "act.%s", ACT[i].name);
            const uint8_t * want = tensor(&ga, name, &gt);
            checks++;
            size_t nbytes = (size_t) (COLS / llmj_type_block_size(ACT[i].type)) * (size_t) llmj_type_block_bytes(ACT[i].type);
            int st = llmj_quantize_activations(ACT[i].type, act, out, COLS);
            if (!want || gt != ACT[i].type || st != LLMJ_OK || memcmp(out, want, nbytes) != 0) {
                size_t k = 0;
                while (want && k < nbytes && out[k] == want[k]) k++;
                printf("FAIL isa=%d %s: not bit-exact with ggml (status %d, first differing byte %zu of %zu)\n",
                       isa, name, st, k, nbytes);
                failures++;
            }
        }
        for (size_t i = 0; i < sizeof W / sizeof W[0]; i++) {
            char qn[64], dn[64], en[64]; int gt;
            snprintf(qn, sizeof qn, "q.%s", W[i].name);
            snprintf(dn, sizeof dn, "dot.%s", W[i].name);
            snprintf(en, sizeof en, "deq.%s", W[i].name);
            const uint8_t * q = W[i].type == LLMJ_TYPE_F32 ? (const uint8_t *) src : tensor(&gv, qn, &gt);
            const float * dot = (const float *) tensor(&gv, dn, NULL);
            const float * deq = W[i].type == LLMJ_TYPE_F32 ? src : (const float *) tensor(&gv, en, NULL);
            checks++;
            if (!q || !dot || !deq || (W[i].type != LLMJ_TYPE_F32 && gt != W[i].type)) {
                printf("FAIL %s: tensors missing\n", W[i].name); failures++; continue;
            }
            size_t row_bytes = (size_t) (COLS / llmj_type_block_size(W[i].type)) * (size_t) llmj_type_block_bytes(W[i].type);
            float y[ROWS], yp[ROWS];
            int st = llmj_matvec_q(NULL, W[i].type, q, row_bytes, act, y, ROWS, COLS, NULL, 0);
            int st2 = llmj_matvec_q(pool, W[i].type, q, row_bytes, act, yp, ROWS, COLS, NULL, 0);
            if (st != LLMJ_OK || st2 != LLMJ_OK) { printf("FAIL %s: %s\n", W[i].name, llmj_last_error()); failures++; continue; }
            double worst = 0;
            for (int r = 0; r < ROWS; r++) {
                double mag = 0;
                for (int c = 0; c < COLS; c++) mag += fabs((double) deq[r * COLS + c] * act[c]);
                double err = fabs((double) y[r] - dot[r]);
                if (mag > 0 && err / mag > worst) worst = err / mag;
                if (!(err <= 2e-6 * mag) || memcmp(&y[r], &yp[r], 4) != 0) {
                    printf("FAIL isa=%d %s row %d: llmj %.9g, ggml %.9g, pool %.9g (tol %.3g)\n", isa, W[i].name, r, y[r], dot[r], yp[r], 2e-6 * mag);
                    failures++;
                    break;
                }
            }
            if (isa == LLMJ_ISA_SCALAR || isa == llmj_cpu_best_isa())
                printf("isa=%d %-6s max |llmj - ggml| / sum|w*a| = %.2e\n", isa, W[i].name, worst);
        }
    }
    llmj_cpu_set_isa(LLMJ_ISA_AUTO);
    llmj_threadpool_free(pool);
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
