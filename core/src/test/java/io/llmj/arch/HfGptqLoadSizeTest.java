package io.llmj.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.gptq.GptqTestModels;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The load progress of a GPTQ checkpoint ends at its total: {@link HfModelSource#totalBytes} counts GPTQ layers at
 * the size of their repacked segments, which is what loading prepares (before, it counted only the unquantized
 * tensors, so the progress line sat at 100% through the whole repacking).
 */
class HfGptqLoadSizeTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0} {1}-bit g{2} desc_act={3}")
    @CsvSource({"llama2, 4, 32, false", "llama2, 4, 32, true", "qwen2, 8, 64, true"})
    void totalBytesIsWhatLoadingPrepares(String model, int bits, int groupSize, boolean descAct) {
        Path dir = TestData.require("hf-tiny/" + model);
        GptqTestModels.Result m = GptqTestModels.write(dir, tmp.resolve(model), bits, groupSize, descAct, false, 3);
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(m.gptq())) {
            HfModelSource src = new HfModelSource(m.gptq(), HfConfig.read(m.gptq().resolve("config.json")), ck);
            long prepared = 0;
            for (String name : src.names()) {
                prepared += src.require(name).data().byteSize();
            }
            assertEquals(prepared, src.totalBytes(), "bytes the load prepares");
        }
    }
}
