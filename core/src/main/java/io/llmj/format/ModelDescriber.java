package io.llmj.format;

import io.llmj.ModelFormatException;
import io.llmj.format.gguf.GgufArray;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.format.gguf.GgufValueType;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.json.Json;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.format.safetensors.SafetensorsFile;
import io.llmj.format.safetensors.SafetensorsTensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * Human-readable descriptions of model files, for {@code llmj info -m MODEL}: a GGUF file (version,
 * every metadata key with its type and value, long arrays abbreviated, and the tensor table), a
 * Hugging Face folder (config summary and the safetensors tensor table) or a single safetensors file.
 */
public final class ModelDescriber {
    /** Array elements shown before "... (N elements)". */
    public static final int ARRAY_PREVIEW = 8;

    private ModelDescriber() {}

    /**
     * Describes the model at {@code model} (a .gguf file, a .safetensors file or a Hugging Face folder).
     *
     * @throws ModelFormatException if it is none of these or is malformed
     */
    public static void describe(Path model, PrintStream out) {
        if (Files.isDirectory(model)) {
            describeHfFolder(model, out);
        } else if (isGguf(model)) {
            try (GgufFile f = GgufFile.open(model)) {
                describe(f, out);
            }
        } else if (model.getFileName() != null && model.getFileName().toString().endsWith(".safetensors")) {
            try (SafetensorsFile f = SafetensorsFile.open(model)) {
                describe(f, out);
            }
        } else if (!Files.exists(model)) {
            throw new UncheckedIOException(new java.nio.file.NoSuchFileException(model.toString()));
        } else {
            throw new ModelFormatException(model, null, "not a GGUF file, a safetensors file or a Hugging Face model folder");
        }
    }

