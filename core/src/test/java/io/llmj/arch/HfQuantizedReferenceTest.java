package io.llmj.arch;

import static io.llmj.arch.ReferenceFile.ints;
import static io.llmj.arch.ReferenceFile.matrix;
import static io.llmj.arch.ReferenceFile.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.backend.JavaBackend;
import io.llmj.format.gguf.GgufFile;
import io.llmj.quant.GgmlType;
import io.llmj.quant.ModelQuantizer;
import io.llmj.quant.QuantTarget;
import io.llmj.quant.QuantizationException;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Hugging Face llama-family folders converted by {@link ModelQuantizer} (F32 target, so nothing is lost)
 * and run from the GGUF with llama.cpp's interleaved RoPE reproduce transformers' logits: this checks
 * the Q/K permutation, the tensor names, the hyper-parameter keys and rope_freqs for llama3 scaling.
 */
class HfQuantizedReferenceTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama2", "llama3", "mistral"})
    void convertedGgufMatchesTransformers(String model) {
        Path dir = TestData.require("hf-tiny/" + model);
        Map<String, Object> ref = ReferenceFile.read(dir.resolve("reference.json"));
        Path out = tmp.resolve(model + ".gguf");
        new ModelQuantizer(QuantTarget.F32).threads(2).quantize(dir, out);
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals("llama", f.string("general.architecture").orElseThrow());
            assertFalse(f.has("tokenizer.ggml.tokens"), "no tokenizer is written for Hugging Face input");
            GgufModelSource src = new GgufModelSource(f);
            ModelConfig c = src.config();
            assertFalse(c.rope().neox(), "llama GGUFs use interleaved RoPE pairs");
            Forward fwd = Forwards.create(c, src, new JavaBackend());
            int[] input = ints(ref.get("input_ids"));
            float[][] expected = matrix(ref.get("logits"));
            try (ForwardState s = fwd.newState(64, 32, GgmlType.F32)) {
                float[] logits = new float[input.length * c.vocabSize()];
                fwd.forward(s, input, 0, true, logits);
                for (int t = 0; t < input.length; t++) {
                    double d = maxAbsDiff(logits, expected[t], t * c.vocabSize());
                    assertTrue(d <= 1e-4, model + " position " + t + ": max |diff| " + d);
                }
            }
        }
    }

    @Test
    void unsupportedModelTypeIsRejected() {
        Path dir = TestData.require("hf-tiny/qwen2");
        QuantizationException e = org.junit.jupiter.api.Assertions.assertThrows(QuantizationException.class,
                () -> new ModelQuantizer(QuantTarget.Q8_0).quantize(dir, tmp.resolve("q.gguf")));
        assertTrue(e.getMessage().contains("model_type 'qwen2' is not supported"), e.getMessage());
    }
}
