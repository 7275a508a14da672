package io.llmj.samples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The text-generation commands end to end on stories260K (greedy output is llama.cpp's). */
class GenerationCommandsTest {
    private static String[] run(int expectedExit, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        assertEquals(expectedExit, cl.execute(args), () -> err.toString());
        return new String[] {out.toString(), err.toString()};
    }

    private static String model() {
        return TestData.require("models/stories260K.gguf").toString();
    }

    @Test
    void generateJsonReproducesTheReference() {
        String out = run(0, "generate", "-m", model(), "-p", "Once upon a time", "-n", "8", "--json")[0];
        Map<?, ?> o = (Map<?, ?>) Json.parse(out.strip());
        assertEquals(List.of(1L, 403L, 407L, 261L, 378L), o.get("prompt_ids"));
        assertEquals(List.of(432L, 383L, 286L, 261L, 376L, 298L, 315L, 421L), o.get("ids"));
        assertEquals(", there was a little girl", o.get("text"));
        assertTrue(((Number) o.get("decode_tps")).doubleValue() > 0);
    }

    @Test
    void generateIgnoringEndOfGenerationIsTheSameGreedyText() {
        String out = run(0, "generate", "-m", model(), "-p", "Once upon a time", "-n", "8", "--json", "--ignore-eos")[0];
        Map<?, ?> o = (Map<?, ?>) Json.parse(out.strip());
        assertEquals(List.of(432L, 383L, 286L, 261L, 376L, 298L, 315L, 421L), o.get("ids"));
    }

    @Test
    void benchPrintsTheTableWithTheBandwidthMeasuredNextToEachRepetition() {
        String out = run(0, "bench", "-m", model(), "-p", "8", "-n", "4", "-r", "2", "--threads", "2")[0];
        assertTrue(out.contains("| pp8 |"), out);
        assertTrue(out.matches("(?s).*\\| tg4 \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+ \\| [0-9]+% \\|.*"), out);
        assertTrue(out.matches("(?s).*\\(tg's fraction: each repetition against the bandwidth measured just before and after it, "
                + "[0-9.]+-[0-9.]+ GB/s\\).*"), out);
        // the run with a probe pass after each of the 4 steps; a step reads its weights from memory the pass has just
        // flushed them from, so not at twice the pass's rate (a step timed without its work would)
        Matcher m = Pattern.compile("\\(tg4 with a 256 MiB probe pass after each step: [0-9.]+ t/s, "
                + "steps read [0-9.]+ GB/s, passes [0-9.]+ GB/s: ([0-9]+)%; per-step median [0-9]+%, quartiles [0-9]+-[0-9]+%\\)")
                .matcher(out);
        assertTrue(m.find(), out);
        assertTrue(Integer.parseInt(m.group(1)) < 200, out);
    }

    @Test
    void logitsAndTokenize() {
        String tok = run(0, "tokenize", "-m", model(), "Once upon a time")[0];
        assertEquals("1 403 407 261 378", tok.strip());
        Map<?, ?> o = (Map<?, ?>) Json.parse(run(0, "logits", "-m", model(), "--ids", "1,403", "--all")[0].strip());
        List<?> rows = (List<?>) o.get("logits");
        assertEquals(2, rows.size());
        assertEquals(512, ((List<?>) rows.get(0)).size());
        assertTrue(run(1, "logits", "-m", model(), "--ids", "1,99999")[1].contains("outside the vocabulary"));
    }

    @Test
    void chatRendersWithTheFallbackTemplate() {
        String[] r = run(0, "chat", "-m", model(), "-p", "Hello", "--temp", "0", "-n", "4", "--show-prompt");
        assertTrue(r[1].contains("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"), r[1]);
        assertTrue(r[1].contains("no chat template: using ChatML"), r[1]);
        assertTrue(!r[0].isBlank());
    }

    @Test
    void perplexityIsFinite() {
        String out = run(0, "perplexity", "-m", model(), "-f", TestData.require("text/eval.txt").toString(), "--ctx", "128", "--chunks", "3")[0];
        assertTrue(out.contains("perplexity: "), out);
    }
}
