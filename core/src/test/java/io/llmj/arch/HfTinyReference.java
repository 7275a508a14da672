package io.llmj.arch;

import static io.llmj.arch.ReferenceFile.argmax;
import static io.llmj.arch.ReferenceFile.ints;
import static io.llmj.arch.ReferenceFile.matrix;
import static io.llmj.arch.ReferenceFile.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.GgmlType;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The hf-tiny checkpoints on the Java reference backend against transformers' float32 logits at
 * every position (tolerance 1e-4 absolute; the reference values are rounded to 6 decimals), and the
 * 16-token greedy continuation with a KV cache.
 */
public abstract class HfTinyReference {
    /** The backend under test. */
    protected abstract io.llmj.backend.Backend backend();

    /** The forward pass under test: by default every layer on {@link #backend()}; split tests override it. */
    protected Forward forward(ModelConfig c, TensorSource src) {
        return Forwards.create(c, src, backend());
    }

    static final double TOL = 1e-4;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama2", "llama3", "llama3-bf16", "mistral", "qwen2", "qwen3", "phi3", "gemma2"})
    public void matchesTransformers(String model) {
        Path dir = TestData.require("hf-tiny/" + model);
        Map<String, Object> ref = ReferenceFile.read(dir.resolve("reference.json"));
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            HfModelSource src = new HfModelSource(dir, HfConfig.read(dir.resolve("config.json")), ckpt);
            ModelConfig c = src.config();
            Forward fwd = forward(c, src);
            int[] input = ints(ref.get("input_ids"));
            float[][] expected = matrix(ref.get("logits"));
            try (ForwardState s = fwd.newState(64, 32, GgmlType.F32)) {
                float[] logits = new float[input.length * c.vocabSize()];
                fwd.forward(s, input, 0, true, logits);
                for (int t = 0; t < input.length; t++) {
                    double d = maxAbsDiff(logits, expected[t], t * c.vocabSize());
                    assertTrue(d <= TOL, model + " position " + t + ": max |diff| " + d);
                }
                if (ref.containsKey("greedy_continuation")) {
                    int[] want = ints(ref.get("greedy_continuation"));
                    int[] got = new int[want.length];
                    float[] last = new float[c.vocabSize()];
                    System.arraycopy(logits, (input.length - 1) * c.vocabSize(), last, 0, c.vocabSize());
                    for (int i = 0; i < want.length; i++) {
                        got[i] = argmax(last, 0, c.vocabSize());
                        fwd.forward(s, new int[] {got[i]}, input.length + i, false, last);
                    }
                    assertArrayEquals(want, got, model + " greedy continuation");
                }
            }
        }
    }
}
