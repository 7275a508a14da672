package io.llmj.samples.cli;

import io.llmj.LlmjException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code llmj} command-line tool. */
@Command(name = "llmj", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Run large language models from Java: GGUF and safetensors, CPU and CUDA.",
        subcommands = {GenerateCommand.class, ChatCommand.class, InfoCommand.class, TokenizeCommand.class, LogitsCommand.class,
                PerplexityCommand.class, BenchCommand.class, QuantizeCommand.class, GptqCommand.class, SynthCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Builds the command line with llmj's error handling: typed llmj errors print one line, exit 1. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            if (ex instanceof LlmjException || ex instanceof IllegalArgumentException
                    || ex instanceof java.io.UncheckedIOException || ex instanceof UnsupportedOperationException) {
                PrintWriter err = cmd.getErr();
                err.println("llmj: " + ex.getMessage());
                err.flush();
                return 1;
            }
            throw ex;
        });
        return cl;
    }

    public static void main(String[] args) {
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            // one line per record ("INFO: llmj: running on cuda ..."), not java.util.logging's two with a timestamp
            System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s: %5$s%6$s%n");
        }
        System.exit(commandLine().execute(args));
    }

    /** Version from the jar manifest (or "dev" when run from classes). */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"llmj " + (v == null ? "dev" : v),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
