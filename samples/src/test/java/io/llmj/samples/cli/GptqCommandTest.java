package io.llmj.samples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.Tokenizer;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.format.safetensors.SafetensorsDtype;
import io.llmj.testing.TestData;
import io.llmj.tokenizer.Tokenizers;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code llmj gptq} on stories260K, calibrated on calib.txt, 4 bits, group 32 (its 64-wide layers hold
 * two groups; the 172-wide feed-forward layers do not pack into int32 words of 8 codes and stay F32):
 * the folder it writes, and the perplexity on eval.txt of the model with the quantized weights
 * dequantized in memory: GPTQ below round-to-nearest on the same grid.
 */
class GptqCommandTest {
    private static final Pattern PPL = Pattern.compile("perplexity (\\S+)\\s+([0-9.]+)");

    private static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        assertEquals(0, cl.execute(args), () -> err.toString());
        return new String[] {out.toString(), err.toString()};
    }

    private static Map<String, Double> perplexities(String out) {
        Map<String, Double> m = new java.util.HashMap<>();
        Matcher x = PPL.matcher(out);
        while (x.find()) {
            m.put(x.group(1), Double.parseDouble(x.group(2)));
        }
        assertEquals(3, m.size(), out);
        return m;
    }

    @Test
    void stories260KGptqBeatsRoundToNearest(@TempDir Path tmp) throws Exception {
        String model = TestData.require("models/stories260K.gguf").toString();
        String calib = TestData.require("text/calib.txt").toString();
        String eval = TestData.require("text/eval.txt").toString();
        Path out = tmp.resolve("stories260K-gptq");
        String[] r = run("gptq", "-m", model, "-c", calib, "--bits", "4", "--group-size", "32", "--samples", "32",
                "--seq-len", "128", "-o", out.toString(), "--eval", eval, "--eval-ctx", "128", "--eval-chunks", "100", "-q");
        System.out.println(r[0] + r[1]);
        Map<String, Double> ppl = perplexities(r[0]);
        assertTrue(ppl.get("gptq") < ppl.get("round-to-nearest"), r[0]);
        assertTrue(ppl.get("unquantized") < ppl.get("gptq"), r[0]);
        for (String m : new String[] {"ffn_gate", "ffn_up", "ffn_down"}) {
            assertTrue(r[1].contains("not quantized: blk.0." + m + ".weight"), r[1]);
        }

        // the folder: gptq quantization_config, packed q/k/v/o, F32 feed-forward, a vocab-only tokenizer GGUF
        Map<String, Object> qc = HfConfig.read(out.resolve("config.json")).quantizationConfig().orElseThrow();
        assertEquals("gptq", qc.get("quant_method"));
        assertEquals(32L, ((Number) qc.get("group_size")).longValue());
        try (Arena arena = Arena.ofConfined(); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(out, arena)) {
            assertArrayEquals(new long[] {64 / 8, 64}, ck.tensor("model.layers.0.self_attn.q_proj.qweight").shape());
            assertArrayEquals(new long[] {2, 32 / 8}, ck.tensor("model.layers.0.self_attn.k_proj.qzeros").shape());
            assertArrayEquals(new long[] {2, 64}, ck.tensor("model.layers.4.self_attn.o_proj.scales").shape());
            assertEquals(SafetensorsDtype.F32, ck.tensor("model.layers.0.mlp.down_proj.weight").dtype());
            assertEquals(SafetensorsDtype.F32, ck.tensor("lm_head.weight").dtype());
        }
        Tokenizer t = Tokenizers.load(out.resolve("tokenizer.gguf"));
        assertArrayEquals(new int[] {1, 403, 407, 261, 378}, t.encode("Once upon a time", true, false));

        // the written folder loads as a GPTQ model: on the Java reference its perplexity is the one the tool
        // measured on the dequantized weights; the native CPU kernels (activations rounded to Q8_0) stay close
        Pattern p = Pattern.compile("perplexity: ([0-9.]+) over (\\d+) windows");
        for (String backend : new String[] {"java", "cpu"}) {
            String o = run("perplexity", "-m", out.toString(), "-f", eval, "--ctx", "128", "--chunks", "100",
                    "--backend", backend)[0];
            Matcher x = p.matcher(o);
            assertTrue(x.find(), o);
            double loaded = Double.parseDouble(x.group(1));
            double tol = backend.equals("java") ? 1e-3 : 1e-2;
            System.out.printf("GPTQ folder on %s: perplexity %.4f (tool: %.4f)%n", backend, loaded, ppl.get("gptq"));
            assertEquals(ppl.get("gptq"), loaded, tol * ppl.get("gptq"), o);
        }
    }
}
