package dev.longctx.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.Model;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Strategy;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: reads and checks the body,
 * encodes the prompt on the HTTP thread (a virtual thread; the engine's thread only generates),
 * submits it, then answers with one JSON object or streams server-sent events as the tokens come.
 * A streaming client that goes away is noticed at the next write and its request cancelled, which
 * returns its KV pages to the pool; a non-streamed one, whose connection nothing writes to while it
 * generates, is noticed by a {@link ClientWatch} reading its connection.
 *
 * <p>Threading: one instance serves every request concurrently; per-request state lives on the
 * handling thread.
 */
final class CompletionsEndpoint {
    private static final Logger LOG = LoggerFactory.getLogger(CompletionsEndpoint.class);
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);
    /** What the request counter records for a request whose client went away (nginx's "client closed request"). */
    private static final Status CLIENT_CLOSED_REQUEST = Status.create(499, "Client Closed Request");
    /** How often a streaming handler wakes without tokens to see whether the server is closing. */
    private static final long POLL_MILLIS = 250;

    private final ServingEngine engine;
    private final Model model;
    private final String modelId;
    private final ServerLimits limits;
    private final RequestParser parser;
    private final ErrorMapper errors;
    private final BodyReader bodies;
    private final AtomicLong ids = new AtomicLong();
    private final String idPrefix = Long.toHexString(System.currentTimeMillis());
    private final Set<RequestHandle> inFlight = ConcurrentHashMap.newKeySet();
    private final ClientWatch.Tracker tracker;
    private final Duration watchAfter;
    private final Counter disconnects;
    private final Counter streamDisconnects;
    private volatile boolean closing;

    CompletionsEndpoint(ServingEngine engine, String modelId, ServerLimits limits, RequestParser parser, ErrorMapper errors,
            ClientWatch.Tracker tracker, Duration watchAfter) {
        this.engine = engine;
        this.model = engine.model();
        this.modelId = modelId;
        this.limits = limits;
        this.parser = parser;
        this.errors = errors;
        this.bodies = new BodyReader(limits.maxBodyBytes());
        this.tracker = tracker;
        this.watchAfter = watchAfter;
        this.disconnects = disconnectCounter(engine.meterRegistry(), false);
        this.streamDisconnects = disconnectCounter(engine.meterRegistry(), true);
    }

    private static Counter disconnectCounter(MeterRegistry meters, boolean stream) {
        return Counter.builder("longctx.http.client.disconnects")
                .description("Completions cancelled because their client went away before the end")
                .tag("stream", Boolean.toString(stream)).register(meters);
    }

    Handler chat() {
        return (req, res) -> handle(req, res, true);
    }

    Handler completions() {
        return (req, res) -> handle(req, res, false);
    }

    /** Cancels every request in flight (their handlers then end their responses). */
    void close() {
        closing = true;
        inFlight.forEach(RequestHandle::cancel);
    }

    private void handle(ServerRequest req, ServerResponse res, boolean chat) {
        GenerationSpec spec;
        RequestHandle handle;
        TokenQueue tokens = new TokenQueue();
        int[] prompt;
        try {
            ObjectNode body = Json.parseObject(bodies.read(req));
            spec = chat ? parser.chat(body) : parser.completion(body);
            prompt = encode(spec);
            handle = engine.submit(request(spec, prompt, spec.stream() ? tokens : null));
        } catch (RuntimeException e) {
            errors.send(res, e);
            return;
        }
        inFlight.add(handle);
        try {
            ResponseJson shape = new ResponseJson((chat ? "chatcmpl-" : "cmpl-") + idPrefix + "-" + ids.incrementAndGet(),
                    System.currentTimeMillis() / 1000, modelId, chat);
            if (spec.stream()) {
                tokens.endWith(handle);
                stream(res, handle, tokens, shape, spec);
            } else {
                respond(req, res, handle, shape);
            }
        } finally {
            inFlight.remove(handle);
        }
    }

    private int[] encode(GenerationSpec spec) {
        int[] ids;
        if (spec.ids() != null) {
            ids = spec.ids();
        } else if (spec.chat()) {
            if (model.chatTemplate().isEmpty()) {
                throw ApiException.badRequest("messages", "no_chat_template", "the model '" + modelId
                        + "' has no chat template: use /v1/completions with a prompt");
            }
            ids = model.encodeChat(spec.messages());
        } else {
            ids = model.tokenizer().encode(spec.text());
        }
        int context = engine.config().maxPositions();
        int maxPrompt = limits.maxPromptTokens() > 0 ? limits.maxPromptTokens() : context;
        if (ids.length > maxPrompt) {
            throw ApiException.tooLarge(spec.chat() ? "messages" : "prompt", "context_length_exceeded", "the prompt has "
                    + ids.length + " tokens; this server accepts at most " + maxPrompt);
        }
        return ids;
    }

    private Request request(GenerationSpec spec, int[] prompt, TokenQueue listener) {
        Strategy strategy = spec.strategy() != null ? spec.strategy() : engine.defaultStrategy();
        int maxTokens = spec.maxTokens();
        if (maxTokens == 0) {
            boolean keepsEvery = spec.moa() != null || strategy.keepsEveryToken(); // MoA keeps every token's page
            int room = keepsEvery ? engine.config().maxPositions() - prompt.length : limits.maxTokens();
            if (room <= 0) {
                throw ApiException.tooLarge(spec.chat() ? "messages" : "prompt", "context_length_exceeded", "the prompt's "
                        + prompt.length + " tokens fill the model's context of " + engine.config().maxPositions()
                        + " tokens under " + (spec.moa() != null ? "moa" : strategy.name()) + "; nothing is left to generate");
            }
            maxTokens = Math.min(limits.maxTokens(), room);
        }
        GenerateOptions options = new GenerateOptions(maxTokens, spec.sampler(), spec.ignoreEos() ? List.of() : null, spec.stops());
        Request.Builder b = Request.tokens(prompt).options(options).timeout(limits.requestTimeout());
        if (spec.moa() != null) {
            b.strategy(spec.fitMoa(prompt.length, maxTokens));
        } else if (spec.strategy() != null) {
            b.strategy(spec.strategy());
        }
        if (spec.budgetTokens() > 0 && spec.moa() == null) { // MoA's budget sized its windows; its pages are the default's
            b.budgetTokens(spec.budgetTokens());
        }
        if (listener != null) {
            b.listener(listener);
        }
        return b.build();
    }

    /**
     * Waits for the generation and answers it. A request still generating after
     * {@code watchAfter} (zero: every request) has its connection watched ({@link ClientWatch}): a
     * client that goes away cancels it at once, and its response then closes the connection.
     */
    private void respond(ServerRequest req, ServerResponse res, RequestHandle handle, ResponseJson shape) {
        Generation g = null;
        Throwable failure = null;
        ClientWatch watch = null;
        try {
            if (!watchAfter.isZero()) {
                try {
                    g = handle.result().get(watchAfter.toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException notYet) {
                    // still generating: watch the client from now on
                }
            }
            if (g == null) {
                watch = ClientWatch.start(tracker, req, Long.toString(handle.id()), () -> {
                    handle.cancel();
                    if (!closing) {
                        disconnects.increment();
                    }
                });
                g = handle.result().get(limits.requestTimeout().toMillis() + 60_000, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            handle.cancel();
            Thread.currentThread().interrupt();
            failure = new IllegalStateException("interrupted");
        } catch (ExecutionException e) {
            failure = e.getCause();
        } catch (TimeoutException e) {
            handle.cancel();
            failure = new IllegalStateException("the engine did not answer within the request timeout");
        }
        ClientWatch.Outcome outcome = watch == null ? ClientWatch.Outcome.KEEP_ALIVE : watch.stop();
        if (outcome == ClientWatch.Outcome.GONE) {
            LOG.debug("request {}: {}; cancelled", handle.id(), watch.goneBecause());
            res.status(CLIENT_CLOSED_REQUEST); // for the request counter; nothing is sent
            throw new CloseConnectionException("request " + handle.id() + ": the client went away");
        }
        if (outcome == ClientWatch.Outcome.CLOSE) {
            res.header(HeaderValues.CONNECTION_CLOSE);
        }
        if (failure != null) {
            errors.send(res, failure);
        } else {
            res.header(HeaderNames.CONTENT_TYPE, Json.CONTENT_TYPE);
            res.send(Json.bytes(shape.complete(g, handle.promptTokens())));
        }
        if (outcome == ClientWatch.Outcome.CLOSE) {
            // the watch is still blocked reading this connection: close it rather than read it twice
            throw new CloseConnectionException("request " + handle.id() + ": answered; closing the watched connection");
        }
    }

    private void stream(ServerResponse res, RequestHandle handle, TokenQueue tokens, ResponseJson shape, GenerationSpec spec) {
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        try (OutputStream out = res.outputStream()) {
            if (shape.chat()) {
                event(out, shape.roleChunk());
            }
            out.flush();
            while (true) {
                if (closing) {
                    handle.cancel();
                }
                List<Object> items = tokens.next(POLL_MILLIS);
                for (Object item : items) {
                    if (item instanceof String text) {
                        event(out, shape.textChunk(text));
                    } else if (item instanceof TokenQueue.End end) {
                        finish(out, end, shape, spec, handle.promptTokens());
                        return;
                    }
                }
                if (!items.isEmpty()) {
                    out.flush();
                }
            }
        } catch (IOException | UncheckedIOException e) {
            handle.cancel();
            if (!closing) {
                streamDisconnects.increment();
            }
            LOG.debug("request {}: the client went away ({}); cancelled", handle.id(), e.toString());
        } catch (InterruptedException e) {
            handle.cancel();
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            // the connection failed in some other way while writing: nobody is left to read an error
            handle.cancel();
            LOG.debug("request {}: streaming failed; cancelled", handle.id(), e);
        }
    }

    private void finish(OutputStream out, TokenQueue.End end, ResponseJson shape, GenerationSpec spec, int promptTokens)
            throws IOException {
        if (end.error() != null) {
            event(out, ErrorMapper.body(errors.map(end.error())));
            out.flush();
            return;
        }
        Generation g = end.generation();
        event(out, shape.finishChunk(g));
        if (spec.includeUsage()) {
            event(out, shape.usageChunk(promptTokens, g.outputIds().length));
        }
        out.write(DONE);
        out.flush();
    }

    private static void event(OutputStream out, ObjectNode json) throws IOException {
        out.write("data: ".getBytes(StandardCharsets.US_ASCII));
        out.write(Json.bytes(json));
        out.write('\n');
        out.write('\n');
    }
}
