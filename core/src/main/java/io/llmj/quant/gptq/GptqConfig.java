package io.llmj.quant.gptq;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The GPTQ settings of a Hugging Face folder: {@code quantization_config} in {@code config.json}
 * (transformers / GPTQModel) or a {@code quantize_config.json} beside it (AutoGPTQ).
 *
 * <p>Accepted: {@code quant_method "gptq"}, {@code bits} 2, 4 or 8, any {@code group_size} that is a
 * multiple of 32 or -1, {@code desc_act} and {@code sym} either way, {@code checkpoint_format "gptq"}
 * (the classic layout, zero points stored minus one). Everything else is rejected with a
 * {@link ModelFormatException} naming the file and key: other methods (awq, bitsandbytes, fp8 ...),
 * the marlin / bitblas / gptq_v2 checkpoint formats, 3 bits.
 *
 * @param file where the settings were read
 */
public record GptqConfig(int bits, int groupSize, boolean descAct, boolean sym, String checkpointFormat, Path file) {

    /**
     * The folder's GPTQ settings, or null if it is not quantized.
     *
     * @param raw the parsed config.json
     * @throws ModelFormatException if it is quantized in a way llmj cannot load
     */
    @SuppressWarnings("unchecked")
    public static GptqConfig detect(Path folder, Path configFile, Map<String, Object> raw) {
        Object qc = raw.get("quantization_config");
        Path file = configFile;
        String prefix = "quantization_config.";
        if (qc == null) {
            Path qf = folder.resolve("quantize_config.json");
            if (!Files.isRegularFile(qf)) {
                return null;
            }
            qc = Json.parse(qf);
            file = qf;
            prefix = "";
        }
        if (!(qc instanceof Map<?, ?> m)) {
            throw new ModelFormatException(file, "key " + prefix.replace(".", ""), "expected an object");
        }
        Map<String, Object> q = (Map<String, Object>) m;
        final Path f = file;
        final String p = prefix;
        String method = str(q, "quant_method", "gptq");
        if (!method.equals("gptq")) {
            throw new ModelFormatException(f, "key " + p + "quant_method", "'" + method
                    + "' checkpoints are not supported (llmj loads quant_method gptq)");
        }
        String format = str(q, "checkpoint_format", "gptq");
        if (Boolean.TRUE.equals(q.get("is_marlin_format"))) {
            format = "marlin";
        }
        if (!format.equals("gptq")) {
            throw new ModelFormatException(f, "key " + p + "checkpoint_format", "GPTQ checkpoint format '" + format
                    + "' is not supported (llmj loads checkpoint_format gptq, AutoGPTQ's classic layout)");
        }
        Object b = q.get("bits");
        if (!(b instanceof Long bits)) {
            throw new ModelFormatException(f, "key " + p + "bits", "missing or not an integer: " + b);
        }
        if (bits != 2 && bits != 4 && bits != 8) {
            throw new ModelFormatException(f, "key " + p + "bits", bits + "-bit GPTQ is not supported (2, 4 and 8 are)");
        }
        Object g = q.getOrDefault("group_size", -1L);
        if (!(g instanceof Long gs) || (gs != -1 && (gs <= 0 || gs % 32 != 0))) {
            throw new ModelFormatException(f, "key " + p + "group_size", "group size " + g
                    + " is not supported (-1 or a multiple of 32 is)");
        }
        return new GptqConfig((int) (long) bits, (int) (long) gs, bool(q, "desc_act"), !Boolean.FALSE.equals(q.get("sym")), format, f);
    }

    private static String str(Map<String, Object> q, String key, String def) {
        Object v = q.get(key);
        return v == null ? def : v.toString().toLowerCase(java.util.Locale.ROOT);
    }

    private static boolean bool(Map<String, Object> q, String key) {
        return Boolean.TRUE.equals(q.get(key));
    }
}
