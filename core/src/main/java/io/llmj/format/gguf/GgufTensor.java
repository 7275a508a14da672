package io.llmj.format.gguf;

import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a GGUF file.
 *
 * @param name   the tensor name
 * @param shape  ggml {@code ne} order: the fastest-varying dimension first (a copy is kept)
 * @param type   the element type
 * @param offset the offset of the data from the start of its file's data section
 * @param data   the data, a zero-copy slice of the file mapping
 */
public record GgufTensor(String name, long[] shape, GgmlType type, long offset, MemorySegment data) {
    public GgufTensor {
        shape = shape.clone();
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Dimension {@code i} (1 beyond the stored dimensions). */
    public long dim(int i) {
        return i < shape.length ? shape[i] : 1;
    }

    /** The number of dimensions stored in the file. */
    public int rank() {
        return shape.length;
    }

    /** The number of elements. */
    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** The bytes of data. */
    public long byteSize() {
        return data.byteSize();
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape) + " @" + offset;
    }
}
