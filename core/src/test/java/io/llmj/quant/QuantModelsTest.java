package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.testing.TestData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every quantized tensor of the llama-quantize outputs in {@code testdata/quant} (synthetic Llama in
 * Q8_0, Q4_0, Q4_K_M, Q6_K; stories260K in Q8_0/F16) equals, byte for byte, our quantization of the
 * same tensor of the F32 model (llama-quantize calls the same reference quantizers, without an
 * importance matrix): about 100 tensors, over 4 M elements, of Q8_0, Q4_0, Q4_K, Q6_K and F16.
 */
class QuantModelsTest {

    /** A quantized model and the F32 model it was made from. */
    record Pair(String quantized, String f32) {}

    static final List<Pair> PAIRS = List.of(new Pair("quant/synth-llama-Q8_0.gguf", "quant/synth-llama-f32.gguf"),
            new Pair("quant/synth-llama-Q4_0.gguf", "quant/synth-llama-f32.gguf"),
            new Pair("quant/synth-llama-Q4_K_M.gguf", "quant/synth-llama-f32.gguf"),
            new Pair("quant/synth-llama-Q6_K.gguf", "quant/synth-llama-f32.gguf"),
            new Pair("quant/stories260K-Q8_0-f16ffn.gguf", "models/stories260K.gguf"));

    static final Map<String, GgufFile> OPEN = new HashMap<>();

    static synchronized GgufFile file(String relative) {
        return OPEN.computeIfAbsent(relative, r -> GgufFile.open(TestData.require(r)));
    }

    @AfterAll
    static synchronized void closeAll() {
        OPEN.values().forEach(GgufFile::close);
        OPEN.clear();
    }

    /** One non-F32 tensor of one quantized model. */
    record TensorCase(Pair pair, String tensor, GgmlType type) {
        @Override
        public String toString() {
            String file = pair.quantized().substring(pair.quantized().lastIndexOf('/') + 1);
            return file + " " + tensor + " " + type;
        }
    }

    static Stream<TensorCase> tensors() {
        List<TensorCase> out = new ArrayList<>();
        for (Pair p : PAIRS) {
            for (GgufTensor t : file(p.quantized()).tensors()) {
                if (t.type() != GgmlType.F32) {
                    out.add(new TensorCase(p, t.name(), t.type()));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tensors")
    void quantizingTheF32TensorGivesLlamaQuantizeBytes(TensorCase c) {
        GgufTensor q = file(c.pair().quantized()).tensor(c.tensor());
        GgufTensor src = file(c.pair().f32()).tensor(c.tensor());
        assertNotNull(src, c.tensor() + " missing from " + c.pair().f32());
        assertEquals(GgmlType.F32, src.type());
        assertEquals(List.of(src.shape()[0], src.elements()), List.of(q.shape()[0], q.elements()), "shape");
        QuantFormat f = QuantFormats.require(c.type());
        float[] x = src.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
        int n = x.length;
        int rowLen = (int) src.shape()[0];
        long rowBytes = f.byteSize(rowLen);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(f.byteSize(n));
            f.quantize(x, 0, n, out, 0);
            long mismatch = out.mismatch(q.data());
            if (mismatch >= 0) {
                fail(c + ": first differing byte " + mismatch + " (row " + mismatch / rowBytes + ", block "
                        + (mismatch % rowBytes) / f.blockBytes() + ")");
            }
        }
    }
}
