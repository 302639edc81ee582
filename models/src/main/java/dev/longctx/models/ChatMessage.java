package dev.longctx.models;

import java.util.Objects;

/**
 * One message of a conversation, as chat templates see it: a role ({@code system}, {@code user},
 * {@code assistant}, or whatever else the model's template knows) and its text. Immutable.
 *
 * @param role the speaker's role
 * @param content the text
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    /** A system message. */
    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    /** A user message. */
    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    /** An assistant message (an earlier answer of the model). */
    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
