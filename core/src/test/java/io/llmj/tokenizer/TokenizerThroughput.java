package io.llmj.tokenizer;

import io.llmj.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Hand-run throughput check (not a unit test): encodes about 1 MB of testdata/text/eval.txt with a
 * few tokenizers and prints MB/s. Run after {@code mvn -pl core test-compile}:
 * {@code java -cp core/target/classes:core/target/test-classes io.llmj.tokenizer.TokenizerThroughput [testdata-dir]}
 */
public final class TokenizerThroughput {
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "../shared/testdata");
        String eval = Files.readString(root.resolve("text/eval.txt"));
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 1_000_000) {
            sb.append(eval);
        }
        String text = sb.substring(0, 1_000_000);
        double mb = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
        String[][] cases = {
            {"llama-spm (GGUF, SPM)", "vocab/ggml-vocab-llama-spm.gguf"},
            {"gpt-2 (GGUF, byte-level BPE)", "vocab/ggml-vocab-gpt-2.gguf"},
            {"llama3 (tokenizer.json, byte-level BPE)", "hf-tokenizers/llama3"},
            {"mistral-spm (tokenizer.json, SPM-style BPE)", "hf-tokenizers/mistral-spm"},
        };
        for (String[] c : cases) {
            long t0 = System.nanoTime();
            Tokenizer tok = Tokenizers.load(root.resolve(c[1]));
            long t1 = System.nanoTime();
            int n = 0;
            double first = 0;
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 30; rep++) {
                long a = System.nanoTime();
                n = tok.encode(text, false, false).length;
                double sec = (System.nanoTime() - a) / 1e9;
                if (rep == 0) {
                    first = sec;
                }
                best = Math.min(best, sec);
            }
            // a fresh tokenizer with the JIT warm: empty word cache
            Tokenizer fresh = Tokenizers.load(root.resolve(c[1]));
            long f0 = System.nanoTime();
            fresh.encode(text, false, false);
            double coldCache = (System.nanoTime() - f0) / 1e9;
            // the first pass includes JIT warm-up and filling the word cache
            System.out.printf("%-45s load %6.0f ms  %8d tokens  first pass %6.2f MB/s, empty cache (JIT warm) %6.2f MB/s,"
                    + " best of 30 %6.2f MB/s%n", c[0], (t1 - t0) / 1e6, n, mb / first, mb / coldCache, mb / best);
        }
    }
}
