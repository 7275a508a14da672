package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.GenerationOptions;
import io.llmj.Model;
import io.llmj.ModelFormatException;
import io.llmj.ModelOptions;
import io.llmj.Sampler;
import io.llmj.format.json.Json;
import io.llmj.quant.SyntheticModel;
import io.llmj.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A synthetic GPTQ folder loads through {@link Model#load} (detection, tokenizer, repacking) and generates; bad configs are rejected by name. */
class GptqSyntheticModelTest {
    @TempDir
    Path tmp;

    @Test
    void synthesizedFolderLoadsAndGenerates() {
        Path tok = TestData.require("hf-tokenizers/mistral-spm/tokenizer.json");
        SyntheticModel.Shape s = new SyntheticModel.Shape("t", 256, 2, 8, 4, 512, 32000, 256, 10000f);
        Path dir = tmp.resolve("gptq");
        GptqSyntheticModel.write(s, 32000, 4, 64, true, tok, 3, dir);
        try (Model m = Model.load(dir, ModelOptions.defaults().withBackend("java"))) {
            List<io.llmj.Token> out = m.generator(GenerationOptions.builder().maxTokens(4).sampler(Sampler.greedy()).build())
                    .stream("Once upon a time").toList();
            assertEquals(4, out.size());
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void unsupportedQuantizationIsRejected() throws Exception {
        Path tok = TestData.require("hf-tokenizers/mistral-spm/tokenizer.json");
        SyntheticModel.Shape s = new SyntheticModel.Shape("t", 64, 1, 4, 4, 128, 32000, 256, 10000f);
        Path dir = tmp.resolve("bad");
        GptqSyntheticModel.write(s, 32000, 8, -1, false, tok, 3, dir);
        Map<String, Object> c = (Map<String, Object>) Json.parse(dir.resolve("config.json"));
        Map<String, Object> q = (Map<String, Object>) c.get("quantization_config");
        for (Object[] bad : new Object[][] {{"quant_method", "awq", "'awq' checkpoints are not supported"},
                {"checkpoint_format", "marlin", "format 'marlin' is not supported"}, {"bits", 3L, "3-bit GPTQ is not supported"},
                {"group_size", 48L, "group size 48 is not supported"}}) {
            Map<String, Object> q2 = new java.util.LinkedHashMap<>(q);
            q2.put((String) bad[0], bad[1]);
            Map<String, Object> c2 = new java.util.LinkedHashMap<>(c);
            c2.put("quantization_config", q2);
            Files.writeString(dir.resolve("config.json"), Json.write(c2));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> Model.load(dir));
            assertTrue(e.getMessage().contains((String) bad[2]) && e.getMessage().contains("config.json"), e.getMessage());
        }
    }
}
