package io.llmj.format.safetensors;

import io.llmj.format.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes one safetensors file: an 8-byte little-endian header length, the JSON header (padded with
 * spaces to a multiple of 8), then the tensors' bytes in the order added. Tensor bytes are produced by
 * callbacks at {@link #write} time, so large synthetic models stream to disk.
 */
public final class SafetensorsWriter {
    /** Produces exactly the tensor's bytes. */
    @FunctionalInterface
    public interface Data {
        void write(WritableByteChannel out) throws IOException;
    }

    private record Entry(String name, SafetensorsDtype dtype, long[] shape, long bytes, Data data) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a tensor (PyTorch shape order) whose bytes {@code data} writes. */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, Data data) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        entries.add(new Entry(name, dtype, shape.clone(), n * dtype.bytes(), data));
        return this;
    }

    /** Adds a tensor whose little-endian bytes are {@code data} (copied when the file is written). */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, java.lang.foreign.MemorySegment data) {
        return add(name, dtype, shape, out -> writeFully(out, data.asByteBuffer()));
    }

    /** Adds a tensor from a little-endian byte array. */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, byte[] bytes) {
        return add(name, dtype, shape, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    /** Adds an F32 tensor. */
    public SafetensorsWriter addF32(String name, long[] shape, float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return add(name, SafetensorsDtype.F32, shape, b.array());
    }

    /** Adds an I32 tensor. */
    public SafetensorsWriter addI32(String name, long[] shape, int[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(v);
        return add(name, SafetensorsDtype.I32, shape, b.array());
    }

    /** Adds an F16 tensor from raw half-precision bits. */
    public SafetensorsWriter addF16(String name, long[] shape, short[] v) {
        ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asShortBuffer().put(v);
        return add(name, SafetensorsDtype.F16, shape, b.array());
    }

    /** A {@code __metadata__} string entry. */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Writes the file. @throws UncheckedIOException on I/O errors or a callback writing the wrong size */
    public void write(Path file) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", new LinkedHashMap<>(metadata));
        }
        long offset = 0;
        for (Entry e : entries) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("dtype", e.dtype().name());
            List<Object> shape = new ArrayList<>();
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.put("shape", shape);
            t.put("data_offsets", List.of(offset, offset + e.bytes()));
            header.put(e.name(), t);
            offset += e.bytes();
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head);
            for (Entry e : entries) {
                long before = ch.position();
                e.data().write(ch);
                if (ch.position() - before != e.bytes()) {
                    throw new IOException("tensor " + e.name() + ": wrote " + (ch.position() - before) + " bytes, expected " + e.bytes());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes all of {@code b}. */
    public static void writeFully(WritableByteChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }
}
