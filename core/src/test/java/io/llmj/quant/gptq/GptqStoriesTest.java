package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.TensorSource;
import io.llmj.backend.JavaBackend;
import io.llmj.eval.Perplexity;
import io.llmj.format.gguf.GgufFile;
import io.llmj.testing.TestData;
import io.llmj.tokenizer.LlamaCppTokenizer;
import io.llmj.tokenizer.Vocabulary;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

class GptqStoriesTest {
    @Test
    void timing() throws Exception {
        try (GgufFile g = GgufFile.open(TestData.require("models/stories260K.gguf")); JavaBackend b = new JavaBackend()) {
            GgufModelSource src = new GgufModelSource(g);
            LlamaCppTokenizer tok = new LlamaCppTokenizer(Vocabulary.fromGguf(g));
            int[] calib = tok.encode(Files.readString(TestData.require("text/calib.txt"), StandardCharsets.UTF_8), true, false);
            int[] eval = tok.encode(Files.readString(TestData.require("text/eval.txt"), StandardCharsets.UTF_8), true, false);
            System.out.println("calib tokens " + calib.length + " eval tokens " + eval.length + " config " + src.config());
            List<int[]> samples = GptqPipeline.windows(calib, tok.bos(), 32, 128);
            long t0 = System.nanoTime();
            GptqPipeline.Outcome o = GptqPipeline.run(src.config(), src, b, samples, GptqQuantizer.Params.of(4, 32, false, false), false,
                    (n, r, c) -> c % 8 == 0 ? null : "packing", null);
            System.out.printf("pipeline %.1f s%n", (System.nanoTime() - t0) / 1e9);
            for (var q : o.matrices()) {
                System.out.printf("%s %dx%d gptq %.4g rtn %.4g%n", q.name(), q.rows(), q.cols(), q.gptqError(), q.rtnError());
            }
            for (var s : o.skipped()) {
                System.out.println("skipped " + s);
            }
            for (TensorSource ts : new TensorSource[] {src, o.rtnWeights(src), o.gptqWeights(src)}) {
                t0 = System.nanoTime();
                var r = Perplexity.compute(eval, tok.bos(), 128, 40, Perplexity.of(Forwards.create(src.config(), ts, b)), null);
                System.out.printf("ppl %.4f (%.1f s)%n", r.perplexity(), (System.nanoTime() - t0) / 1e9);
            }
        }
    }
}
