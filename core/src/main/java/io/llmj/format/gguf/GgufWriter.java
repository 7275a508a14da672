package io.llmj.format.gguf;

import io.llmj.quant.GgmlType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes GGUF version 3 files in the layout of gguf-py's {@code GGUFWriter} and ggml's
 * {@code gguf_write_to_file}: header, key/values, tensor infos, zero padding to the alignment, then
 * each tensor's data, each followed by zero padding to the alignment. Tensor offsets are assigned in
 * the order tensors are added. The alignment is {@code general.alignment} if that key is set
 * (as a UINT32 by convention), else 32. A file without tensors ends right after the metadata, without
 * padding, as gguf-py writes vocabulary-only files. Re-writing any GGUF in the shared test data with
 * {@link #copyOf(GgufFile)} reproduces it byte for byte.
 *
 * <p>Values given to {@link #put} follow {@link GgufFile}'s representation (any {@code Number} is
 * accepted for numeric types, range-checked against the type), so a file's metadata can be copied
 * with {@link #copyMetadata(GgufFile)}.
 */
public final class GgufWriter {
    private record Kv(GgufValueType type, Object value) {}

    private record Tensor(String name, long[] shape, GgmlType type, MemorySegment data) {}

    private final Map<String, Kv> kvs = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();

    /** Sets {@code key} to {@code value} of GGUF type {@code type} (replacing any earlier value, keeping its position). */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        Objects.requireNonNull(key);
        check(type, value);
        if (key.equals("general.alignment")) {
            long a = ((Number) value).longValue();
            if (!type.isInteger() || a <= 0 || Long.bitCount(a) != 1 || a > GgufParser.MAX_ALIGNMENT) {
                throw new IllegalArgumentException("general.alignment must be an integer power of two (UINT32 by convention)");
            }
        }
        kvs.put(key, new Kv(type, value));
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    public GgufWriter putUInt8(String key, int value) {
        return put(key, GgufValueType.UINT8, value);
    }

    public GgufWriter putInt8(String key, int value) {
        return put(key, GgufValueType.INT8, value);
    }

    public GgufWriter putUInt16(String key, int value) {
        return put(key, GgufValueType.UINT16, value);
    }

    public GgufWriter putInt16(String key, int value) {
        return put(key, GgufValueType.INT16, value);
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    /** A UINT64; {@code value} is taken as unsigned. */
    public GgufWriter putUInt64(String key, long value) {
        return put(key, GgufValueType.UINT64, GgufArray.unsigned64(value));
    }

    public GgufWriter putInt64(String key, long value) {
        return put(key, GgufValueType.INT64, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putFloat64(String key, double value) {
        return put(key, GgufValueType.FLOAT64, value);
    }

    public GgufWriter putArray(String key, GgufArray value) {
        return put(key, GgufValueType.ARRAY, value);
    }

    public GgufWriter putStringArray(String key, List<String> values) {
        return putArray(key, new GgufArray(GgufValueType.STRING, values.toArray(new String[0])));
    }

    public GgufWriter putFloat32Array(String key, float[] values) {
        return putArray(key, new GgufArray(GgufValueType.FLOAT32, values.clone()));
    }

    public GgufWriter putInt32Array(String key, int[] values) {
        return putArray(key, new GgufArray(GgufValueType.INT32, values.clone()));
    }

    /** Removes {@code key}. */
    public GgufWriter remove(String key) {
        kvs.remove(key);
        return this;
    }

    /** Copies every key/value of {@code file} with its GGUF type, in file order. */
    public GgufWriter copyMetadata(GgufFile file) {
        for (Map.Entry<String, Object> e : file.metadata().entrySet()) {
            put(e.getKey(), file.type(e.getKey()), e.getValue());
        }
        return this;
    }

    /** Copies metadata and every tensor (data not copied until written) of {@code file}. */
    public static GgufWriter copyOf(GgufFile file) {
        GgufWriter w = new GgufWriter().copyMetadata(file);
        for (GgufTensor t : file.tensors()) {
            w.addTensor(t.name(), t.shape(), t.type(), t.data());
        }
        return w;
    }

    /**
     * Adds a tensor; {@code data} (kept by reference until {@link #write}) must hold exactly the bytes
     * the shape and type need.
     */
    public GgufWriter addTensor(String name, long[] shape, GgmlType type, MemorySegment data) {
        Objects.requireNonNull(name);
        if (shape.length < 1 || shape.length > GgufParser.MAX_DIMS) {
            throw new IllegalArgumentException(name + ": 1 to 4 dimensions, not " + shape.length);
        }
        long n = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException(name + ": dimensions must be positive");
            }
            n = Math.multiplyExact(n, d);
        }
        if (shape[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException(name + ": row is not a whole number of " + type + " blocks");
        }
        if (type.byteSize(n) != data.byteSize()) {
            throw new IllegalArgumentException(name + ": " + type + " " + java.util.Arrays.toString(shape) + " needs "
                    + type.byteSize(n) + " bytes, data has " + data.byteSize());
        }
        for (Tensor t : tensors) {
            if (t.name.equals(name)) {
                throw new IllegalArgumentException("duplicate tensor " + name);
            }
        }
        tensors.add(new Tensor(name, shape.clone(), type, data));
        return this;
    }

    /** The alignment used. */
    public long alignment() {
        Kv kv = kvs.get("general.alignment");
        return kv == null ? GgufParser.DEFAULT_ALIGNMENT : ((Number) kv.value).longValue();
    }

    /** Writes the file (replacing any existing one). */
    public void write(Path path) {
        write(path, kvs, tensors);
    }

    /**
     * Writes a split model as llama.cpp's gguf-split does: {@code parts} files named
     * {@code prefix-0000i-of-0000N.gguf} in {@code dir}, the tensors divided among them in order; the
     * first part holds all metadata, every part holds {@code split.no}, {@code split.count} (UINT16) and
     * {@code split.tensors.count} (INT32).
     *
     * @return the paths written, first part first
     */
    public List<Path> writeSplit(Path dir, String prefix, int parts) {
        if (parts < 1 || parts > 99_999 || parts > Math.max(1, tensors.size())) {
            throw new IllegalArgumentException("cannot split " + tensors.size() + " tensors into " + parts + " parts");
        }
        List<Path> paths = new ArrayList<>();
        int from = 0;
        for (int i = 0; i < parts; i++) {
            int to = (int) ((long) tensors.size() * (i + 1) / parts);
            Map<String, Kv> meta = new LinkedHashMap<>();
            if (i == 0) {
                meta.putAll(kvs);
            } else if (kvs.containsKey("general.alignment")) {
                meta.put("general.alignment", kvs.get("general.alignment"));
            }
            meta.put(GgufFile.SPLIT_NO, new Kv(GgufValueType.UINT16, (long) i));
            meta.put(GgufFile.SPLIT_COUNT, new Kv(GgufValueType.UINT16, (long) parts));
            meta.put(GgufFile.SPLIT_TENSORS_COUNT, new Kv(GgufValueType.INT32, (long) tensors.size()));
            Path p = dir.resolve(String.format("%s-%05d-of-%05d.gguf", prefix, i + 1, parts));
            write(p, meta, tensors.subList(from, to));
            paths.add(p);
            from = to;
        }
        return paths;
    }

    private static long pad(long n, long alignment) {
        return (alignment - n % alignment) % alignment;
    }

    private static void write(Path path, Map<String, Kv> kvs, List<Tensor> tensors) {
        Kv alignKv = kvs.get("general.alignment");
        long alignment = alignKv == null ? GgufParser.DEFAULT_ALIGNMENT : ((Number) alignKv.value).longValue();
        Out out = new Out();
        out.bytes(new byte[] {'G', 'G', 'U', 'F'});
        out.i32(3);
        out.i64(tensors.size());
        out.i64(kvs.size());
        for (Map.Entry<String, Kv> e : kvs.entrySet()) {
            out.string(e.getKey());
            out.i32(e.getValue().type.id());
            out.value(e.getValue().type, e.getValue().value);
        }
        long offset = 0;
        for (Tensor t : tensors) {
            out.string(t.name);
            out.i32(t.shape.length);
            for (long d : t.shape) {
                out.i64(d);
            }
            out.i32(t.type.id());
            out.i64(offset);
            offset += t.data.byteSize() + pad(t.data.byteSize(), alignment);
        }
        if (!tensors.isEmpty()) {
            out.zeros(pad(out.size(), alignment)); // metadata-only files (vocab GGUFs) end unpadded, as gguf-py writes them
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, ByteBuffer.wrap(out.buf(), 0, out.size()));
            byte[] zeros = new byte[(int) alignment <= 0 || alignment > 1 << 20 ? 1 << 20 : (int) alignment];
            for (Tensor t : tensors) {
                long n = t.data.byteSize();
                for (long off = 0; off < n; off += 1 << 28) {
                    long len = Math.min(1 << 28, n - off);
                    MemorySegment slice = t.data.asSlice(off, len);
                    ByteBuffer bb;
                    if (slice.isNative() || slice.isMapped()) {
                        bb = slice.asByteBuffer();
                    } else {
                        bb = ByteBuffer.wrap(slice.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    }
                    writeFully(ch, bb);
                }
                long p = pad(n, alignment);
                while (p > 0) {
                    int len = (int) Math.min(p, zeros.length);
                    writeFully(ch, ByteBuffer.wrap(zeros, 0, len));
                    p -= len;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + path, e);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer bb) throws IOException {
        while (bb.hasRemaining()) {
            ch.write(bb);
        }
    }

    private static void check(GgufValueType type, Object value) {
        Objects.requireNonNull(type);
        Objects.requireNonNull(value);
        switch (type) {
            case UINT8 -> range(value, 0, 0xFF, type);
            case INT8 -> range(value, Byte.MIN_VALUE, Byte.MAX_VALUE, type);
            case UINT16 -> range(value, 0, 0xFFFF, type);
            case INT16 -> range(value, Short.MIN_VALUE, Short.MAX_VALUE, type);
            case UINT32 -> range(value, 0, 0xFFFF_FFFFL, type);
            case INT32 -> range(value, Integer.MIN_VALUE, Integer.MAX_VALUE, type);
            case INT64 -> range(value, Long.MIN_VALUE, Long.MAX_VALUE, type);
            case UINT64 -> {
                if (value instanceof BigInteger b) {
                    if (b.signum() < 0 || b.bitLength() > 64) {
                        throw new IllegalArgumentException(value + " does not fit in UINT64");
                    }
                } else {
                    range(value, 0, Long.MAX_VALUE, type);
                }
            }
            case FLOAT32, FLOAT64 -> {
                if (!(value instanceof Number)) {
                    throw new IllegalArgumentException(type + " needs a Number, not " + value.getClass().getSimpleName());
                }
            }
            case BOOL -> {
                if (!(value instanceof Boolean)) {
                    throw new IllegalArgumentException("BOOL needs a Boolean");
                }
            }
            case STRING -> {
                if (!(value instanceof String)) {
                    throw new IllegalArgumentException("STRING needs a String");
                }
            }
            case ARRAY -> {
                if (!(value instanceof GgufArray)) {
                    throw new IllegalArgumentException("ARRAY needs a GgufArray");
                }
            }
        }
    }

    private static void range(Object value, long min, long max, GgufValueType type) {
        if (!(value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte)) {
            throw new IllegalArgumentException(type + " needs an integral Number, not " + value.getClass().getSimpleName());
        }
        long v = ((Number) value).longValue();
        if (v < min || v > max) {
            throw new IllegalArgumentException(v + " does not fit in " + type);
        }
    }

    /** A growable little-endian byte buffer. */
    private static final class Out extends ByteArrayOutputStream {
        byte[] buf() {
            return buf;
        }

        void bytes(byte[] b) {
            write(b, 0, b.length);
        }

        void i8(int v) {
            write(v);
        }

        void i16(int v) {
            write(v);
            write(v >>> 8);
        }

        void i32(int v) {
            i16(v);
            i16(v >>> 16);
        }

        void i64(long v) {
            i32((int) v);
            i32((int) (v >>> 32));
        }

        void zeros(long n) {
            for (long i = 0; i < n; i++) {
                write(0);
            }
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            bytes(b);
        }

        void value(GgufValueType t, Object v) {
            switch (t) {
                case UINT8, INT8 -> i8((int) ((Number) v).longValue());
                case UINT16, INT16 -> i16((int) ((Number) v).longValue());
                case UINT32, INT32 -> i32((int) ((Number) v).longValue());
                case UINT64, INT64 -> i64(((Number) v).longValue());
                case FLOAT32 -> i32(Float.floatToRawIntBits(((Number) v).floatValue()));
                case FLOAT64 -> i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
                case BOOL -> i8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> array((GgufArray) v);
            }
        }

        void array(GgufArray a) {
            i32(a.elementType().id());
            i64(a.size());
            Object raw = a.rawValues();
            switch (a.elementType()) {
                case UINT8, INT8 -> bytes((byte[]) raw);
                case UINT16, INT16 -> {
                    for (short s : (short[]) raw) {
                        i16(s);
                    }
                }
                case UINT32, INT32 -> {
                    for (int x : (int[]) raw) {
                        i32(x);
                    }
                }
                case UINT64, INT64 -> {
                    for (long x : (long[]) raw) {
                        i64(x);
                    }
                }
                case FLOAT32 -> {
                    for (float x : (float[]) raw) {
                        i32(Float.floatToRawIntBits(x));
                    }
                }
                case FLOAT64 -> {
                    for (double x : (double[]) raw) {
                        i64(Double.doubleToRawLongBits(x));
                    }
                }
                case BOOL -> {
                    for (boolean x : (boolean[]) raw) {
                        i8(x ? 1 : 0);
                    }
                }
                case STRING -> {
                    for (String x : (String[]) raw) {
                        string(x);
                    }
                }
                case ARRAY -> {
                    for (GgufArray x : (GgufArray[]) raw) {
                        array(x);
                    }
                }
            }
        }
    }
}
