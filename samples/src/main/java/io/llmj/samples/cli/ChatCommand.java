package io.llmj.samples.cli;

import io.llmj.ChatMessage;
import io.llmj.GenerationOptions;
import io.llmj.Generator;
import io.llmj.Model;
import io.llmj.Sampler;
import io.llmj.Token;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code llmj chat}: a conversation rendered with the model's own chat template. Reads one user
 * message per line from standard input ("/exit" or end of input quits); with {@code -p} answers one
 * message and exits.
 */
@Command(name = "chat", mixinStandardHelpOptions = true, description = "Chat with a model using its chat template.")
final class ChatCommand implements Callable<Integer> {
    @CommandLine.Mixin
    ModelArgs modelArgs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-s", "--system"}, description = "System message.")
    String system;

    @Option(names = {"-p", "--prompt"}, description = "Answer this one message and exit.")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, defaultValue = "256", description = "Most tokens per reply (default ${DEFAULT-VALUE}).")
    int n;

    @Option(names = "--temp", defaultValue = "0.7", description = "Temperature (default ${DEFAULT-VALUE}; 0 is greedy).")
    float temp;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Top-p (default ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", description = "Random seed.")
    Long seed;

    @Option(names = "--show-prompt", description = "Print the rendered prompt before each reply (to stderr).")
    boolean showPrompt;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Sampler.Builder sb = Sampler.builder().temperature(temp).topP(topP);
        if (seed != null) {
            sb.seed(seed);
        }
        GenerationOptions options = GenerationOptions.builder().maxTokens(n).sampler(sb.build()).build();
        try (Model model = modelArgs.load(); Generator g = model.generator(options)) {
            if (model.chatTemplate().isFallback()) {
                err.println("[the model has no chat template: using ChatML]");
            }
            List<ChatMessage> messages = new ArrayList<>();
            if (system != null) {
                messages.add(ChatMessage.system(system));
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            while (true) {
                String line;
                if (prompt != null) {
                    line = prompt;
                } else {
                    out.print("> ");
                    out.flush();
                    try {
                        line = in.readLine();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    if (line == null || line.strip().equals("/exit")) {
                        break;
                    }
                }
                messages.add(ChatMessage.user(line));
                int[] ids = model.chatPrompt(messages);
                if (showPrompt) {
                    err.println(model.tokenizer().decode(ids, true));
                }
                StringBuilder reply = new StringBuilder();
                try (Stream<Token> s = g.stream(ids)) {
                    s.forEach(t -> {
                        reply.append(t.text());
                        out.print(t.text());
                        out.flush();
                    });
                }
                out.println();
                messages.add(ChatMessage.assistant(reply.toString()));
                if (prompt != null) {
                    break;
                }
            }
        }
        out.flush();
        return 0;
    }
}
