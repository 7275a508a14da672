package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The per-tensor rules on full-size llama shapes, against the type counts llama-quantize reports for
 * Llama-2-7B (291 tensors: 65 F32; Q4_K_M: 193 Q4_K + 33 Q6_K; Q4_K_S: 217 Q4_K + 8 Q5_K + 1 Q6_K;
 * Q5_K_M: 193 Q5_K + 33 Q6_K).
 */
class TensorTypeRulesTest {
    record T(String name, long[] shape) {}

    static List<T> llama(int layers, long dim, long kv, long ff, long vocab, boolean output) {
        List<T> ts = new ArrayList<>();
        ts.add(new T("token_embd.weight", new long[] {dim, vocab}));
        ts.add(new T("output_norm.weight", new long[] {dim}));
        if (output) {
            ts.add(new T("output.weight", new long[] {dim, vocab}));
        }
        for (int l = 0; l < layers; l++) {
            String b = "blk." + l + ".";
            ts.add(new T(b + "attn_norm.weight", new long[] {dim}));
            ts.add(new T(b + "attn_q.weight", new long[] {dim, dim}));
            ts.add(new T(b + "attn_k.weight", new long[] {dim, kv}));
            ts.add(new T(b + "attn_v.weight", new long[] {dim, kv}));
            ts.add(new T(b + "attn_output.weight", new long[] {dim, dim}));
            ts.add(new T(b + "ffn_norm.weight", new long[] {dim}));
            ts.add(new T(b + "ffn_gate.weight", new long[] {dim, ff}));
            ts.add(new T(b + "ffn_up.weight", new long[] {dim, ff}));
            ts.add(new T(b + "ffn_down.weight", new long[] {ff, dim}));
        }
        ts.sort((a, c) -> TensorTypeRules.LLAMA_CPP_ORDER.compare(a.name, c.name));
        return ts;
    }

    static Map<GgmlType, Integer> histogram(QuantTarget target, List<T> ts, int layers) {
        TensorTypeRules r = new TensorTypeRules(target, "llama", layers, 0, ts.stream().map(T::name).toList(), false);
        Map<GgmlType, Integer> h = new EnumMap<>(GgmlType.class);
        for (T t : ts) {
            GgmlType type = TensorTypeRules.isQuantizable(t.name, t.shape.length) ? r.choose(t.name, t.shape).type() : GgmlType.F32;
            h.merge(type, 1, Integer::sum);
        }
        return h;
    }

    @Test
    void llama2_7bMixesMatchLlamaQuantize() {
        List<T> ts = llama(32, 4096, 4096, 11008, 32000, true);
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.Q4_K, 193, GgmlType.Q6_K, 33), histogram(QuantTarget.Q4_K_M, ts, 32));
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.Q4_K, 217, GgmlType.Q5_K, 8, GgmlType.Q6_K, 1),
                histogram(QuantTarget.Q4_K_S, ts, 32));
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.Q5_K, 193, GgmlType.Q6_K, 33), histogram(QuantTarget.Q5_K_M, ts, 32));
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.Q4_0, 225, GgmlType.Q6_K, 1), histogram(QuantTarget.Q4_0, ts, 32));
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.Q8_0, 226), histogram(QuantTarget.Q8_0, ts, 32));
        assertEquals(Map.of(GgmlType.F32, 65, GgmlType.F16, 226), histogram(QuantTarget.F16, ts, 32));
    }

    @Test
    void tiedEmbeddingsTakeTheOutputRule() {
        List<T> ts = llama(2, 256, 128, 512, 512, false);
        TensorTypeRules r = new TensorTypeRules(QuantTarget.Q4_0, "llama", 2, 0, ts.stream().map(T::name).toList(), false);
        assertEquals(GgmlType.Q6_K, r.choose("token_embd.weight", new long[] {256, 512}).type());
    }

    @Test
    void useMoreBitsAndLayerOrder() {
        // layers 0-3 and 28-31, then every third from 6
        List<Integer> more = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            if (TensorTypeRules.useMoreBits(i, 32)) {
                more.add(i);
            }
        }
        assertEquals(List.of(0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31), more);
        assertTrue(TensorTypeRules.LLAMA_CPP_ORDER.compare("blk.2.attn_q.weight", "blk.10.attn_k.weight") < 0);
        assertTrue(TensorTypeRules.LLAMA_CPP_ORDER.compare("token_embd.weight", "blk.0.attn_k.weight") < 0);
        assertTrue(TensorTypeRules.LLAMA_CPP_ORDER.compare("output.weight", "output_norm.weight") < 0);
        assertFalse(TensorTypeRules.isQuantizable("blk.0.attn_norm.weight", 2));
        assertFalse(TensorTypeRules.isQuantizable("rope_freqs.weight", 1));
    }

    @Test
    void kQuantRowsFallBackAndLegacyRowsFail() {
        List<String> names = List.of("blk.0.ffn_down.weight", "output.weight");
        TensorTypeRules k = new TensorTypeRules(QuantTarget.Q4_K_M, "llama", 1, 0, names, false);
        TensorTypeRules.Choice c = k.choose("blk.0.ffn_down.weight", new long[] {96, 64});
        assertEquals(GgmlType.Q8_0, c.type());    // layer 0 of 1 gets Q6_K; 96 % 256 -> Q8_0
        assertTrue(c.note().contains("using Q8_0"), c.note());
        TensorTypeRules q5 = new TensorTypeRules(QuantTarget.Q5_K, "llama", 1, 0, names, false);
        assertEquals(GgmlType.Q5_1, q5.choose("blk.0.ffn_down.weight", new long[] {96, 64}).type());
        assertEquals(GgmlType.F16, q5.choose("blk.0.attn_q.weight", new long[] {80, 64}).type());
        TensorTypeRules legacy = new TensorTypeRules(QuantTarget.Q5_1, "llama", 1, 0, names, false);
        assertThrows(QuantizationException.class, () -> legacy.choose("blk.0.attn_q.weight", new long[] {80, 64}));
    }
}
