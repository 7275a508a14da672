package io.llmj.arch;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;

/**
 * Gemma 2: embeddings scaled by sqrt(dim); RMSNorm before and after both the attention and the
 * feed-forward block; GELU(tanh)-gated feed-forward; attention logits soft-capped; sliding-window
 * attention on even layers; final logits soft-capped. Hugging Face stores the norm gains as w - 1
 * ({@code normGainOffset} 1), llama.cpp's GGUF stores w.
 *
 * <pre>
 *   x = embed(tokens) * sqrt(dim)
 *   per layer:  x += postnorm_attn(Wo attention(q, cache; softcap, window if l even))
 *               x += postnorm_ffw(Wdown (gelu(Wgate h) * Wup h)),  h = prenorm_ffw(x)
 *   logits = softcap(Wout rmsnorm(x))
 * </pre>
 */
public final class Gemma2Forward extends DecoderForward {
    private final Layer[] layers;

    record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo, Weight postAttnNorm,
                 Weight ffnNorm, Weight gate, Weight up, Weight down, Weight postFfwNorm) {}

    public Gemma2Forward(ModelConfig config, TensorSource tensors, Placement placement) {
        super(config, tensors, placement);
        layers = new Layer[c.nLayers()];
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "blk." + l + ".";
            layers[l] = new Layer(
                    w.vector(p + "attn_norm.weight", c.dim()),
                    w.matrix(p + "attn_q.weight", c.dim(), c.qDim()),
                    w.matrix(p + "attn_k.weight", c.dim(), c.kvDim()),
                    w.matrix(p + "attn_v.weight", c.dim(), c.kvDim()),
                    w.matrix(p + "attn_output.weight", c.qDim(), c.dim()),
                    w.vector(p + "post_attention_norm.weight", c.dim()),
                    w.vector(p + "ffn_norm.weight", c.dim()),
                    w.matrix(p + "ffn_gate.weight", c.dim(), c.ffDim()),
                    w.matrix(p + "ffn_up.weight", c.dim(), c.ffDim()),
                    w.matrix(p + "ffn_down.weight", c.ffDim(), c.dim()),
                    w.vector(p + "post_ffw_norm.weight", c.dim()));
        }
    }

    @Override
    protected void compute(ForwardState s, int[] tokens, int pos, int n, boolean allLogits) {
        float off = c.normGainOffset();
        AttentionParams global = new AttentionParams(c.nHeads(), c.nKvHeads(), c.headDim(), c.queryScale(), c.attnSoftcap(), 0);
        AttentionParams local = new AttentionParams(c.nHeads(), c.nKvHeads(), c.headDim(), c.queryScale(), c.attnSoftcap(),
                c.slidingWindow());

        embed(s, tokens, (float) Math.sqrt(c.dim()));                              // x = embeddings * sqrt(dim)
        for (int l = 0; l < c.nLayers(); l++) {
            Layer L = layers[l];
            Backend b = enter(s, l, n);                                            // layer l's backend (x crosses at a split)
            b.rmsNorm(s.x, L.attnNorm(), c.normEps(), off, c.dim(), n, s.xb);     // pre-attention norm
            // q, k, v = Wq h, Wk h, Wv h: one input, so a backend may convert h once and run them together
            b.matmulShared(s.xb, n, new Weight[] {L.wq(), L.wk(), L.wv()}, new Buffer[] {s.q, s.k, s.v});
            // rotate q and k by position, append k and v to the cache, attend: softmax(q k^T / sqrt(hd)) v
            b.ropeAttention(s.q, s.k, s.v, n, pos, c.rope(), s.kCache[l], s.vCache[l], l % 2 == 0 ? local : global, s.att);
            b.matmul(L.wo(), s.att, n, s.xb2);                                     // output projection
            b.rmsNorm(s.xb2, L.postAttnNorm(), c.normEps(), off, c.dim(), n, s.xb2); // post-attention norm
            b.addRmsNorm(s.x, s.xb2, L.ffnNorm(), c.normEps(), off, c.dim(), n, s.xb); // residual; pre-feed-forward norm
            // hb = gelu_tanh(Wgate h) * Wup h (hb2: scratch)
            b.matmulGlu(s.xb, n, L.gate(), L.up(), s.hb, s.hb2, true);
            b.matmul(L.down(), s.hb, n, s.xb2);
            b.rmsNorm(s.xb2, L.postFfwNorm(), c.normEps(), off, c.dim(), n, s.xb2); // post-feed-forward norm
            b.add(s.x, s.xb2, (long) n * c.dim());                                 // residual
        }
        logits(s, n, allLogits, off);                                      // norm, project, soft-cap
    }
}
