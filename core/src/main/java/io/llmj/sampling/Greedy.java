package io.llmj.sampling;

import io.llmj.Sampler;

/**
 * The greedy sampler of {@link Sampler#greedy()}: the highest logit, the lowest id among equal ones (NaN never
 * chosen unless it is at id 0, as a plain {@code >} scan does). One instance, which a generator recognises
 * ({@link #is}) to make the choice on a GPU without copying the logits to the host.
 */
public final class Greedy implements Sampler {
    public static final Greedy INSTANCE = new Greedy();

    private Greedy() {}

    @Override
    public int sample(float[] logits, Context ctx) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Whether {@code s} always makes the greedy choice: this sampler, or a chain at temperature 0 without penalties. */
    public static boolean is(Sampler s) {
        return s == INSTANCE || s instanceof SamplerChain c && c.isGreedy();
    }

    @Override
    public String toString() {
        return "greedy";
    }
}
