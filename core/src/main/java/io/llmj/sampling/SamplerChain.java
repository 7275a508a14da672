package io.llmj.sampling;

import io.llmj.Sampler;
import java.util.OptionalLong;

/**
 * llama.cpp's common sampler chain: repetition/frequency/presence penalties over the last N tokens,
 * top-k, top-p, min-p, temperature, then a draw from the softmax (or the argmax at temperature 0).
 */
public final class SamplerChain implements Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final float minP;
    private final int penaltyLastN;
    private final float repeat;
    private final float frequency;
    private final float presence;
    private final Long seed;

    public SamplerChain(float temperature, int topK, float topP, float minP, int penaltyLastN, float repeat,
                        float frequency, float presence, Long seed) {
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.minP = minP;
        this.penaltyLastN = penaltyLastN;
        this.repeat = repeat;
        this.frequency = frequency;
        this.presence = presence;
        this.seed = seed;
    }

    @Override
    public OptionalLong seed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    /** Whether every draw is the greedy choice: temperature 0 and no penalty (top-k, top-p and min-p keep the maximum). */
    public boolean isGreedy() {
        return temperature <= 0 && neutralPenalties();
    }

    private boolean neutralPenalties() {
        return penaltyLastN == 0 || (repeat == 1f && frequency == 0f && presence == 0f);
    }

    @Override
    public int sample(float[] logits, Context ctx) {
        applyPenalties(logits, ctx);
        if (temperature <= 0) {
            return Sampler.greedy().sample(logits, ctx);
        }
        Candidates c = Candidates.of(logits);
        if (topK > 0) {
            c.topK(topK);
        }
        if (topP < 1) {
            c.topP(topP);
        }
        if (minP > 0) {
            c.minP(minP);
        }
        c.temperature(temperature);
        return c.draw(ctx.random());
    }

    private void applyPenalties(float[] logits, Context ctx) {
        if (neutralPenalties()) {
            return;
        }
        int[] h = ctx.history();
        int from = Math.max(0, ctx.historySize() - penaltyLastN);
        java.util.HashMap<Integer, Integer> counts = new java.util.HashMap<>();
        for (int i = from; i < ctx.historySize(); i++) {
            counts.merge(h[i], 1, Integer::sum);
        }
        counts.forEach((id, n) -> {
            if (id < 0 || id >= logits.length) {
                return;
            }
            float l = logits[id];
            l = l <= 0 ? l * repeat : l / repeat;
            logits[id] = l - n * frequency - presence;
        });
    }
}
