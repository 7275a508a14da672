package io.llmj.format.gguf;

import io.llmj.ModelFormatException;
import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses one GGUF file (one part of a split model) held in a memory segment. Every count, length,
 * type id, dimension and offset read from the file is checked against the bytes that remain before
 * it is used, so hostile input ends in a {@link ModelFormatException}, never in a huge allocation or
 * an out-of-bounds access.
 */
final class GgufParser {
    static final int MAX_NESTING = 16;
    static final int MAX_DIMS = 4;
    static final long DEFAULT_ALIGNMENT = 32;
    static final long MAX_ALIGNMENT = 1L << 30;
    /** Largest Java array we allocate for a metadata array. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The parsed content of one file. */
    record Part(
            Path path,
            MemorySegment mapping,
            int version,
            long alignment,
            Map<String, Object> metadata,
            Map<String, GgufValueType> types,
            List<GgufTensor> tensors,
            long dataOffset) {}

    private final Path file;
    private final MemorySegment seg;
    private final long size;
    private long pos;
    private String key; // the key being read, for messages

    private GgufParser(Path file, MemorySegment seg) {
        this.file = file;
        this.seg = seg;
        this.size = seg.byteSize();
    }

    static Part parse(Path file, MemorySegment seg) {
        return new GgufParser(file, seg).parse();
    }

    private ModelFormatException error(long at, String problem) {
        String loc = "offset " + at + (key != null ? " (key " + key + ")" : "");
        return new ModelFormatException(file, loc, problem);
    }

    private long remaining() {
        return size - pos;
    }

    private void need(long n, String what) {
        if (n < 0 || n > remaining()) {
            throw error(pos, "truncated: " + what + " needs " + n + " bytes, " + remaining() + " left");
        }
    }

    private int u8(String what) {
        need(1, what);
        return Byte.toUnsignedInt(seg.get(ValueLayout.JAVA_BYTE, pos++));
    }

    private short i16(String what) {
        need(2, what);
        short v = seg.get(I16, pos);
        pos += 2;
        return v;
    }

    private int i32(String what) {
        need(4, what);
        int v = seg.get(I32, pos);
        pos += 4;
        return v;
    }

    private long i64(String what) {
        need(8, what);
        long v = seg.get(I64, pos);
        pos += 8;
        return v;
    }

