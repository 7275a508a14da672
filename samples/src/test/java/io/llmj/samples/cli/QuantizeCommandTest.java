package io.llmj.samples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.format.gguf.GgufFile;
import io.llmj.quant.GgmlType;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code llmj quantize} and {@code llmj synth} through picocli. */
class QuantizeCommandTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static Path testData(String relative) {
        Path p = Path.of("..", "..", "shared", "testdata", relative).toAbsolutePath().normalize();
        if (!Files.exists(p)) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                throw new AssertionError("test data missing: " + p);
            }
            Assumptions.abort("test data missing: " + p);
        }
        return p;
    }

    @Test
    void quantizeWritesLlamaQuantizeIdenticalFileWithProgressAndSummary() throws Exception {
        Path in = testData("quant/synth-llama-f32.gguf");
        Path out = tmp.resolve("q4km.gguf");
        Run r = run("quantize", "-t", "2", in.toString(), out.toString(), "q4_k_m");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Q4_K_M: 21 tensors (5 F32, 13 Q4_K, 3 Q6_K), 5.5 MiB -> 0.9 MiB, "), r.out());
        assertTrue(r.err().contains("tensor 21/21") && r.err().contains("ETA"), r.err());
        assertEquals(-1, Files.mismatch(testData("quant/synth-llama-Q4_K_M.gguf"), out));
    }

    @Test
    void quantizeErrorsAreOneLine() {
        Run r = run("quantize", testData("quant/synth-llama-f32.gguf").toString(), tmp.resolve("x.gguf").toString(), "Q3_X");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("llmj: unknown quantization type 'Q3_X' (known: F32, F16"), r.err());
        r = run("quantize", testData("models/stories260K.gguf").toString(), tmp.resolve("x.gguf").toString(), "Q8_0");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("llmj: blk.0.ffn_down.weight: rows of 172 are not divisible by 32"), r.err());
        r = run("quantize", "-q", "--allow-f16-fallback", testData("models/stories260K.gguf").toString(),
                tmp.resolve("x.gguf").toString(), "Q8_0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("5 F16") && r.err().contains("fallback: blk.4.ffn_down.weight"), r.err());
    }

    @Test
    void quantizeHuggingFaceFolderSaysThereIsNoTokenizer() {
        Run r = run("quantize", "-q", testData("hf-tiny/llama2").toString(), tmp.resolve("hf.gguf").toString(), "Q4_K_M");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("note: no tokenizer metadata written"), r.err());
        // 64-wide rows: Q4_K falls back to Q5_0, Q6_K (blk.1.attn_v) to Q8_0; 176-wide ffn_down to F16; output Q8_0
        assertTrue(r.err().contains("fallback: blk.0.attn_k.weight: rows of 64 are not divisible by 256 (required for Q4_K), using Q5_0"), r.err());
        assertTrue(r.out().contains("(5 F32, 2 F16, 12 Q5_0, 2 Q8_0)"), r.out());
    }

    @Test
    void synthTinyWritesRequestedTypes() {
        Path out = tmp.resolve("tiny.gguf");
        Run r = run("synth", "--shape", "tiny", "--type", "Q4_K_M", "--seed", "3", "-t", "2",
                "--vocab", testData("models/stories260K.gguf").toString(), out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("tiny Q4_K_M: 21 tensors (5 F32, 13 Q4_K, 3 Q6_K)"), r.out());
        try (GgufFile g = GgufFile.open(out)) {
            assertEquals(GgmlType.Q6_K, g.tensor("output.weight").type());
            assertEquals(15, g.integer("general.file_type").orElseThrow());
        }
        r = run("synth", "--dims", "64,1,4,2,128,0", "--type", "F16", "-q",
                "--vocab", testData("models/stories260K.gguf").toString(), tmp.resolve("d.gguf").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("custom F16: 12 tensors (3 F32, 9 F16)"), r.out());
        r = run("synth", "--shape", "huge", "--type", "Q4_0", tmp.resolve("h.gguf").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("llmj: unknown shape 'huge'"), r.err());
    }
}
