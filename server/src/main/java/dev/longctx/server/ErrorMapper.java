package dev.longctx.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.serving.RequestRejectedException;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.tokenizer.ChatTemplate;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerResponse;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns what went wrong into OpenAI's error JSON and an HTTP status: the parsers' {@link ApiException}s
 * as they are, the engine's refusals by kind (a context that cannot fit: 413; a full queue: 429 with
 * {@code Retry-After}; a closed engine: 503), anything else 500 with its message logged, not sent.
 *
 * <p>Threading: immutable; any thread.
 */
final class ErrorMapper {
    private static final Logger LOG = LoggerFactory.getLogger(ErrorMapper.class);

    private final long retryAfterSeconds;

    ErrorMapper(Duration retryAfter) {
        this.retryAfterSeconds = Math.max(1, (retryAfter.toMillis() + 999) / 1000);
    }

    /** What to answer for {@code e}. */
    ApiException map(Throwable e) {
        return switch (e) {
            case ApiException a -> a;
            case ContextBudgetException c -> ApiException.tooLarge(null, "context_length_exceeded", c.getMessage());
            case RequestRejectedException r -> switch (r.reason()) {
                case QUEUE_FULL -> new ApiException(429, ApiException.RATE_LIMIT, null, "queue_full", r.getMessage(), true);
                case TOO_LARGE -> ApiException.tooLarge(null, "kv_budget_exceeded", r.getMessage());
                case CLOSED -> new ApiException(503, ApiException.UNAVAILABLE, null, "shutting_down", r.getMessage(), true);
            };
            case ChatTemplate.TemplateException t -> ApiException.badRequest("messages", "chat_template_error",
                    "the model's chat template rejected the conversation: " + t.getMessage());
            case IllegalArgumentException i -> ApiException.badRequest(null, i.getMessage());
            default -> {
                LOG.error("internal error serving a request", e);
                yield new ApiException(500, ApiException.SERVER, null, "internal_error",
                        "internal error (" + e.getClass().getSimpleName() + "); the server log has the details", false);
            }
        };
    }

    /** The {@code {"error": {...}}} object. */
    static ObjectNode body(ApiException e) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type());
        err.put("param", e.param());
        err.put("code", e.code());
        return root;
    }

    /** Sends {@code e} as the whole response (headers not sent yet). */
    void send(ServerResponse res, Throwable e) {
        ApiException a = map(e);
        if (a.status() < 500) {
            LOG.debug("request refused: {} {}", a.status(), a.getMessage());
        }
        res.status(Status.create(a.status()));
        res.header(HeaderNames.CONTENT_TYPE, Json.CONTENT_TYPE);
        if (a.retryable()) {
            res.header(HeaderNames.RETRY_AFTER, Long.toString(retryAfterSeconds));
        }
        res.send(Json.bytes(body(a)));
    }
}
