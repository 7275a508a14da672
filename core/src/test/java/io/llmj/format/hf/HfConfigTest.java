package io.llmj.format.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HfConfigTest {
    static HfConfig tiny(String m) {
        return HfConfig.read(TestData.require("hf-tiny/" + m));
    }

    @Test
    void commonShapeOfAllEight() {
        for (String m : List.of("llama2", "llama3", "llama3-bf16", "mistral", "qwen2", "qwen3", "phi3", "gemma2")) {
            HfConfig c = tiny(m);
            assertEquals(64, c.hiddenSize(), m);
            assertEquals(2, c.numHiddenLayers(), m);
            assertEquals(4, c.numAttentionHeads(), m);
            assertEquals(176, c.intermediateSize(), m);
            assertEquals(512, c.vocabSize(), m);
            assertEquals(256, c.maxPositionEmbeddings().orElseThrow(), m);
            assertEquals(16, c.headDim(), m);
            assertEquals(1, c.bosTokenId().orElseThrow(), m);
            assertEquals(List.of(2), c.eosTokenIds(), m);
            assertTrue(c.quantizationConfig().isEmpty(), m);
            assertEquals(1.0, c.partialRotaryFactor(), m);
        }
    }

    @Test
    void perModelFacts() {
        HfConfig llama2 = tiny("llama2");
        assertEquals("llama", llama2.modelType());
        assertEquals(List.of("LlamaForCausalLM"), llama2.architectures());
        assertEquals(4, llama2.numKeyValueHeads());
        assertEquals(1e4, llama2.ropeTheta());
        assertEquals("default", llama2.ropeType());
        assertEquals(1e-6, llama2.rmsNormEps());
        assertFalse(llama2.tieWordEmbeddings().orElseThrow());
        assertEquals("float32", llama2.dtype().orElseThrow());
        assertEquals("silu", llama2.hiddenAct().orElseThrow());

        HfConfig llama3 = tiny("llama3");
        assertEquals(2, llama3.numKeyValueHeads());
        assertEquals(5e5, llama3.ropeTheta());
        assertEquals("llama3", llama3.ropeType());
        assertEquals(8.0, ((Number) llama3.ropeParameters().get("factor")).doubleValue());
        assertEquals(32L, llama3.ropeParameters().get("original_max_position_embeddings"));
        assertTrue(llama3.tieWordEmbeddings().orElseThrow());
        assertEquals(1e-5, llama3.rmsNormEps());
        assertEquals("bfloat16", tiny("llama3-bf16").dtype().orElseThrow());

        assertEquals(1e6, tiny("mistral").ropeTheta());
        assertTrue(tiny("mistral").slidingWindow().isEmpty());
        assertEquals("qwen2", tiny("qwen2").modelType());
        assertEquals(1e6, tiny("qwen2").ropeTheta());
        assertEquals("qwen3", tiny("qwen3").modelType());
        assertEquals("phi3", tiny("phi3").modelType());
        assertEquals(1.0, tiny("phi3").partialRotaryFactor());

        HfConfig gemma2 = tiny("gemma2");
        assertEquals("gemma2", gemma2.modelType());
        assertEquals(8, gemma2.slidingWindow().orElseThrow());
        assertEquals(50.0, gemma2.attnLogitSoftcapping().orElseThrow());
        assertEquals(30.0, gemma2.finalLogitSoftcapping().orElseThrow());
        assertEquals(16.0, gemma2.queryPreAttnScalar().orElseThrow());
        assertEquals(List.of("sliding_attention", "full_attention"), gemma2.layerTypes());
        assertEquals("gelu_pytorch_tanh", gemma2.hiddenAct().orElseThrow());
        assertTrue(tiny("llama2").attnLogitSoftcapping().isEmpty());
    }

    static HfConfig parse(String json) {
        return HfConfig.parse(Json.parse(json), null);
    }

    static final String BASE = "\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,"
            + "\"num_attention_heads\":4,\"vocab_size\":10";

    @Test
    void olderRopeKeysAndDefaults() {
        HfConfig c = parse("{" + BASE + ",\"rope_theta\":500000.0,\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0},"
                + "\"torch_dtype\":\"float16\",\"partial_rotary_factor\":0.5,\"sliding_window\":4096,\"use_sliding_window\":false,"
                + "\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":4},\"eos_token_id\":[2,7]}");
        assertEquals(5e5, c.ropeTheta());
        assertEquals("linear", c.ropeType());
        assertEquals(2.0, c.ropeParameters().get("factor"));
        assertEquals("float16", c.dtype().orElseThrow());
        assertEquals(0.5, c.partialRotaryFactor());
        assertTrue(c.slidingWindow().isEmpty());
        assertEquals(Map.of("quant_method", "gptq", "bits", 4L), c.quantizationConfig().orElseThrow());
        assertEquals(List.of(2, 7), c.eosTokenIds());
        HfConfig d = parse("{" + BASE + "}");
        assertEquals(10000.0, d.ropeTheta());
        assertEquals("default", d.ropeType());
        assertEquals(4, d.numKeyValueHeads());
        assertEquals(16, d.headDim());
        assertTrue(d.tieWordEmbeddings().isEmpty());
        assertTrue(d.dtype().isEmpty());
        ModelFormatException e = assertThrows(ModelFormatException.class, d::intermediateSize);
        assertTrue(e.getMessage().contains("intermediate_size") && e.getMessage().contains("missing"), e.getMessage());
        // text_config of multimodal configs
        HfConfig mm = parse("{\"model_type\":\"gemma3\",\"text_config\":{" + BASE.replace("\"model_type\":\"llama\",", "")
                + ",\"model_type\":\"gemma3_text\"}}");
        assertEquals("gemma3_text", mm.modelType());
        assertEquals(64, mm.hiddenSize());
    }

    @Test
    void missingOrBadRequiredKeysAreNamed() {
        for (String key : List.of("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")) {
            String json = ("{" + BASE.replaceAll("\"" + key + "\":[^,]*,?", "") + "}").replace(",}", "}");
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> parse(json), key);
            assertTrue(e.getMessage().contains(key), e.getMessage());
        }
        assertThrows(ModelFormatException.class, () -> parse("{" + BASE.replace("\"hidden_size\":64", "\"hidden_size\":-1") + "}"));
        assertThrows(ModelFormatException.class, () -> parse("{" + BASE.replace("\"hidden_size\":64", "\"hidden_size\":\"64\"") + "}"));
        assertThrows(ModelFormatException.class, () -> parse("{" + BASE.replace("\"hidden_size\":64", "\"hidden_size\":64.5") + "}"));
        assertThrows(ModelFormatException.class, () -> parse("[]"));
        assertThrows(ModelFormatException.class, () -> parse("{" + BASE + ",\"head_dim\":0}").headDim());
        assertThrows(ModelFormatException.class, () -> parse("{" + BASE + ",\"rope_parameters\":5}").ropeTheta());
    }
}
