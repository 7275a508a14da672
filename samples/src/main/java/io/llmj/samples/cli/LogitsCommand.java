package io.llmj.samples.cli;

import io.llmj.Model;
import io.llmj.format.json.Json;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code llmj logits}: the raw logits for a sequence of token ids. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Print {\"logits\":[[...]]} for the last position (every position with --all).")
final class LogitsCommand implements Callable<Integer> {
    @CommandLine.Mixin
    ModelArgs modelArgs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--ids", required = true, split = ",", description = "Comma-separated token ids, run from position 0.")
    int[] ids;

    @Option(names = "--all", description = "Logits at every position.")
    boolean all;

    @Override
    public Integer call() {
        try (Model model = modelArgs.load()) {
            for (int id : ids) {
                if (id < 0 || id >= model.vocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (model.vocabSize() - 1) + ")");
                }
            }
            float[][] rows = model.logits(ids, all);
            PrintWriter out = spec.commandLine().getOut();
            out.println(Json.write(Map.of("logits", List.of(Arrays.stream(rows).map(r -> (Object) r).toArray()))));
            out.flush();
        }
        return 0;
    }
}
