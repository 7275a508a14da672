package io.llmj.tokenizer;

import io.llmj.ModelFormatException;
import io.llmj.Tokenizer;
import io.llmj.format.gguf.GgufFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a {@link Tokenizer} from a GGUF file, a Hugging Face folder or a {@code tokenizer.json}. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * @param path a {@code .gguf} file (its {@code tokenizer.ggml.*} metadata), a folder holding
     *             {@code tokenizer.json} (and optionally {@code tokenizer_config.json}), or a
     *             {@code tokenizer.json} file
     * @throws ModelFormatException if the tokenizer data is malformed or unsupported
     */
    public static Tokenizer load(Path path) {
        if (Files.isDirectory(path)) {
            Path tj = path.resolve("tokenizer.json");
            Path tg = path.resolve("tokenizer.gguf");        // vocab-only GGUF (what `llmj gptq` writes for a GGUF source)
            if (!Files.isRegularFile(tj) && Files.isRegularFile(tg)) {
                return load(tg);
            }
            if (!Files.isRegularFile(tj)) {
                throw new ModelFormatException(path, null, "folder has no tokenizer.json (nor tokenizer.gguf)");
            }
            return HfTokenizer.load(tj);
        }
        if (!Files.isRegularFile(path)) {
            throw new UncheckedIOException("no such file or folder: " + path, new java.io.FileNotFoundException(path.toString()));
        }
        if (isGguf(path)) {
            try (GgufFile g = GgufFile.open(path)) {
                return new LlamaCppTokenizer(Vocabulary.fromGguf(g));
            }
        }
        return HfTokenizer.load(path);
    }

    private static boolean isGguf(Path path) {
        try (InputStream in = Files.newInputStream(path)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        }
    }
}
