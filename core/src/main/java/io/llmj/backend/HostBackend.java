package io.llmj.backend;

import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import io.llmj.quant.gptq.GptqMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Base of the backends whose buffers live in host memory: buffers are off-heap segments, weights are
 * views of the mapped file, and every op has a plain Java implementation here (accumulating in
 * double) that subclasses replace with native kernels op by op.
 */
public abstract class HostBackend implements Backend {
    protected static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    protected static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A host buffer: an off-heap segment of float32 (or F16 for caches). */
    public static final class HostBuffer implements Buffer {
        private final Arena arena;
        private final MemorySegment segment;
        private final GgmlType type;
        private final long size;

        HostBuffer(long n, GgmlType type) {
            if (n < 0) {
                throw new IllegalArgumentException("negative buffer size " + n);
            }
            this.arena = Arena.ofShared();
            this.type = type;
            this.size = n;
            this.segment = arena.allocate(Math.max(1, type.byteSize(n)), 64);
        }

        public MemorySegment segment() {
            return segment;
        }

        public GgmlType type() {
            return type;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public void close() {
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }

    /** A weight viewed in place: row r at byte {@code r * rowBytes()} of {@code data}. */
    public record HostWeight(String name, GgmlType type, int rows, int cols, MemorySegment data) implements Weight {
        public long rowBytes() {
            return type.byteSize(cols);
        }
    }

    /**
     * A GPTQ linear layer ({@link GgmlType#isGptq()}): the repacked {@link GptqMatrix} viewed in place.
     * Backends that run GPTQ declare it with {@code supports(Op.MATMUL, GPTQn)}.
     */
    public record GptqWeight(String name, GptqMatrix matrix) implements Weight {
        @Override
        public GgmlType type() {
            return matrix.type();
        }

        @Override
        public int rows() {
            return matrix.rows();
        }

        @Override
        public int cols() {
            return matrix.cols();
        }
    }

    protected static MemorySegment seg(Buffer b) {
        return ((HostBuffer) b).segment();
    }

    protected static HostWeight host(Weight w) {
        return (HostWeight) w;
    }

    @Override
    public Buffer allocate(long n) {
        return new HostBuffer(n, GgmlType.F32);
    }

    @Override
    public Buffer allocateCache(long n, GgmlType type) {
        if (type != GgmlType.F32 && type != GgmlType.F16) {
            throw new UnsupportedOperationException("KV cache type " + type + " (F32 and F16 are supported)");
        }
        return new HostBuffer(n, type);
    }

    @Override
    public Weight weight(String name, GgmlType type, long[] shape, MemorySegment data) {
        Objects.requireNonNull(type, "type");
        if (shape.length < 1 || shape.length > 2) {
            throw new IllegalArgumentException(name + ": only 1-D and 2-D weights are supported, shape has " + shape.length + " dims");
        }
        long cols = shape[0];
        long rows = shape.length == 2 ? shape[1] : 1;
        if (type.isGptq()) {
            GptqMatrix m = GptqMatrix.of(data);
            if (shape.length != 2 || m.cols() != cols || m.rows() != rows || m.type() != type) {
                throw new IllegalArgumentException(name + ": " + m + " does not match type " + type + " shape "
                        + java.util.Arrays.toString(shape));
            }
            return new GptqWeight(name, m);
        }
        if (cols <= 0 || rows <= 0 || cols > Integer.MAX_VALUE || rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + ": bad shape " + cols + " x " + rows);
        }
        long bytes = type.byteSize(cols) * rows;
        if (data.byteSize() < bytes) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes of data, need " + bytes);
        }
        return new HostWeight(name, type, (int) rows, (int) cols, data.asSlice(0, bytes));
    }

    @Override
    public void write(Buffer dst, long offset, float[] src, int srcOff, int n) {
        MemorySegment.copy(src, srcOff, seg(dst), F32, 4 * offset, n);
    }

    @Override
    public void read(Buffer src, long offset, float[] dst, int dstOff, int n) {
        MemorySegment.copy(seg(src), F32, 4 * offset, dst, dstOff, n);
    }

