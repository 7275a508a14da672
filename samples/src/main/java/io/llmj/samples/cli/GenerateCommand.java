package io.llmj.samples.cli;

import io.llmj.GenerationOptions;
import io.llmj.GenerationStats;
import io.llmj.Generator;
import io.llmj.Model;
import io.llmj.Sampler;
import io.llmj.Token;
import io.llmj.format.json.Json;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code llmj generate}: streams a continuation of a prompt. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt.")
final class GenerateCommand implements Callable<Integer> {
    @CommandLine.Mixin
    ModelArgs modelArgs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-p", "--prompt"}, required = true, description = "The prompt.")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, defaultValue = "64", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int n;

    @Option(names = "--temp", defaultValue = "0", description = "Temperature; 0 is greedy (default).")
    float temp;

    @Option(names = "--top-k", defaultValue = "0", description = "Top-k (0: off).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Top-p (1: off).")
    float topP;

    @Option(names = "--min-p", defaultValue = "0", description = "Min-p (0: off).")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1", description = "Repetition penalty over the last 64 tokens (1: off).")
    float repeatPenalty;

    @Option(names = "--seed", description = "Random seed (default: random).")
    Long seed;

    @Option(names = {"-c", "--ctx"}, defaultValue = "0", description = "Context length (0: the model's, at most 4096).")
    int ctx;

    @Option(names = "--cache-type", defaultValue = "F32", description = "KV cache type: F32 or F16.")
    GenerationOptions.CacheType cacheType;

    @Option(names = "--stop", description = "Stop string (repeatable).")
    List<String> stops = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Generate past end-of-generation tokens (to -n tokens).")
    boolean ignoreEos;

    @Option(names = "--json", description = "Print one JSON object instead of streaming text.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Sampler.Builder sb = Sampler.builder().temperature(temp).topK(topK).topP(topP).minP(minP)
                .penalties(64, repeatPenalty, 0, 0);
        if (seed != null) {
            sb.seed(seed);
        }
        GenerationOptions options = GenerationOptions.builder().maxTokens(n).sampler(sb.build()).contextLength(ctx)
                .cacheType(cacheType).stopStrings(stops).ignoreEndOfGeneration(ignoreEos).build();
        try (Model model = modelArgs.load(); Generator g = model.generator(options)) {
            int[] promptIds = model.tokenizer().encode(prompt, true, false);
            List<Integer> ids = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            try (Stream<Token> s = g.stream(promptIds)) {
                s.forEach(t -> {
                    ids.add(t.id());
                    text.append(t.text());
                    if (!json) {
                        out.print(t.text());
                        out.flush();
                    }
                });
            }
            GenerationStats st = g.stats();
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("prompt_ids", promptIds);
                o.put("ids", ids);
                o.put("text", text.toString());
                o.put("ttft_ms", round(st.ttftMillis()));
                o.put("prefill_tps", round(st.prefillTokensPerSecond()));
                o.put("decode_tps", round(st.decodeTokensPerSecond()));
                out.println(Json.write(o));
            } else {
                out.println();
                spec.commandLine().getErr().printf("[%s backend: prompt %d tokens, ttft %.1f ms, prefill %.1f t/s, decode %.1f t/s]%n",
                        model.backendName(), st.promptTokens(), st.ttftMillis(), st.prefillTokensPerSecond(),
                        st.decodeTokensPerSecond());
            }
        }
        out.flush();
        return 0;
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
