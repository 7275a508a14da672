package io.llmj;

import io.llmj.chat.JinjaTemplate;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A model's chat template: turns a conversation into the prompt text the model was trained on.
 *
 * <pre>{@code
 * ChatTemplate t = ChatTemplate.fromTokenizerConfig(Path.of("tokenizer_config.json"));
 * String prompt = t.render(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi!")), true);
 * }</pre>
 *
 * <p>Templates are Jinja, rendered by llmj's own engine the way Hugging Face transformers renders
 * them (jinja2 sandbox, {@code trim_blocks} and {@code lstrip_blocks}, {@code raise_exception}). The
 * variables are {@code messages}, {@code add_generation_prompt}, {@code bos_token} and
 * {@code eos_token} (where the model defines them), {@code tools} and {@code documents} (none),
 * plus any extra variables passed to {@link #render(List, boolean, Map)} (e.g. Qwen3's
 * {@code enable_thinking}).
 *
 * <p>A model without a template gets {@link #CHATML}, as llama.cpp does ({@link #isFallback()} tells).
 *
 * <p>Instances are immutable and thread-safe; the template is parsed once, when the instance is made.
 * Rendering is bounded (output size, loop iterations, macro depth), so a hostile template fails with
 * a {@link ChatTemplateException} of kind {@code LIMIT} instead of running away.
 */
public final class ChatTemplate {
    /** ChatML, llama.cpp's default when a model has no template of its own. */
    public static final String CHATML = "{% for message in messages %}"
            + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private final String source;
    private final JinjaTemplate template;
    private final String bosToken;
    private final String eosToken;
    private final boolean fallback;

    private ChatTemplate(String source, String bosToken, String eosToken, boolean fallback) {
        this.source = source;
        this.template = JinjaTemplate.parse(source);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.fallback = fallback;
    }

    /**
     * A template from its Jinja source. @param bosToken, eosToken the texts of those tokens, or null
     * @throws ChatTemplateException (kind SYNTAX) if the source does not parse
     */
    public static ChatTemplate of(String source, String bosToken, String eosToken) {
        return new ChatTemplate(Objects.requireNonNull(source, "source"), bosToken, eosToken, false);
    }

    /** The {@link #CHATML} fallback. */
    public static ChatTemplate chatml(String bosToken, String eosToken) {
        return new ChatTemplate(CHATML, bosToken, eosToken, true);
    }

    /**
     * The template in a GGUF file's {@code tokenizer.chat_template}, with bos/eos texts from its
     * vocabulary; {@link #CHATML} if the file has none.
     */
    public static ChatTemplate fromGguf(GgufFile gguf) {
        List<String> tokens = gguf.has("tokenizer.ggml.tokens") ? gguf.stringArray("tokenizer.ggml.tokens") : List.of();
        String bos = tokenText(gguf, "tokenizer.ggml.bos_token_id", tokens);
        String eos = tokenText(gguf, "tokenizer.ggml.eos_token_id", tokens);
        return gguf.string("tokenizer.chat_template")
                .map(src -> new ChatTemplate(src, bos, eos, false))
                .orElseGet(() -> chatml(bos, eos));
    }

    private static String tokenText(GgufFile gguf, String key, List<String> tokens) {
        var id = gguf.integer(key);
        if (id.isEmpty() || id.getAsLong() < 0 || id.getAsLong() >= tokens.size()) {
            return null;
        }
        return tokens.get((int) id.getAsLong());
    }

    /**
     * The template of a Hugging Face {@code tokenizer_config.json}: its {@code chat_template} (a
     * string, or a list of {@code {name, template}} of which the one named "default" is used), else
     * a {@code chat_template.jinja} or {@code chat_template.json} beside it, else {@link #CHATML}.
     * {@code bos_token}/{@code eos_token} come from the same file (strings or {@code {content: ...}}).
     *
     * @throws ModelFormatException if the file is not valid or its template entry is malformed
     */
    public static ChatTemplate fromTokenizerConfig(Path tokenizerConfigJson) {
        Object root = Json.parse(tokenizerConfigJson);
        if (!(root instanceof Map<?, ?> config)) {
            throw new ModelFormatException(tokenizerConfigJson, null, "not a JSON object");
        }
        String bos = tokenContent(config.get("bos_token"), tokenizerConfigJson, "bos_token");
        String eos = tokenContent(config.get("eos_token"), tokenizerConfigJson, "eos_token");
        Object tpl = config.get("chat_template");
        if (tpl == null) {
            tpl = siblingTemplate(tokenizerConfigJson);
        }
        if (tpl == null) {
            return chatml(bos, eos);
        }
        return new ChatTemplate(selectTemplate(tpl, tokenizerConfigJson), bos, eos, false);
    }

    private static Object siblingTemplate(Path config) {
        Path dir = config.toAbsolutePath().getParent();
        if (dir == null) {
            return null;
        }
        try {
            Path jinja = dir.resolve("chat_template.jinja");
            if (Files.isRegularFile(jinja)) {
                return Files.readString(jinja, StandardCharsets.UTF_8);
            }
            Path json = dir.resolve("chat_template.json");
            if (Files.isRegularFile(json) && Json.parse(json) instanceof Map<?, ?> m) {
                return m.get("chat_template");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return null;
    }

    private static String selectTemplate(Object tpl, Path file) {
        if (tpl instanceof String s) {
            return s;
        }
        if (tpl instanceof List<?> list) {
            List<String> names = new ArrayList<>();
            for (Object o : list) {
                if (!(o instanceof Map<?, ?> m) || !(m.get("name") instanceof String name) || !(m.get("template") instanceof String t)) {
                    throw new ModelFormatException(file, "key chat_template", "expected a list of {name, template} objects");
                }
                if (name.equals("default")) {
                    return t;
                }
                names.add(name);
            }
            throw new ModelFormatException(file, "key chat_template", "no template named 'default' among " + names);
        }
        throw new ModelFormatException(file, "key chat_template", "expected a string or a list of {name, template}");
    }

    private static String tokenContent(Object v, Path file, String key) {
        if (v == null || v instanceof String) {
            return (String) v;
        }
        if (v instanceof Map<?, ?> m && m.get("content") instanceof String s) {
            return s;
        }
        throw new ModelFormatException(file, "key " + key, "expected a string or an object with a string 'content'");
    }

    /**
     * Renders {@code messages}; with {@code addGenerationPrompt} the text ends with the header that
     * starts the assistant's reply.
     *
     * @throws ChatTemplateException if rendering fails or the template rejects the conversation
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            maps.add(map);
        }
        return render(maps, addGenerationPrompt, Map.of());
    }

    /**
     * Renders messages given as maps (so they may carry fields such as {@code reasoning_content} or
     * {@code tool_calls}), with extra template variables (e.g. {@code enable_thinking}) that
     * override the defaults.
     */
    public String render(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
        Map<String, Object> ctx = new LinkedHashMap<>();
        ctx.put("messages", messages);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        if (bosToken != null) {
            ctx.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            ctx.put("eos_token", eosToken);
        }
        ctx.put("tools", null);
        ctx.put("documents", null);
        ctx.putAll(variables);
        return template.render(ctx);
    }

    /** The Jinja source. */
    public String source() {
        return source;
    }

    /** The bos token text given to the template, or null. */
    public String bosToken() {
        return bosToken;
    }

    /** The eos token text given to the template, or null. */
    public String eosToken() {
        return eosToken;
    }

    /** True when the model had no template and this is the {@link #CHATML} fallback. */
    public boolean isFallback() {
        return fallback;
    }
}
