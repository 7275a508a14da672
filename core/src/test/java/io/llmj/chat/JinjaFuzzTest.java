package io.llmj.chat;

import static org.junit.jupiter.api.Assertions.fail;

import io.llmj.ChatTemplateException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Mutated real templates: whatever the input, parsing and rendering either succeed or throw
 * ChatTemplateException, never another exception, a hang or a stack overflow.
 */
class JinjaFuzzTest {
    private static final String[] PIECES = {"{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'", "\"",
        "|", ".", ",", ":", "=", "==", " if ", " else ", " for ", " in ", " not ", " and ", " is ", "endif", "endfor", "set ",
        "loop", "messages", "tojson", "trim", "length", "1", "-1", "0", "none", "\\", "\n", " ", "ns.x", "[::-1]", "()", "**", "//",
        "%", "~", "raise_exception", "namespace(", "range(99999)", "macro ", "endmacro", "raw", "endraw", "break", "continue",
        "indent(", "split(", "startswith(", "selectattr(", "map(", "default(", "divisibleby", "tojson(indent='x')", "'a' * 99999999"};

    private static String template(String resource) throws IOException {
        try (InputStream in = JinjaFuzzTest.class.getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void mutatedTemplatesFailCleanly() throws IOException {
        List<String> seeds = new ArrayList<>();
        for (String t : List.of("templates/llama3.1-style.jinja", "templates/gemma-style.jinja")) {
            seeds.add(template(t));
        }
        seeds.add(io.llmj.ChatTemplate.CHATML);
        List<Map<String, Object>> messages = new ArrayList<>();
        for (String[] m : new String[][] {{"system", "s"}, {"user", "u"}, {"assistant", "a"}, {"user", "u2"}}) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m[0]);
            map.put("content", m[1]);
            messages.add(map);
        }
        Map<String, Object> ctx = new LinkedHashMap<>();
        ctx.put("messages", messages);
        ctx.put("add_generation_prompt", true);
        ctx.put("bos_token", "<s>");
        ctx.put("eos_token", "</s>");
        ctx.put("tools", null);
        JinjaTemplate.Limits limits = new JinjaTemplate.Limits(1 << 20, 100_000, 50);
        Random rnd = new Random(Long.getLong("fuzz.seed", 42));
        int rendered = 0;
        for (int iter = 0; iter < Integer.getInteger("fuzz.iterations", 3000); iter++) {
            StringBuilder sb = new StringBuilder(seeds.get(rnd.nextInt(seeds.size())));
            int edits = 1 + rnd.nextInt(4);
            for (int k = 0; k < edits && sb.length() > 0; k++) {
                int at = rnd.nextInt(sb.length());
                switch (rnd.nextInt(3)) {
                    case 0 -> sb.delete(at, Math.min(sb.length(), at + 1 + rnd.nextInt(8)));
                    case 1 -> sb.insert(at, PIECES[rnd.nextInt(PIECES.length)]);
                    default -> sb.replace(at, Math.min(sb.length(), at + 1 + rnd.nextInt(4)), PIECES[rnd.nextInt(PIECES.length)]);
                }
            }
            String src = sb.toString();
            try {
                JinjaTemplate.parse(src).render(ctx, limits);
                rendered++;
            } catch (ChatTemplateException expected) {
                // fine: a clean, typed error
            } catch (RuntimeException | StackOverflowError e) {
                fail("iteration " + iter + ": " + e + " for template:\n" + src, e);
            }
        }
        if (rendered == 0) {
            fail("no mutated template rendered; the mutations are too destructive to test rendering");
        }
    }
}
