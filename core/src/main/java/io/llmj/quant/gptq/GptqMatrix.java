package io.llmj.quant.gptq;

import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import io.llmj.quant.Q8_0;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * A GPTQ linear layer as llmj keeps it: the checkpoint's {@code qweight / qzeros / scales / g_idx}
 * repacked once, at load, into a layout the kernels read in order. It is the data of a weight of type
 * {@link GgmlType#GPTQ2}, {@link GgmlType#GPTQ4} or {@link GgmlType#GPTQ8} (one self-describing segment,
 * so it travels through {@code Backend.weight} like any other tensor).
 *
 * <h2>Design</h2>
 * <ul>
 *   <li><b>Rows are output features</b>, contiguous (the checkpoint packs along the input dimension,
 *       column-major for a matvec): a decode-time matvec streams each row once, as for ggml types.</li>
 *   <li><b>Act-order is undone once</b>: with {@code desc_act} the input columns are sorted by
 *       {@code g_idx} (stable) at load, so every group is a contiguous run of columns, and the kernel
 *       permutes the activation vector instead ({@code x'[j] = x[perm[j]]}), as ExLlama does. Without
 *       act-order {@code perm} is absent.</li>
 *   <li><b>Blocks of 32 columns</b> (of the sorted order) each carry their own fp16 scale and zero point,
 *       copied from their group: the kernels then need no group lookup, every group size that is a
 *       multiple of 32 (32, 64, 128, ..., and -1 = one group) runs the same code, and a block is dotted
 *       with a Q8_0 block of activations exactly like ggml's Q4_0 (4.75 bits per weight at 4 bits).
 *       A block that would straddle two groups (group sizes not a multiple of 32, or an unusual
 *       {@code g_idx}) is rejected at load. The last block of a row is zero-padded when the column count
 *       is not a multiple of 32.</li>
 *   <li>Zero points are kept as integers ({@code z - 1}, as in the file), so
 *       {@code w = scale * (q - z)} is exact in float32, as in AutoGPTQ's dequantization.</li>
 * </ul>
 *
 * <h2>Segment layout (little-endian; every section starts at a multiple of 64 bytes)</h2>
 * <pre>
 *   header   64 bytes: int32 magic "GPTQ", bits, rows, cols, group_size (-1: one group), has_perm
 *   perm     int32[cols]              (only if has_perm)    x'[j] = x[perm[j]]
 *   scales   fp16[rows][blocks]                              blocks = ceil(cols / 32)
 *   zeros    uint8[rows][blocks]      z - 1
 *   qs       [rows][blocks][32 * bits / 8] bytes, quants of block columns 32b .. 32b+31 (sorted order):
 *              4 bits: byte i = column i (low nibble) | column i + 16 (high nibble)   (ggml's Q4_0 order)
 *              8 bits: byte i = column i
 *              2 bits: byte i = columns i, i + 8, i + 16, i + 24 in bits 0-1, 2-3, 4-5, 6-7
 * </pre>
 *
 * <h2>Products</h2>
 * {@link #dequantizeRow} and {@link #matvec} are the plain definition (float weights, double sums): what
 * transformers computes. The native kernels compute {@link #matvecQ8}: the permuted activation converted to
 * Q8_0 blocks (ggml's x86 conversion), then per block the exact integer {@code sum (q - z) * xq} scaled by
 * {@code scale * d}, as ggml does for Q4_0.
 */
public final class GptqMatrix {
    /** Columns per block. */
    public static final int BLOCK = 32;
    /** Bytes of the header. */
    public static final int HEADER_BYTES = 64;
    static final int MAGIC = 0x51545047; // "GPTQ"

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment segment;
    private final int bits;
    private final int rows;
    private final int cols;
    private final int groupSize;
    private final int blocks;
    private final MemorySegment perm;     // null: identity
    private final MemorySegment scales;
    private final MemorySegment zeros;
    private final MemorySegment qs;

    private GptqMatrix(MemorySegment segment) {
        if (segment.byteSize() < HEADER_BYTES || segment.get(I32, 0) != MAGIC) {
            throw new IllegalArgumentException("not a GPTQ matrix segment (no GPTQ header)");
        }
        this.segment = segment;
        this.bits = segment.get(I32, 4);
        this.rows = segment.get(I32, 8);
        this.cols = segment.get(I32, 12);
        this.groupSize = segment.get(I32, 16);
        boolean hasPerm = segment.get(I32, 20) != 0;
        GptqPacking.checkBits(bits);
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("GPTQ matrix of " + rows + " x " + cols);
        }
        this.blocks = (cols + BLOCK - 1) / BLOCK;
        long[] off = offsets(bits, rows, cols, hasPerm);
        if (segment.byteSize() < off[4]) {
            throw new IllegalArgumentException("GPTQ matrix segment of " + segment.byteSize() + " bytes, need " + off[4]);
        }
        this.perm = hasPerm ? segment.asSlice(off[0], 4L * cols) : null;
        this.scales = segment.asSlice(off[1], 2L * rows * blocks);
        this.zeros = segment.asSlice(off[2], (long) rows * blocks);
        this.qs = segment.asSlice(off[3], (long) rows * blocks * blockQBytes(bits));
    }

    /** Bytes of quants per 32-column block. */
    public static int blockQBytes(int bits) {
        return BLOCK * bits / 8;
    }

    private static long align(long v) {
        return (v + 63) & ~63L;
    }

    /** Bytes of the segment {@link #repack} writes for a layer of this shape (with a permutation or not). */
    public static long segmentBytes(int bits, int rows, int cols, boolean hasPerm) {
        return offsets(bits, rows, cols, hasPerm)[4];
    }

    /**
     * Whether {@link #repack} keeps a permutation for this g_idx ({@code k} int32 values, or null): whether the
     * group of some column is lower than the one before it (a stable sort by group is then not the identity).
     */
    public static boolean needsPermutation(MemorySegment gIdx, int k) {
        if (gIdx == null) {
            return false;
        }
        for (int i = 1; i < k; i++) {
            if (gIdx.getAtIndex(I32, i) < gIdx.getAtIndex(I32, i - 1)) {
                return true;
            }
        }
        return false;
    }

    /** Offsets of perm, scales, zeros, qs and the total size. */
    private static long[] offsets(int bits, int rows, int cols, boolean hasPerm) {
        long blocks = (cols + BLOCK - 1) / BLOCK;
        long perm = HEADER_BYTES;
        long scales = align(perm + (hasPerm ? 4L * cols : 0));
        long zeros = align(scales + 2 * rows * blocks);
        long qs = align(zeros + rows * blocks);
        long end = qs + rows * blocks * blockQBytes(bits);
        return new long[] {perm, scales, zeros, qs, end};
    }

    /** A view of a segment written by {@link #repack} (or {@link #sliceRows}). */
    public static GptqMatrix of(MemorySegment segment) {
        return new GptqMatrix(segment);
    }

    public MemorySegment segment() {
        return segment;
    }

    public int bits() {
        return bits;
    }

    public GgmlType type() {
        return GgmlType.gptq(bits);
    }

    /** Output features. */
    public int rows() {
        return rows;
    }

    /** Input features. */
    public int cols() {
        return cols;
    }

    /** The checkpoint's group size (-1: one group). */
    public int groupSize() {
        return groupSize;
    }

    /** 32-column blocks per row. */
    public int blocks() {
        return blocks;
    }

    /** The act-order permutation ({@code cols} int32), or null. */
    public MemorySegment perm() {
        return perm;
    }

    public MemorySegment scales() {
        return scales;
    }

    public MemorySegment zeros() {
        return zeros;
    }

    public MemorySegment qs() {
        return qs;
    }

    /** Bytes of quants per row. */
    public long rowQBytes() {
        return (long) blocks * blockQBytes(bits);
    }

    /** Column {@code perm[j]} of the checkpoint is column {@code j} here. */
    public int permAt(int j) {
        return perm == null ? j : perm.getAtIndex(I32, j);
    }

    /** The quant of row r, sorted column j (j < blocks * 32). */
    public int quant(int r, int j) {
        int b = j / BLOCK;
        int i = j % BLOCK;
        long base = (long) r * rowQBytes() + (long) b * blockQBytes(bits);
        return switch (bits) {
            case 4 -> {
                int v = Byte.toUnsignedInt(qs.get(ValueLayout.JAVA_BYTE, base + (i & 15)));
                yield i < 16 ? v & 15 : v >>> 4;
            }
            case 8 -> Byte.toUnsignedInt(qs.get(ValueLayout.JAVA_BYTE, base + i));
            default -> (Byte.toUnsignedInt(qs.get(ValueLayout.JAVA_BYTE, base + (i & 7))) >>> (2 * (i >>> 3))) & 3;
        };
    }

    /** The scale of row r, block b. */
    public float scale(int r, int b) {
        return Float16.toFloat(scales.getAtIndex(I16, (long) r * blocks + b));
    }

    /** The zero point of row r, block b (stored value + 1). */
    public int zero(int r, int b) {
        return Byte.toUnsignedInt(zeros.get(ValueLayout.JAVA_BYTE, (long) r * blocks + b)) + 1;
    }

    /** Row {@code r} dequantized, in the checkpoint's column order: {@code out[k] = W[r, k]}. */
    public void dequantizeRow(int r, float[] out) {
        for (int j = 0; j < cols; j++) {
            int b = j / BLOCK;
            out[permAt(j)] = scale(r, b) * (quant(r, j) - zero(r, b));
        }
    }

    /** The plain product: {@code y[r] = sum_k W[r, k] x[k]}, float weights, summed in double. */
    public void matvec(float[] x, float[] y) {
        float[] w = new float[cols];
        for (int r = 0; r < rows; r++) {
            dequantizeRow(r, w);
            double s = 0;
            for (int k = 0; k < cols; k++) {
                s += (double) w[k] * x[k];
            }
            y[r] = (float) s;
        }
    }

    /**
     * What the native kernels compute (summed in double here): x permuted and zero-padded to whole blocks,
     * converted to Q8_0 as ggml's x86 backend does; per block the exact integer {@code sum (q - z) xq}
     * times {@code scale * d}.
     */
    public void matvecQ8(float[] x, float[] y) {
        int kp = blocks * BLOCK;
        float[] xp = new float[kp];
        for (int j = 0; j < cols; j++) {
            xp[j] = x[permAt(j)];
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment xq = arena.allocate(GgmlType.Q8_0.byteSize(kp));
            Q8_0.INSTANCE.quantizeX86(xp, 0, kp, xq, 0);
            float[] d = new float[blocks];
            int[] xs = new int[kp];
            for (int b = 0; b < blocks; b++) {
                long o = (long) b * GgmlType.Q8_0.blockBytes();
                d[b] = Float16.toFloat(xq.get(I16, o));
                for (int i = 0; i < BLOCK; i++) {
                    xs[b * BLOCK + i] = xq.get(ValueLayout.JAVA_BYTE, o + 2 + i);
                }
            }
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int b = 0; b < blocks; b++) {
                    int z = zero(r, b);
                    long isum = 0;
                    for (int i = 0; i < BLOCK; i++) {
                        isum += (long) (quant(r, b * BLOCK + i) - z) * xs[b * BLOCK + i];
                    }
                    s += (double) (scale(r, b) * d[b]) * isum;
                }
                y[r] = (float) s;
            }
        }
    }

    /** Rows {@code [first, first + count)} as a new matrix (a copy, for fused projections split by rows). */
    public GptqMatrix sliceRows(long first, long count, Arena arena) {
        if (first < 0 || count <= 0 || first + count > rows) {
            throw new IllegalArgumentException("cannot take rows " + first + "+" + count + " of a GPTQ matrix of " + rows);
        }
        int n = (int) count;
        long[] off = offsets(bits, n, cols, perm != null);
        MemorySegment out = arena.allocate(off[4], 64);
        MemorySegment.copy(segment, 0, out, 0, HEADER_BYTES);
        out.set(I32, 8, n);
        if (perm != null) {
            MemorySegment.copy(perm, 0, out, off[0], perm.byteSize());
        }
        MemorySegment.copy(scales, 2L * first * blocks, out, off[1], 2L * n * blocks);
        MemorySegment.copy(zeros, first * blocks, out, off[2], (long) n * blocks);
        MemorySegment.copy(qs, first * rowQBytes(), out, off[3], n * rowQBytes());
        return new GptqMatrix(out);
    }

    /**
     * Repacks a checkpoint layer (see {@link GptqPacking} for the file layout) into llmj's layout.
     *
     * @param k, n       input and output features
     * @param qweight    int32 [k / P, n]
     * @param qzeros     int32 [groups, n / P]
     * @param scales     fp16 [groups, n]
     * @param gIdx       int32 [k], or null for {@code k / groupSize}
     * @param arena      allocates the repacked matrix (zero-filled memory, 64-byte aligned)
     * @throws IllegalArgumentException naming the problem (the loader adds file and tensor)
     */
    public static GptqMatrix repack(int bits, int k, int n, int groups, int groupSize, MemorySegment qweight,
                                    MemorySegment qzeros, MemorySegment scales, MemorySegment gIdx,
                                    SegmentAllocator arena) {
        int p = GptqPacking.perWord(bits);
        if (k % p != 0 || n % p != 0) {
            throw new IllegalArgumentException(k + " x " + n + " is not a whole number of " + p + "-value words");
        }
        int[] g = new int[k];
        for (int i = 0; i < k; i++) {
            g[i] = gIdx != null ? gIdx.getAtIndex(I32, i) : (groupSize <= 0 ? 0 : i / groupSize);
            if (g[i] < 0 || g[i] >= groups) {
                throw new IllegalArgumentException("g_idx[" + i + "] = " + g[i] + " is outside [0, " + groups + ")");
            }
        }
        // stable sort of the input columns by group: perm[j] = checkpoint column at sorted position j
        Integer[] order = new Integer[k];
        for (int i = 0; i < k; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Integer.compare(g[a], g[b]));
        boolean identity = true;
        for (int j = 0; j < k; j++) {
            identity &= order[j] == j;
        }
        int blocks = (k + BLOCK - 1) / BLOCK;
        int[] blockGroup = new int[blocks];
        for (int b = 0; b < blocks; b++) {
            blockGroup[b] = g[order[b * BLOCK]];
            for (int j = b * BLOCK; j < Math.min(k, b * BLOCK + BLOCK); j++) {
                if (g[order[j]] != blockGroup[b]) {
                    throw new IllegalArgumentException("columns " + (b * BLOCK) + ".." + Math.min(k, b * BLOCK + BLOCK)
                            + " (sorted by g_idx) span groups " + blockGroup[b] + " and " + g[order[j]]
                            + ": llmj needs every group to cover whole 32-column blocks (group_size a multiple of 32)");
                }
            }
        }
        long[] off = offsets(bits, n, k, !identity);
        MemorySegment out = arena.allocate(off[4], 64);
        out.set(I32, 0, MAGIC);
        out.set(I32, 4, bits);
        out.set(I32, 8, n);
        out.set(I32, 12, k);
        out.set(I32, 16, groupSize);
        out.set(I32, 20, identity ? 0 : 1);
        if (!identity) {
            for (int j = 0; j < k; j++) {
                out.setAtIndex(I32, off[0] / 4 + j, order[j]);
            }
        }
        int mask = (1 << bits) - 1;
        int qb = blockQBytes(bits);
        long rowQ = (long) blocks * qb;
        int[] inv = new int[k];   // checkpoint column -> sorted position
        for (int j = 0; j < k; j++) {
            inv[order[j]] = j;
        }
        // rows in parallel where both segments may be touched from other threads (a model's shared arena):
        // qweight is read with a stride of n words, so one core repacks a 7B model's layers slowly
        Thread probe = new Thread(() -> {});
        IntStream rows = IntStream.range(0, n);
        if (qweight.isAccessibleBy(probe) && qzeros.isAccessibleBy(probe) && scales.isAccessibleBy(probe)
                && out.isAccessibleBy(probe) && (long) n * k >= 1 << 20) {
            rows = rows.parallel();
        }
        boolean direct = identity && k % BLOCK == 0 && (bits == 4 || bits == 8);
        rows.forEach(r -> {
            short[] rs = new short[blocks];           // the row's scale and stored zero point per block
            byte[] rz = new byte[blocks];
            for (int b = 0; b < blocks; b++) {
                int grp = blockGroup[b];
                if (b > 0 && grp == blockGroup[b - 1]) {
                    rs[b] = rs[b - 1];
                    rz[b] = rz[b - 1];
                    continue;
                }
                rs[b] = scales.getAtIndex(I16, (long) grp * n + r);
                rz[b] = (byte) GptqPacking.field(qzeros.getAtIndex(I32, (long) grp * (n / p) + r / p), r % p, bits);
            }
            MemorySegment.copy(rs, 0, out, I16, off[1] + 2L * r * blocks, blocks);
            MemorySegment.copy(rz, 0, out, ValueLayout.JAVA_BYTE, off[2] + (long) r * blocks, blocks);
            byte[] row = new byte[(int) rowQ];
            if (direct) {   // columns in checkpoint order: whole words straight into the block bytes
                directRow(qweight, n, r, k, bits, row);
                MemorySegment.copy(row, 0, out, ValueLayout.JAVA_BYTE, off[3] + r * rowQ, row.length);
                return;
            }
            int[] q = new int[k];
            for (int w = 0; w < k / p; w++) {
                int word = qweight.getAtIndex(I32, (long) w * n + r);
                for (int j = 0; j < p; j++) {
                    q[inv[w * p + j]] = (word >>> (j * bits)) & mask;
                }
            }
            for (int j = 0; j < k; j++) {
                int b = j / BLOCK;
                int i = j % BLOCK;
                int base = b * qb;
                switch (bits) {
                    case 4 -> row[base + (i & 15)] |= (byte) (q[j] << (i < 16 ? 0 : 4));
                    case 8 -> row[base + i] = (byte) q[j];
                    default -> row[base + (i & 7)] |= (byte) (q[j] << (2 * (i >>> 3)));
                }
            }
            MemorySegment.copy(row, 0, out, ValueLayout.JAVA_BYTE, off[3] + r * rowQ, row.length);
        });
        return new GptqMatrix(out);
    }

    /**
     * Row {@code r}'s block bytes from qweight when no column moves (no act-order) and {@code k} is whole
     * blocks: the same bytes as the general path of {@link #repack}. 4 bits: words 4b .. 4b + 3 hold block
     * b's columns 0-7, 8-15, 16-23, 24-31, and byte i of the block is column i | column i + 16 << 4; 8 bits:
     * byte j of the row is column j.
     */
    private static void directRow(MemorySegment qweight, int n, int r, int k, int bits, byte[] row) {
        if (bits == 4) {
            for (int b = 0; b < k / BLOCK; b++) {
                long w = 4L * b * n + r;
                int a0 = qweight.getAtIndex(I32, w), a1 = qweight.getAtIndex(I32, w + n);
                int a2 = qweight.getAtIndex(I32, w + 2L * n), a3 = qweight.getAtIndex(I32, w + 3L * n);
                int base = b * 16;
                for (int i = 0; i < 8; i++) {
                    row[base + i] = (byte) (((a0 >>> (4 * i)) & 15) | (((a2 >>> (4 * i)) & 15) << 4));
                    row[base + 8 + i] = (byte) (((a1 >>> (4 * i)) & 15) | (((a3 >>> (4 * i)) & 15) << 4));
                }
            }
        } else {
            for (int w = 0; w < k / 4; w++) {
                int a = qweight.getAtIndex(I32, (long) w * n + r);
                for (int t = 0; t < 4; t++) {
                    row[4 * w + t] = (byte) (a >>> (8 * t));
                }
            }
        }
    }

    @Override
    public String toString() {
        return "GPTQ" + bits + "[" + rows + " x " + cols + ", group " + groupSize + (perm != null ? ", act-order" : "") + "]";
    }
}
