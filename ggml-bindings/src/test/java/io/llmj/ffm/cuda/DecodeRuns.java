package io.llmj.ffm.cuda;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.ReferenceFile;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantTarget;
import io.llmj.quant.SyntheticModel;
import io.llmj.testing.TestData;
import java.nio.file.Path;

/** Runs shared by the tests that compare a model's logits on two backends or configurations. */
final class DecodeRuns {
    private DecodeRuns() {}

    /**
     * Prompt logits (every position, one batch) then {@code steps} one-token decode steps' logits, each step fed
     * {@code forced[i]} or, with {@code forced} null, the argmax of the logits before it; a state of {@code ctx}
     * positions with a {@code cache} KV cache.
     */
    static float[] logits(TensorSource src, ModelConfig c, Backend b, int[] ids, int[] forced, int steps, int ctx,
                          GgmlType cache) {
        Forward f = Forwards.create(c, src, b);
        int v = c.vocabSize();
        float[] out = new float[(ids.length + steps) * v];
        try (ForwardState s = f.newState(ctx, 32, cache)) {
            f.forward(s, ids, 0, true, out);
            float[] last = new float[v];
            System.arraycopy(out, (ids.length - 1) * v, last, 0, v);
            for (int i = 0; i < steps; i++) {
                int tok = forced != null ? forced[i] : ReferenceFile.argmax(last, 0, v);
                f.forward(s, new int[] {tok}, ids.length + i, false, last);
                System.arraycopy(last, 0, out, (ids.length + i) * v, v);
            }
        }
        return out;
    }

    /** The {@code steps} greedy tokens the logits of {@link #logits} imply (argmax of the last prompt position, then each step). */
    static int[] greedy(float[] logits, int promptLen, int steps, int v) {
        int[] t = new int[steps];
        for (int i = 0; i < steps; i++) {
            t[i] = ReferenceFile.argmax(logits, (promptLen - 1 + i) * v, v);
        }
        return t;
    }

    /**
     * A synthetic llama (2 layers, {@code heads} query heads of {@code headDim} over {@code kvHeads} KV heads,
     * feed-forward 512, stories260K's vocabulary) in {@code target}, written to {@code dir}: the shapes of the
     * short-context decode attention kernel.
     */
    static Path synth(Path dir, int headDim, int heads, int kvHeads, QuantTarget target, long seed) {
        String name = (kvHeads == heads ? "mha-" : "gqa" + heads + "x" + kvHeads + "-") + headDim;
        SyntheticModel.Shape shape = new SyntheticModel.Shape(name, heads * headDim, 2, heads, kvHeads, 512, 0, 512, 10000f);
        Path file = dir.resolve(name + "-" + target + ".gguf");
        SyntheticModel.write(shape, target, TestData.require("models/stories260K.gguf"), seed, 2, (i, n, t, d, total) -> { },
                file);
        return file;
    }
}
