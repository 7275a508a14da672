package io.llmj.arch;

import static io.llmj.arch.ReferenceFile.argmax;
import static io.llmj.arch.ReferenceFile.ints;
import static io.llmj.arch.ReferenceFile.matrix;
import static io.llmj.arch.ReferenceFile.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.format.gguf.GgufFile;
import io.llmj.quant.GgmlType;
import io.llmj.testing.TestData;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * stories260K on the Java reference backend against llama.cpp's logits (F32 KV cache): every prompt
 * position (prompt as one batch), every generation step of case 1, and all 64 greedy tokens of every
 * case. Tolerance 1e-4 absolute (the README measures llama.cpp's own batch-vs-single noise at 8e-6).
 */
public abstract class StoriesReference {
    /** The backend under test. */
    protected abstract io.llmj.backend.Backend backend();

    /** The forward pass under test: by default every layer on {@link #backend()}; split tests override it. */
    protected Forward forward(ModelConfig c, TensorSource src) {
        return Forwards.create(c, src, backend());
    }

    static final double TOL = 1e-4;

    @Test
    public void matchesLlamaCppF32Kv() {
        Map<String, Object> ref = ReferenceFile.read(TestData.require("reference/stories260K-greedy-f32kv.json"));
        try (GgufFile f = GgufFile.open(TestData.require("models/stories260K.gguf"))) {
            GgufModelSource src = new GgufModelSource(f);
            ModelConfig c = src.config();
            assertEquals(512, c.vocabSize());
            Forward fwd = forward(c, src);
            int caseNo = 0;
            for (Object o : (List<?>) ref.get("cases")) {
                caseNo++;
                Map<?, ?> cs = (Map<?, ?>) o;
                int[] prompt = ints(cs.get("prompt_token_ids"));
                int[] expected = ints(cs.get("generated_token_ids"));
                float[][] promptLogits = matrix(cs.get("all_prompt_position_logits"));
                float[][] stepLogits = cs.containsKey("generation_step_logits") ? matrix(cs.get("generation_step_logits")) : null;
                try (ForwardState s = fwd.newState(128, 128, GgmlType.F32)) {
                    float[] logits = new float[prompt.length * c.vocabSize()];
                    fwd.forward(s, prompt, 0, true, logits);
                    for (int t = 0; t < prompt.length; t++) {
                        double d = maxAbsDiff(logits, promptLogits[t], t * c.vocabSize());
                        assertTrue(d <= TOL, "case " + caseNo + " prompt position " + t + ": max |diff| " + d);
                    }
                    int[] got = new int[expected.length];
                    float[] last = new float[c.vocabSize()];
                    System.arraycopy(logits, (prompt.length - 1) * c.vocabSize(), last, 0, c.vocabSize());
                    for (int step = 0; step < expected.length; step++) {
                        if (stepLogits != null) {
                            double d = maxAbsDiff(last, stepLogits[step], 0);
                            assertTrue(d <= TOL, "case " + caseNo + " step " + step + ": max |diff| " + d);
                        }
                        got[step] = argmax(last, 0, c.vocabSize());
                        if (step + 1 < expected.length) {
                            fwd.forward(s, new int[] {got[step]}, prompt.length + step, false, last);
                        }
                    }
                    assertArrayEquals(expected, got, "case " + caseNo + " greedy tokens");
                }
            }
            assertEquals(4, caseNo);
        }
    }
}
