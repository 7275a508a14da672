package io.llmj;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.format.gguf.GgufFile;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat templates of real models rendered as Hugging Face does: against jinja2's renderings
 * (io/llmj/chat/jinja2-chat-renderings.json, see its "provenance") and against the formats the
 * model families document.
 */
class ChatTemplateTest {
    private static final List<ChatMessage> SYSTEM_USER = List.of(ChatMessage.system("You are a helpful assistant."),
            ChatMessage.user("Hello!"));
    private static final List<ChatMessage> MULTI_TURN = List.of(ChatMessage.system("Sys"), ChatMessage.user("Hi"),
            ChatMessage.assistant("Hello."), ChatMessage.user("Bye"));

    @SuppressWarnings("unchecked")
    private static Map<String, Object> fixture() throws IOException {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("chat/jinja2-chat-renderings.json")) {
            return (Map<String, Object>) Json.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    /** The template a fixture entry names, loaded the way a user would load it. */
    private static ChatTemplate load(Map<String, Object> entry) {
        String source = (String) entry.get("source");
        if (source.endsWith("tokenizer_config.json")) {
            return ChatTemplate.fromTokenizerConfig(TestData.require(source));
        }
        if (source.endsWith(".gguf")) {
            try (GgufFile gguf = GgufFile.open(TestData.require(source))) {
                return ChatTemplate.fromGguf(gguf);
            }
        }
        if (source.startsWith("templates/")) {
            try (InputStream in = ChatTemplateTest.class.getResourceAsStream("chat/" + source)) {
                return ChatTemplate.of(new String(in.readAllBytes(), StandardCharsets.UTF_8), (String) entry.get("bos_token"),
                        (String) entry.get("eos_token"));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return ChatTemplate.chatml(null, null);
    }

    @TestFactory
    @SuppressWarnings("unchecked")
    Stream<DynamicTest> rendersLikeJinja2() throws IOException {
        Map<String, Object> fixture = fixture();
        Map<String, ChatTemplate> templates = new HashMap<>();
        for (Object o : (List<Object>) fixture.get("templates")) {
            Map<String, Object> entry = (Map<String, Object>) o;
            templates.put((String) entry.get("name"), null);
        }
        List<Object> cases = (List<Object>) fixture.get("cases");
        List<String> names = new ArrayList<>(templates.keySet());
        assertTrue(names.containsAll(List.of("llama3", "qwen3", "ggml-vocab-phi-3.gguf", "chatml-fallback", "gemma-style.jinja")),
                names.toString());
        return cases.stream().map(o -> (Map<String, Object>) o).map(c -> {
            String name = c.get("template") + "/" + c.get("conversation") + "/agp=" + c.get("add_generation_prompt");
            return DynamicTest.dynamicTest(name, () -> {
                Map<String, Object> entry = ((List<Object>) fixture.get("templates")).stream().map(x -> (Map<String, Object>) x)
                        .filter(x -> x.get("name").equals(c.get("template"))).findFirst().orElseThrow();
                ChatTemplate t = load(entry);
                assertEquals(entry.get("template"), t.source(), "fixture made from a different template");
                assertEquals(entry.get("bos_token"), t.bosToken());
                assertEquals(entry.get("eos_token"), t.eosToken());
                List<Map<String, Object>> messages = (List<Map<String, Object>>) c.get("messages");
                boolean agp = (Boolean) c.get("add_generation_prompt");
                Map<String, Object> variables = (Map<String, Object>) c.get("variables");
                if (c.containsKey("error")) {
                    ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(messages, agp, variables));
                    if (c.get("error").equals("raised")) {
                        assertEquals(ChatTemplateException.Kind.RAISED, e.kind());
                        assertEquals(c.get("message"), e.getMessage());
                    } else {
                        assertEquals(ChatTemplateException.Kind.RENDER, e.kind());
                    }
                    return;
                }
                String actual = t.render(messages, agp, variables);
                assertEquals(c.get("output"), actual);
                boolean plain = messages.stream().allMatch(m -> m.keySet().equals(java.util.Set.of("role", "content")));
                if (plain && ((Map<?, ?>) c.get("variables")).isEmpty()) {
                    List<ChatMessage> typed = messages.stream().map(m -> new ChatMessage((String) m.get("role"), (String) m.get("content"))).toList();
                    assertEquals(c.get("output"), t.render(typed, agp));
                }
            });
        });
    }

    // ---- expectations derived by hand from the families' documented formats ----

    @Test
    void llama3DocumentedFormat() {
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(TestData.require("hf-tokenizers/llama3/tokenizer_config.json"));
        assertEquals("<|begin_of_text|>", t.bosToken());
        assertEquals("<|end_of_text|>", t.eosToken());
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        assertEquals(expected, t.render(MULTI_TURN, true));
        // this template always appends the assistant header and trims message contents
        assertEquals(expected, t.render(MULTI_TURN, false));
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx y<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(List.of(ChatMessage.user("  x y \n")), true));
    }

    @Test
    void qwen3DocumentedFormat() {
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(TestData.require("hf-tokenizers/qwen3/tokenizer_config.json"));
        assertEquals(null, t.bosToken());
        assertEquals("<|im_end|>", t.eosToken());
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
                t.render(SYSTEM_USER, true));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n",
                t.render(SYSTEM_USER, false));
        // enable_thinking=false pre-fills an empty think section
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                t.render(List.of(Map.of("role", "user", "content", "Hi")), true, Map.of("enable_thinking", false)));
        // reasoning in earlier turns is dropped; after the last user query it is kept in a think section
        List<ChatMessage> history = List.of(ChatMessage.user("Q1"), ChatMessage.assistant("<think>\nr1\n</think>\n\nA1"),
                ChatMessage.user("Q2"), ChatMessage.assistant("<think>r2</think>A2"));
        assertEquals("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
                + "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nr2\n</think>\n\nA2<|im_end|>\n",
                t.render(history, false));
    }

    @Test
    void phi3GgufTemplate() {
        try (GgufFile gguf = GgufFile.open(TestData.require("vocab/ggml-vocab-phi-3.gguf"))) {
            ChatTemplate t = ChatTemplate.fromGguf(gguf);
            assertFalse(t.isFallback());
            assertEquals("<s>", t.bosToken());
            assertEquals("<s><|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n",
                    t.render(List.of(ChatMessage.user("Hi"), ChatMessage.assistant("Hello.")), false));
        }
    }

    @Test
    void ggufWithoutTemplateFallsBackToChatml() {
        try (GgufFile gguf = GgufFile.open(TestData.require("models/stories260K.gguf"))) {
            ChatTemplate t = ChatTemplate.fromGguf(gguf);
            assertTrue(t.isFallback());
            assertEquals(ChatTemplate.CHATML, t.source());
            assertEquals("<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
                    + "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", t.render(MULTI_TURN, true));
        }
    }

    @Test
    void tokenizerConfigWithoutTemplateFallsBackToChatml() {
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(TestData.require("hf-tokenizers/mistral-spm/tokenizer_config.json"));
        assertTrue(t.isFallback());
        assertEquals("<s>", t.bosToken());
        assertEquals("</s>", t.eosToken());
        assertEquals("<|im_start|>user\nHi<|im_end|>\n", t.render(List.of(ChatMessage.user("Hi")), false));
    }

    @Test
    void namedTemplatesAndTokenObjects(@TempDir Path dir) throws IOException {
        Path cfg = dir.resolve("tokenizer_config.json");
        Files.writeString(cfg, """
                {"bos_token": {"__type": "AddedToken", "content": "<B>", "lstrip": false},
                 "eos_token": {"content": "<E>"},
                 "chat_template": [{"name": "tool_use", "template": "tools"},
                                   {"name": "default", "template": "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{{ eos_token }}"}]}
                """);
        ChatTemplate t = ChatTemplate.fromTokenizerConfig(cfg);
        assertEquals("<B>[user:hi]<E>", t.render(List.of(ChatMessage.user("hi")), true));

        Files.writeString(cfg, "{\"chat_template\": [{\"name\": \"other\", \"template\": \"x\"}]}");
        assertThrows(ModelFormatException.class, () -> ChatTemplate.fromTokenizerConfig(cfg));
        Files.writeString(cfg, "{\"chat_template\": 5}");
        assertThrows(ModelFormatException.class, () -> ChatTemplate.fromTokenizerConfig(cfg));

        Files.writeString(cfg, "{\"eos_token\": \"</s>\"}");
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages[0].content }}{{ eos_token }}\n");
        ChatTemplate sibling = ChatTemplate.fromTokenizerConfig(cfg);
        assertFalse(sibling.isFallback());
        assertEquals("hi</s>", sibling.render(List.of(ChatMessage.user("hi")), false));
    }

    @Test
    void templateErrorsAreTyped() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> ChatTemplate.of("{% if %}", null, null));
        assertEquals(ChatTemplateException.Kind.SYNTAX, e.kind());
        ChatTemplate strict = ChatTemplate.of("{% for m in messages %}{% if m.role == 'system' %}"
                + "{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}", null, null);
        e = assertThrows(ChatTemplateException.class, () -> strict.render(SYSTEM_USER, true));
        assertEquals(ChatTemplateException.Kind.RAISED, e.kind());
        assertEquals("System role not supported", e.getMessage());
        assertEquals("Hello!", strict.render(List.of(ChatMessage.user("Hello!")), true));
    }

    @Test
    void nullContentIsNone() {
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{{ m.content is none }}{% endfor %}", null, null);
        assertEquals("True", t.render(List.of(new ChatMessage("assistant", null)), false));
    }
}
