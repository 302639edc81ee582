package dev.longctx.models.session;

/**
 * The result of {@link Session#generate}.
 *
 * @param promptIds the prompt
 * @param outputIds the generated ids (a stop id included)
 * @param text the generated text (empty without a tokenizer; cut before a stop string)
 * @param stopReason {@code "eos"} (a stop id), {@code "stop_string"} or {@code "length"}
 * @param prefillNanos time spent on the prompt
 * @param decodeNanos time spent generating
 */
public record Generation(int[] promptIds, int[] outputIds, String text, String stopReason, long prefillNanos, long decodeNanos) {

    /** Prompt tokens per second. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptIds.length * 1e9 / prefillNanos;
    }

    /** Generated tokens per second (the first token comes from the prefill's logits). */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : Math.max(0, outputIds.length - 1) * 1e9 / decodeNanos;
    }
}
