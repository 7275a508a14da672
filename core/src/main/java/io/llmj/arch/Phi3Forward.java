package io.llmj.arch;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;

/**
 * Phi-3: the Llama block with fused weights: one QKV projection (rows: q, then k, then v) and one
 * gate-up projection (rows: gate, then up), split here into zero-copy row ranges. NeoX-order RoPE
 * over {@code rope.dims()} dimensions of each head.
 */
public final class Phi3Forward extends DecoderForward {
    private final Layer[] layers;

    record Layer(Weight attnNorm, Weight wq, Weight wk, Weight wv, Weight wo,
                 Weight ffnNorm, Weight gate, Weight up, Weight down) {}

    public Phi3Forward(ModelConfig config, TensorSource tensors, Placement placement) {
        super(config, tensors, placement);
        layers = new Layer[c.nLayers()];
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "blk." + l + ".";
            Weight wq;
            Weight wk;
            Weight wv;
            TensorRef qkv = tensors.find(p + "attn_qkv.weight");
            if (qkv != null) {                                                  // fused [q; k; v] rows
                wq = w.prepare(qkv.rows(p + "attn_q.weight", 0, c.qDim()), c.dim(), c.qDim());
                wk = w.prepare(qkv.rows(p + "attn_k.weight", c.qDim(), c.kvDim()), c.dim(), c.kvDim());
                wv = w.prepare(qkv.rows(p + "attn_v.weight", c.qDim() + c.kvDim(), c.kvDim()), c.dim(), c.kvDim());
            } else {
                wq = w.matrix(p + "attn_q.weight", c.dim(), c.qDim());
                wk = w.matrix(p + "attn_k.weight", c.dim(), c.kvDim());
                wv = w.matrix(p + "attn_v.weight", c.dim(), c.kvDim());
            }
            TensorRef gateUp = tensors.require(p + "ffn_up.weight");              // fused [gate; up] rows
            layers[l] = new Layer(
                    w.vector(p + "attn_norm.weight", c.dim()), wq, wk, wv,
                    w.matrix(p + "attn_output.weight", c.qDim(), c.dim()),
                    w.vector(p + "ffn_norm.weight", c.dim()),
                    w.prepare(gateUp.rows(p + "ffn_gate.weight", 0, c.ffDim()), c.dim(), c.ffDim()),
                    w.prepare(gateUp.rows(p + "ffn_up.weight", c.ffDim(), c.ffDim()), c.dim(), c.ffDim()),
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
