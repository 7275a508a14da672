package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.ModelConfig;
import io.llmj.backend.JavaBackend;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.testing.TestData;
import io.llmj.tokenizer.Vocabulary;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SyntheticModelTest {
    @TempDir
    Path tmp;

    private Path synth(SyntheticModel.Shape shape, QuantTarget target, long seed, int threads, String name) {
        Path out = tmp.resolve(name);
        SyntheticModel.write(shape, target, TestData.require("models/stories260K.gguf"), seed, threads,
                (i, n, t, d, total) -> { }, out);
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"F16", "Q8_0", "Q4_0", "Q4_K_M", "Q6_K", "BF16"})
    void tinyOpensWithExpectedShapesAndTypesAndRuns(String type) {
        QuantTarget target = QuantTarget.parse(type);
        Path out = synth(SyntheticModel.preset("tiny"), target, 7, 2, type + ".gguf");
        try (GgufFile g = GgufFile.open(out)) {
            assertEquals(target.fileType(), g.integer("general.file_type").orElseThrow());
            assertEquals(3 + 2 * 9, g.tensors().size());
            assertArrayEquals(new long[] {256, 512}, g.tensor("token_embd.weight").shape());
            assertArrayEquals(new long[] {256, 128}, g.tensor("blk.1.attn_k.weight").shape());
            assertArrayEquals(new long[] {512, 256}, g.tensor("blk.0.ffn_down.weight").shape());
            for (GgufTensor t : g.tensors()) {
                GgmlType want = t.rank() == 1 ? GgmlType.F32 : target.defaultType();
                if (t.name().equals("output.weight") && target.defaultType().isQuantized() && target != QuantTarget.Q8_0) {
                    want = GgmlType.Q6_K;
                }
                if (target == QuantTarget.Q4_K_M && (t.name().equals("blk.1.attn_v.weight")
                        || t.name().equals("blk.1.ffn_down.weight"))) {
                    want = GgmlType.Q6_K;
                }
                assertEquals(want, t.type(), t.name());
            }
            assertEquals(512, Vocabulary.fromGguf(g).tokens().length);
            GgufModelSource src = new GgufModelSource(g);
            ModelConfig c = src.config();
            Forward fwd = Forwards.create(c, src, new JavaBackend());
            try (ForwardState s = fwd.newState(16, 4, GgmlType.F32)) {
                float[] logits = new float[c.vocabSize()];
                fwd.forward(s, new int[] {1, 403, 407}, 0, false, logits);
                double sum = 0;
                for (float f : logits) {
                    assertTrue(Float.isFinite(f));
                    sum += f * f;
                }
                double rms = Math.sqrt(sum / logits.length);
                assertTrue(rms > 0.05 && rms < 50, "logit rms " + rms);
            }
        }
    }

    @Test
    void sameSeedSameBytesWhateverTheThreads() throws Exception {
        SyntheticModel.Shape tiny = SyntheticModel.preset("tiny");
        Path a = synth(tiny, QuantTarget.Q4_K_M, 42, 1, "a.gguf");
        Path b = synth(tiny, QuantTarget.Q4_K_M, 42, 2, "b.gguf");
        Path c = synth(tiny, QuantTarget.Q4_K_M, 43, 2, "c.gguf");
        assertEquals(-1, Files.mismatch(a, b));
        assertTrue(Files.mismatch(a, c) >= 0);
    }

    @Test
    void largerVocabularyIsPaddedWithUnusedTokens() {
        Path out = synth(SyntheticModel.Shape.parse("64,1,4,2,128,600"), QuantTarget.Q8_0, 1, 2, "pad.gguf");
        try (GgufFile g = GgufFile.open(out)) {
            Vocabulary v = Vocabulary.fromGguf(g);
            assertEquals(600, v.tokens().length);
            assertEquals("<synth_unused_599>", v.tokens()[599]);
            assertEquals(Vocabulary.TYPE_UNUSED, v.tokenTypes()[599]);
            assertEquals(600, g.tensor("output.weight").dim(1));
        }
    }

    @Test
    void badShapesAndNamesAreRejected() {
        assertThrows(QuantizationException.class, () -> SyntheticModel.preset("llama-99b"));
        assertThrows(QuantizationException.class, () -> SyntheticModel.Shape.parse("64,1,4"));
        QuantizationException e = assertThrows(QuantizationException.class,
                () -> synth(SyntheticModel.Shape.parse("64,1,4,2,128,100"), QuantTarget.Q8_0, 1, 2, "small.gguf"));
        assertTrue(e.getMessage().contains("smaller than"), e.getMessage());
    }
}
