package io.llmj;

import java.util.List;

/**
 * What a {@link Generator} does: how many tokens, how they are chosen, when to stop, and its KV cache.
 * Build with {@link #builder()}.
 */
public final class GenerationOptions {
    /** What happens when prompt plus generated tokens reach the context length. */
    public enum ContextPolicy {
        /** Throw {@link ContextLengthExceededException} (the default). */
        FAIL,
        /** End the stream quietly at the last position that fits. */
        STOP
    }

    /** Element type of the KV cache. */
    public enum CacheType {
        /** float32: exact, twice the memory. */
        F32,
        /** float16: llama.cpp's default. */
        F16
    }

    private final int maxTokens;
    private final Sampler sampler;
    private final List<String> stopStrings;
    private final int contextLength;
    private final int batchSize;
    private final CacheType cacheType;
    private final ContextPolicy contextPolicy;
    private final boolean parseSpecial;
    private final boolean ignoreEndOfGeneration;

    private GenerationOptions(Builder b) {
        maxTokens = b.maxTokens;
        sampler = b.sampler;
        stopStrings = List.copyOf(b.stopStrings);
        contextLength = b.contextLength;
        batchSize = b.batchSize;
        cacheType = b.cacheType;
        contextPolicy = b.contextPolicy;
        parseSpecial = b.parseSpecial;
        ignoreEndOfGeneration = b.ignoreEndOfGeneration;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Defaults: 256 tokens, greedy, the model's context length, F32 cache, fail past the context. */
    public static GenerationOptions defaults() {
        return builder().build();
    }

    public int maxTokens() {
        return maxTokens;
    }

    public Sampler sampler() {
        return sampler;
    }

    public List<String> stopStrings() {
        return stopStrings;
    }

    /** Context length of the KV cache; 0 means the model's own (capped at 4096 to bound memory). */
    public int contextLength() {
        return contextLength;
    }

    /** Prompt tokens processed per forward call. */
    public int batchSize() {
        return batchSize;
    }

    public CacheType cacheType() {
        return cacheType;
    }

    public ContextPolicy contextPolicy() {
        return contextPolicy;
    }

    /** Whether special-token text in the prompt (e.g. "&lt;|im_start|&gt;") becomes the special token. */
    public boolean parseSpecial() {
        return parseSpecial;
    }

    /** Whether end-of-generation tokens are generated as ordinary ones (llama.cpp's {@code --ignore-eos}). */
    public boolean ignoreEndOfGeneration() {
        return ignoreEndOfGeneration;
    }

    public static final class Builder {
        private int maxTokens = 256;
        private Sampler sampler = Sampler.greedy();
        private List<String> stopStrings = List.of();
        private int contextLength = 0;
        private int batchSize = 256;
        private CacheType cacheType = CacheType.F32;
        private ContextPolicy contextPolicy = ContextPolicy.FAIL;
        private boolean parseSpecial = false;
        private boolean ignoreEndOfGeneration = false;

        private Builder() {}

        public Builder maxTokens(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("maxTokens must be >= 0: " + n);
            }
            maxTokens = n;
            return this;
        }

        public Builder sampler(Sampler s) {
            sampler = java.util.Objects.requireNonNull(s, "sampler");
            return this;
        }

        /** Generation ends when the text contains one of these; the stop string itself is not emitted. */
        public Builder stopStrings(List<String> stops) {
            for (String s : stops) {
                if (s == null || s.isEmpty()) {
                    throw new IllegalArgumentException("stop strings must be non-empty");
                }
            }
            stopStrings = List.copyOf(stops);
            return this;
        }

        public Builder contextLength(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("contextLength must be >= 0: " + n);
            }
            contextLength = n;
            return this;
        }

        public Builder batchSize(int n) {
            if (n <= 0) {
                throw new IllegalArgumentException("batchSize must be > 0: " + n);
            }
            batchSize = n;
            return this;
        }

        public Builder cacheType(CacheType t) {
            cacheType = java.util.Objects.requireNonNull(t);
            return this;
        }

        public Builder contextPolicy(ContextPolicy p) {
            contextPolicy = java.util.Objects.requireNonNull(p);
            return this;
        }

        public Builder parseSpecial(boolean on) {
            parseSpecial = on;
            return this;
        }

        /**
         * With {@code true}, an end-of-generation token does not end the stream: it is emitted (as an empty
         * piece) and generation goes on to the other stop conditions. Default false. For benchmarks that need
         * a fixed number of tokens.
         */
        public Builder ignoreEndOfGeneration(boolean on) {
            ignoreEndOfGeneration = on;
            return this;
        }

        public GenerationOptions build() {
            return new GenerationOptions(this);
        }
    }
}
