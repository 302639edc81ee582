package dev.longctx.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.session.Strategy;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads {@code /v1/chat/completions} and {@code /v1/completions} bodies into {@link GenerationSpec}s,
 * refusing what we cannot honour (400 naming the field): {@code n} other than 1, tools, JSON
 * response formats, log-probabilities, penalties, logit bias, {@code echo}, {@code suffix},
 * {@code best_of}. Unknown top-level fields are ignored, as clients send fields of newer API
 * versions; the {@code longctx} extension object is strict.
 *
 * <p>Threading: immutable; any thread.
 */
final class RequestParser {
    /** OpenAI's limit on stop sequences. */
    static final int MAX_STOPS = 4;
    private static final String EXT = "longctx";
    private static final Set<String> EXT_KEYS = Set.of("strategy", "budget_tokens", "ignore_eos", "top_k", "min_p",
            "repetition_penalty");

    private final String modelId;
    private final ServerLimits limits;
    private final HeadProfile headProfile;
    private final MoaProfile moaProfile;

    RequestParser(String modelId, ServerLimits limits, HeadProfile headProfile, MoaProfile moaProfile) {
        this.modelId = modelId;
        this.limits = limits;
        this.headProfile = headProfile;
        this.moaProfile = moaProfile;
    }

    /** A chat completion request. */
    GenerationSpec chat(ObjectNode body) {
        checkModel(body);
        List<ChatMessage> messages = ChatMessages.parse(body.get("messages"));
        refuseChatOnly(body);
        return common(body, true, messages, null, null);
    }

