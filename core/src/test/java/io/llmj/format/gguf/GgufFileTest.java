package io.llmj.format.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.quant.GgmlType;
import io.llmj.testing.TestData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

public class GgufFileTest {
    static final Path STORIES = Path.of("models/stories260K.gguf");

    @TempDir
    Path tmp;

    @Test
    void stories260K() {
        try (GgufFile f = GgufFile.open(TestData.require(STORIES.toString()))) {
            assertEquals(3, f.version());
            assertEquals(32, f.alignment());
            assertEquals(19, f.metadata().size());
            assertEquals(48, f.tensors().size());
            assertEquals("llama", f.string("general.architecture").orElseThrow());
            assertEquals("llama", f.string("general.name").orElseThrow());
            assertEquals(64, f.integer("llama.embedding_length").orElseThrow());
            assertEquals(5, f.integer("llama.block_count").orElseThrow());
            assertEquals(172, f.integer("llama.feed_forward_length").orElseThrow());
            assertEquals(8, f.integer("llama.attention.head_count").orElseThrow());
            assertEquals(4, f.integer("llama.attention.head_count_kv").orElseThrow());
            assertEquals(8, f.integer("llama.rope.dimension_count").orElseThrow());
            assertEquals(128, f.integer("llama.context_length").orElseThrow());
            assertEquals(1e-5, f.number("llama.attention.layer_norm_rms_epsilon").orElseThrow(), 1e-12);
            for (String absent : List.of("llama.rope.freq_base", "llama.vocab_size", "general.file_type",
                    "tokenizer.ggml.pre", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix")) {
                assertFalse(f.has(absent), absent);
                assertTrue(f.integer(absent).isEmpty());
                assertTrue(f.string(absent).isEmpty());
            }
            for (String k : List.of("tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id")) {
                assertEquals(GgufValueType.UINT32, f.type(k));
                assertEquals(4294967295L, f.integer(k).orElseThrow());
            }
            assertEquals("llama", f.string("tokenizer.ggml.model").orElseThrow());
            List<String> tokens = f.stringArray("tokenizer.ggml.tokens");
            assertEquals(512, tokens.size());
            assertEquals("<unk>", tokens.get(0));
            assertEquals("<s>", tokens.get(1));
            assertEquals("</s>", tokens.get(2));
            assertEquals("<0x00>", tokens.get(3));
            assertEquals("<0xFF>", tokens.get(258));
            float[] scores = f.floatArray("tokenizer.ggml.scores");
            assertEquals(512, scores.length);
            assertEquals(-(300 - 259), scores[300], 0f);
            int[] types = f.intArray("tokenizer.ggml.token_type");
            assertEquals(2, types[0]);
            assertEquals(3, types[1]);
            assertEquals(6, types[3]);
            assertEquals(1, types[259]);
            assertNull(f.floatArray("nope"));
            assertNull(f.intArray("nope"));
            assertTrue(f.stringArray("nope").isEmpty());
            assertThrows(ModelFormatException.class, () -> f.stringArray("tokenizer.ggml.scores"));
            assertThrows(ModelFormatException.class, () -> f.string("llama.block_count"));
            assertThrows(ModelFormatException.class, () -> f.integer("general.name"));

            assertArrayEquals(new long[] {64, 512}, f.tensor("token_embd.weight").shape());
            assertArrayEquals(new long[] {64, 512}, f.tensor("output.weight").shape());
            assertArrayEquals(new long[] {64}, f.tensor("output_norm.weight").shape());
            for (int b = 0; b < 5; b++) {
                String p = "blk." + b + ".";
                assertArrayEquals(new long[] {64}, f.tensor(p + "attn_norm.weight").shape());
                assertArrayEquals(new long[] {64, 64}, f.tensor(p + "attn_q.weight").shape());
                assertArrayEquals(new long[] {64, 32}, f.tensor(p + "attn_k.weight").shape());
                assertArrayEquals(new long[] {64, 32}, f.tensor(p + "attn_v.weight").shape());
                assertArrayEquals(new long[] {64, 64}, f.tensor(p + "attn_output.weight").shape());
                assertArrayEquals(new long[] {64}, f.tensor(p + "ffn_norm.weight").shape());
                assertArrayEquals(new long[] {64, 172}, f.tensor(p + "ffn_gate.weight").shape());
                assertArrayEquals(new long[] {64, 172}, f.tensor(p + "ffn_up.weight").shape());
                assertArrayEquals(new long[] {172, 64}, f.tensor(p + "ffn_down.weight").shape());
            }
            assertNull(f.tensor("nope"));
            long params = 0;
            for (GgufTensor t : f.tensors()) {
                assertEquals(GgmlType.F32, t.type());
                assertEquals(t.elements() * 4, t.data().byteSize());
                assertEquals(0, t.offset() % 32);
                assertTrue(t.data().isMapped());
                params += t.elements();
            }
            // The data is a zero-copy view: check one value against the raw file bytes.
            GgufTensor norm = f.tensor("output_norm.weight");
            long fileOffset = f.dataOffset() + norm.offset();
            assertEquals(f.mapping().get(ValueLayout.JAVA_FLOAT_UNALIGNED, fileOffset),
                    norm.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
            assertTrue(params > 250_000 && params < 300_000, "params " + params);
        }
    }

    static List<Path> allGgufs() throws IOException {
        List<Path> out = new ArrayList<>();
        out.add(TestData.require(STORIES.toString()));
        for (String dir : List.of("vocab", "quant")) {
            try (Stream<Path> s = Files.list(TestData.require(dir))) {
                s.filter(p -> p.toString().endsWith(".gguf")).sorted().forEach(out::add);
            }
        }
        return out;
    }

    @Test
    void everyTestDataGgufParses() throws IOException {
        List<Path> files = allGgufs();
        assertTrue(files.size() >= 20, "found " + files.size());
        for (Path p : files) {
            try (GgufFile f = GgufFile.open(p)) {
                assertTrue(f.version() == 2 || f.version() == 3, p.toString());
                touchEverything(f);
                if (p.getFileName().toString().startsWith("ggml-vocab")) {
                    assertFalse(f.stringArray("tokenizer.ggml.tokens").isEmpty(), p.toString());
                }
            }
        }
    }

    /** Reads every metadata value through the typed accessors and one byte at each end of every tensor. */
    public static long touchEverything(GgufFile f) {
        long sum = 0;
        for (Map.Entry<String, Object> e : f.metadata().entrySet()) {
            String k = e.getKey();
            GgufValueType t = f.type(k);
            assertNotNull(t);
            sum += GgufFile.format(e.getValue(), 4).length();
            switch (t) {
                case STRING -> sum += f.string(k).orElseThrow().length();
                case BOOL -> sum += f.bool(k).orElseThrow() ? 1 : 0;
                case FLOAT32, FLOAT64 -> sum += (long) f.number(k).orElseThrow();
                case ARRAY -> {
                    GgufArray a = f.array(k);
                    sum += a.size();
                    if (a.elementType() == GgufValueType.STRING) {
                        sum += f.stringArray(k).size();
                    } else if (a.elementType().isFloat()) {
                        sum += f.floatArray(k).length;
                    } else if (a.elementType().isInteger()) {
                        try {
                            sum += f.intArray(k).length;
                        } catch (ModelFormatException ex) {
                            sum++; // out of int range is a legitimate outcome
                        }
                    }
                }
                default -> {
                    try {
                        sum += f.integer(k).orElseThrow();
                    } catch (ModelFormatException ex) {
                        sum++; // a UINT64 above Long.MAX_VALUE
                    }
                    sum += (long) f.number(k).orElseThrow();
                }
            }
        }
        for (GgufTensor t : f.tensors()) {
            MemorySegment d = t.data();
            assertEquals(t.type().byteSize(t.elements()), d.byteSize());
            if (d.byteSize() > 0) {
                sum += d.get(ValueLayout.JAVA_BYTE, 0) + d.get(ValueLayout.JAVA_BYTE, d.byteSize() - 1);
            }
        }
        return sum;
    }

    @Test
    void rewritingStoriesIsByteIdentical() throws IOException {
        Path src = TestData.require(STORIES.toString());
        Path dst = tmp.resolve("copy.gguf");
        try (GgufFile f = GgufFile.open(src)) {
            GgufWriter.copyOf(f).write(dst);
        }
        assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(dst));
    }

    @Test
    void rewritingEveryTestDataGgufIsByteIdenticalAndParsesBackIdentically() throws IOException {
        for (Path src : allGgufs()) {
            Path dst = tmp.resolve("copy.gguf");
            try (GgufFile f = GgufFile.open(src)) {
                GgufWriter.copyOf(f).write(dst);
                try (GgufFile g = GgufFile.open(dst)) {
                    assertSame(f, g);
                }
            }
            assertEquals(-1L, Arrays.mismatch(Files.readAllBytes(src), Files.readAllBytes(dst)), src.toString());
        }
    }

    @Test
    void version2IsRead() throws IOException {
        // Versions 2 and 3 share one layout (3 only added big-endian files, which we reject).
        Path src = TestData.require(STORIES.toString());
        byte[] b = Files.readAllBytes(src);
        b[4] = 2;
        try (GgufFile f = GgufFile.read(MemorySegment.ofArray(b), Path.of("v2.gguf"))) {
            assertEquals(2, f.version());
            assertEquals(48, f.tensors().size());
            assertEquals(19, f.metadata().size());
        }
    }

    static void assertSame(GgufFile f, GgufFile g) {
        assertEquals(f.metadata(), g.metadata());
        for (String k : f.metadata().keySet()) {
            assertEquals(f.type(k), g.type(k), k);
        }
        assertEquals(f.tensors().size(), g.tensors().size());
        for (GgufTensor a : f.tensors()) {
            GgufTensor b = g.tensor(a.name());
            assertNotNull(b, a.name());
            assertArrayEquals(a.shape(), b.shape());
            assertEquals(a.type(), b.type());
            assertEquals(-1L, a.data().mismatch(b.data()), a.name());
        }
    }

    @Test
    void roundTripEveryValueType() {
        Path p = tmp.resolve("all.gguf");
        GgufArray nested = new GgufArray(GgufValueType.ARRAY, new GgufArray[] {
            new GgufArray(GgufValueType.INT32, new int[] {1, 2, 3}),
            new GgufArray(GgufValueType.STRING, new String[] {"a", "", "ü▁"}),
            new GgufArray(GgufValueType.ARRAY, new GgufArray[] {new GgufArray(GgufValueType.BOOL, new boolean[] {true})})
        });
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "test")
                .putUInt32("general.alignment", 64)
                .putUInt8("u8", 255)
                .putInt8("i8", -128)
                .putUInt16("u16", 65535)
                .putInt16("i16", -32768)
                .putUInt32("u32", 0xFFFF_FFFFL)
                .putInt32("i32", Integer.MIN_VALUE)
                .putUInt64("u64", -1L)
                .putUInt64("u64small", 7)
                .putInt64("i64", Long.MIN_VALUE)
                .putFloat32("f32", 1.5f)
                .putFloat64("f64", Math.PI)
                .putBool("yes", true)
                .putBool("no", false)
                .putString("empty", "")
                .putString("unicode", "héllo ▁ 🐶\n")
                .putStringArray("strs", List.of("x", "yy"))
                .putFloat32Array("floats", new float[] {0.5f, -2f})
                .putInt32Array("ints", new int[] {5, -6})
                .putArray("u8s", new GgufArray(GgufValueType.UINT8, new byte[] {(byte) 200, 1}))
                .putArray("i16s", new GgufArray(GgufValueType.INT16, new short[] {-3, 4}))
                .putArray("u32s", new GgufArray(GgufValueType.UINT32, new int[] {-1}))
                .putArray("u64s", new GgufArray(GgufValueType.UINT64, new long[] {-1, 3}))
                .putArray("f64s", new GgufArray(GgufValueType.FLOAT64, new double[] {1e300}))
                .putArray("bools", new GgufArray(GgufValueType.BOOL, new boolean[] {true, false}))
                .putArray("emptyarr", new GgufArray(GgufValueType.FLOAT32, new float[0]))
                .putArray("nested", nested);
        float[] a = new float[3 * 5];
        for (int i = 0; i < a.length; i++) {
            a[i] = i * 0.25f;
        }
        byte[] q = new byte[2 * 34];
        q[0] = 1;
        q[67] = 9;
        w.addTensor("a", new long[] {3, 5}, GgmlType.F32, MemorySegment.ofArray(a));
        w.addTensor("q", new long[] {32, 2}, GgmlType.Q8_0, MemorySegment.ofArray(q));
        w.addTensor("s", new long[] {1}, GgmlType.F16, MemorySegment.ofArray(new short[] {0x3c00}));
        w.write(p);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.open(p, arena);
            assertEquals(64, f.alignment());
            assertEquals(0, f.dataOffset() % 64);
            assertEquals(255, f.integer("u8").orElseThrow());
            assertEquals(-128, f.integer("i8").orElseThrow());
            assertEquals(65535, f.integer("u16").orElseThrow());
            assertEquals(-32768, f.integer("i16").orElseThrow());
            assertEquals(0xFFFF_FFFFL, f.integer("u32").orElseThrow());
            assertEquals(Integer.MIN_VALUE, f.integer("i32").orElseThrow());
            assertEquals(new BigInteger("18446744073709551615"), f.get("u64"));
            assertThrows(ModelFormatException.class, () -> f.integer("u64"));
            assertEquals(1.8446744073709552E19, f.number("u64").orElseThrow());
            assertEquals(7, f.integer("u64small").orElseThrow());
            assertEquals(Long.MIN_VALUE, f.integer("i64").orElseThrow());
            assertEquals(1.5, f.number("f32").orElseThrow());
            assertEquals(1.5f, f.get("f32"));
            assertEquals(Math.PI, f.number("f64").orElseThrow());
            assertTrue(f.bool("yes").orElseThrow());
            assertFalse(f.bool("no").orElseThrow());
            assertEquals("", f.string("empty").orElseThrow());
            assertEquals("héllo ▁ 🐶\n", f.string("unicode").orElseThrow());
            assertEquals(List.of("x", "yy"), f.stringArray("strs"));
            assertArrayEquals(new float[] {0.5f, -2f}, f.floatArray("floats"));
            assertArrayEquals(new int[] {5, -6}, f.intArray("ints"));
            assertArrayEquals(new int[] {200, 1}, f.intArray("u8s"));
            assertArrayEquals(new int[] {-3, 4}, f.intArray("i16s"));
            assertArrayEquals(new float[] {-3f, 4f}, f.floatArray("i16s"));
            assertThrows(ModelFormatException.class, () -> f.intArray("u32s"));
            assertThrows(ModelFormatException.class, () -> f.intArray("u64s"));
            assertEquals(List.of(new BigInteger("18446744073709551615"), 3L), f.array("u64s").asList());
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY}, f.floatArray("f64s"));
            assertEquals(List.of(true, false), f.array("bools").asList());
            assertArrayEquals(new float[0], f.floatArray("emptyarr"));
            assertEquals(nested, f.get("nested"));
            assertEquals(List.of("a", "", "ü▁"), ((GgufArray) f.array("nested").get(1)).asList());
            assertThrows(ModelFormatException.class, () -> f.intArray("nested"));
            assertThrows(ModelFormatException.class, () -> f.stringArray("ints"));
            assertThrows(ModelFormatException.class, () -> f.bool("u8"));

            GgufTensor ta = f.tensor("a");
            assertArrayEquals(new long[] {3, 5}, ta.shape());
            assertEquals(15, ta.elements());
            assertEquals(0, ta.offset());
            assertEquals(2.5f, ta.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, 10 * 4));
            GgufTensor tq = f.tensor("q");
            assertEquals(GgmlType.Q8_0, tq.type());
            assertEquals(64, tq.offset());
            assertEquals(9, tq.data().get(ValueLayout.JAVA_BYTE, 67));
            assertEquals(GgmlType.F16, f.tensor("s").type());
            assertEquals(192, f.tensor("s").offset());
            f.close(); // the caller's arena owns the mapping: still readable
            assertEquals(1, tq.data().get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void ownedArenaIsClosedOnClose() {
        GgufFile f = GgufFile.open(TestData.require(STORIES.toString()));
        MemorySegment d = f.tensors().get(0).data();
        d.get(ValueLayout.JAVA_BYTE, 0);
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, () -> d.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void splitIntoThreeParts() {
        Path src = TestData.require(STORIES.toString());
        try (GgufFile f = GgufFile.open(src)) {
            List<Path> parts = GgufWriter.copyOf(f).writeSplit(tmp, "stories", 3);
            assertEquals(List.of(tmp.resolve("stories-00001-of-00003.gguf"), tmp.resolve("stories-00002-of-00003.gguf"),
                    tmp.resolve("stories-00003-of-00003.gguf")), parts);
            try (GgufFile g = GgufFile.open(parts.get(0))) {
                assertEquals(parts, g.parts());
                assertEquals(48, g.tensors().size());
                assertEquals(3, g.integer(GgufFile.SPLIT_COUNT).orElseThrow());
                assertEquals(0, g.integer(GgufFile.SPLIT_NO).orElseThrow());
                assertEquals(48, g.integer(GgufFile.SPLIT_TENSORS_COUNT).orElseThrow());
                assertEquals(f.metadata().size() + 3, g.metadata().size());
                for (String k : f.metadata().keySet()) {
                    assertEquals(f.get(k), g.get(k), k);
                }
                for (int i = 0; i < 48; i++) {
                    GgufTensor a = f.tensors().get(i);
                    GgufTensor b = g.tensors().get(i);
                    assertEquals(a.name(), b.name());
                    assertArrayEquals(a.shape(), b.shape());
                    assertEquals(-1L, a.data().mismatch(b.data()), a.name());
                }
                // The last tensor lives in the third part.
                GgufTensor last = g.tensors().get(47);
                try (GgufFile third = GgufFile.read(g.mapping(), null)) {
                    assertNull(third.tensor(last.name()));
                }
            }
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.open(parts.get(1)));
            assertTrue(e.getMessage().contains("open the first part"), e.getMessage());
        }
    }

    @Test
    void splitWithMissingPartIsRejected() throws IOException {
        try (GgufFile f = GgufFile.open(TestData.require(STORIES.toString()))) {
            List<Path> parts = GgufWriter.copyOf(f).writeSplit(tmp, "m", 3);
            Files.delete(parts.get(2));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.open(parts.get(0)));
            assertTrue(e.getMessage().contains("missing"), e.getMessage());
            Path renamed = tmp.resolve("other.gguf");
            Files.copy(parts.get(0), renamed);
            assertThrows(ModelFormatException.class, () -> GgufFile.open(renamed));
        }
    }

    /** A little-endian builder for hand-made headers. */
    static final class Bytes {
        final ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        Bytes magic() {
            b.put("GGUF".getBytes(StandardCharsets.US_ASCII));
            return this;
        }

        Bytes i32(int v) {
            b.putInt(v);
            return this;
        }

        Bytes i64(long v) {
            b.putLong(v);
            return this;
        }

        Bytes str(String s) {
            byte[] x = s.getBytes(StandardCharsets.UTF_8);
            b.putLong(x.length);
            b.put(x);
            return this;
        }

        Bytes pad(int alignment) {
            while (b.position() % alignment != 0) {
                b.put((byte) 0);
            }
            return this;
        }

        Bytes zeros(int n) {
            b.put(new byte[n]);
            return this;
        }

        byte[] get() {
            byte[] r = new byte[b.position()];
            b.get(0, r);
            return r;
        }
    }

    static ModelFormatException reject(byte[] bytes) {
        return assertThrows(ModelFormatException.class, () -> GgufFile.read(MemorySegment.ofArray(bytes), Path.of("x.gguf")));
    }

    @Test
    void malformedHeadersAreRejectedWithUsefulMessages() {
        assertTrue(reject(new byte[0]).getMessage().contains("magic"));
        assertTrue(reject("GGML....".getBytes()).getMessage().contains("magic"));
        assertTrue(reject(new Bytes().magic().i32(1).i64(0).i64(0).get()).getMessage().contains("version 1"));
        assertTrue(reject(new Bytes().magic().i32(0x03000000).i64(0).i64(0).get()).getMessage().contains("big-endian"));
        assertTrue(reject(new Bytes().magic().i32(3).i64(0).get()).getMessage().contains("truncated"));
        assertTrue(reject(new Bytes().magic().i32(3).i64(0).i64(Long.MAX_VALUE).get()).getMessage().contains("metadata count"));
        assertTrue(reject(new Bytes().magic().i32(3).i64(-1).i64(0).get()).getMessage().contains("tensor count"));
        // string length beyond the end
        assertTrue(reject(new Bytes().magic().i32(3).i64(0).i64(1).i64(1L << 40).zeros(16).get()).getMessage().contains("length"));
        // unknown value type
        assertTrue(reject(new Bytes().magic().i32(3).i64(0).i64(1).str("k").i32(13).zeros(16).get()).getMessage().contains("unknown value type"));
        // duplicate key
        ModelFormatException dup = reject(new Bytes().magic().i32(3).i64(0).i64(2).str("k").i32(4).i32(1).str("k").i32(4).i32(1).get());
        assertTrue(dup.getMessage().contains("duplicate key k"), dup.getMessage());
        // huge array count
        ModelFormatException arr = reject(new Bytes().magic().i32(3).i64(0).i64(1).str("k").i32(9).i32(6).i64(1L << 60).zeros(32).get());
        assertTrue(arr.getMessage().contains("array length"), arr.getMessage());
        assertTrue(arr.getMessage().contains("offset 41"), arr.getMessage());
        assertTrue(arr.getMessage().contains("key k"), arr.getMessage());
        // bad alignment
        assertTrue(reject(new Bytes().magic().i32(3).i64(0).i64(1).str("general.alignment").i32(4).i32(48).get())
                .getMessage().contains("power of two"));
        assertTrue(reject(new Bytes().magic().i32(3).i64(0).i64(1).str("general.alignment").i32(4).i32(0).get())
                .getMessage().contains("power of two"));
        // deep nesting
        Bytes deep = new Bytes().magic().i32(3).i64(0).i64(1).str("k").i32(9);
        for (int i = 0; i < 40; i++) {
            deep.i32(9).i64(1);
        }
        deep.i32(4).i64(0);
        assertTrue(reject(deep.get()).getMessage().contains("nested"));
    }

    static byte[] oneTensor(int nDims, long[] dims, int type, long offset, int dataBytes) {
        Bytes b = new Bytes().magic().i32(3).i64(1).i64(0).str("t").i32(nDims);
        for (long d : dims) {
            b.i64(d);
        }
        return b.i32(type).i64(offset).pad(32).zeros(dataBytes).get();
    }

    @Test
    void malformedTensorInfosAreRejected() {
        GgufFile ok = GgufFile.read(MemorySegment.ofArray(oneTensor(2, new long[] {4, 2}, 0, 0, 32)), null);
        assertEquals(8, ok.tensor("t").elements());
        assertTrue(reject(oneTensor(5, new long[] {1, 1, 1, 1, 1}, 0, 0, 32)).getMessage().contains("dimensions"));
        assertTrue(reject(oneTensor(0, new long[0], 0, 0, 32)).getMessage().contains("dimensions"));
        assertTrue(reject(oneTensor(2, new long[] {4, 0}, 0, 0, 32)).getMessage().contains("positive"));
        assertTrue(reject(oneTensor(2, new long[] {4, -1}, 0, 0, 32)).getMessage().contains("positive"));
        assertTrue(reject(oneTensor(2, new long[] {1L << 32, 1L << 32}, 0, 0, 32)).getMessage().contains("overflow"));
        assertTrue(reject(oneTensor(1, new long[] {1L << 62}, 0, 0, 32)).getMessage().contains("overflow"));
        assertTrue(reject(oneTensor(2, new long[] {4, 2}, 4, 0, 32)).getMessage().contains("unknown ggml type"));
        assertTrue(reject(oneTensor(2, new long[] {4, 2}, 99, 0, 32)).getMessage().contains("unknown ggml type"));
        assertTrue(reject(oneTensor(2, new long[] {16, 2}, 8, 0, 68)).getMessage().contains("blocks"));
        assertTrue(reject(oneTensor(2, new long[] {4, 2}, 0, 16, 64)).getMessage().contains("alignment"));
        assertTrue(reject(oneTensor(2, new long[] {4, 2}, 0, 32, 32)).getMessage().contains("outside"));
        assertTrue(reject(oneTensor(2, new long[] {4, 3}, 0, 0, 32)).getMessage().contains("outside"));
        assertTrue(reject(oneTensor(2, new long[] {4, 2}, 0, Long.MAX_VALUE - 31 & ~31L, 32)).getMessage().contains("outside"));
        // overlapping and duplicate tensors
        byte[] two = new Bytes().magic().i32(3).i64(2).i64(0)
                .str("a").i32(1).i64(16).i32(0).i64(0)
                .str("b").i32(1).i64(8).i32(0).i64(32)
                .pad(32).zeros(64).get();
        assertTrue(reject(two).getMessage().contains("overlaps"));
        byte[] dup = new Bytes().magic().i32(3).i64(2).i64(0)
                .str("a").i32(1).i64(8).i32(0).i64(0)
                .str("a").i32(1).i64(8).i32(0).i64(32)
                .pad(32).zeros(64).get();
        assertTrue(reject(dup).getMessage().contains("duplicate tensor name a"));
    }

    @Test
    void fileOverTwoGiBWithSparseData() throws IOException {
        // The tensor data sits at 3 GiB in a sparse file: no disk is used for the hole.
        long offset = 3L << 30;
        byte[] header = new Bytes().magic().i32(3).i64(2).i64(1)
                .str("general.architecture").i32(8).str("sparse")
                .str("small").i32(1).i64(8).i32(0).i64(0)
                .str("big").i32(2).i64(16).i64(2).i32(0).i64(offset)
                .pad(32).get();
        Path p = tmp.resolve("sparse.gguf");
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.write(header);
            raf.setLength(header.length + offset + 128);
            raf.seek(header.length + offset + 124);
            raf.write(new byte[] {0, 0, (byte) 0x80, 0x3f}); // 1.0f, little-endian: the last element of "big"
        }
        try (GgufFile f = GgufFile.open(p)) {
            GgufTensor big = f.tensor("big");
            assertEquals(offset, big.offset());
            assertEquals(128, big.data().byteSize());
            assertEquals(1.0f, big.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, 124));
            assertEquals(0f, big.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
            assertEquals(header.length + offset + 128, f.mapping().byteSize());
        }
        Files.delete(p);
    }
}