    private static boolean isGguf(Path p) {
        if (!Files.isRegularFile(p)) {
            return false;
        }
        try (InputStream in = Files.newInputStream(p)) {
            byte[] m = in.readNBytes(4);
            return Arrays.equals(m, new byte[] {'G', 'G', 'U', 'F'});
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p, e);
        }
    }

    /** Describes an open GGUF file. */
    public static void describe(GgufFile f, PrintStream out) {
        out.println("GGUF file: " + f.path());
        if (f.parts().size() > 1) {
            out.println("split into " + f.parts().size() + " parts: " + f.parts().stream().map(p -> p.getFileName().toString()).toList());
        }
        out.println("version: " + f.version() + ", alignment: " + f.alignment() + ", data offset: " + f.dataOffset()
                + ", file size: " + f.mapping().byteSize());
        out.println();
        out.println("metadata (" + f.metadata().size() + " keys):");
        List<String[]> rows = new ArrayList<>();
        for (Map.Entry<String, Object> e : f.metadata().entrySet()) {
            rows.add(new String[] {e.getKey(), typeName(f.type(e.getKey()), e.getValue()), GgufFile.format(e.getValue(), ARRAY_PREVIEW)});
        }
        table(out, new String[] {"key", "type", "value"}, rows, new boolean[] {false, false, false});
        out.println();
        out.println("tensors (" + f.tensors().size() + "):");
        rows.clear();
        long elements = 0;
        long bytes = 0;
        for (GgufTensor t : f.tensors()) {
            rows.add(new String[] {t.name(), t.type().name(), Arrays.toString(t.shape()), Long.toString(t.offset()),
                Long.toString(t.byteSize())});
            elements += t.elements();
            bytes += t.byteSize();
        }
        table(out, new String[] {"name", "type", "shape (ne)", "offset", "bytes"}, rows, new boolean[] {false, false, false, true, true});
        out.println("total: " + elements + " elements, " + bytes + " bytes (" + human(bytes) + ")");
    }

    private static String typeName(GgufValueType t, Object v) {
        if (t == GgufValueType.ARRAY && v instanceof GgufArray a) {
            return "ARRAY[" + a.elementType() + "] (" + a.size() + ")";
        }
        return String.valueOf(t);
    }

    /** Describes a single safetensors file. */
    public static void describe(SafetensorsFile f, PrintStream out) {
        out.println("safetensors file: " + f.path());
        out.println("header: " + (f.dataOffset() - 8) + " bytes, metadata: " + Json.write(f.metadata()));
        out.println();
        tensorTable(f.tensors(), null, out);
    }

    /** Describes a Hugging Face model folder: config.json and the safetensors weights. */
    public static void describeHfFolder(Path folder, PrintStream out) {
        out.println("Hugging Face model folder: " + folder);
        Path configFile = folder.resolve("config.json");
        if (Files.isRegularFile(configFile)) {
            HfConfig c = HfConfig.read(configFile);
            out.println("config.json:");
            line(out, "model_type", c.modelType());
            line(out, "architectures", String.join(", ", c.architectures()));
            line(out, "dtype", c.dtype().orElse("-"));
            line(out, "hidden_size", c.hiddenSize());
            line(out, "num_hidden_layers", c.numHiddenLayers());
            line(out, "num_attention_heads", c.numAttentionHeads());
            line(out, "num_key_value_heads", c.numKeyValueHeads());
            line(out, "head_dim", c.headDim());
            line(out, "intermediate_size", c.optInt("intermediate_size"));
            line(out, "vocab_size", c.vocabSize());
            line(out, "max_position_embeddings", c.maxPositionEmbeddings());
            line(out, "rms_norm_eps", c.optDouble("rms_norm_eps"));
            line(out, "hidden_act", c.hiddenAct().orElse("-"));
            line(out, "tie_word_embeddings", c.tieWordEmbeddings().map(String::valueOf).orElse("-"));
            line(out, "rope", "type " + c.ropeType() + ", theta " + c.ropeTheta() + ", partial_rotary_factor "
                    + c.partialRotaryFactor() + (c.ropeParameters().isEmpty() ? "" : ", " + Json.write(c.ropeParameters())));
            line(out, "sliding_window", c.slidingWindow());
            line(out, "attn_logit_softcapping", c.attnLogitSoftcapping());
            line(out, "final_logit_softcapping", c.finalLogitSoftcapping());
            c.quantizationConfig().ifPresent(q -> line(out, "quantization_config", Json.write(q)));
        } else {
            out.println("(no config.json)");
        }
        out.println();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(folder)) {
            out.println("weights: " + ck.files().stream().map(f -> f.path().getFileName().toString()).toList());
            tensorTable(ck.tensors(), ck.files().size() > 1 ? ck : null, out);
        }
    }

    private static void tensorTable(List<SafetensorsTensor> tensors, SafetensorsCheckpoint ck, PrintStream out) {
        out.println("tensors (" + tensors.size() + "):");
        List<String[]> rows = new ArrayList<>();
        long elements = 0;
        long bytes = 0;
        for (SafetensorsTensor t : tensors) {
            String[] row = {t.name(), t.dtype().name(), Arrays.toString(t.shape()), Long.toString(t.data().byteSize()),
                ck == null ? "" : ck.fileOf(t.name()).path().getFileName().toString()};
            rows.add(ck == null ? Arrays.copyOf(row, 4) : row);
            elements += t.elements();
            bytes += t.data().byteSize();
        }
        if (ck == null) {
            table(out, new String[] {"name", "dtype", "shape", "bytes"}, rows, new boolean[] {false, false, false, true});
        } else {
            table(out, new String[] {"name", "dtype", "shape", "bytes", "file"}, rows, new boolean[] {false, false, false, true, false});
        }
        out.println("total: " + elements + " elements, " + bytes + " bytes (" + human(bytes) + ")");
    }

    private static void line(PrintStream out, String key, Object value) {
        String v;
        if (value instanceof OptionalInt o) {
            v = o.isPresent() ? Integer.toString(o.getAsInt()) : "-";
        } else if (value instanceof OptionalDouble o) {
            v = o.isPresent() ? Double.toString(o.getAsDouble()) : "-";
        } else {
            v = String.valueOf(value);
        }
        out.printf("  %-24s %s%n", key, v);
    }

    private static void table(PrintStream out, String[] head, List<String[]> rows, boolean[] right) {
        int[] w = new int[head.length];
        for (int i = 0; i < head.length; i++) {
            w[i] = head[i].length();
        }
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                w[i] = Math.max(w[i], r[i].length());
            }
        }
        printRow(out, head, w, right);
        for (String[] r : rows) {
            printRow(out, r, w, right);
        }
    }

    private static void printRow(PrintStream out, String[] r, int[] w, boolean[] right) {
        StringBuilder sb = new StringBuilder("  ");
        for (int i = 0; i < r.length; i++) {
            String cell = r[i];
            int pad = Math.max(0, w[i] - cell.length());
            boolean last = i == r.length - 1;
            if (right[i]) {
                sb.append(" ".repeat(pad)).append(cell);
            } else {
                sb.append(cell);
                if (!last) {
                    sb.append(" ".repeat(pad));
                }
            }
            if (!last) {
                sb.append("  ");
            }
        }
        out.println(sb.toString().stripTrailing());
    }

    private static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format("%.2f %s", v, units[u]);
    }
}
