package io.llmj.backend;

/**
 * Rotary position embedding parameters. Pair {@code i} of each head is rotated by the angle
 * {@code position * positionScale * invFreq[i]}.
 *
 * @param dims          rotated dimensions per head (&le; head dim; the rest pass through)
 * @param neox          true: rotate pairs (i, i + dims/2) (GPT-NeoX / Hugging Face "rotate_half");
 *                      false: rotate adjacent pairs (2i, 2i+1) (llama.cpp's NORM mode for llama GGUFs)
 * @param invFreq       the frequency of each pair, length dims/2 (base^(-2i/dims), with any scaling applied)
 * @param positionScale multiplier on positions (linear scaling; 1 for none)
 */
public record RopeConfig(int dims, boolean neox, float[] invFreq, float positionScale) {
    public RopeConfig {
        if (dims <= 0 || dims % 2 != 0) {
            throw new IllegalArgumentException("rope dims must be positive and even: " + dims);
        }
        if (invFreq == null || invFreq.length != dims / 2) {
            throw new IllegalArgumentException("rope needs " + dims / 2 + " frequencies");
        }
        invFreq = invFreq.clone();
    }

    @Override
    public float[] invFreq() {
        return invFreq.clone();
    }

    /** Frequencies {@code theta^(-2i/dims)}, each divided by {@code factors[i]} when factors are given (llama3 scaling). */
    public static float[] frequencies(int dims, double theta, float[] factors) {
        float[] f = new float[dims / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) Math.pow(theta, -2.0 * i / dims);
            if (factors != null) {
                f[i] /= factors[i];
            }
        }
        return f;
    }
}
