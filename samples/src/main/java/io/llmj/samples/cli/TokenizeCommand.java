package io.llmj.samples.cli;

import io.llmj.Tokenizer;
import io.llmj.format.json.Json;
import io.llmj.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code llmj tokenize}: token ids of a text. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Print the token ids of TEXT (or of a file), space-separated on one line.")
final class TokenizeCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL",
            description = "A GGUF file, a Hugging Face folder or a tokenizer.json.")
    Path model;

    @Option(names = "--no-special", description = "Add no BOS/EOS and treat special-token text as plain text.")
    boolean noSpecial;

    @Option(names = "--json", description = "Print {\"ids\":[...],\"pieces\":[...]}.")
    boolean json;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Parameters(paramLabel = "TEXT", description = "The text.")
        String text;

        @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the text from a UTF-8 file.")
        Path file;
    }

    @Override
    public Integer call() {
        String text;
        try {
            text = input.file != null ? Files.readString(input.file, StandardCharsets.UTF_8) : input.text;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + input.file, e);
        }
        Tokenizer tok = Tokenizers.load(model);
        int[] ids = tok.encode(text, !noSpecial, !noSpecial);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            List<String> pieces = new ArrayList<>();
            for (int id : ids) {
                pieces.add(new String(tok.tokenBytes(id), StandardCharsets.UTF_8));
            }
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("ids", ids);
            o.put("pieces", pieces);
            out.println(Json.write(o));
        } else {
            out.println(IntStream.of(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        }
        out.flush();
        return 0;
    }
}
