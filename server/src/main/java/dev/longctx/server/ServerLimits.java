package dev.longctx.server;

import java.time.Duration;
import java.util.Objects;

/**
 * The limits the HTTP layer enforces before a request reaches the serving engine. The engine's own
 * limits (sequences running at once, queue length, KV budget) are set on its builder; together they
 * are every limit {@code ./longctx serve} exposes.
 *
 * <pre>{@code
 * ServerLimits limits = ServerLimits.defaults().withMaxBodyBytes(1 << 20).withMaxTokens(512);
 * }</pre>
 *
 * <p>Threading: immutable.
 *
 * @param maxBodyBytes the largest request body read; a larger one is answered 413
 * @param maxPromptTokens the longest prompt after encoding, in tokens (0: the model's context length); a longer one is
 *     answered 413
 * @param maxTokens the most tokens one request may ask to generate ({@code max_tokens}); more is answered 400. Also the
 *     default when a request sets none (less where the context leaves less room)
 * @param requestTimeout the longest a request may take from submission to its last token; it then ends with
 *     {@code finish_reason: "length"} and {@code longctx.finish_reason: "timeout"}
 * @param retryAfter what {@code Retry-After} says on 429 (queue full) and 503 (shutting down)
 */
public record ServerLimits(long maxBodyBytes, int maxPromptTokens, int maxTokens, Duration requestTimeout, Duration retryAfter) {

    /** Default body limit: 8 MiB (a 128K-token prompt is about 0.5 MiB of text). */
    public static final long DEFAULT_MAX_BODY_BYTES = 8L << 20;
    /** Default cap on {@code max_tokens}. */
    public static final int DEFAULT_MAX_TOKENS = 4096;
    /** Default request time limit. */
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofMinutes(10);

    /**
     * Checks every limit.
     *
     * @throws IllegalArgumentException naming the limit that is not positive
     */
    public ServerLimits {
        if (maxBodyBytes <= 0) {
            throw new IllegalArgumentException("maxBodyBytes must be positive, got " + maxBodyBytes);
        }
        if (maxPromptTokens < 0) {
            throw new IllegalArgumentException("maxPromptTokens must be >= 0 (0 = the model's context length), got "
                    + maxPromptTokens);
        }
        if (maxTokens <= 0) {
            throw new IllegalArgumentException("maxTokens must be positive, got " + maxTokens);
        }
        positive("requestTimeout", requestTimeout);
        positive("retryAfter", retryAfter);
    }

    /** 8 MiB bodies, prompts up to the model's context, 4096 tokens, 10 minutes, retry after 1 s. */
    public static ServerLimits defaults() {
        return new ServerLimits(DEFAULT_MAX_BODY_BYTES, 0, DEFAULT_MAX_TOKENS, DEFAULT_REQUEST_TIMEOUT, Duration.ofSeconds(1));
    }

    /** These limits with another body limit. */
    public ServerLimits withMaxBodyBytes(long bytes) {
        return new ServerLimits(bytes, maxPromptTokens, maxTokens, requestTimeout, retryAfter);
    }

    /** These limits with another prompt limit (0: the model's context length). */
    public ServerLimits withMaxPromptTokens(int tokens) {
        return new ServerLimits(maxBodyBytes, tokens, maxTokens, requestTimeout, retryAfter);
    }

    /** These limits with another cap on {@code max_tokens}. */
    public ServerLimits withMaxTokens(int tokens) {
        return new ServerLimits(maxBodyBytes, maxPromptTokens, tokens, requestTimeout, retryAfter);
    }

    /** These limits with another request time limit. */
    public ServerLimits withRequestTimeout(Duration d) {
        return new ServerLimits(maxBodyBytes, maxPromptTokens, maxTokens, d, retryAfter);
    }

    /** These limits with another {@code Retry-After}. */
    public ServerLimits withRetryAfter(Duration d) {
        return new ServerLimits(maxBodyBytes, maxPromptTokens, maxTokens, requestTimeout, d);
    }

    private static void positive(String what, Duration d) {
        Objects.requireNonNull(d, what);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be positive, got " + d);
        }
    }
}
