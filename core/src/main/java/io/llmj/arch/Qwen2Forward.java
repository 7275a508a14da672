package io.llmj.arch;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;

/**
 * Qwen2 (and Qwen2.5): the Llama block with biases on the Q, K and V projections and NeoX-order RoPE.
 *
 * <pre>
 *   per layer:  h = rmsnorm(x) * attn_norm
 *               q, k, v = Wq h + bq, Wk h + bk, Wv h + bv;  rope(q, k);  cache <- k, v
 *               x += Wo attention(q, cache)
 *               x += Wdown (silu(Wgate h') * Wup h'),  h' = rmsnorm(x) * ffn_norm
 * </pre>
 */
public final class Qwen2Forward extends DecoderForward {
    private final Layer[] layers;

    record Layer(Weight attnNorm, Weight wq, Weight bq, Weight wk, Weight bk, Weight wv, Weight bv, Weight wo,
                 Weight ffnNorm, Weight gate, Weight up, Weight down) {}

    public Qwen2Forward(ModelConfig config, TensorSource tensors, Placement placement) {
        super(config, tensors, placement);
        layers = new Layer[c.nLayers()];
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "blk." + l + ".";
            layers[l] = new Layer(
                    w.vector(p + "attn_norm.weight", c.dim()),
                    w.matrix(p + "attn_q.weight", c.dim(), c.qDim()), w.vector(p + "attn_q.bias", c.qDim()),
                    w.matrix(p + "attn_k.weight", c.dim(), c.kvDim()), w.vector(p + "attn_k.bias", c.kvDim()),
                    w.matrix(p + "attn_v.weight", c.dim(), c.kvDim()), w.vector(p + "attn_v.bias", c.kvDim()),
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
            if (!normedBy(l - 1, b)) {                                         // (else the last product of layer l - 1 did it)
                b.rmsNorm(s.x, L.attnNorm(), c.normEps(), 0f, c.dim(), n, s.xb);  // h = rmsnorm(x) * attn_norm
            }
            // q, k, v = Wq h, Wk h, Wv h: one input, so a backend may convert h once and run them together
            b.matmulShared(s.xb, n, new Weight[] {L.wq(), L.wk(), L.wv()}, new Buffer[] {s.q, s.k, s.v});
            b.addBias(s.q, L.bq(), n);                                         // + bq, bk, bv
            b.addBias(s.k, L.bk(), n);
            b.addBias(s.v, L.bv(), n);
            // rotate q and k by position, append k and v to the cache, attend: softmax(q k^T / sqrt(hd)) v
            b.ropeAttention(s.q, s.k, s.v, n, pos, c.rope(), s.kCache[l], s.vCache[l], attn, s.att);
            // output projection, added to the residual, then the feed-forward block's norm
            b.matmulAddNorm(L.wo(), s.att, n, s.x, s.xb2, L.ffnNorm(), c.normEps(), 0f, c.dim(), s.xb); // x += Wo att; h = rmsnorm(x) * ffn_norm
            // hb = silu(Wgate h) * Wup h (hb2: scratch)
            b.matmulGlu(s.xb, n, L.gate(), L.up(), s.hb, s.hb2, false);
            // x += Wdown h (residual); with the next layer's h = rmsnorm(x) * attn_norm where it runs here too
            residualOut(b, s, l, n, L.down(), s.hb, l + 1 < c.nLayers() ? layers[l + 1].attnNorm() : null);
        }
        logits(s, n, allLogits, 0f);
    }
}
