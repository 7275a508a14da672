package io.llmj.format.gguf;

import java.math.BigInteger;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A GGUF array value: its element type and the elements, held in the most compact Java array for
 * the type ({@code byte[]} for UINT8/INT8, {@code short[]} for 16-bit, {@code int[]} for 32-bit,
 * {@code long[]} for 64-bit integers, {@code float[]}, {@code double[]}, {@code boolean[]},
 * {@code String[]}, or {@code GgufArray[]} for nested arrays). Unsigned elements are stored with
 * their bit pattern; {@link #get(int)} and {@link #asList()} return them widened to their true value.
 */
public final class GgufArray {
    private final GgufValueType elementType;
    private final Object values;
    private final int size;

    /**
     * @param elementType the element type
     * @param values      a Java array of the matching kind (see the class comment); not copied
     */
    public GgufArray(GgufValueType elementType, Object values) {
        this.elementType = Objects.requireNonNull(elementType);
        this.values = Objects.requireNonNull(values);
        Class<?> expected = switch (elementType) {
            case UINT8, INT8 -> byte[].class;
            case UINT16, INT16 -> short[].class;
            case UINT32, INT32 -> int[].class;
            case UINT64, INT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING -> String[].class;
            case ARRAY -> GgufArray[].class;
        };
        if (values.getClass() != expected) {
            throw new IllegalArgumentException(elementType + " array needs a " + expected.getSimpleName()
                    + ", not a " + values.getClass().getSimpleName());
        }
        this.size = java.lang.reflect.Array.getLength(values);
    }

    public GgufValueType elementType() {
        return elementType;
    }

    public int size() {
        return size;
    }

    /** The backing Java array (not a copy: do not modify). */
    public Object rawValues() {
        return values;
    }

    /**
     * Element {@code i} boxed: Long for integers (BigInteger for a UINT64 above Long.MAX_VALUE), Float,
     * Double, Boolean, String or GgufArray.
     */
    public Object get(int i) {
        Objects.checkIndex(i, size);
        return switch (elementType) {
            case UINT8 -> (long) Byte.toUnsignedInt(((byte[]) values)[i]);
            case INT8 -> (long) ((byte[]) values)[i];
            case UINT16 -> (long) Short.toUnsignedInt(((short[]) values)[i]);
            case INT16 -> (long) ((short[]) values)[i];
            case UINT32 -> Integer.toUnsignedLong(((int[]) values)[i]);
            case INT32 -> (long) ((int[]) values)[i];
            case UINT64 -> unsigned64(((long[]) values)[i]);
            case INT64 -> ((long[]) values)[i];
            case FLOAT32 -> ((float[]) values)[i];
            case FLOAT64 -> ((double[]) values)[i];
            case BOOL -> ((boolean[]) values)[i];
            case STRING -> ((String[]) values)[i];
            case ARRAY -> ((GgufArray[]) values)[i];
        };
    }

    /** Integer element {@code i} as a long, or null if the element type is not an integer type or a UINT64 does not fit. */
    Long integerAt(int i) {
        Object o = get(i);
        return o instanceof Long l ? l : null;
    }

    /** A read-only list view of the elements, boxed as by {@link #get(int)}. */
    public List<Object> asList() {
        return new AbstractList<>() {
            @Override
            public Object get(int index) {
                return GgufArray.this.get(index);
            }

            @Override
            public int size() {
                return size;
            }
        };
    }

    static Object unsigned64(long v) {
        return v >= 0 ? (Object) v : new BigInteger(Long.toUnsignedString(v));
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof GgufArray a) || a.elementType != elementType) {
            return false;
        }
        return Arrays.deepEquals(new Object[] {values}, new Object[] {a.values});
    }

    @Override
    public int hashCode() {
        return elementType.hashCode() * 31 + Arrays.deepHashCode(new Object[] {values});
    }

    @Override
    public String toString() {
        return toString(8);
    }

    /** Shows at most {@code limit} elements, then "... (N elements)". */
    public String toString(int limit) {
        StringBuilder sb = new StringBuilder("[");
        int n = Math.min(size, limit);
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            Object v = get(i);
            if (v instanceof String s) {
                GgufFile.quote(sb, s);
            } else if (v instanceof GgufArray a) {
                sb.append(a.toString(limit));
            } else {
                sb.append(v);
            }
        }
        if (size > n) {
            sb.append(", ... (").append(size).append(" elements)");
        }
        return sb.append(']').toString();
    }
}
