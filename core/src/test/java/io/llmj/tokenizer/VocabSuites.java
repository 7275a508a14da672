package io.llmj.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Reads llama.cpp's {@code .inp}/{@code .out} tokenizer vectors (format in testdata/vocab/README.md). */
final class VocabSuites {
    private VocabSuites() {}

    static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    record Case(int index, String text, int[] ids) {
        @Override
        public String toString() {
            return "#" + index + " " + text.replace("\n", "\\n").replace("\t", "\\t");
        }
    }

    static List<String> inputs(Path inp) {
        String all = read(inp);
        List<String> out = new ArrayList<>();
        int pos = 0;
        while (true) {
            int k = all.indexOf(SEPARATOR, pos);
            if (k < 0) {
                break;
            }
            out.add(all.substring(pos, k));
            pos = k + SEPARATOR.length();
        }
        return out;
    }

    static List<Case> cases(Path inp, Path out) {
        List<String> in = inputs(inp);
        String[] lines = read(out).split("\n", -1);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < in.size(); i++) {
            String l = lines[i].strip();
            int[] ids = l.isEmpty() ? new int[0] : Arrays.stream(l.split(" +")).mapToInt(Integer::parseInt).toArray();
            cases.add(new Case(i, in.get(i), ids));
        }
        return cases;
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
