package io.llmj.format;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.testing.TestData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelDescriberTest {
    @TempDir
    Path tmp;

    static String describe(Path p) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            ModelDescriber.describe(p, out);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    static void contains(String text, String... parts) {
        for (String p : parts) {
            assertTrue(text.contains(p), "missing \"" + p + "\" in:\n" + text);
        }
    }

    @Test
    void gguf() {
        String s = describe(TestData.require("models/stories260K.gguf"));
        contains(s, "version: 3", "alignment: 32", "metadata (19 keys):", "tensors (48):",
                "general.architecture", "STRING", "\"llama\"",
                "tokenizer.ggml.seperator_token_id", "UINT32", "4294967295",
                "tokenizer.ggml.tokens", "ARRAY[STRING] (512)", "[\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\"", "... (512 elements)]",
                "tokenizer.ggml.scores", "ARRAY[FLOAT32] (512)",
                "llama.attention.layer_norm_rms_epsilon", "FLOAT32", "1.0E-5",
                "token_embd.weight", "F32", "[64, 512]", "131072",
                "blk.4.ffn_down.weight", "[172, 64]");
        // long arrays are abbreviated: the 512 tokens are not all printed
        assertTrue(!s.contains("<0xFF>"), s);
        assertTrue(s.lines().count() < 19 + 48 + 20, "too long: " + s.lines().count());
    }

    @Test
    void hfFolderAndSafetensorsFile() {
        String s = describe(TestData.require("hf-tiny/gemma2"));
        contains(s, "model_type", "gemma2", "hidden_size", "64", "num_key_value_heads", "head_dim", "16",
                "rope", "theta 10000.0", "sliding_window", "8", "attn_logit_softcapping", "50.0", "final_logit_softcapping", "30.0",
                "model.embed_tokens.weight", "F32", "[512, 64]", "131072", "weights: [model.safetensors]");
        String b = describe(TestData.require("hf-tiny/llama3-bf16/model.safetensors"));
        contains(b, "BF16", "\"format\":\"pt\"", "model.embed_tokens.weight", "65536");
    }

    @Test
    void somethingElseIsRejected() throws IOException {
        Path txt = tmp.resolve("x.bin");
        Files.writeString(txt, "hello");
        assertThrows(ModelFormatException.class, () -> describe(txt));
    }
}
