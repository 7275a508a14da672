package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.HfModelSource;
import io.llmj.backend.JavaBackend;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.testing.TestData;
import io.llmj.tokenizer.LlamaCppTokenizer;
import io.llmj.tokenizer.Vocabulary;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * On the hf-tiny checkpoints (random weights, vocabulary 512), calibrated with calib.txt tokenized by
 * stories260K's 512-token vocabulary: every linear layer's output error on the calibration inputs,
 * {@code ||X W^T - X W'^T||^2} (computed through the Hessian, see {@link GptqQuantizer#outputError}),
 * is lower with GPTQ than with round-to-nearest on the same grid.
 */
class GptqHfTinyTest {

    static List<int[]> calibration(int count, int length) throws Exception {
        try (GgufFile g = GgufFile.open(TestData.require("models/stories260K.gguf"))) {
            LlamaCppTokenizer tok = new LlamaCppTokenizer(Vocabulary.fromGguf(g));
            int[] ids = tok.encode(Files.readString(TestData.require("text/calib.txt"), StandardCharsets.UTF_8), true, false);
            return GptqPipeline.windows(ids, tok.bos(), count, length);
        }
    }

    @ParameterizedTest(name = "{0} {1}-bit group {2} act-order {3}")
    @CsvSource({
        "llama2, 4, 32, false",
        "llama2, 4, -1, false",
        "llama3, 4, 32, false",
        "llama3, 4, -1, true",
        "qwen2,  4, 32, true",
        "qwen2,  4, -1, false",
    })
    void gptqBeatsRoundToNearestOnEveryLayer(String model, int bits, int group, boolean actOrder) throws Exception {
        Path dir = TestData.require("hf-tiny/" + model);
        List<int[]> samples = calibration(16, 64);
        GptqQuantizer.Params p = GptqQuantizer.Params.of(bits, group, false, actOrder);
        try (Arena arena = Arena.ofConfined(); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir, arena);
             JavaBackend b = new JavaBackend()) {
            HfModelSource src = new HfModelSource(dir, HfConfig.read(dir.resolve("config.json")), ck);
            GptqPipeline.Outcome o = GptqPipeline.run(src.config(), src, b, samples, p, true, GptqWriter.packingFilter(bits), null);
            assertEquals(7 * src.config().nLayers(), o.matrices().size(), "every linear layer quantized");
            double sumG = 0;
            double sumR = 0;
            for (GptqPipeline.Quantized q : o.matrices()) {
                System.out.printf("%s %-26s %3dx%-3d output error GPTQ %.5g RTN %.5g (%.3f)%n", model, q.name(), q.rows(),
                        q.cols(), q.gptqError(), q.rtnError(), q.gptqError() / q.rtnError());
                assertTrue(q.gptqError() < q.rtnError(), q.name() + ": GPTQ " + q.gptqError() + " >= RTN " + q.rtnError());
                sumG += q.gptqError();
                sumR += q.rtnError();
            }
            System.out.printf("%s total: GPTQ %.5g RTN %.5g (%.3f), %.1f s%n", model, sumG, sumR, sumG / sumR, o.seconds());
            assertTrue(sumG < 0.8 * sumR, "GPTQ total " + sumG + " vs RTN " + sumR);
        }
    }
}
