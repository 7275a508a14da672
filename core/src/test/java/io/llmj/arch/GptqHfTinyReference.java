package io.llmj.arch;

import static io.llmj.arch.ReferenceFile.argmax;
import static io.llmj.arch.ReferenceFile.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;
import io.llmj.backend.Op;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.GgmlType;
import io.llmj.quant.gptq.GptqMatrix;
import io.llmj.quant.gptq.GptqTestModels;
import io.llmj.testing.TestData;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GPTQ checkpoints built from the hf-tiny models by round-to-nearest ({@link GptqTestModels}: 2/4/8 bits,
 * group sizes 32/64/128/-1, act-order on and off, sym and asym) against the same models with the
 * dequantized weights stored as F32:
 * <ul>
 *   <li>quantization error: every weight within scale/2 of the original, plus what the fp16 rounding of
 *       the scale (relative error at most 2^-11) can add at the clamped ends of the range: maxq * 2^-11 scales;</li>
 *   <li>loading: every repacked layer dequantizes to exactly the reference F32 weights (so packing,
 *       zero offset, g_idx and the act-order permutation are undone correctly);</li>
 *   <li>logits at 20 positions on the backend under test within {@link #tolerance()} of the F32 model's
 *       on the Java reference backend, and over a 16-token greedy continuation (teacher-forced with the
 *       reference's tokens) the same logits within the tolerance and the same argmax except at the
 *       reference's near-ties (gap below twice the tolerance); on exact backends (tolerance 1e-3 or
 *       less) the identical continuation.</li>
 * </ul>
 */
public abstract class GptqHfTinyReference {
    /** The backend under test. */
    protected abstract Backend backend();

    /** Max |logit difference| allowed against the dequantized F32 model on the Java backend. */
    protected abstract double tolerance();

    @TempDir
    Path tmp;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final String[] LINEAR = {"attn_q", "attn_k", "attn_v", "attn_output", "attn_qkv", "ffn_gate", "ffn_up", "ffn_down"};

    @ParameterizedTest(name = "{0} {1}-bit g{2} desc_act={3} sym={4}")
    @CsvSource({
        "llama2, 4, 128, false, true",
        "llama2, 4, 32, true, false",
        "llama3, 4, 64, true, true",
        "mistral, 8, -1, false, true",
        "qwen2, 8, 64, true, false",
        "qwen3, 4, -1, false, false",
        "phi3, 4, 32, true, true",
        "gemma2, 8, 32, false, false",
        "llama2, 2, 32, false, false",
    })
    public void matchesDequantizedModel(String model, int bits, int groupSize, boolean descAct, boolean sym) {
        Assumptions.assumeTrue(backend().supports(Op.MATMUL, GgmlType.gptq(bits)),
                backend().name() + " backend has no GPTQ" + bits + " kernels: combination not supported");
        Path dir = TestData.require("hf-tiny/" + model);
        GptqTestModels.Result m = GptqTestModels.write(dir, tmp.resolve(model), bits, groupSize, descAct, sym, 42);
        int maxq = (1 << bits) - 1;
        assertTrue(m.maxErrOverScale() <= 0.5 + maxq * 0x1p-11,
                "RTN error " + m.maxErrOverScale() + " scales exceeds scale/2");
        Map<String, Object> ref = ReferenceFile.read(dir.resolve("reference.json"));
        int[] input = ints(ref.get("input_ids"));
        try (SafetensorsCheckpoint gck = SafetensorsCheckpoint.open(m.gptq());
             SafetensorsCheckpoint dck = SafetensorsCheckpoint.open(m.dequantized())) {
            HfModelSource g = new HfModelSource(m.gptq(), HfConfig.read(m.gptq().resolve("config.json")), gck);
            HfModelSource d = new HfModelSource(m.dequantized(), HfConfig.read(m.dequantized().resolve("config.json")), dck);
            assertEquals(GgmlType.gptq(bits), g.matrixTypes().stream().filter(GgmlType::isGptq).findFirst().orElseThrow());
            int checked = 0;
            for (String name : d.names()) {
                String base = name.replaceAll("^blk\\.\\d+\\.", "").replace(".weight", "");
                if (!java.util.Arrays.asList(LINEAR).contains(base) || !name.endsWith(".weight")) {
                    continue;
                }
                TensorRef gt = g.require(name);
                TensorRef dt = d.require(name);
                assertEquals(GgmlType.gptq(bits), gt.type(), name);
                GptqMatrix gm = GptqMatrix.of(gt.data());
                float[] want = dt.data().toArray(F32);
                float[] row = new float[gm.cols()];
                for (int r = 0; r < gm.rows(); r++) {
                    gm.dequantizeRow(r, row);
                    for (int c = 0; c < row.length; c++) {
                        if (Float.floatToIntBits(row[c] + 0f) != Float.floatToIntBits(want[r * gm.cols() + c] + 0f)) {
                            throw new AssertionError(name + "[" + r + ", " + c + "]: " + row[c] + " != " + want[r * gm.cols() + c]);
                        }
                    }
                }
                checked++;
            }
            assertEquals(m.layers(), checked, "every quantized layer compared");

            ModelConfig c = g.config();
            int v = c.vocabSize();
            float[] got = new float[input.length * v];
            float[] want = new float[input.length * v];
            float[][] wantSteps = new float[16][];
            float[][] gotSteps = new float[16][];
            int[] wantTokens;
            try (JavaBackend java = new JavaBackend()) {
                Forward fd = Forwards.create(d.config(), d, java);
                wantTokens = run(fd, input, want, null, wantSteps);
            }
            Forward fg = Forwards.create(c, g, backend());
            int[] gotTokens = run(fg, input, got, wantTokens, gotSteps);
            double maxDiff = 0;
            double maxAbs = 0;
            for (int i = 0; i < got.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
                maxAbs = Math.max(maxAbs, Math.abs(want[i]));
            }
            double vsOriginal = 0;
            float[][] orig = ReferenceFile.matrix(ref.get("logits"));
            for (int t = 0; t < input.length; t++) {
                vsOriginal = Math.max(vsOriginal, ReferenceFile.maxAbsDiff(got, orig[t], t * v));
            }
            System.out.printf("GPTQ %s %s %d-bit g%d desc_act=%b sym=%b: max|logit - F32 dequantized| %.3g (max |logit| %.3g),"
                    + " vs the unquantized model %.3g, RTN error %.4f scales%n", backend().name(), model, bits, groupSize,
                    descAct, sym, maxDiff, maxAbs, vsOriginal, m.maxErrOverScale());
            assertTrue(maxDiff <= tolerance(), model + ": max |logit diff| " + maxDiff + " > " + tolerance());
            // greedy decoding, teacher-forced with the reference's tokens: logits within the tolerance at
            // every step, and the same argmax except where the reference itself has a near-tie
            int same = 0;
            for (int i = 0; i < 16; i++) {
                double stepDiff = 0;
                for (int j = 0; j < v; j++) {
                    stepDiff = Math.max(stepDiff, Math.abs(gotSteps[i][j] - wantSteps[i][j]));
                }
                assertTrue(stepDiff <= tolerance(), model + " decode step " + i + ": max |logit diff| " + stepDiff);
                if (gotTokens[i] == wantTokens[i]) {
                    same++;
                } else {
                    double gap = wantSteps[i][wantTokens[i]] - wantSteps[i][gotTokens[i]];
                    assertTrue(gap <= 2 * tolerance(), model + " decode step " + i + ": picked " + gotTokens[i] + " over "
                            + wantTokens[i] + " though the reference prefers it by " + gap);
                }
            }
            System.out.printf("  greedy: %d of 16 tokens as the F32 model's (others near-ties)%n", same);
            if (tolerance() <= 1e-3) {
                assertArrayEquals(wantTokens, gotTokens, model + " greedy continuation");
            }
        }
    }

    /**
     * Logits of the whole input, then 16 greedy steps (each step's logits into {@code steps}); with
     * {@code forced}, those tokens are fed instead of the argmax (teacher forcing). Returns the argmaxes.
     */
    private static int[] run(Forward f, int[] input, float[] logits, int[] forced, float[][] steps) {
        int v = f.config().vocabSize();
        try (ForwardState s = f.newState(64, 32, GgmlType.F32)) {
            f.forward(s, input, 0, true, logits);
            float[] last = new float[v];
            System.arraycopy(logits, (input.length - 1) * v, last, 0, v);
            int[] out = new int[16];
            for (int i = 0; i < out.length; i++) {
                steps[i] = last.clone();
                out[i] = argmax(last, 0, v);
                f.forward(s, new int[] {forced != null ? forced[i] : out[i]}, input.length + i, false, last);
            }
            return out;
        }
    }
}
