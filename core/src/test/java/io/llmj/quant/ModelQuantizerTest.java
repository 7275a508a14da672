package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.format.gguf.GgufWriter;
import io.llmj.testing.TestData;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link ModelQuantizer} against llama-quantize's files in testdata/quant (README section 3). */
class ModelQuantizerTest {
    @TempDir
    Path tmp;

    /** Same tensors in the same order, with the same names, shapes, types and bytes; same file_type. */
    static void assertSameTensors(Path expectedFile, Path actualFile) {
        try (GgufFile e = GgufFile.open(expectedFile); GgufFile a = GgufFile.open(actualFile)) {
            assertEquals(e.integer("general.file_type"), a.integer("general.file_type"), "general.file_type");
            assertEquals(e.integer("general.quantization_version"), a.integer("general.quantization_version"));
            List<GgufTensor> et = e.tensors();
            List<GgufTensor> at = a.tensors();
            assertEquals(et.stream().map(GgufTensor::name).toList(), at.stream().map(GgufTensor::name).toList());
            for (int i = 0; i < et.size(); i++) {
                GgufTensor x = et.get(i);
                GgufTensor y = at.get(i);
                assertEquals(x.type(), y.type(), x.name());
                assertArrayEquals(x.shape(), y.shape(), x.name());
                assertEquals(-1, x.data().mismatch(y.data()), x.name() + ": data differs");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q8_0", "Q4_0", "Q4_K_M", "Q6_K"})
    void synthMatchesLlamaQuantizeByteForByte(String type) throws Exception {
        Path in = TestData.require("quant/synth-llama-f32.gguf");
        Path expected = TestData.require("quant/synth-llama-" + type + ".gguf");
        Path out = tmp.resolve("out.gguf");
        ModelQuantizer.Result r = new ModelQuantizer(QuantTarget.parse(type)).threads(2).quantize(in, out);
        assertSameTensors(expected, out);
        // metadata order, alignment and padding match too, so the whole file is identical
        assertEquals(-1, Files.mismatch(expected, out), "whole file");
        assertTrue(r.notes().isEmpty(), r.notes().toString());
        assertEquals(Files.size(expected), r.outputBytes());
    }

    @Test
    void storiesQ6KFallsBackLikeLlamaCpp() {
        Path in = TestData.require("models/stories260K.gguf");
        Path expected = TestData.require("quant/stories260K-Q8_0-f16ffn.gguf");
        Path out = tmp.resolve("q6k.gguf");
        ModelQuantizer.Result r = new ModelQuantizer(QuantTarget.Q6_K).threads(2).quantize(in, out);
        assertSameTensors(expected, out);
        assertEquals(32, r.types().get(GgmlType.Q8_0));
        assertEquals(5, r.types().get(GgmlType.F16));
        assertEquals(11, r.types().get(GgmlType.F32));
        assertEquals(36, r.notes().size(), r.notes().toString());   // output.weight is Q8_0 by its own rule
    }

    @Test
    void storiesQ8_0FailsLikeLlamaCppUnlessFallbackAllowed() {
        Path in = TestData.require("models/stories260K.gguf");
        Path out = tmp.resolve("q8.gguf");
        QuantizationException e = assertThrows(QuantizationException.class,
                () -> new ModelQuantizer(QuantTarget.Q8_0).threads(2).quantize(in, out));
        assertTrue(e.getMessage().contains("blk.0.ffn_down.weight: rows of 172 are not divisible by 32 (required for Q8_0)"),
                e.getMessage());
        ModelQuantizer.Result r = new ModelQuantizer(QuantTarget.Q8_0).threads(2).legacyFallback(true).quantize(in, out);
        // with the fallback: exactly the reference mixture (every ffn_down F16, the rest Q8_0)
        assertSameTensors(TestData.require("quant/stories260K-Q8_0-f16ffn.gguf"), out, 7);
        assertEquals(5, r.notes().size());
        assertTrue(r.notes().get(0).endsWith("using F16"), r.notes().get(0));
    }

    /** As {@link #assertSameTensors(Path, Path)} but with a different expected file type. */
    static void assertSameTensors(Path expectedFile, Path actualFile, long fileType) {
        try (GgufFile a = GgufFile.open(actualFile)) {
            assertEquals(fileType, a.integer("general.file_type").orElseThrow());
        }
        Path copy = actualFile.resolveSibling("retyped.gguf");
        try (GgufFile e = GgufFile.open(expectedFile)) {
            GgufWriter.copyOf(e).putUInt32("general.file_type", fileType).write(copy);
        }
        assertSameTensors(copy, actualFile);
    }

    @Test
    void quantizedSourceTensorsAreRejected() {
        Path in = TestData.require("quant/synth-llama-Q8_0.gguf");
        QuantizationException e = assertThrows(QuantizationException.class,
                () -> new ModelQuantizer(QuantTarget.Q4_0).quantize(in, tmp.resolve("x.gguf")));
        assertTrue(e.getMessage().contains("is Q8_0; llmj quantizes from F32, F16 or BF16"), e.getMessage());
    }

    @Test
    void overwritingTheInputIsRejected() throws Exception {
        Path copy = tmp.resolve("in.gguf");
        Files.copy(TestData.require("quant/synth-llama-f32.gguf"), copy);
        QuantizationException e = assertThrows(QuantizationException.class,
                () -> new ModelQuantizer(QuantTarget.Q8_0).quantize(copy, copy));
        assertTrue(e.getMessage().contains("would overwrite the input"), e.getMessage());
    }

    @Test
    void unknownTargetNameIsRejected() {
        QuantizationException e = assertThrows(QuantizationException.class, () -> QuantTarget.parse("Q3_X"));
        assertTrue(e.getMessage().contains("unknown quantization type 'Q3_X'") && e.getMessage().contains("Q4_K_M"),
                e.getMessage());
    }

    @Test
    void f16TargetConvertsMatricesOnly() throws Exception {
        Path in = TestData.require("quant/synth-llama-f32.gguf");
        Path out = tmp.resolve("f16.gguf");
        new ModelQuantizer(QuantTarget.F16).threads(2).quantize(in, out);
        try (GgufFile src = GgufFile.open(in); GgufFile g = GgufFile.open(out)) {
            assertEquals(1, g.integer("general.file_type").orElseThrow());
            for (GgufTensor t : g.tensors()) {
                assertEquals(t.rank() == 1 ? GgmlType.F32 : GgmlType.F16, t.type(), t.name());
            }
            GgufTensor a = src.tensor("blk.1.ffn_up.weight");
            GgufTensor b = g.tensor("blk.1.ffn_up.weight");
            MemorySegment row = MemorySegment.ofArray(new byte[512]);
            F16.INSTANCE.quantize(a.data().asSlice(0, 1024).toArray(ValueLayout.JAVA_FLOAT), 0, 256, row, 0);
            assertEquals(-1, row.mismatch(b.data().asSlice(0, 512)));
        }
    }
}
