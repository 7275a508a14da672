package io.llmj.format.safetensors;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a safetensors file.
 *
 * @param name  the tensor name
 * @param dtype the element type
 * @param shape row-major (PyTorch) order: the slowest-varying dimension first (a copy is kept)
 * @param data  the little-endian data, a zero-copy slice of the file mapping
 */
public record SafetensorsTensor(String name, SafetensorsDtype dtype, long[] shape, MemorySegment data) {
    public SafetensorsTensor {
        shape = shape.clone();
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape);
    }
}
