package io.llmj.format.gguf;

import io.llmj.ModelFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GGUF file (versions 2 and 3), mapped once and read without copying tensor data.
 *
 * <p>{@link #open(Path)} maps the file into an arena this object owns and closes in {@link #close()};
 * {@link #open(Path, Arena)} maps it into the caller's arena (then {@link #close()} does nothing and
 * the tensor slices live as long as that arena). Opening reads only the header, metadata and tensor
 * infos, so its cost is proportional to the metadata, not the file size.
 *
 * <p>Split models ({@code name-00001-of-0000N.gguf} with {@code split.count} / {@code split.no}
 * metadata, as written by llama.cpp's gguf-split): opening the first part opens every part; the
 * metadata is the first part's and {@link #tensors()} lists the tensors of all parts, each slice
 * pointing into the part that holds it.
 *
 * <p>Metadata values are represented as: integer types - {@code Long} (a UINT64 above
 * {@code Long.MAX_VALUE} - {@code BigInteger}); FLOAT32 - {@code Float}; FLOAT64 - {@code Double};
 * BOOL - {@code Boolean}; STRING - {@code String}; ARRAY - {@link GgufArray}. {@link #type(String)}
 * gives the exact GGUF type of each value.
 */
public final class GgufFile implements AutoCloseable {
    /** Metadata keys of split models (llama.cpp's gguf-split). */
    public static final String SPLIT_NO = "split.no";
    public static final String SPLIT_COUNT = "split.count";
    public static final String SPLIT_TENSORS_COUNT = "split.tensors.count";

    private static final Pattern SPLIT_NAME = Pattern.compile("(.*)-(\\d{5})-of-(\\d{5})\\.gguf");

    private final Path path;
    private final List<GgufParser.Part> parts;
    private final Map<String, Object> metadata;
    private final Map<String, GgufValueType> types;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> byName;
    private final Arena ownedArena;

    private GgufFile(Path path, List<GgufParser.Part> parts, Arena ownedArena) {
        this.path = path;
        this.parts = List.copyOf(parts);
        GgufParser.Part first = parts.get(0);
        this.metadata = first.metadata();
        this.types = first.types();
        this.ownedArena = ownedArena;
        List<GgufTensor> all = new ArrayList<>();
        Map<String, GgufTensor> names = new LinkedHashMap<>();
        for (GgufParser.Part p : parts) {
            for (GgufTensor t : p.tensors()) {
                if (names.putIfAbsent(t.name(), t) != null) {
                    throw new ModelFormatException(p.path(), "tensor " + t.name(), "tensor appears in more than one split part");
                }
                all.add(t);
            }
        }
        this.tensors = Collections.unmodifiableList(all);
        this.byName = names;
    }

    /**
     * Opens and maps {@code path} (and, for a split model, its other parts) into an arena owned by
     * the returned object.
     *
     * @throws ModelFormatException if a file is not valid GGUF
     * @throws UncheckedIOException if a file cannot be read
     */
    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            return open(path, arena, true);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Opens {@code path} with its mapping owned by {@code arena} ({@link #close()} leaves it open). */
    public static GgufFile open(Path path, Arena arena) {
        return open(path, arena, false);
    }

    /**
     * Parses a GGUF image already in memory (no split handling). {@code nameForMessages} appears in
     * error messages and as {@link #path()}; it may be null. Tensor slices point into {@code data}.
     */
    public static GgufFile read(MemorySegment data, Path nameForMessages) {
        return new GgufFile(nameForMessages, List.of(GgufParser.parse(nameForMessages, data)), null);
    }

    private static GgufFile open(Path path, Arena arena, boolean owned) {
        GgufParser.Part first = GgufParser.parse(path, map(path, arena));
        long count = splitValue(first, SPLIT_COUNT, 1);
        if (count <= 1) {
            return new GgufFile(path, List.of(first), owned ? arena : null);
        }
        long no = splitValue(first, SPLIT_NO, 0);
        Path fileName = path.getFileName();
        Matcher m = SPLIT_NAME.matcher(fileName == null ? "" : fileName.toString());
        if (no != 0) {
            throw new ModelFormatException(path, "key " + SPLIT_NO,
                    "this is part " + (no + 1) + " of a " + count + "-part split model; open the first part");
        }
        if (!m.matches() || Long.parseLong(m.group(2)) != 1 || Long.parseLong(m.group(3)) != count) {
            throw new ModelFormatException(path, "key " + SPLIT_COUNT, "a " + count
                    + "-part split model must be named PREFIX-00001-of-" + String.format("%05d", count) + ".gguf");
        }
        List<GgufParser.Part> parts = new ArrayList<>();
        parts.add(first);
        for (int i = 2; i <= count; i++) {
            Path p = path.resolveSibling(String.format("%s-%05d-of-%05d.gguf", m.group(1), i, count));
            if (!Files.exists(p)) {
                throw new ModelFormatException(path, "key " + SPLIT_COUNT, "split part " + i + " of " + count
                        + " is missing: " + p);
            }
            GgufParser.Part part = GgufParser.parse(p, map(p, arena));
            if (splitValue(part, SPLIT_COUNT, 1) != count || splitValue(part, SPLIT_NO, 0) != i - 1) {
                throw new ModelFormatException(p, "key " + SPLIT_NO, "expected part " + (i - 1) + " of " + count
                        + " but found " + part.metadata().get(SPLIT_NO) + " of " + part.metadata().get(SPLIT_COUNT));
            }
            parts.add(part);
        }
        GgufFile f = new GgufFile(path, parts, owned ? arena : null);
        if (first.types().containsKey(SPLIT_TENSORS_COUNT)) {
            long expected = splitValue(first, SPLIT_TENSORS_COUNT, 0);
            if (expected != f.tensors.size()) {
                throw new ModelFormatException(path, "key " + SPLIT_TENSORS_COUNT, "says " + expected
                        + " tensors but the parts hold " + f.tensors.size());
            }
        }
        return f;
    }

    private static long splitValue(GgufParser.Part p, String key, long dflt) {
        Object v = p.metadata().get(key);
        if (v == null) {
            return dflt;
        }
        if (!p.types().get(key).isInteger() || !(v instanceof Long l) || l < 0 || l > 99_999) {
            throw new ModelFormatException(p.path(), "key " + key, "expected an integer 0..99999, not " + v);
        }
        return l;
    }

    private static MemorySegment map(Path path, Arena arena) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 24) {
                throw new ModelFormatException(path, "offset 0", "file of " + size + " bytes is too short for a GGUF header");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map " + path, e);
        }
    }

    /** The file opened (the first part of a split model). */
    public Path path() {
        return path;
    }

    /** The paths of all parts (one for an unsplit file). */
    public List<Path> parts() {
        return parts.stream().map(GgufParser.Part::path).toList();
    }

    /** GGUF version (2 or 3). */
    public int version() {
        return parts.get(0).version();
    }

    /** Data alignment ({@code general.alignment}, default 32). */
    public long alignment() {
        return parts.get(0).alignment();
    }

    /** Byte offset of the tensor data section in the (first) file. */
    public long dataOffset() {
        return parts.get(0).dataOffset();
    }

    /** The whole mapping of the (first) file. */
    public MemorySegment mapping() {
        return parts.get(0).mapping();
    }

    /** All metadata in file order (unmodifiable). See the class comment for the value types. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /** The GGUF type of {@code key}'s value, or null if absent. */
    public GgufValueType type(String key) {
        return types.get(key);
    }

    /** The raw value of {@code key}, or null. */
    public Object get(String key) {
        return metadata.get(key);
    }

    /** The array value of {@code key}, or null if absent. @throws ModelFormatException if not an array */
    public GgufArray array(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof GgufArray a) {
            return a;
        }
        throw wrongType(key, "an array");
    }

    private ModelFormatException wrongType(String key, String expected) {
        GgufValueType t = types.get(key);
        String actual = t == GgufValueType.ARRAY ? "ARRAY of " + ((GgufArray) metadata.get(key)).elementType() : String.valueOf(t);
        return new ModelFormatException(path, "key " + key, "expected " + expected + " but the value is " + actual);
    }

    public Optional<String> string(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (v instanceof String s) {
            return Optional.of(s);
        }
        throw wrongType(key, "a STRING");
    }

    /** Any integer type. @throws ModelFormatException if the value is not an integer or a UINT64 above Long.MAX_VALUE */
    public OptionalLong integer(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return OptionalLong.empty();
        }
        if (!types.get(key).isInteger()) {
            throw wrongType(key, "an integer");
        }
        if (v instanceof Long l) {
            return OptionalLong.of(l);
        }
        throw new ModelFormatException(path, "key " + key, "UINT64 value " + v + " does not fit in a signed 64-bit integer");
    }

    /** Any integer or float type, as a double. */
    public OptionalDouble number(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return OptionalDouble.empty();
        }
        GgufValueType t = types.get(key);
        if (!t.isInteger() && !t.isFloat()) {
            throw wrongType(key, "a number");
        }
        return OptionalDouble.of(((Number) v).doubleValue());
    }

    public Optional<Boolean> bool(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (v instanceof Boolean b) {
            return Optional.of(b);
        }
        throw wrongType(key, "a BOOL");
    }

    /** An array of strings; empty if absent. @throws ModelFormatException if not an array of strings */
    public List<String> stringArray(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return List.of();
        }
        if (v instanceof GgufArray a && a.elementType() == GgufValueType.STRING) {
            return Collections.unmodifiableList(Arrays.asList((String[]) a.rawValues()));
        }
        throw wrongType(key, "an ARRAY of STRING");
    }

    /** An array of any numeric element type as floats (a copy); null if absent. */
    public float[] floatArray(String key) {
        GgufArray a = numericArray(key);
        if (a == null) {
            return null;
        }
        if (a.rawValues() instanceof float[] f) {
            return f.clone();
        }
        float[] r = new float[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = ((Number) a.get(i)).floatValue();
        }
        return r;
    }

    /** An array of any integer element type as ints (a copy); null if absent. @throws ModelFormatException if an element does not fit */
    public int[] intArray(String key) {
        GgufArray a = numericArray(key);
        if (a == null) {
            return null;
        }
        if (!a.elementType().isInteger()) {
            throw wrongType(key, "an ARRAY of integers");
        }
        if (a.elementType() == GgufValueType.INT32) {
            return ((int[]) a.rawValues()).clone();
        }
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) {
            Long l = a.integerAt(i);
            if (l == null || l != (int) (long) l) {
                throw new ModelFormatException(path, "key " + key, "element " + i + " = " + a.get(i) + " does not fit in an int");
            }
            r[i] = (int) (long) l;
        }
        return r;
    }

    private GgufArray numericArray(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof GgufArray a && (a.elementType().isInteger() || a.elementType().isFloat())) {
            return a;
        }
        throw wrongType(key, "an ARRAY of numbers");
    }

    /** All tensors in file order (all parts, in part order). */
    public List<GgufTensor> tensors() {
        return tensors;
    }

    /** The tensor named {@code name}, or null. */
    public GgufTensor tensor(String name) {
        return byName.get(name);
    }

    /** Closes the arena this object owns, unmapping the files; does nothing if the caller's arena owns the mapping. */
    @Override
    public void close() {
        if (ownedArena != null && ownedArena.scope().isAlive()) {
            ownedArena.close();
        }
    }

    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    /** Formats a metadata value for people: strings quoted, arrays abbreviated to {@code limit} elements. */
    public static String format(Object value, int limit) {
        if (value instanceof String s) {
            StringBuilder sb = new StringBuilder();
            quote(sb, s);
            return sb.toString();
        }
        if (value instanceof GgufArray a) {
            return a.toString(limit);
        }
        if (value instanceof BigInteger b) {
            return b.toString();
        }
        return String.valueOf(value);
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version() + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }
}
