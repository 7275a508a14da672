package io.llmj.arch;

import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;

/** A tensor in a model file: ggml type, shape (ggml order, fastest first) and its bytes (a view of the mapping). */
public record TensorRef(String name, GgmlType type, long[] shape, MemorySegment data) {

    /** Rows {@code [first, first + count)} of a 2-D tensor, zero-copy (a copy for GPTQ layers; used to split fused weights). */
    public TensorRef rows(String newName, long first, long count) {
        if (shape.length != 2 || first < 0 || count <= 0 || first + count > shape[1]) {
            throw new IllegalArgumentException(name + ": cannot take rows " + first + "+" + count + " of shape "
                    + java.util.Arrays.toString(shape));
        }
        if (type.isGptq()) {      // a repacked GPTQ layer: rows are output features, copied out
            var m = io.llmj.quant.gptq.GptqMatrix.of(data).sliceRows(first, count, java.lang.foreign.Arena.ofAuto());
            return new TensorRef(newName, type, new long[] {shape[0], count}, m.segment());
        }
        long rowBytes = type.byteSize(shape[0]);
        return new TensorRef(newName, type, new long[] {shape[0], count}, data.asSlice(first * rowBytes, count * rowBytes));
    }
}
