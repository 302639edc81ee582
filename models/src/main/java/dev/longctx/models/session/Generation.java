package dev.longctx.models.session;

/**
 * The result of {@link Session#generate}. Immutable (the arrays are the caller's to keep; do not
 * modify them if the record is shared).
 *
 * @param promptIds the prompt
 * @param outputIds the generated ids (a stop id included)
 * @param text the generated text (empty without a tokenizer; cut before a stop string)
 * @param finishReason why generation ended
 * @param prefillNanos time spent on the prompt
 * @param decodeNanos time spent generating
 */
public record Generation(int[] promptIds, int[] outputIds, String text, FinishReason finishReason, long prefillNanos, long decodeNanos) {

    /** Prompt tokens per second. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptIds.length * 1e9 / prefillNanos;
    }

    /** Generated tokens per second (the first token comes from the prefill's logits). */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : Math.max(0, outputIds.length - 1) * 1e9 / decodeNanos;
    }
}
