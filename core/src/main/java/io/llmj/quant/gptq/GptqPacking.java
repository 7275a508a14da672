package io.llmj.quant.gptq;

/**
 * The bit layout of AutoGPTQ / GPTQModel "gptq" checkpoints (checkpoint_format {@code gptq}, the
 * classic "v1" format that AutoGPTQ's {@code QuantLinear.pack} writes), in both directions.
 *
 * <p>A linear layer {@code y = W x} with {@code K} input and {@code N} output features, quantized to
 * {@code bits} bits ({@code 2, 4, 8}: {@code P = 32 / bits} values per int32) in {@code G} groups
 * ({@code G = ceil(K / group_size)}, or 1 for {@code group_size = -1}) is stored as (PyTorch shapes):
 * <ul>
 *   <li>{@code qweight} int32 {@code [K / P, N]}: word {@code (i, n)} holds the quants of input rows
 *       {@code i*P .. i*P+P-1} of output column {@code n}, input row {@code i*P + j} in bits
 *       {@code [j*bits, (j+1)*bits)} (packed along the <em>input</em> dimension);</li>
 *   <li>{@code qzeros} int32 {@code [G, N / P]}: word {@code (g, i)} holds the zero points of output
 *       columns {@code i*P .. i*P+P-1} of group {@code g}, column {@code i*P + j} in bits
 *       {@code [j*bits, (j+1)*bits)} (packed along the <em>output</em> dimension), each stored
 *       <em>minus one</em> ({@code z - 1}, masked to {@code bits} bits): AutoGPTQ's historical offset,
 *       which its kernels undo by adding 1 back;</li>
 *   <li>{@code scales} F16 {@code [G, N]};</li>
 *   <li>{@code g_idx} int32 {@code [K]}: the group of each input row ({@code k / group_size} without
 *       act-order; a permutation of that with {@code desc_act});</li>
 *   <li>optionally {@code bias} {@code [N]}.</li>
 * </ul>
 * and dequantizes to {@code W[n, k] = scales[g, n] * (q[k, n] - z[g, n])} with {@code g = g_idx[k]}.
 *
 * <p>Arrays here are row-major in the PyTorch shapes above: {@code q[k * N + n]}, {@code z[g * N + n]}.
 * The zero point {@code z} is the real one ({@code 1 .. 2^bits}); a zero point of 0 cannot be stored in
 * this format ({@code -1} would wrap), so {@link #packQzeros} rejects it. 3-bit packing (values that
 * straddle words) is not implemented.
 */
public final class GptqPacking {
    private GptqPacking() {}

    /** Values per int32 for {@code bits} bits. @throws IllegalArgumentException unless bits is 2, 4 or 8 */
    public static int perWord(int bits) {
        checkBits(bits);
        return 32 / bits;
    }

