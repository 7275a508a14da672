package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.HfModelSource;
import io.llmj.backend.JavaBackend;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.format.safetensors.SafetensorsDtype;
import io.llmj.format.safetensors.SafetensorsTensor;
import io.llmj.quant.Float16;
import io.llmj.testing.TestData;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gptq checkpoint layout: packing by hand, and a written hf-tiny folder read back. */
class GptqWriterTest {

    @Test
    void packsAHandWorkedExample() {
        // 4 bits, 8 outputs (rows) x 16 inputs (cols): 8 codes per int32
        int rows = 8;
        int cols = 16;
        int[] codes = new int[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                codes[r * cols + c] = (r + c) % 16;
            }
        }
        int[] q = GptqWriter.packQweight(codes, rows, cols, 4);
        assertEquals(2 * rows, q.length);                     // [16 * 4 / 32, 8]
        // word (0, r=0): inputs 0..7 of output 0 = codes 0,1,...,7, input 0 in the low nibble
        assertEquals(0x76543210, q[0]);
        // word (0, r=1): codes 1..8
        assertEquals(0x87654321, q[1]);
        // word (1, r=0): inputs 8..15 of output 0 = codes 8..15
        assertEquals(0xFEDCBA98, q[rows]);
        // word (1, r=7): inputs 8..15 of output 7 = codes 15,0,1,...,6
        assertEquals(0x6543210F, q[rows + 7]);

        // qzeros: 2 groups x 8 outputs, stored zero - 1, 8 per word along the outputs
        int[] zeros = {1, 2, 3, 4, 5, 6, 7, 8,   16, 15, 14, 13, 12, 11, 10, 9};
        int[] z = GptqPacking.packQzeros(zeros, 2, rows, 4);
        assertArrayEquals(new int[] {0x76543210, 0x89ABCDEF}, z);
        // a zero point of 0 cannot be stored minus one: rejected (the writer's quantizer never produces it)
        assertThrows(IllegalArgumentException.class,
                () -> GptqPacking.packQzeros(new int[] {0, 1, 1, 1, 1, 1, 1, 1}, 1, 8, 4));

