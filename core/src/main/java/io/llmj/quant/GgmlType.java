package io.llmj.quant;

/**
 * The tensor element types ggml defines, with ggml's numeric ids (as stored in GGUF tensor infos),
 * block sizes (elements per block) and block byte sizes. Ids that ggml removed are absent.
 * The native ABI uses the same ids ({@code LLMJ_TYPE_*} in llmj.h).
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    IQ2_XXS(16, 256, 66),
    IQ2_XS(17, 256, 74),
    IQ3_XXS(18, 256, 98),
    IQ1_S(19, 256, 50),
    IQ4_NL(20, 32, 18),
    IQ3_S(21, 256, 110),
    IQ2_S(22, 256, 82),
    IQ4_XS(23, 256, 136),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    IQ1_M(29, 256, 56),
    BF16(30, 1, 2),
    TQ1_0(34, 256, 54),
    TQ2_0(35, 256, 66),
    MXFP4(39, 32, 17),
    /**
     * llmj's own types, not ggml's (never found in GGUF files, so {@link #byId} does not return them):
     * a GPTQ linear layer of 2, 4 or 8 bits (AutoGPTQ / GPTQModel "gptq" checkpoints). A "block" is
     * one int32 of packed quants ({@code 32 / bits} values), so {@link #byteSize} counts a row's
     * quant bits only; the weight itself is a {@link io.llmj.quant.gptq.GptqMatrix} (quants, per-block
     * scales and zero points, the act-order permutation) repacked at load.
     */
    GPTQ2(1002, 16, 4),
    GPTQ4(1004, 8, 4),
    GPTQ8(1008, 4, 4);

    private static final GgmlType[] BY_ID = new GgmlType[64];

    static {
        for (GgmlType t : values()) {
            if (!t.isGptq()) {
                BY_ID[t.id] = t;
            }
        }
    }

    private final int id;
    private final int blockSize;
    private final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** ggml's numeric type id. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for plain types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** True for types stored in blocks with scales (everything but plain floats and integers). */
    public boolean isQuantized() {
        return blockSize > 1;
    }

    /**
     * Bytes taken by {@code elements} elements, which must be a whole number of blocks.
     *
     * @throws IllegalArgumentException if {@code elements} is negative or not a multiple of the block size
     * @throws ArithmeticException if the size overflows a long
     */
    public long byteSize(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(
                    name() + ": " + elements + " elements is not a whole number of " + blockSize + "-element blocks");
        }
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }

    /** True for llmj's GPTQ layer types ({@link #GPTQ2}, {@link #GPTQ4}, {@link #GPTQ8}). */
    public boolean isGptq() {
        return id >= 1000;
    }

    /** Bits per weight of a GPTQ type. @throws IllegalStateException for other types */
    public int gptqBits() {
        if (!isGptq()) {
            throw new IllegalStateException(this + " is not a GPTQ type");
        }
        return id - 1000;
    }

    /** The GPTQ type of {@code bits} bits (2, 4 or 8), or null. */
    public static GgmlType gptq(int bits) {
        return switch (bits) {
            case 2 -> GPTQ2;
            case 4 -> GPTQ4;
            case 8 -> GPTQ8;
            default -> null;
        };
    }

    /** The type with ggml id {@code id}, or null if ggml defines none (llmj's GPTQ types are not ggml's). */
    public static GgmlType byId(int id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : null;
    }
}
