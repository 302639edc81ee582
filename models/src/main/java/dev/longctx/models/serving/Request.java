package dev.longctx.models.serving;

import dev.longctx.models.ChatMessage;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * One generation request to a {@link ServingEngine}: a prompt (token ids, text to encode, or a
 * conversation for the chat template), how to generate, and the long-context strategy and token
 * budget this request runs under on the engine's shared pool.
 *
 * <pre>{@code
 * Request r = Request.text("Once upon a time")
 *         .options(GenerateOptions.greedy(64))
 *         .strategy(new Strategy.Streaming(4, 0)).budgetTokens(1024)
 *         .listener((id, text) -> System.out.print(text))
 *         .build();
 * }</pre>
 *
 * <p>Threading: immutable once built (the listener is called on the engine's thread); the builder
 * is for one thread.
 *
 * @see ServingEngine#submit(Request)
 */
public final class Request {
    private final int[] promptIds;
    private final String promptText;
    private final List<ChatMessage> messages;
    private final GenerateOptions options;
    private final Strategy strategy;
    private final int budgetTokens;
    private final Duration timeout;
    private final Session.TokenListener listener;

    private Request(Builder b) {
        this.promptIds = b.promptIds;
        this.promptText = b.promptText;
        this.messages = b.messages;
        this.options = b.options;
        this.strategy = b.strategy;
        this.budgetTokens = b.budgetTokens;
        this.timeout = b.timeout;
        this.listener = b.listener;
    }

    /** A request continuing these token ids (copied). */
    public static Builder tokens(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        Builder b = new Builder();
        b.promptIds = ids.clone();
        return b;
    }

    /** A request continuing {@code text}, encoded by the engine's tokenizer with its defaults (e.g. a BOS token). */
    public static Builder text(String text) {
        Builder b = new Builder();
        b.promptText = Objects.requireNonNull(text, "text");
        return b;
    }

    /** A request answering a conversation, rendered with the model's chat template and an opening assistant turn. */
    public static Builder chat(List<ChatMessage> messages) {
        Builder b = new Builder();
        b.messages = List.copyOf(Objects.requireNonNull(messages, "messages"));
        return b;
    }

    /** Prompt token ids, or null when the prompt is text or a conversation. */
    int[] promptIds() {
        return promptIds;
    }

    /** Prompt text, or null. */
    String promptText() {
        return promptText;
    }

    /** The conversation, or null. */
    List<ChatMessage> messages() {
        return messages;
    }

    /** How to generate. */
    public GenerateOptions options() {
        return options;
    }

    /** The strategy, or null for the engine's default. */
    public Strategy strategy() {
        return strategy;
    }

    /** The token budget per KV head, or 0 for the default (see {@link Builder#budgetTokens}). */
    public int budgetTokens() {
        return budgetTokens;
    }

    /** The time limit from submission, or null for the engine's default. */
    public Duration timeout() {
        return timeout;
    }

    /** The token listener, or null. */
    public Session.TokenListener listener() {
        return listener;
    }

    /** {@code d}, checked: a time limit must be positive (requests and the engine's default alike). */
    static Duration positive(Duration d) {
        Objects.requireNonNull(d, "timeout");
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + d);
        }
        return d;
    }

    /** Options of a new request. */
    public static final class Builder {
        private int[] promptIds;
        private String promptText;
        private List<ChatMessage> messages;
        private GenerateOptions options = GenerateOptions.greedy(256);
        private Strategy strategy;
        private int budgetTokens;
        private Duration timeout;
        private Session.TokenListener listener;

        private Builder() {
        }

        /** How to generate (default: greedy, 256 tokens, the model's EOS ids). */
        public Builder options(GenerateOptions o) {
            this.options = Objects.requireNonNull(o, "options");
            return this;
        }

        /** The long-context strategy (default: the engine's). */
        public Builder strategy(Strategy s) {
            this.strategy = Objects.requireNonNull(s, "strategy");
            return this;
        }

        /**
         * Tokens per KV head this request may keep: what an evicting strategy keeps (default 4096,
         * as sessions), and the longest context for one that keeps every token (default: the prompt
         * plus {@code maxTokens}, at most the model's context length).
         */
        public Builder budgetTokens(int tokens) {
            if (tokens <= 0) {
                throw new IllegalArgumentException("budgetTokens must be positive, got " + tokens);
            }
            this.budgetTokens = tokens;
            return this;
        }

        /** The most time from submission to the last token; when it passes, the request ends with {@code TIMEOUT}. */
        public Builder timeout(Duration d) {
            this.timeout = positive(d);
            return this;
        }

        /**
         * Receives each generated token and the new text it completes, on the engine's thread: whole
         * UTF-8 characters only, and no text of a stop string (text that could begin one is held
         * back until it cannot). A listener that throws fails its request, not the engine. Keep it
         * quick: every sequence of the engine waits for it.
         */
        public Builder listener(Session.TokenListener l) {
            this.listener = l;
            return this;
        }

        /** The request. */
        public Request build() {
            return new Request(this);
        }
    }
}