        // 2 bits: 16 codes per word; 8 bits: 4
        int[] c2 = new int[32];
        for (int c = 0; c < 32; c++) {
            c2[c] = c % 4;
        }
        assertArrayEquals(new int[] {0xE4E4E4E4, 0xE4E4E4E4}, GptqWriter.packQweight(c2, 1, 32, 2));
        assertArrayEquals(new int[] {0x04030201}, GptqWriter.packQweight(new int[] {1, 2, 3, 4}, 1, 4, 8));
    }

    @Test
    void packingRules() {
        assertNull(GptqWriter.skipReason(64, 64, 4));
        assertNotNull(GptqWriter.skipReason(64, 172, 4));      // inputs not a multiple of 8
        assertNotNull(GptqWriter.skipReason(172, 64, 4));      // outputs not a multiple of 8
        assertNotNull(GptqWriter.skipReason(64, 64, 3));
        assertNull(GptqWriter.skipReason(4, 4, 8));
    }

    @Test
    void unpermutationInvertsConvertHfToGguf() {
        // convert_hf_to_gguf's permute, one head of 8 rows: HF rows [0 1 2 3 | 4 5 6 7] -> gguf [0 4 1 5 2 6 3 7]
        int[] order = GptqWriter.unpermutation(8, 1);
        assertArrayEquals(new int[] {0, 2, 4, 6, 1, 3, 5, 7}, order);   // HF row i is gguf row order[i]
        assertArrayEquals(new int[] {0, 2, 1, 3, 4, 6, 5, 7}, GptqWriter.unpermutation(8, 2));
    }

    /** Writes hf-tiny llama2 quantized (act-order, 4 bits, group 32) and decodes the folder back by hand. */
    @Test
    void writtenFolderDecodesToTheQuantizedWeights(@TempDir Path tmp) throws Exception {
        Path dir = TestData.require("hf-tiny/qwen2");
        Path out = tmp.resolve("gptq");
        GptqQuantizer.Params p = GptqQuantizer.Params.of(4, 32, false, true);
        GptqPipeline.Outcome o;
        try (Arena arena = Arena.ofConfined(); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir, arena);
             JavaBackend b = new JavaBackend()) {
            HfModelSource src = new HfModelSource(dir, HfConfig.read(dir.resolve("config.json")), ck);
            Random rnd = new Random(5);
            List<int[]> samples = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                samples.add(rnd.ints(32, 0, 512).toArray());
            }
            o = GptqPipeline.run(src.config(), src, b, samples, p, true, GptqWriter.packingFilter(4), null);
            GptqWriter.writeFromHf(out, dir, src, o, p, true);
        }
        // hf-tiny: 64 hidden, 176 intermediate (22 words of 8): every linear layer packs
        assertTrue(o.skipped().isEmpty(), o.skipped().toString());
        assertEquals(2 * 7, o.matrices().size());
        Map<String, Object> qc = HfConfig.read(out.resolve("config.json")).quantizationConfig().orElseThrow();
        assertEquals("gptq", qc.get("quant_method"));
        assertEquals(4L, ((Number) qc.get("bits")).longValue());
        assertEquals(32L, ((Number) qc.get("group_size")).longValue());
        assertEquals(true, qc.get("desc_act"));
        assertEquals(false, qc.get("sym"));
        assertEquals("gptq", qc.get("checkpoint_format"));
        try (Arena arena = Arena.ofConfined(); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(out, arena)) {
            for (GptqPipeline.Quantized q : o.matrices()) {
                String hf = new HfModelSource(dir, HfConfig.read(dir.resolve("config.json")),
                        SafetensorsCheckpoint.open(dir, arena)).hfTensor(q.name()).name();
                String prefix = hf.substring(0, hf.length() - ".weight".length());
                assertNull(ck.tensor(hf), hf + " is replaced by its quantized form");
                float[] decoded = decode(ck, prefix, q.rows(), q.cols(), 4);
                assertArrayEquals(q.gptq().dequantized(), decoded, prefix);
            }
            assertNotNull(ck.tensor("model.layers.0.self_attn.q_proj.bias"));
            assertNotNull(ck.tensor("model.embed_tokens.weight"));
            assertEquals(SafetensorsDtype.F32, ck.tensor("model.norm.weight").dtype());
        }
        assertTrue(Files.isRegularFile(out.resolve("generation_config.json")));
    }

    /**
     * From a GGUF (stories260K): with nothing quantized, the folder holds the model in Hugging Face
     * layout (names, un-permuted Q/K rows, config.json), and llmj's Hugging Face loader computes the
     * GGUF model's logits from it. Checks the name mapping, the un-permutation and the config.
     */
    @Test
    void ggufSourceBecomesAHuggingFaceFolder(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("stories");
        int[] ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
        float[] expected = new float[ids.length * 512];
        GptqQuantizer.Params p = GptqQuantizer.Params.of(4, 32, false, false);
        try (io.llmj.format.gguf.GgufFile g = io.llmj.format.gguf.GgufFile.open(TestData.require("models/stories260K.gguf"));
             JavaBackend b = new JavaBackend()) {
            io.llmj.arch.GgufModelSource src = new io.llmj.arch.GgufModelSource(g);
            GptqPipeline.Outcome o = GptqPipeline.run(src.config(), src, b, List.of(ids), p, false,
                    (n, r, c) -> "kept for this test", null);
            assertTrue(o.matrices().isEmpty());
            assertEquals(35, o.skipped().size());
            GptqWriter.writeFromGguf(out, src, o, p, false);
            var f = io.llmj.arch.Forwards.create(src.config(), src, b);
            try (var s = f.newState(ids.length, ids.length, ids.length, io.llmj.quant.GgmlType.F32)) {
                f.forward(s, ids, 0, true, expected);
            }
        }
        float[] actual = new float[expected.length];
        try (Arena arena = Arena.ofConfined(); SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(out, arena);
             JavaBackend b = new JavaBackend()) {
            HfModelSource hf = new HfModelSource(out, HfConfig.read(out.resolve("config.json")), ck);
            var f = io.llmj.arch.Forwards.create(hf.config(), hf, b);
            try (var s = f.newState(ids.length, ids.length, ids.length, io.llmj.quant.GgmlType.F32)) {
                f.forward(s, ids, 0, true, actual);
            }
        }
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(max < 1e-4, "logits differ by " + max);
        assertArrayEquals(new int[] {1, 403, 407, 261, 378},
                io.llmj.tokenizer.Tokenizers.load(out.resolve("tokenizer.gguf")).encode("Once upon a time", true, false));
    }

    /** The gptq format's dequantization, written out independently of the writer. */
    static float[] decode(SafetensorsCheckpoint ck, String prefix, int out, int in, int bits) {
        var I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        var I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        SafetensorsTensor qw = ck.tensor(prefix + ".qweight");
        SafetensorsTensor qz = ck.tensor(prefix + ".qzeros");
        SafetensorsTensor sc = ck.tensor(prefix + ".scales");
        SafetensorsTensor gi = ck.tensor(prefix + ".g_idx");
        int per = 32 / bits;
        int mask = (1 << bits) - 1;
        assertArrayEquals(new long[] {in / per, out}, qw.shape());
        assertEquals(SafetensorsDtype.I32, qw.dtype());
        assertEquals(SafetensorsDtype.F16, sc.dtype());
        assertArrayEquals(new long[] {in}, gi.shape());
        float[] w = new float[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                int g = gi.data().getAtIndex(I32, i);
                int code = (qw.data().getAtIndex(I32, (long) (i / per) * out + o) >>> ((i % per) * bits)) & mask;
                int zero = ((qz.data().getAtIndex(I32, (long) g * (out / per) + o / per) >>> ((o % per) * bits)) & mask) + 1;
                float scale = Float16.toFloat(sc.data().getAtIndex(I16, (long) g * out + o));
                w[o * in + i] = scale * (code - zero);
            }
        }
        return w;
    }
}
