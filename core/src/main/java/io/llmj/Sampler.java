package io.llmj;

import io.llmj.sampling.SamplerChain;
import java.util.random.RandomGenerator;

/**
 * Chooses the next token from a position's logits. Built-in samplers come from {@link #greedy()} and
 * {@link #builder()} (penalties, top-k, top-p, min-p, temperature and a seeded draw, applied in
 * llama.cpp's order); implement this interface for anything else.
 *
 * <p>A sampler is immutable and may be shared between generators: per-generation state (the token
 * history and the random generator) is passed in {@link Context}.
 */
@FunctionalInterface
public interface Sampler {

    /**
     * Returns the id of the next token.
     *
     * @param logits raw logits of the position, one per vocabulary entry (the sampler may overwrite them;
     *               the generator reuses the array for the next position, so do not keep it)
     * @param ctx    the tokens so far and this generation's random generator
     */
    int sample(float[] logits, Context ctx);

    /** Seed for this generation's random generator; empty for a fresh random seed each time. */
    default java.util.OptionalLong seed() {
        return java.util.OptionalLong.empty();
    }

    /** Per-generation state handed to {@link #sample}. */
    interface Context {
        /** Prompt and generated ids so far, oldest first ({@code historySize()} of them are valid). */
        int[] history();

        int historySize();

        /** Random numbers for this generation, seeded from {@link Sampler#seed()}. */
        RandomGenerator random();
    }

    /** Always the highest logit (the lowest id among equals), as llama.cpp's greedy sampler. */
    static Sampler greedy() {
        return io.llmj.sampling.Greedy.INSTANCE;
    }

    /** A builder for the standard chain. With temperature 0 (the default) the chain ends in greedy choice. */
    static Builder builder() {
        return new Builder();
    }

    /** Builds the standard sampler chain: penalties, top-k, top-p, min-p, temperature, then a seeded draw. */
    final class Builder {
        private float temperature = 0f;
        private int topK = 0;
        private float topP = 1f;
        private float minP = 0f;
        private float repeatPenalty = 1f;
        private float presencePenalty = 0f;
        private float frequencyPenalty = 0f;
        private int penaltyLastN = 64;
        private Long seed;

        private Builder() {}

        /** Divides logits by {@code t}; 0 means greedy. */
        public Builder temperature(float t) {
            if (!(t >= 0)) {
                throw new IllegalArgumentException("temperature must be >= 0: " + t);
            }
            temperature = t;
            return this;
        }

        /** Keeps the {@code k} most likely tokens; 0 keeps all. */
        public Builder topK(int k) {
            if (k < 0) {
                throw new IllegalArgumentException("top-k must be >= 0: " + k);
            }
            topK = k;
            return this;
        }

        /** Keeps the smallest set of most likely tokens whose probability reaches {@code p}; 1 keeps all. */
        public Builder topP(float p) {
            if (!(p > 0 && p <= 1)) {
                throw new IllegalArgumentException("top-p must be in (0, 1]: " + p);
            }
            topP = p;
            return this;
        }

        /** Drops tokens less likely than {@code p} times the most likely one; 0 keeps all. */
        public Builder minP(float p) {
            if (!(p >= 0 && p <= 1)) {
                throw new IllegalArgumentException("min-p must be in [0, 1]: " + p);
            }
            minP = p;
            return this;
        }

        /**
         * Penalises tokens seen in the last {@code lastN} tokens: positive logits divided by {@code repeat},
         * negative ones multiplied (1 = off); then minus {@code frequency} per occurrence and minus
         * {@code presence} once (0 = off), as llama.cpp does.
         */
        public Builder penalties(int lastN, float repeat, float frequency, float presence) {
            if (lastN < 0 || !(repeat > 0)) {
                throw new IllegalArgumentException("penalty window must be >= 0 and repeat penalty > 0");
            }
            penaltyLastN = lastN;
            repeatPenalty = repeat;
            frequencyPenalty = frequency;
            presencePenalty = presence;
            return this;
        }

        /** Makes draws reproducible: the same seed, model, prompt and options give the same tokens. */
        public Builder seed(long s) {
            seed = s;
            return this;
        }

        public Sampler build() {
            return new SamplerChain(temperature, topK, topP, minP, penaltyLastN, repeatPenalty, frequencyPenalty,
                    presencePenalty, seed);
        }
    }
}