    @Override
    public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        MemorySegment.copy(seg(src), 4 * srcOff, seg(dst), 4 * dstOff, 4 * n);
    }

    /** Dequantizes row {@code r} of {@code w} into {@code out[0..cols)} (every type with a Java reference). */
    protected void dequantizeRow(HostWeight w, int r, float[] out) {
        QuantFormat f = QuantFormats.of(w.type());
        if (f == null) {
            throw new UnsupportedOperationException(name() + " backend: cannot dequantize " + w.type()
                    + " (tensor " + w.name() + ")");
        }
        f.dequantize(w.data(), r * w.rowBytes(), out, 0, w.cols());
    }

    @Override
    public void embed(Weight table, int[] ids, float scale, Buffer out) {
        HostWeight w = host(table);
        float[] row = new float[w.cols()];
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= w.rows()) {
                throw new IllegalArgumentException("token id " + ids[t] + " outside the vocabulary of " + w.rows());
            }
            dequantizeRow(w, ids[t], row);
            if (scale != 1f) {
                for (int c = 0; c < row.length; c++) {
                    row[c] *= scale;
                }
            }
            write(out, (long) t * w.cols(), row, 0, row.length);
        }
    }

    @Override
    public void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        MemorySegment xs = seg(x);
        MemorySegment os = seg(out);
        float[] g = new float[dim];
        HostWeight gw = host(gain);
        if (gw.cols() != dim) {
            throw new IllegalArgumentException("rmsNorm: gain " + gw.name() + " has " + gw.cols() + " values, rows have " + dim);
        }
        dequantizeRow(gw, 0, g);
        for (int t = 0; t < n; t++) {
            long base = (long) t * dim;
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                float v = xs.getAtIndex(F32, base + i);
                ss += (double) v * v;
            }
            float scale = (float) (1.0 / Math.sqrt(ss / dim + eps));
            for (int i = 0; i < dim; i++) {
                os.setAtIndex(F32, base + i, xs.getAtIndex(F32, base + i) * scale * (g[i] + gainOffset));
            }
        }
    }

    @Override
    public void matmul(Weight w, Buffer x, int n, Buffer out) {
        if (w instanceof GptqWeight g) {
            gptqMatmul(g, x, n, out);
            return;
        }
        HostWeight hw = host(w);
        MemorySegment xs = seg(x);
        MemorySegment os = seg(out);
        for (int t = 0; t < n; t++) {
            matvec(hw.type(), hw.data(), hw.rowBytes(), xs.asSlice(4L * t * hw.cols(), 4L * hw.cols()),
                    os.asSlice(4L * t * hw.rows(), 4L * hw.rows()), hw.rows(), hw.cols());
        }
    }

    /** The Java reference for GPTQ layers: dequantized float weights times x, summed in double, token by token. */
    protected void gptqMatmul(GptqWeight w, Buffer x, int n, Buffer out) {
        GptqMatrix m = w.matrix();
        float[] xs = new float[m.cols()];
        float[] ys = new float[m.rows()];
        for (int t = 0; t < n; t++) {
            read(x, (long) t * m.cols(), xs, 0, xs.length);
            m.matvec(xs, ys);
            write(out, (long) t * m.rows(), ys, 0, ys.length);
        }
    }

    @Override
    public void addBias(Buffer x, Weight bias, int n) {
        HostWeight b = host(bias);
        float[] v = new float[b.cols()];
        dequantizeRow(b, 0, v);
        MemorySegment xs = seg(x);
        for (int t = 0; t < n; t++) {
            long base = (long) t * v.length;
            for (int i = 0; i < v.length; i++) {
                xs.setAtIndex(F32, base + i, xs.getAtIndex(F32, base + i) + v[i]);
            }
        }
    }

    @Override
    public void rope(Buffer x, int nHeads, int headDim, int n, int startPos, RopeConfig rope) {
        MemorySegment xs = seg(x);
        int half = rope.dims() / 2;
        float[] invFreq = rope.invFreq();
        for (int t = 0; t < n; t++) {
            float pos = (startPos + t) * rope.positionScale();
            for (int i = 0; i < half; i++) {
                float angle = pos * invFreq[i];
                float cos = (float) Math.cos(angle);
                float sin = (float) Math.sin(angle);
                for (int h = 0; h < nHeads; h++) {
                    long base = ((long) t * nHeads + h) * headDim;
                    long i0 = base + (rope.neox() ? i : 2L * i);
                    long i1 = base + (rope.neox() ? i + half : 2L * i + 1);
                    float a = xs.getAtIndex(F32, i0);
                    float b = xs.getAtIndex(F32, i1);
                    xs.setAtIndex(F32, i0, a * cos - b * sin);
                    xs.setAtIndex(F32, i1, a * sin + b * cos);
                }
            }
        }
    }

    @Override
    public void storeKv(Buffer src, Buffer cache, int kvDim, int n, int startPos) {
        HostBuffer c = (HostBuffer) cache;
        if ((long) (startPos + n) * kvDim > c.size()) {
            throw new IllegalArgumentException("KV cache of " + c.size() / kvDim + " positions cannot take positions up to "
                    + (startPos + n));
        }
        MemorySegment s = seg(src);
        if (c.type() == GgmlType.F32) {
            MemorySegment.copy(s, 0, c.segment(), 4L * startPos * kvDim, 4L * n * kvDim);
        } else {
            for (long i = 0; i < (long) n * kvDim; i++) {
                c.segment().setAtIndex(I16, (long) startPos * kvDim + i, Float16.fromFloat(s.getAtIndex(F32, i)));
            }
        }
    }

    /** Element {@code i} of a cache buffer, widened to float. */
    protected static float cacheAt(HostBuffer c, long i) {
        return c.type() == GgmlType.F32 ? c.segment().getAtIndex(F32, i) : Float16.toFloat(c.segment().getAtIndex(I16, i));
    }

    @Override
    public void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p, Buffer out) {
        MemorySegment qs = seg(q);
        MemorySegment os = seg(out);
        HostBuffer kc = (HostBuffer) kCache;
        HostBuffer vc = (HostBuffer) vCache;
        int hd = p.headDim();
        int group = p.nHeads() / p.nKvHeads();
        int kvDim = p.kvDim();
        double[] scores = new double[startPos + n];
        double[] acc = new double[hd];
        for (int t = 0; t < n; t++) {
            int pos = startPos + t;
            int first = p.slidingWindow() > 0 ? Math.max(0, pos - p.slidingWindow() + 1) : 0;
            for (int h = 0; h < p.nHeads(); h++) {
                int kvh = h / group;
                long qBase = ((long) t * p.nHeads() + h) * hd;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = first; j <= pos; j++) {
                    long kBase = (long) j * kvDim + (long) kvh * hd;
                    double s = 0;
                    for (int i = 0; i < hd; i++) {
                        s += (double) qs.getAtIndex(F32, qBase + i) * cacheAt(kc, kBase + i);
                    }
                    s *= p.scale();
                    if (p.softcap() > 0) {
                        s = p.softcap() * Math.tanh(s / p.softcap());
                    }
                    scores[j] = s;
                    max = Math.max(max, s);
                }
                double sum = 0;
                for (int j = first; j <= pos; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                java.util.Arrays.fill(acc, 0);
                for (int j = first; j <= pos; j++) {
                    double w = scores[j] / sum;
                    long vBase = (long) j * kvDim + (long) kvh * hd;
                    for (int i = 0; i < hd; i++) {
                        acc[i] += w * cacheAt(vc, vBase + i);
                    }
                }
                for (int i = 0; i < hd; i++) {
                    os.setAtIndex(F32, qBase + i, (float) acc[i]);
                }
            }
        }
    }

    @Override
    public void swiglu(Buffer gate, Buffer up, long count, Buffer out) {
        MemorySegment g = seg(gate);
        MemorySegment u = seg(up);
        MemorySegment o = seg(out);
        for (long i = 0; i < count; i++) {
            double x = g.getAtIndex(F32, i);
            o.setAtIndex(F32, i, (float) (x / (1.0 + Math.exp(-x)) * u.getAtIndex(F32, i)));
        }
    }

    @Override
    public void geglu(Buffer gate, Buffer up, long count, Buffer out) {
        MemorySegment g = seg(gate);
        MemorySegment u = seg(up);
        MemorySegment o = seg(out);
        final double c = Math.sqrt(2.0 / Math.PI);
        for (long i = 0; i < count; i++) {
            double x = g.getAtIndex(F32, i);
            double gelu = 0.5 * x * (1.0 + Math.tanh(c * (x + 0.044715 * x * x * x)));
            o.setAtIndex(F32, i, (float) (gelu * u.getAtIndex(F32, i)));
        }
    }

    @Override
    public void add(Buffer x, Buffer y, long count) {
        MemorySegment a = seg(x);
        MemorySegment b = seg(y);
        for (long i = 0; i < count; i++) {
            a.setAtIndex(F32, i, a.getAtIndex(F32, i) + b.getAtIndex(F32, i));
        }
    }

    @Override
    public void softcap(Buffer x, float cap, long count) {
        MemorySegment a = seg(x);
        for (long i = 0; i < count; i++) {
            a.setAtIndex(F32, i, (float) (cap * Math.tanh(a.getAtIndex(F32, i) / cap)));
        }
    }
}
