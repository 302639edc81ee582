package dev.longctx.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.Generation;

/**
 * The response objects of the two completion endpoints, as OpenAI writes them: {@code chat.completion}
 * and {@code chat.completion.chunk}, {@code text_completion} (also its stream chunks), and
 * {@code usage}. Besides OpenAI's fields a finished response carries {@code "longctx": {"finish_reason",
 * "prefill_ms", "decode_ms"}} (clients ignore unknown fields).
 *
 * <p>Threading: immutable; any thread.
 *
 * @param id the response id ({@code chatcmpl-...} or {@code cmpl-...})
 * @param created seconds since the epoch
 * @param model the model id
 * @param chat whether the chat shapes apply
 */
record ResponseJson(String id, long created, String model, boolean chat) {

    /** OpenAI's {@code finish_reason}: {@code stop} when the model stopped itself, else {@code length}. */
    static String finishReason(FinishReason r) {
        return r.isStop() ? "stop" : "length";
    }

    /** The whole answer of a non-streamed request. */
    ObjectNode complete(Generation g, int promptTokens) {
        ObjectNode root = head(chat ? "chat.completion" : "text_completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        if (chat) {
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", g.text());
            message.putNull("refusal");
        } else {
            choice.put("text", g.text());
        }
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason(g.finishReason()));
        root.set("usage", usage(promptTokens, g.outputIds().length));
        extension(root, g);
        return root;
    }

    /** The first chunk of a chat stream: the assistant role and empty content. */
    ObjectNode roleChunk() {
        ObjectNode root = head("chat.completion.chunk");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode delta = choice.putObject("delta");
        delta.put("role", "assistant");
        delta.put("content", "");
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        return root;
    }

    /** A chunk with new text. */
    ObjectNode textChunk(String text) {
        ObjectNode root = head(chat ? "chat.completion.chunk" : "text_completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        if (chat) {
            choice.putObject("delta").put("content", text);
        } else {
            choice.put("text", text);
        }
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        return root;
    }

    /** The last chunk with a choice: no new text, the finish reason. */
    ObjectNode finishChunk(Generation g) {
        ObjectNode root = head(chat ? "chat.completion.chunk" : "text_completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        if (chat) {
            choice.putObject("delta");
        } else {
            choice.put("text", "");
        }
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason(g.finishReason()));
        extension(root, g);
        return root;
    }

    /** The usage chunk ({@code stream_options.include_usage}): no choices. */
    ObjectNode usageChunk(int promptTokens, int completionTokens) {
        ObjectNode root = head(chat ? "chat.completion.chunk" : "text_completion");
        root.putArray("choices");
        root.set("usage", usage(promptTokens, completionTokens));
        return root;
    }

    static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode u = Json.MAPPER.createObjectNode();
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", promptTokens + completionTokens);
        return u;
    }

    private ObjectNode head(String object) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        root.put("system_fingerprint", "longctx");
        return root;
    }

    private static void extension(ObjectNode root, Generation g) {
        ObjectNode ext = root.putObject("longctx");
        ext.put("finish_reason", g.finishReason().label());
        ext.put("prefill_ms", g.prefillNanos() / 1e6);
        ext.put("decode_ms", g.decodeNanos() / 1e6);
    }
}
