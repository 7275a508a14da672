package io.llmj.backend;

/**
 * Rotary position embedding parameters.
 *
 * @param dims        rotated dimensions per head (&le; head dim; the rest pass through)
 * @param theta       frequency base
 * @param neox        true: rotate pairs (i, i + dims/2) (GPT-NeoX / Hugging Face "rotate_half");
 *                    false: rotate adjacent pairs (2i, 2i+1) (llama.cpp's NORM mode for llama GGUFs)
 * @param freqFactors per-pair divisors of the frequency (llama3 scaling), length dims/2, or null
 * @param positionScale multiplier on positions (linear scaling; 1 for none)
 */
public record RopeConfig(int dims, float theta, boolean neox, float[] freqFactors, float positionScale) {
    public RopeConfig {
        if (dims <= 0 || dims % 2 != 0) {
            throw new IllegalArgumentException("rope dims must be positive and even: " + dims);
        }
        if (freqFactors != null && freqFactors.length != dims / 2) {
            throw new IllegalArgumentException("rope freq factors: " + freqFactors.length + " values for " + dims + " dims");
        }
    }
}