    /** Throws unless {@code bits} is 2, 4 or 8. */
    public static void checkBits(int bits) {
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("GPTQ bits " + bits + " are not supported (2, 4 and 8 are)");
        }
    }

    /** Number of groups for {@code k} input features: {@code ceil(k / groupSize)}, 1 for {@code groupSize <= 0} (-1). */
    public static int groups(int k, int groupSize) {
        return groupSize <= 0 ? 1 : (k + groupSize - 1) / groupSize;
    }

    /** Field {@code j} of {@code word} ({@code j < 32 / bits}). */
    public static int field(int word, int j, int bits) {
        return (word >>> (j * bits)) & ((1 << bits) - 1);
    }

    /** Packs quants {@code q[k * n + col]} (each in {@code [0, 2^bits)}) into qweight {@code [k / P, n]}. */
    public static int[] packQweight(int[] q, int k, int n, int bits) {
        int p = perWord(bits);
        if (k % p != 0 || q.length != k * n) {
            throw new IllegalArgumentException("qweight: " + k + " input features must be a multiple of " + p
                    + " and q must hold " + k + " x " + n + " values (has " + q.length + ")");
        }
        int max = (1 << bits) - 1;
        int[] out = new int[k / p * n];
        for (int row = 0; row < k; row++) {
            for (int col = 0; col < n; col++) {
                int v = q[row * n + col];
                if (v < 0 || v > max) {
                    throw new IllegalArgumentException("quant " + v + " at [" + row + ", " + col + "] is outside [0, " + max + "]");
                }
                out[(row / p) * n + col] |= v << ((row % p) * bits);
            }
        }
        return out;
    }

    /** The quants {@code q[k * n + col]} of a qweight {@code [k / P, n]}. */
    public static int[] unpackQweight(int[] qweight, int k, int n, int bits) {
        int p = perWord(bits);
        if (k % p != 0 || qweight.length != k / p * n) {
            throw new IllegalArgumentException("qweight of " + qweight.length + " words does not hold " + k + " x " + n
                    + " " + bits + "-bit values");
        }
        int[] q = new int[k * n];
        for (int row = 0; row < k; row++) {
            for (int col = 0; col < n; col++) {
                q[row * n + col] = field(qweight[(row / p) * n + col], row % p, bits);
            }
        }
        return q;
    }

    /** Packs zero points {@code z[g * n + col]} (each in {@code [1, 2^bits]}) as qzeros {@code [groups, n / P]}, stored minus one. */
    public static int[] packQzeros(int[] z, int groups, int n, int bits) {
        int p = perWord(bits);
        if (n % p != 0 || z.length != groups * n) {
            throw new IllegalArgumentException("qzeros: " + n + " output features must be a multiple of " + p
                    + " and z must hold " + groups + " x " + n + " values (has " + z.length + ")");
        }
        int[] out = new int[groups * (n / p)];
        for (int g = 0; g < groups; g++) {
            for (int col = 0; col < n; col++) {
                int v = z[g * n + col];
                if (v < 1 || v > 1 << bits) {
                    throw new IllegalArgumentException("zero point " + v + " at [" + g + ", " + col + "] cannot be stored in the"
                            + " gptq format (1 .. " + (1 << bits) + ": it is stored minus one)");
                }
                out[g * (n / p) + col / p] |= (v - 1) << ((col % p) * bits);
            }
        }
        return out;
    }

    /** The zero points {@code z[g * n + col]} (stored value plus one) of qzeros {@code [groups, n / P]}. */
    public static int[] unpackQzeros(int[] qzeros, int groups, int n, int bits) {
        int p = perWord(bits);
        if (n % p != 0 || qzeros.length != groups * (n / p)) {
            throw new IllegalArgumentException("qzeros of " + qzeros.length + " words does not hold " + groups + " x " + n
                    + " " + bits + "-bit values");
        }
        int[] z = new int[groups * n];
        for (int g = 0; g < groups; g++) {
            for (int col = 0; col < n; col++) {
                z[g * n + col] = field(qzeros[g * (n / p) + col / p], col % p, bits) + 1;
            }
        }
        return z;
    }

    /** The g_idx of a layer without act-order: {@code k / groupSize} (all 0 for {@code groupSize <= 0}). */
    public static int[] defaultGidx(int k, int groupSize) {
        int[] g = new int[k];
        for (int i = 0; i < k; i++) {
            g[i] = groupSize <= 0 ? 0 : i / groupSize;
        }
        return g;
    }

    /**
     * Dequantizes to {@code W[n][k]} (output-major, as a PyTorch {@code Linear.weight}):
     * {@code scales[g, n] * (q[k, n] - z[g, n])}, {@code g = gIdx[k]}; {@code scales} as floats {@code [G, N]}.
     */
    public static float[][] dequantize(int[] q, int[] z, float[] scales, int[] gIdx, int k, int n) {
        float[][] w = new float[n][k];
        for (int row = 0; row < k; row++) {
            int g = gIdx[row];
            for (int col = 0; col < n; col++) {
                w[col][row] = scales[g * n + col] * (q[row * n + col] - z[g * n + col]);
            }
        }
        return w;
    }
}