    private String string(String what) {
        long at = pos;
        long len = i64(what + " length");
        if (len < 0 || len > remaining()) {
            throw error(at, what + " length " + Long.toUnsignedString(len) + " exceeds the " + remaining() + " bytes left");
        }
        if (len == 0) {
            return "";
        }
        if (len > MAX_ARRAY) {
            throw error(at, what + " length " + len + " is too long");
        }
        byte[] b = new byte[(int) len];
        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, 0, (int) len);
        pos += len;
        return new String(b, StandardCharsets.UTF_8);
    }

    private GgufValueType valueType(String what) {
        long at = pos;
        int id = i32(what);
        GgufValueType t = GgufValueType.byId(Integer.toUnsignedLong(id));
        if (t == null) {
            throw error(at, "unknown " + what + " " + Integer.toUnsignedString(id));
        }
        return t;
    }

    private Part parse() {
        if (size < 4 || seg.get(ValueLayout.JAVA_BYTE, 0) != 'G' || seg.get(ValueLayout.JAVA_BYTE, 1) != 'G'
                || seg.get(ValueLayout.JAVA_BYTE, 2) != 'U' || seg.get(ValueLayout.JAVA_BYTE, 3) != 'F') {
            throw error(0, "not a GGUF file (no 'GGUF' magic)");
        }
        pos = 4;
        int version = i32("version");
        if (version != 2 && version != 3) {
            if (version == 1) {
                throw error(4, "GGUF version 1 is not supported (only 2 and 3)");
            }
            if (version != 0 && (version & 0xFFFF) == 0) {
                throw error(4, "big-endian GGUF is not supported");
            }
            throw error(4, "unsupported GGUF version " + Integer.toUnsignedString(version));
        }
        long tensorCountAt = pos;
        long tensorCount = i64("tensor count");
        long kvCountAt = pos;
        long kvCount = i64("metadata count");
        // Smallest key/value: 8-byte key length, 4-byte type, 1-byte value.
        if (kvCount < 0 || kvCount > remaining() / 13) {
            throw error(kvCountAt, "metadata count " + Long.toUnsignedString(kvCount) + " is impossible in the "
                    + remaining() + " bytes left");
        }
        // Smallest tensor info: 8-byte name length, 4-byte dim count, 4-byte type, 8-byte offset.
        if (tensorCount < 0 || tensorCount > remaining() / 24) {
            throw error(tensorCountAt, "tensor count " + Long.toUnsignedString(tensorCount)
                    + " is impossible in the " + remaining() + " bytes left");
        }

        Map<String, Object> metadata = new LinkedHashMap<>();
        Map<String, GgufValueType> types = new HashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long at = pos;
            key = null;
            String k = string("key");
            if (types.containsKey(k)) {
                throw error(at, "duplicate key " + k);
            }
            key = k;
            GgufValueType t = valueType("value type");
            Object v = value(t, 0);
            metadata.put(k, v);
            types.put(k, t);
        }
        key = null;

        long alignment = DEFAULT_ALIGNMENT;
        GgufValueType at = types.get("general.alignment");
        if (at != null) {
            Object v = metadata.get("general.alignment");
            if (!at.isInteger() || !(v instanceof Long a) || a <= 0 || Long.bitCount(a) != 1 || a > MAX_ALIGNMENT) {
                throw new ModelFormatException(file, "key general.alignment",
                        "alignment must be a power of two between 1 and " + MAX_ALIGNMENT + ", not " + v + " (" + at + ")");
            }
            alignment = a;
        }
        if (tensorCount > remaining() / 24) {
            throw error(tensorCountAt, "tensor count " + tensorCount + " is impossible in the " + remaining()
                    + " bytes left after the metadata");
        }

        record Info(String name, long[] shape, GgmlType type, long offset, long bytes, long at) {}
        List<Info> infos = new ArrayList<>((int) Math.min(tensorCount, 4096)); // the count is bounded by the bytes left, not by int
        Map<String, Info> names = new HashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            long infoAt = pos;
            String name = string("tensor name");
            if (names.containsKey(name)) {
                throw error(infoAt, "duplicate tensor name " + name);
            }
            long dimsAt = pos;
            int nDims = i32("dimension count");
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw error(dimsAt, "tensor " + name + " has " + Integer.toUnsignedString(nDims)
                        + " dimensions (1.." + MAX_DIMS + " allowed)");
            }
            long[] shape = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                long dimAt = pos;
                long ne = i64("dimension");
                if (ne <= 0) {
                    throw error(dimAt, "tensor " + name + " dimension " + d + " is " + Long.toUnsignedString(ne)
                            + " (must be positive)");
                }
                if (Math.multiplyHigh(elements, ne) != 0 || elements * ne < 0) {
                    throw error(dimAt, "tensor " + name + " element count overflows");
                }
                elements *= ne;
                shape[d] = ne;
            }
            long typeAt = pos;
            int typeId = i32("tensor type");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw error(typeAt, "tensor " + name + " has unknown ggml type " + Integer.toUnsignedString(typeId));
            }
            if (shape[0] % type.blockSize() != 0) {
                throw error(typeAt, "tensor " + name + " row of " + shape[0] + " elements is not a whole number of "
                        + type + " blocks (" + type.blockSize() + ")");
            }
            long bytes;
            try {
                bytes = type.byteSize(elements);
            } catch (ArithmeticException e) {
                throw error(typeAt, "tensor " + name + " byte size overflows");
            }
            long offAt = pos;
            long offset = i64("tensor offset");
            if (offset < 0 || offset % alignment != 0) {
                throw error(offAt, "tensor " + name + " offset " + Long.toUnsignedString(offset)
                        + " is not a multiple of the alignment " + alignment);
            }
            Info info = new Info(name, shape, type, offset, bytes, infoAt);
            infos.add(info);
            names.put(name, info);
        }

        long dataOffset = pos + (alignment - pos % alignment) % alignment;
        if (dataOffset > size) {
            if (tensorCount > 0) {
                throw error(pos, "truncated: no room for the padding before the tensor data");
            }
            dataOffset = size; // a metadata-only file may end without padding
        }
        long dataSize = size - dataOffset;
        List<Info> sorted = new ArrayList<>(infos);
        sorted.sort((a, b) -> Long.compare(a.offset, b.offset));
        long end = 0;
        String prev = null;
        for (Info info : sorted) {
            if (info.offset > dataSize || info.bytes > dataSize - info.offset) {
                throw new ModelFormatException(file, "tensor " + info.name + " (info at offset " + info.at + ")",
                        "data [" + info.offset + ", +" + info.bytes + ") lies outside the " + dataSize
                                + "-byte data section");
            }
            if (info.offset < end) {
                throw new ModelFormatException(file, "tensor " + info.name + " (info at offset " + info.at + ")",
                        "data overlaps tensor " + prev);
            }
            end = info.offset + info.bytes;
            prev = info.name;
        }
        List<GgufTensor> tensors = new ArrayList<>(infos.size());
        for (Info info : infos) {
            tensors.add(new GgufTensor(info.name, info.shape, info.type, info.offset,
                    seg.asSlice(dataOffset + info.offset, info.bytes)));
        }
        return new Part(file, seg, version, alignment, Collections.unmodifiableMap(metadata), types,
                Collections.unmodifiableList(tensors), dataOffset);
    }

    private Object value(GgufValueType t, int depth) {
        long at = pos;
        return switch (t) {
            case UINT8 -> (long) u8("UINT8 value");
            case INT8 -> (long) (byte) u8("INT8 value");
            case UINT16 -> (long) Short.toUnsignedInt(i16("UINT16 value"));
            case INT16 -> (long) i16("INT16 value");
            case UINT32 -> Integer.toUnsignedLong(i32("UINT32 value"));
            case INT32 -> (long) i32("INT32 value");
            case UINT64 -> GgufArray.unsigned64(i64("UINT64 value"));
            case INT64 -> i64("INT64 value");
            case FLOAT32 -> Float.intBitsToFloat(i32("FLOAT32 value"));
            case FLOAT64 -> Double.longBitsToDouble(i64("FLOAT64 value"));
            case BOOL -> {
                int b = u8("BOOL value");
                if (b > 1) {
                    throw error(at, "BOOL value " + b + " is neither 0 nor 1");
                }
                yield b == 1;
            }
            case STRING -> string("string value");
            case ARRAY -> array(depth + 1);
        };
    }

    private GgufArray array(int depth) {
        long at = pos;
        if (depth > MAX_NESTING) {
            throw error(at, "arrays nested deeper than " + MAX_NESTING + " levels");
        }
        GgufValueType et = valueType("array element type");
        long countAt = pos;
        long n = i64("array length");
        if (n < 0 || n > remaining() / et.minBytes()) {
            throw error(countAt, "array length " + Long.toUnsignedString(n) + " of " + et
                    + " is impossible in the " + remaining() + " bytes left");
        }
        if (n > MAX_ARRAY) {
            throw error(countAt, "array length " + n + " is too long");
        }
        int count = (int) n;
        Object values = switch (et) {
            case UINT8, INT8 -> {
                byte[] a = new byte[count];
                MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, a, 0, count);
                yield a;
            }
            case UINT16, INT16 -> {
                short[] a = new short[count];
                MemorySegment.copy(seg, I16, pos, a, 0, count);
                yield a;
            }
            case UINT32, INT32 -> {
                int[] a = new int[count];
                MemorySegment.copy(seg, I32, pos, a, 0, count);
                yield a;
            }
            case UINT64, INT64 -> {
                long[] a = new long[count];
                MemorySegment.copy(seg, I64, pos, a, 0, count);
                yield a;
            }
            case FLOAT32 -> {
                float[] a = new float[count];
                MemorySegment.copy(seg, F32, pos, a, 0, count);
                yield a;
            }
            case FLOAT64 -> {
                double[] a = new double[count];
                MemorySegment.copy(seg, F64, pos, a, 0, count);
                yield a;
            }
            case BOOL -> {
                boolean[] a = new boolean[count];
                for (int i = 0; i < count; i++) {
                    int b = Byte.toUnsignedInt(seg.get(ValueLayout.JAVA_BYTE, pos + i));
                    if (b > 1) {
                        throw error(pos + i, "BOOL array element " + b + " is neither 0 nor 1");
                    }
                    a[i] = b == 1;
                }
                yield a;
            }
            case STRING -> {
                String[] a = new String[count];
                for (int i = 0; i < count; i++) {
                    a[i] = string("string element " + i);
                }
                yield a;
            }
            case ARRAY -> {
                GgufArray[] a = new GgufArray[count];
                for (int i = 0; i < count; i++) {
                    a[i] = array(depth + 1);
                }
                yield a;
            }
        };
        if (et != GgufValueType.STRING && et != GgufValueType.ARRAY) {
            pos += (long) count * et.minBytes();
        }
        return new GgufArray(et, values);
    }
}
