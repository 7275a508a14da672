package io.llmj.format.safetensors;

import io.llmj.format.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file: the 8-byte little-endian header length, the JSON header (padded with
 * spaces to a multiple of 8 bytes, as the reference implementation does) and the tensors' bytes in
 * the order they were added. Data must already be little-endian.
 */
public final class SafetensorsWriter {
    private record Entry(String name, SafetensorsDtype dtype, long[] shape, MemorySegment data) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a {@code __metadata__} string entry (e.g. {@code format: pt}). */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /**
     * @param shape PyTorch order (slowest first)
     * @throws IllegalArgumentException if the data size does not match shape x dtype or the name repeats
     */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, MemorySegment data) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(name + ": negative dimension");
            }
            n *= d;
        }
        if (n * dtype.bytes() != data.byteSize()) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for " + n + " " + dtype + " elements");
        }
        if (entries.stream().anyMatch(e -> e.name.equals(name))) {
            throw new IllegalArgumentException("tensor " + name + " added twice");
        }
        entries.add(new Entry(name, dtype, shape.clone(), data));
        return this;
    }

    public void write(Path path) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        long offset = 0;
        for (Entry e : entries) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("dtype", e.dtype.name());
            List<Long> shape = new ArrayList<>();
            for (long d : e.shape) {
                shape.add(d);
            }
            t.put("shape", shape);
            t.put("data_offsets", List.of(offset, offset + e.data.byteSize()));
            header.put(e.name, t);
            offset += e.data.byteSize();
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (head.hasRemaining()) {
                ch.write(head);
            }
            for (Entry e : entries) {
                ByteBuffer b = e.data.asByteBuffer();
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            }
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write " + path, ex);
        }
    }
}
