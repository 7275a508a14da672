package io.llmj;

import java.util.Objects;

/**
 * One message of a conversation: a role ({@code "system"}, {@code "user"}, {@code "assistant"}, or
 * whatever the model's chat template knows) and its text. In the template it is the mapping
 * {@code {"role": role, "content": content}}.
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
