package dev.longctx.bench.ruler;

import java.util.Arrays;

/**
 * One generated task instance: the whole conversation in tokens ({@code length} of them: the
 * prompt with the generation prompt, the answer and its closing end-of-text), the user message and
 * the answer as text, and where the needles the answer needs start.
 *
 * @param task the task name
 * @param depth the asked needle's depth in [0, 1]
 * @param ids all {@code length} tokens
 * @param promptLength tokens of the prompt (with the generation prompt)
 * @param user the user message
 * @param answer the expected answer (exact match)
 * @param neededStarts token offsets of the needles the answer depends on
 * @param neededEnds token offsets just past those needles
 * @param questionStart token offset where the document ends and {@code "\n\nQuestion: ..."} begins
 */
public record TaskInstance(String task, double depth, int[] ids, int promptLength, String user, String answer, int[] neededStarts,
                           int[] neededEnds, int questionStart) {
    /** The prompt's tokens, which a model is given. */
    public int[] prompt() {
        return Arrays.copyOf(ids, promptLength);
    }

    /** The answer's tokens (without the closing end-of-text). */
    public int[] answerIds() {
        return Arrays.copyOfRange(ids, promptLength, ids.length - 1);
    }

    /** Tokens of the whole conversation. */
    public int length() {
        return ids.length;
    }
}
