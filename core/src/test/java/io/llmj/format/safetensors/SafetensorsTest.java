package io.llmj.format.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    static final List<String> MODELS = List.of("llama2", "llama3", "llama3-bf16", "mistral", "qwen2", "qwen3", "phi3", "gemma2");

    @TempDir
    Path tmp;

    @Test
    void everyHfTinyCheckpointOpens() {
        for (String m : MODELS) {
            Path p = TestData.require("hf-tiny/" + m + "/model.safetensors");
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                assertEquals("pt", f.metadata().get("format"), m);
                SafetensorsTensor embed = f.tensor("model.embed_tokens.weight");
                assertNotNull(embed, m);
                assertArrayEquals(new long[] {512, 64}, embed.shape(), m);
                assertEquals(m.equals("llama3-bf16") ? SafetensorsDtype.BF16 : SafetensorsDtype.F32, embed.dtype(), m);
                long params = 0;
                long bytes = 0;
                for (SafetensorsTensor t : f.tensors()) {
                    assertEquals(t.elements() * t.dtype().bytes(), t.data().byteSize());
                    params += t.elements();
                    bytes += t.data().byteSize();
                }
                assertTrue(params > 100_000 && params < 200_000, m + " params " + params);
                assertEquals(Files.size(p) - f.dataOffset(), bytes, m + ": the tensors cover the data section");
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }
    }

    @Test
    void bf16IsTheRoundedF32() {
        try (SafetensorsCheckpoint f32 = SafetensorsCheckpoint.open(TestData.require("hf-tiny/llama3"));
                SafetensorsCheckpoint bf16 = SafetensorsCheckpoint.open(TestData.require("hf-tiny/llama3-bf16"))) {
            assertEquals(f32.tensors().size(), bf16.tensors().size());
            MemorySegment a = f32.tensor("model.layers.0.self_attn.q_proj.weight").data();
            MemorySegment b = bf16.tensor("model.layers.0.self_attn.q_proj.weight").data();
            for (int i = 0; i < 64; i++) {
                float x = a.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4L);
                float y = Float.intBitsToFloat(b.get(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2L) << 16);
                assertEquals(x, y, Math.abs(x) / 128, "element " + i);
            }
        }
    }

    /** Builds a safetensors image: tensors as name, dtype, shape, bytes; data laid out in order. */
    static byte[] build(Map<String, String> meta, Object[]... tensors) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (meta != null) {
            header.put("__metadata__", new LinkedHashMap<>(meta));
        }
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Object[] t : tensors) {
            byte[] bytes = (byte[]) t[3];
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t[1]);
            info.put("shape", t[2]);
            info.put("data_offsets", List.of((long) data.size(), (long) data.size() + bytes.length));
            header.put((String) t[0], info);
            data.writeBytes(bytes);
        }
        return assemble(Json.write(header), data.toByteArray());
    }

    static byte[] assemble(String headerJson, byte[] data) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        return b.array();
    }

    static SafetensorsFile read(byte[] b) {
        return SafetensorsFile.read(MemorySegment.ofArray(b), Path.of("x.safetensors"));
    }

    static String reject(byte[] b) {
        return assertThrows(ModelFormatException.class, () -> read(b)).getMessage();
    }

    @Test
    void everyDtype() {
        Object[][] ts = new Object[SafetensorsDtype.values().length][];
        int i = 0;
        for (SafetensorsDtype d : SafetensorsDtype.values()) {
            ts[i++] = new Object[] {"t_" + d, d.name(), List.of(2L, 3L), new byte[6 * d.bytes()]};
        }
        SafetensorsFile f = read(build(Map.of("k", "v"), ts));
        assertEquals(SafetensorsDtype.values().length, f.tensors().size());
        assertEquals(SafetensorsDtype.BF16, f.tensor("t_BF16").dtype());
        assertEquals(48, f.tensor("t_F64").data().byteSize());
        assertEquals("v", f.metadata().get("k"));
        SafetensorsFile scalarAndEmpty = read(build(null, new Object[] {"s", "F32", List.of(), new byte[4]},
                new Object[] {"e", "F32", List.of(0L, 5L), new byte[0]}));
        assertEquals(1, scalarAndEmpty.tensor("s").elements());
        assertEquals(0, scalarAndEmpty.tensor("e").elements());
        assertTrue(scalarAndEmpty.metadata().isEmpty());
    }

    @Test
    void malformedHeadersAreRejected() {
        assertTrue(reject(new byte[3]).contains("too short"));
        byte[] ok = build(null, new Object[] {"a", "F32", List.of(2L), new byte[8]});
        ByteBuffer.wrap(ok).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40);
        assertTrue(reject(ok).contains("header length"));
        assertTrue(reject(assemble("[1,2]", new byte[0])).contains("not an object"));
        assertTrue(reject(assemble("{\"a\":", new byte[0])).contains("JSON"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4])).contains("dtype"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4])).contains("shape"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", new byte[4])).contains("shape"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[8])).contains("needs 8"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[8])).contains("outside"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", new byte[8])).contains("outside"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", new byte[8])).contains("two integers"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", new byte[8])).contains("overflow"));
        assertTrue(reject(assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12])).contains("overlaps"));
        assertTrue(reject(assemble("{\"__metadata__\":{\"a\":1}}", new byte[0])).contains("not a string"));
        assertTrue(reject(assemble("{\"a\":7}", new byte[0])).contains("not an object"));
        byte[] badUtf8 = assemble("{\"a\":\"xx\"}", new byte[0]);
        badUtf8[14] = (byte) 0xC3;
        assertTrue(reject(badUtf8).contains("UTF-8"));
    }

    @Test
    void shardedCheckpointResolvesEachTensorToItsShard() throws IOException {
        Path src = TestData.require("hf-tiny/llama2/model.safetensors");
        Path dir = tmp.resolve("sharded");
        Files.createDirectories(dir);
        Map<String, Object> weightMap = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(src)) {
            List<SafetensorsTensor> all = f.tensors();
            int half = all.size() / 2;
            for (int s = 0; s < 2; s++) {
                List<SafetensorsTensor> part = s == 0 ? all.subList(0, half) : all.subList(half, all.size());
                Object[][] ts = new Object[part.size()][];
                String shard = String.format("model-%05d-of-00002.safetensors", s + 1);
                for (int i = 0; i < ts.length; i++) {
                    SafetensorsTensor t = part.get(i);
                    List<Long> shape = java.util.Arrays.stream(t.shape()).boxed().toList();
                    ts[i] = new Object[] {t.name(), t.dtype().name(), shape, t.data().toArray(ValueLayout.JAVA_BYTE)};
                    weightMap.put(t.name(), shard);
                }
                Files.write(dir.resolve(shard), build(Map.of("format", "pt"), ts));
            }
            Map<String, Object> index = new LinkedHashMap<>();
            index.put("metadata", Map.of("total_size", 1L));
            index.put("weight_map", weightMap);
            Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), Json.write(index));
            try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(dir)) {
                assertEquals(2, c.files().size());
                assertEquals(all.size(), c.tensors().size());
                for (SafetensorsTensor t : all) {
                    SafetensorsTensor u = c.tensor(t.name());
                    assertEquals(-1L, t.data().mismatch(u.data()), t.name());
                    assertEquals(weightMap.get(t.name()), c.fileOf(t.name()).path().getFileName().toString());
                }
                assertSame(c.files().get(1), c.fileOf(all.get(all.size() - 1).name()));
                assertNull(c.tensor("nope"));
            }
            // An index pointing a tensor at the wrong shard, or at a missing one, is rejected.
            weightMap.put(all.get(0).name(), "model-00002-of-00002.safetensors");
            Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), Json.write(Map.of("weight_map", weightMap)));
            assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir));
            weightMap.put(all.get(0).name(), "../evil.safetensors");
            Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), Json.write(Map.of("weight_map", weightMap)));
            assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir));
            weightMap.put(all.get(0).name(), "missing.safetensors");
            Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX), Json.write(Map.of("weight_map", weightMap)));
            assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir));
        }
    }

    @Test
    void singleFileFolder() {
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(TestData.require("hf-tiny/qwen2"))) {
            assertEquals(1, c.files().size());
            assertNotNull(c.tensor("model.layers.0.self_attn.q_proj.bias"));
        }
        assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(tmp));
    }
}