    /** A (legacy) text completion request. */
    GenerationSpec completion(ObjectNode body) {
        checkModel(body);
        JsonNode p = body.get("prompt");
        String text = null;
        int[] ids = null;
        if (p == null || p.isNull()) {
            throw ApiException.badRequest("prompt", "missing_required_parameter", "prompt is required");
        } else if (p.isTextual()) {
            text = p.textValue();
        } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            text = p.get(0).textValue();
        } else if (p.isArray() && p.size() > 0 && p.get(0).isNumber()) {
            ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = (int) Params.integer(p.get(i), "prompt[" + i + "]", 0, Integer.MAX_VALUE);
            }
        } else if (p.isArray() && p.size() > 1) {
            throw Params.unsupported("prompt", "one prompt per request (send a string, or an array of token ids)");
        } else {
            throw Params.wrongType("prompt", "a string or an array of token ids", p);
        }
        if (text != null && text.isEmpty()) {
            throw ApiException.badRequest("prompt", "invalid_value", "prompt is empty");
        }
        if (Params.bool(body, "echo", "", false)) {
            throw Params.unsupported("echo", "the prompt is not echoed");
        }
        if (Params.given(body, "suffix")) {
            throw Params.unsupported("suffix", "no insertion mode");
        }
        if (Params.integer(body, "best_of", "", 1, Integer.MAX_VALUE, 1) != 1) {
            throw Params.unsupported("best_of", "only best_of = 1");
        }
        if (Params.given(body, "logprobs")) {
            JsonNode lp = body.get("logprobs");
            if (!(lp.isIntegralNumber() && lp.intValue() == 0) && !(lp.isBoolean() && !lp.booleanValue())) {
                throw Params.unsupported("logprobs", "log-probabilities are not returned");
            }
        }
        return common(body, false, null, text, ids);
    }

    private void checkModel(ObjectNode body) {
        String m = Params.string(body, "model", "");
        if (m == null) {
            throw ApiException.badRequest("model", "missing_required_parameter", "model is required (this server serves '"
                    + modelId + "')");
        }
        if (!m.equals(modelId)) {
            throw new ApiException(404, ApiException.INVALID_REQUEST, "model", "model_not_found", "the model '" + m
                    + "' does not exist; this server serves '" + modelId + "' (GET /v1/models)", false);
        }
    }

    private static void refuseChatOnly(ObjectNode body) {
        JsonNode tools = body.get("tools");
        if (tools != null && !tools.isNull() && !(tools.isArray() && tools.isEmpty())) {
            throw Params.unsupported("tools", "tool calling is not available yet");
        }
        JsonNode functions = body.get("functions");
        if (functions != null && !functions.isNull() && !(functions.isArray() && functions.isEmpty())) {
            throw Params.unsupported("functions", "function calling is not available yet");
        }
        JsonNode choice = body.get("tool_choice");
        if (choice != null && !choice.isNull() && !(choice.isTextual() && choice.textValue().equals("none"))
                && !(choice.isTextual() && choice.textValue().equals("auto"))) {
            throw Params.unsupported("tool_choice", "tool calling is not available yet");
        }
        ObjectNode format = Params.object(body, "response_format", "");
        if (format != null) {
            String type = Params.string(format, "type", "response_format.");
            if (type != null && !type.equals("text")) {
                throw Params.unsupported("response_format", "only {\"type\": \"text\"}; structured output (" + type
                        + ") is not available yet");
            }
        }
        if (Params.bool(body, "logprobs", "", false) || Params.given(body, "top_logprobs")) {
            throw Params.unsupported("logprobs", "log-probabilities are not returned");
        }
        if (Params.given(body, "audio") || (body.get("modalities") != null && body.get("modalities").isArray()
                && body.get("modalities").size() > 0 && !(body.get("modalities").size() == 1
                && "text".equals(body.get("modalities").get(0).asText())))) {
            throw Params.unsupported("modalities", "text only");
        }
    }

    private GenerationSpec common(ObjectNode body, boolean chat, List<ChatMessage> messages, String text, int[] ids) {
        long n = Params.integer(body, "n", "", 1, Integer.MAX_VALUE, 1);
        if (n != 1) {
            throw Params.unsupported("n", "one choice per request (n = 1)");
        }
        boolean stream = Params.bool(body, "stream", "", false);
        ObjectNode streamOptions = Params.object(body, "stream_options", "");
        boolean includeUsage = streamOptions != null && Params.bool(streamOptions, "include_usage", "stream_options.", false);
        int maxTokens = maxTokens(body);
        for (String penalty : new String[] {"frequency_penalty", "presence_penalty"}) {
            if (Params.number(body, penalty, "", -2, 2, 0) != 0) {
                throw Params.unsupported(penalty, "use longctx.repetition_penalty");
            }
        }
        JsonNode bias = body.get("logit_bias");
        if (bias != null && !bias.isNull() && !(bias.isObject() && bias.isEmpty())) {
            throw Params.unsupported("logit_bias", "no logit bias");
        }
        double temperature = Params.number(body, "temperature", "", 0, 2, 1);
        double topP = Params.number(body, "top_p", "", 0, 1, 1);
        if (topP == 0) {
            throw ApiException.badRequest("top_p", "invalid_value", "top_p must be greater than 0 (use temperature 0 for greedy)");
        }
        long seed = Params.given(body, "seed") ? Params.integer(body, "seed", "", Long.MIN_VALUE, Long.MAX_VALUE, 0)
                : ThreadLocalRandom.current().nextLong();
        List<String> stops = Params.stops(body, MAX_STOPS);
        int topK = (int) Params.integer(body, "top_k", "", -1, Integer.MAX_VALUE, 0);

        ObjectNode ext = Params.object(body, EXT, "");
        Strategy strategy = null;
        MoaProfile moa = null;
        int budget = 0;
        boolean ignoreEos = false;
        float minP = 0;
        float repetition = 1;
        if (ext != null) {
            String p = EXT + ".";
            Params.onlyKnown(ext, p, EXT_KEYS);
            String s = Params.string(ext, "strategy", p);
            if (s != null && s.equalsIgnoreCase("moa")) {
                moa = moa();
            } else if (s != null) {
                strategy = strategy(s);
            }
            budget = (int) Params.integer(ext, "budget_tokens", p, 1, Integer.MAX_VALUE, 0);
            if (moa != null && budget == 0) {
                throw ApiException.badRequest(p + "budget_tokens", "missing_required_parameter", "strategy 'moa' needs "
                        + p + "budget_tokens: MoA's windows are fitted to the budget (and the prompt's length)");
            }
            ignoreEos = Params.bool(ext, "ignore_eos", p, false);
            topK = (int) Params.integer(ext, "top_k", p, -1, Integer.MAX_VALUE, topK);
            minP = (float) Params.number(ext, "min_p", p, 0, 0.999999, 0);
            repetition = (float) Params.number(ext, "repetition_penalty", p, 0.01, 100, 1);
        }
        SamplerConfig sampler = temperature == 0 ? SamplerConfig.greedy()
                : new SamplerConfig((float) temperature, Math.max(0, topK), (float) topP, minP, repetition, 64, seed);
        return new GenerationSpec(chat, messages, text, ids, stream, includeUsage, maxTokens, sampler, stops, ignoreEos,
                strategy, moa, budget);
    }

    private int maxTokens(ObjectNode body) {
        int cap = limits.maxTokens();
        String which = Params.given(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        long a = Params.integer(body, "max_completion_tokens", "", 1, Long.MAX_VALUE, 0);
        long b = Params.integer(body, "max_tokens", "", 1, Long.MAX_VALUE, 0);
        if (a != 0 && b != 0 && a != b) {
            throw ApiException.badRequest("max_tokens", "invalid_value", "max_tokens (" + b + ") and max_completion_tokens (" + a
                    + ") differ; send one");
        }
        long v = a != 0 ? a : b;
        if (v > cap) {
            throw ApiException.badRequest(which, "invalid_value", which + " is too large: " + v + "; this server allows at most "
                    + cap + " tokens per request");
        }
        return (int) v;
    }

    private MoaProfile moa() {
        if (moaProfile == null) {
            throw ApiException.badRequest("longctx.strategy", "invalid_value",
                    "strategy 'moa' needs a MoA profile and this server has none (start it with --moa-profile FILE)");
        }
        return moaProfile;
    }

    private Strategy strategy(String name) {
        if (name.equalsIgnoreCase("duo")) {
            if (headProfile == null) {
                throw ApiException.badRequest("longctx.strategy", "invalid_value",
                        "strategy 'duo' needs a head profile and this server has none (start it with --profile FILE)");
            }
            return new Strategy.RetrievalHeads(headProfile, 0, 0);
        }
        try {
            return Strategy.parse(name);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("longctx.strategy", "invalid_value", e.getMessage());
        }
    }

    /** The messages of a chat request (package-private for tests of odd shapes). */
    static final class ChatMessages {
        private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

        private ChatMessages() {
        }

        static List<ChatMessage> parse(JsonNode node) {
            if (node == null || node.isNull()) {
                throw ApiException.badRequest("messages", "missing_required_parameter", "messages is required");
            }
            if (!node.isArray()) {
                throw Params.wrongType("messages", "an array of messages", node);
            }
            if (node.isEmpty()) {
                throw ApiException.badRequest("messages", "invalid_value", "messages is empty");
            }
            List<ChatMessage> out = new ArrayList<>(node.size());
            for (int i = 0; i < node.size(); i++) {
                String p = "messages[" + i + "]";
                if (!(node.get(i) instanceof ObjectNode m)) {
                    throw Params.wrongType(p, "an object", node.get(i));
                }
                String role = Params.string(m, "role", p + ".");
                if (role == null) {
                    throw ApiException.badRequest(p + ".role", "missing_required_parameter", p + ".role is required");
                }
                if (role.equals("tool") || role.equals("function")) {
                    throw Params.unsupported(p + ".role", "'" + role + "' messages need tool calling, which is not available yet");
                }
                if (!ROLES.contains(role)) {
                    throw ApiException.badRequest(p + ".role", "invalid_value", p + ".role '" + role
                            + "' is not one of system, developer, user, assistant");
                }
                JsonNode calls = m.get("tool_calls");
                if (calls != null && !calls.isNull() && !(calls.isArray() && calls.isEmpty())) {
                    throw Params.unsupported(p + ".tool_calls", "tool calling is not available yet");
                }
                out.add(new ChatMessage(role.equals("developer") ? "system" : role, content(m.get("content"), p + ".content")));
            }
            return out;
        }

        private static String content(JsonNode c, String p) {
            if (c == null || c.isNull()) {
                throw ApiException.badRequest(p, "missing_required_parameter", p + " is required");
            }
            if (c.isTextual()) {
                return c.textValue();
            }
            if (!c.isArray()) {
                throw Params.wrongType(p, "a string or an array of text parts", c);
            }
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < c.size(); j++) {
                String pp = p + "[" + j + "]";
                if (!(c.get(j) instanceof ObjectNode part)) {
                    throw Params.wrongType(pp, "an object", c.get(j));
                }
                String type = Params.string(part, "type", pp + ".");
                if (!"text".equals(type)) {
                    throw Params.unsupported(pp + ".type", "only text parts; '" + type + "' is not available");
                }
                String text = Params.string(part, "text", pp + ".");
                if (text == null) {
                    throw ApiException.badRequest(pp + ".text", "missing_required_parameter", pp + ".text is required");
                }
                sb.append(text);
            }
            return sb.toString();
        }
    }
}
