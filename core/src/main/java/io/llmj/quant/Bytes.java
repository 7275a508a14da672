package io.llmj.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Little-endian field access and argument checks shared by the quant formats. */
final class Bytes {
    private Bytes() {}

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static int u8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    static int i8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off);
    }

    static void put8(MemorySegment s, long off, int v) {
        s.set(ValueLayout.JAVA_BYTE, off, (byte) v);
    }

    static int i16(MemorySegment s, long off) {
        return s.get(I16, off);
    }

    static void put16(MemorySegment s, long off, int v) {
        s.set(I16, off, (short) v);
    }

    static int i32(MemorySegment s, long off) {
        return s.get(I32, off);
    }

    static void put32(MemorySegment s, long off, int v) {
        s.set(I32, off, v);
    }

    static float f32(MemorySegment s, long off) {
        return s.get(F32, off);
    }

    static void putF32(MemorySegment s, long off, float v) {
        s.set(F32, off, v);
    }

    /** Reads an fp16 field and widens it (exact, as GGML_FP16_TO_FP32). */
    static float f16(MemorySegment s, long off) {
        return Float16.toFloat(s.get(I16, off));
    }

    /** Rounds to fp16 (nearest even, subnormals kept, as GGML_FP32_TO_FP16) and stores it. */
    static void putF16(MemorySegment s, long off, float v) {
        s.set(I16, off, Float16.fromFloat(v));
    }

    /**
     * Checks that {@code n} elements of {@code type} form whole blocks and that they lie inside
     * {@code seg} from {@code off}; returns the number of blocks.
     *
     * @throws IllegalArgumentException naming the type, the sizes and the segment when they do not
     */
    static int checkBlocks(GgmlType type, String what, MemorySegment seg, long off, long n) {
        if (n < 0) {
            throw new IllegalArgumentException(type + ": negative element count " + n);
        }
        if (n % type.blockSize() != 0) {
            throw new IllegalArgumentException(type + ": " + n + " elements is not a multiple of the block size "
                    + type.blockSize());
        }
        long blocks = n / type.blockSize();
        long bytes = blocks * type.blockBytes();
        if (off < 0 || off > seg.byteSize() || seg.byteSize() - off < bytes) {
            throw new IllegalArgumentException(type + ": " + what + " of " + blocks + " blocks needs " + bytes
                    + " bytes at offset " + off + ", but the segment holds " + seg.byteSize() + " bytes (truncated data?)");
        }
        return Math.toIntExact(blocks);
    }

    /** Checks that {@code n} values fit in {@code a} from {@code off}. */
    static void checkArray(GgmlType type, String what, float[] a, int off, int n) {
        if (n < 0 || off < 0 || off > a.length || a.length - off < n) {
            throw new IllegalArgumentException(type + ": " + what + " array of length " + a.length
                    + " cannot hold " + n + " values at offset " + off);
        }
    }

    /** Checks the arguments of a dot product: weights of {@code w} and activation of {@code a}, n elements each. */
    static int checkDot(GgmlType w, MemorySegment ws, long wOff, GgmlType a, MemorySegment as, long aOff, int n) {
        int blocks = checkBlocks(w, "weights", ws, wOff, n);
        try {
            checkBlocks(a, "activation", as, aOff, n);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(w + ": dot with " + e.getMessage(), e);
        }
        return blocks;
    }

    /** Checks a writable destination segment. */
    static int checkDst(GgmlType type, MemorySegment seg, long off, long n) {
        if (seg.isReadOnly()) {
            throw new IllegalArgumentException(type + ": destination segment is read-only");
        }
        return checkBlocks(type, "destination", seg, off, n);
    }
}
