package io.llmj.format.safetensors;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file: an 8-byte little-endian header length, a JSON header describing each tensor
 * ({@code dtype}, {@code shape}, {@code data_offsets} relative to the end of the header) and an
 * optional {@code __metadata__} string map, then the data. The file is mapped once; tensors are
 * zero-copy slices. Every header field is validated: offsets inside the data, sizes matching
 * shape × dtype, no two tensors overlapping.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The header size limit of the reference implementation. */
    public static final long MAX_HEADER = 100_000_000;

    private final Path path;
    private final MemorySegment mapping;
    private final Map<String, String> metadata;
    private final List<SafetensorsTensor> tensors;
    private final Map<String, SafetensorsTensor> byName;
    private final long dataOffset;
    private final Arena ownedArena;

    private SafetensorsFile(Path path, MemorySegment mapping, Arena ownedArena) {
        this.path = path;
        this.mapping = mapping;
        this.ownedArena = ownedArena;
        long size = mapping.byteSize();
        if (size < 8) {
            throw new ModelFormatException(path, "offset 0", "file of " + size + " bytes is too short for a safetensors header");
        }
        long n = mapping.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > size - 8 || n > MAX_HEADER) {
            throw new ModelFormatException(path, "offset 0", "header length " + Long.toUnsignedString(n)
                    + " is impossible (file size " + size + ", limit " + MAX_HEADER + ")");
        }
        this.dataOffset = 8 + n;
        byte[] hb = mapping.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(hb))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(path, "header", "the JSON header is not valid UTF-8", e);
        }
        Object parsed;
        try {
            parsed = Json.parse(text, path);
        } catch (ModelFormatException e) {
            throw new ModelFormatException(path, "JSON header (" + e.location() + ")", e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> header)) {
            throw new ModelFormatException(path, "header", "the JSON header is not an object");
        }
        long dataSize = size - dataOffset;
        Map<String, String> meta = new LinkedHashMap<>();
        List<SafetensorsTensor> list = new ArrayList<>();
        record Span(String name, long begin, long end) {}
        List<Span> spans = new ArrayList<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> m)) {
                    throw new ModelFormatException(path, "__metadata__", "must be an object of strings");
                }
                for (Map.Entry<?, ?> me : m.entrySet()) {
                    if (!(me.getValue() instanceof String s)) {
                        throw new ModelFormatException(path, "__metadata__." + me.getKey(), "value is not a string");
                    }
                    meta.put((String) me.getKey(), s);
                }
                continue;
            }
            String loc = "tensor " + name;
            if (!(e.getValue() instanceof Map<?, ?> info)) {
                throw new ModelFormatException(path, loc, "entry is not an object");
            }
            if (!(info.get("dtype") instanceof String dt)) {
                throw new ModelFormatException(path, loc, "missing or non-string dtype");
            }
            SafetensorsDtype dtype = SafetensorsDtype.byName(dt);
            if (dtype == null) {
                throw new ModelFormatException(path, loc, "unsupported dtype " + dt);
            }
            if (!(info.get("shape") instanceof List<?> sh)) {
                throw new ModelFormatException(path, loc, "missing or non-array shape");
            }
            long[] shape = new long[sh.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                if (!(sh.get(i) instanceof Long d) || d < 0) {
                    throw new ModelFormatException(path, loc, "shape element " + sh.get(i) + " is not a non-negative integer");
                }
                shape[i] = d;
                if (d != 0 && elements > Long.MAX_VALUE / d) {
                    throw new ModelFormatException(path, loc, "element count overflows");
                }
                elements *= d;
            }
            if (elements > Long.MAX_VALUE / dtype.bytes()) {
                throw new ModelFormatException(path, loc, "byte size overflows");
            }
            long bytes = elements * dtype.bytes();
            if (!(info.get("data_offsets") instanceof List<?> offs) || offs.size() != 2
                    || !(offs.get(0) instanceof Long begin) || !(offs.get(1) instanceof Long end)) {
                throw new ModelFormatException(path, loc, "data_offsets must be two integers");
            }
            if (begin < 0 || end < begin || end > dataSize) {
                throw new ModelFormatException(path, loc, "data_offsets [" + begin + ", " + end
                        + "] lie outside the " + dataSize + "-byte data section");
            }
            if (end - begin != bytes) {
                throw new ModelFormatException(path, loc, "data_offsets [" + begin + ", " + end + "] hold "
                        + (end - begin) + " bytes but " + dt + " " + java.util.Arrays.toString(shape) + " needs " + bytes);
            }
            spans.add(new Span(name, begin, end));
            list.add(new SafetensorsTensor(name, dtype, shape, mapping.asSlice(dataOffset + begin, bytes)));
        }
        spans.sort((a, b) -> a.begin != b.begin ? Long.compare(a.begin, b.begin) : Long.compare(a.end, b.end));
        long prevEnd = 0;
        String prev = null;
        for (Span s : spans) {
            if (s.begin < prevEnd) {
                throw new ModelFormatException(path, "tensor " + s.name, "data overlaps tensor " + prev);
            }
            if (s.end > s.begin) {
                prevEnd = s.end;
                prev = s.name;
            }
        }
        this.metadata = Collections.unmodifiableMap(meta);
        this.tensors = Collections.unmodifiableList(list);
        Map<String, SafetensorsTensor> names = new LinkedHashMap<>();
        for (SafetensorsTensor t : list) {
            names.put(t.name(), t);
        }
        this.byName = names;
    }

    /** Opens and maps {@code path} into an arena the returned object owns. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            return new SafetensorsFile(path, map(path, arena), arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Opens {@code path} with the mapping owned by {@code arena}. */
    public static SafetensorsFile open(Path path, Arena arena) {
        return new SafetensorsFile(path, map(path, arena), null);
    }

    /** Parses a safetensors image in memory; {@code nameForMessages} may be null. */
    public static SafetensorsFile read(MemorySegment data, Path nameForMessages) {
        return new SafetensorsFile(nameForMessages, data, null);
    }

    static MemorySegment map(Path path, Arena arena) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new ModelFormatException(path, "offset 0", "file of " + size + " bytes is too short for a safetensors header");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map " + path, e);
        }
    }

    public Path path() {
        return path;
    }

    /** The {@code __metadata__} map (empty if absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors in header order. */
    public List<SafetensorsTensor> tensors() {
        return tensors;
    }

    /** The tensor named {@code name}, or null. */
    public SafetensorsTensor tensor(String name) {
        return byName.get(name);
    }

    /** Byte offset of the data section (8 + header length). */
    public long dataOffset() {
        return dataOffset;
    }

    public MemorySegment mapping() {
        return mapping;
    }

    /** Closes the owned arena, if any. */
    @Override
    public void close() {
        if (ownedArena != null && ownedArena.scope().isAlive()) {
            ownedArena.close();
        }
    }
}
