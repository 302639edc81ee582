package dev.longctx.server;

import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.session.Strategy;
import java.util.List;

/**
 * One parsed and checked completion request: the prompt (a conversation, text, or token ids) and
 * how to generate it, before encoding.
 *
 * <p>Threading: immutable.
 *
 * @param chat whether this came to {@code /v1/chat/completions} (answered as {@code chat.completion})
 * @param messages the conversation (chat), else null
 * @param text the prompt text (completions), else null
 * @param ids the prompt token ids (completions with an array prompt), else null
 * @param stream whether to answer as server-sent events
 * @param includeUsage whether a stream ends with a usage chunk ({@code stream_options.include_usage})
 * @param maxTokens {@code max_tokens} / {@code max_completion_tokens}, or 0 when not given
 * @param sampler how to sample
 * @param stops stop strings
 * @param ignoreEos whether the model's end-of-sequence ids do not stop generation ({@code longctx.ignore_eos})
 * @param strategy the long-context strategy ({@code longctx.strategy}), or null for the engine's (or for MoA)
 * @param moa the server's MoA profile when {@code longctx.strategy} is {@code moa} (its windows are fitted
 *     once the prompt is encoded, see {@link #fitMoa}), else null
 * @param budgetTokens the KV budget in tokens per KV head ({@code longctx.budget_tokens}), or 0 for the default
 */
record GenerationSpec(boolean chat, List<ChatMessage> messages, String text, int[] ids, boolean stream, boolean includeUsage,
                      int maxTokens, SamplerConfig sampler, List<String> stops, boolean ignoreEos, Strategy strategy,
                      MoaProfile moa, int budgetTokens) {

    /**
     * MoA with windows fitted to this request: MoA's windows are a function of the input length (Fu et
     * al., 2024), so the profile is fitted to the density the budget gives over everything the request
     * will hold (prompt plus generated tokens), as {@code generate}, {@code eval} and {@code bench} fit theirs.
     *
     * @param promptTokens the encoded prompt's length
     * @param maxTokens the most tokens the request generates
     * @throws ApiException (400, {@code longctx.budget_tokens}) when even the profile's cheapest windows do not fit
     */
    Strategy fitMoa(int promptTokens, int maxTokens) {
        long context = (long) promptTokens + maxTokens;
        try {
            return new Strategy.Moa(moa.fit(Math.min(1.0, budgetTokens / (double) context), context));
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("longctx.budget_tokens", "invalid_value", "strategy 'moa' at " + budgetTokens
                    + " tokens over " + context + " (prompt " + promptTokens + " + max_tokens " + maxTokens + "): " + e.getMessage());
        }
    }
}
