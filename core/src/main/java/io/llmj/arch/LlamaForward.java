package io.llmj.arch;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;

/**
 * Llama (1, 2, 3) and Mistral: pre-norm decoder blocks with RMSNorm, rotary attention with grouped
 * query heads over a KV cache, and a SwiGLU feed-forward network.
 *
 * <pre>
 *   x = embed(tokens)                                   [n, dim]
 *   per layer:
 *     h = rmsnorm(x) * attn_norm
 *     q, k, v = Wq h, Wk h, Wv h                        [n, heads*hd], [n, kvHeads*hd] x2
 *     q, k = rope(q), rope(k); cache <- k, v
 *     x += Wo attention(q, cache)
 *     h = rmsnorm(x) * ffn_norm
 *     x += Wdown (silu(Wgate h) * Wup h)                [n, ff] -> [n, dim]
 *   logits = Wout (rmsnorm(x) * output_norm)            [n, vocab]
 * </pre>
 */
public final class LlamaForward extends DecoderForward {
    private final Layer[] layers;

    record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo,
                 Weight ffnNorm, Weight gate, Weight up, Weight down) {}

    public LlamaForward(ModelConfig config, TensorSource tensors, Placement placement) {
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
                    w.vector(p + "ffn_norm.weight", c.dim()),
                    w.matrix(p + "ffn_gate.weight", c.dim(), c.ffDim()),
                    w.matrix(p + "ffn_up.weight", c.dim(), c.ffDim()),
                    w.matrix(p + "ffn_down.weight", c.ffDim(), c.dim()));
        }
    }

    @Override
    protected void compute(ForwardState s, int[] tokens, int pos, int n, boolean allLogits) {
        AttentionParams attn = new AttentionParams(c.nHeads(), c.nKvHeads(), c.headDim(), c.queryScale(), 0, c.slidingWindow());

        embed(s, tokens, 1f);                                                  // x = token embeddings
        for (int l = 0; l < c.nLayers(); l++) {
            Layer L = layers[l];
            Backend b = enter(s, l, n);                                        // layer l's backend (x crosses at a split)
            // attention block
            if (!normedBy(l - 1, b)) {                                         // (else the last product of layer l - 1 did it)
                b.rmsNorm(s.x, L.attnNorm(), c.normEps(), 0f, c.dim(), n, s.xb);  // h = rmsnorm(x) * attn_norm
            }
            // q, k, v = Wq h, Wk h, Wv h: one input, so a backend may convert h once and run them together
            b.matmulShared(s.xb, n, new Weight[] {L.wq(), L.wk(), L.wv()}, new Buffer[] {s.q, s.k, s.v});
            // rotate q and k by position, append k and v to the cache, attend: softmax(q k^T / sqrt(hd)) v
            b.ropeAttention(s.q, s.k, s.v, n, pos, c.rope(), s.kCache[l], s.vCache[l], attn, s.att);
            // project heads back to dim, add to the residual, then the feed-forward block's norm
            b.matmulAddNorm(L.wo(), s.att, n, s.x, s.xb2, L.ffnNorm(), c.normEps(), 0f, c.dim(), s.xb); // x += Wo att; h = rmsnorm(x) * ffn_norm
            // hb = silu(Wgate h) * Wup h (hb2: scratch)
            b.matmulGlu(s.xb, n, L.gate(), L.up(), s.hb, s.hb2, false);
            // x += Wdown h (residual); with the next layer's h = rmsnorm(x) * attn_norm where it runs here too
            residualOut(b, s, l, n, L.down(), s.hb, l + 1 < c.nLayers() ? layers[l + 1].attnNorm() : null);
        }
        logits(s, n, allLogits, 0f);                                   // final norm + output projection
    }
}
