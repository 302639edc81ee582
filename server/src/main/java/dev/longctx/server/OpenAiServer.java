package dev.longctx.server;

import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.serving.ServingEngine;
import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http1.Http1Config;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server over a {@link ServingEngine}, on Helidon SE 4 (a virtual thread
 * per request): {@code POST /v1/chat/completions} (the model's chat template),
 * {@code POST /v1/completions}, {@code GET /v1/models}, {@code GET /health} and
 * {@code GET /metrics} (Prometheus text, when the engine's registry is a
 * {@link PrometheusMeterRegistry}). Responses and stream chunks are shaped as OpenAI's, so any
 * OpenAI client pointed at {@code http://HOST:PORT/v1} works; errors are
 * {@code {"error": {"message", "type", "param", "code"}}} with 400, 401, 404, 413, 429 or 503 (see
 * docs/server.md).
 *
 * <pre>{@code
 * try (Model model = Model.open(path);
 *      ServingEngine engine = ServingEngine.builder(model).meterRegistry(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT)).build();
 *      OpenAiServer server = OpenAiServer.builder(engine).port(8080).apiKey("secret").start()) {
 *     server.awaitShutdown();
 * }
 * }</pre>
 *
 * <p>The server does not own the engine: close the server, then the engine, then the model.
 *
 * <p>Threading: thread-safe; {@link #close()} may be called from any thread.
 */
public final class OpenAiServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OpenAiServer.class);
    /**
     * How long a non-streamed completion runs before its connection is watched for its client leaving
     * (a shorter one keeps its connection open; a watched one's is closed after the response).
     */
    static final Duration WATCH_AFTER = Duration.ofMillis(200);
    /** The request-counter's endpoint tag takes these values (anything else is "other"). */
    private static final Set<String> ENDPOINTS = Set.of("/v1/chat/completions", "/v1/completions", "/v1/models", "/health",
            "/metrics");

    private final WebServer server;
    private final CompletionsEndpoint completions;
    private final String modelId;
    private final String host;
    private final Object lock = new Object();
    private boolean closed;

    private OpenAiServer(Builder b) {
        ServingEngine engine = b.engine;
        if (!engine.model().hasTokenizer()) {
            throw new IllegalArgumentException("the OpenAI API speaks text: the model " + engine.model().path()
                    + " has no tokenizer");
        }
        this.host = b.host;
        this.modelId = b.modelId != null ? b.modelId : defaultModelId(engine.model().path());
        ErrorMapper errors = new ErrorMapper(b.limits.retryAfter());
        RequestParser parser = new RequestParser(modelId, b.limits, b.headProfile, b.moaProfile);
        ClientWatch.Tracker tracker = new ClientWatch.Tracker();
        this.completions = new CompletionsEndpoint(engine, modelId, b.limits, parser, errors, tracker, b.watchAfter);
        PrometheusMeterRegistry prometheus = b.prometheus != null ? b.prometheus
                : InfoEndpoints.findPrometheus(engine.meterRegistry());
        InfoEndpoints info = new InfoEndpoints(engine, modelId, prometheus, errors);
        MeterRegistry meters = engine.meterRegistry();
        BodyReader bodies = new BodyReader(b.limits.maxBodyBytes());

        HttpRouting.Builder routing = HttpRouting.builder();
        routing.addFilter((chain, req, res) -> {
            try {
                chain.proceed();
            } finally {
                String path = req.path().path();
                Counter.builder("longctx.http.requests").description("HTTP requests answered")
                        .tag("endpoint", ENDPOINTS.contains(path) ? path : "other")
                        .tag("status", Integer.toString(res.status().code())).register(meters).increment();
            }
        });
        if (b.apiKey != null) {
            routing.addFilter(new ApiKeyFilter(b.apiKey, errors));
        }
        routing.error(Exception.class, (req, res, e) -> errors.send(res, e));
        routing.post("/v1/chat/completions", completions.chat())
                .post("/v1/completions", completions.completions())
                .get("/v1/models", info.models())
                .get("/v1/models/{id}", info.model("id"))
                .get("/health", info.health())
                .get("/metrics", info.metrics())
                .any((req, res) -> errors.send(res, new ApiException(404, ApiException.NOT_FOUND, null, "unknown_url", "no route for "
                        + req.prologue().method().text() + " " + req.path().path() + " (POST /v1/chat/completions, POST "
                        + "/v1/completions, GET /v1/models, GET /health, GET /metrics)", false)));

        this.server = WebServer.builder()
                .host(b.host)
                .port(b.port)
                .shutdownHook(false)
                .featuresDiscoverServices(false)
                .maxPayloadSize(bodies.drainLimit())
                // Each streamed token is a small write: without TCP_NODELAY, Nagle's algorithm holds it
                // until the client's (delayed, ~40 ms) ACK of the previous one.
                .connectionOptions(o -> o.tcpNoDelay(true))
                // Tells a non-streamed completion its connection, so that it can notice its client leave.
                .addProtocol(Http1Config.builder().addReceiveListener(tracker).build())
                .directHandlers(d -> {
                    for (DirectHandler.EventType t : DirectHandler.EventType.values()) {
                        d.addHandler(t, (request, type, status, headers, message) -> direct(type, status, message));
                    }
                })
                .routing(routing)
                .build()
                .start();
        LOG.info("serving {} on http://{}:{}/v1 (API key {})", modelId, b.host, server.port(),
                b.apiKey != null ? "required" : "not required");
    }

    /** Errors the web server answers itself (malformed HTTP, a declared body past the drain limit), in OpenAI's shape. */
    private static DirectHandler.TransportResponse direct(DirectHandler.EventType type, Status status, String message) {
        String code = type == DirectHandler.EventType.PAYLOAD_TOO_LARGE ? "request_too_large" : "bad_http_request";
        ApiException e = new ApiException(status.code(), status.code() >= 500 ? ApiException.SERVER : ApiException.INVALID_REQUEST,
                null, code, message == null || message.isBlank() ? status.reasonPhrase() : message, false);
        return DirectHandler.TransportResponse.builder()
                .status(status)
                .header(HeaderNames.CONTENT_TYPE, Json.CONTENT_TYPE)
                .entity(Json.bytes(ErrorMapper.body(e)))
                .keepAlive(false)
                .build();
    }

    /** The model id clients name: the file name without {@code .gguf} / {@code .bin}, or the folder name. */
    static String defaultModelId(Path path) {
        Path name = path.toAbsolutePath().normalize().getFileName();
        String s = name == null ? "model" : name.toString();
        for (String ext : new String[] {".gguf", ".bin", ".safetensors"}) {
            if (s.endsWith(ext) && s.length() > ext.length()) {
                return s.substring(0, s.length() - ext.length());
            }
        }
        return s;
    }

    /** A builder for a server over {@code engine}. */
    public static Builder builder(ServingEngine engine) {
        return new Builder(engine);
    }

    /** The port listened on (the one picked when the builder said 0). */
    public int port() {
        return server.port();
    }

    /** {@code http://HOST:PORT/v1}, what OpenAI clients take as their base URL. */
    public URI baseUrl() {
        String h = host.equals("0.0.0.0") || host.equals("::") ? "localhost" : host.contains(":") ? "[" + host + "]" : host;
        return URI.create("http://" + h + ":" + port() + "/v1");
    }

    /** The model id this server answers to. */
    public String modelId() {
        return modelId;
    }

    /** Blocks until {@link #close()} is called (from a shutdown hook, say). */
    public void awaitShutdown() throws InterruptedException {
        synchronized (lock) {
            while (!closed) {
                lock.wait();
            }
        }
    }

    /**
     * Stops taking connections, cancels every request in flight (their streams end; their pages
     * return to the pool) and stops the web server. The engine stays open. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            lock.notifyAll();
        }
        completions.close();
        server.stop();
        LOG.info("server for {} stopped", modelId);
    }

    /** Options of a new server. Threading: for one thread. */
    public static final class Builder {
        private final ServingEngine engine;
        private String host = "127.0.0.1";
        private int port = 8080;
        private String modelId;
        private ServerLimits limits = ServerLimits.defaults();
        private String apiKey;
        private HeadProfile headProfile;
        private MoaProfile moaProfile;
        private PrometheusMeterRegistry prometheus;
        private Duration watchAfter = WATCH_AFTER;

        private Builder(ServingEngine engine) {
            this.engine = Objects.requireNonNull(engine, "engine");
        }

        /** The address to listen on (default {@code 127.0.0.1}; {@code 0.0.0.0} for every interface). */
        public Builder host(String h) {
            this.host = Objects.requireNonNull(h, "host");
            return this;
        }

        /** The port (default 8080; 0 picks a free one, see {@link OpenAiServer#port()}). */
        public Builder port(int p) {
            if (p < 0 || p > 65535) {
                throw new IllegalArgumentException("port must be in [0, 65535], got " + p);
            }
            this.port = p;
            return this;
        }

        /** The model id clients must name (default: the model's file or folder name without its extension). */
        public Builder modelId(String id) {
            Objects.requireNonNull(id, "modelId");
            if (id.isBlank()) {
                throw new IllegalArgumentException("modelId must not be blank");
            }
            this.modelId = id;
            return this;
        }

        /** The HTTP layer's limits (default {@link ServerLimits#defaults()}). */
        public Builder limits(ServerLimits l) {
            this.limits = Objects.requireNonNull(l, "limits");
            return this;
        }

        /** Requires {@code Authorization: Bearer KEY} on {@code /v1/...} (default: no key). */
        public Builder apiKey(String key) {
            Objects.requireNonNull(key, "apiKey");
            if (key.isBlank()) {
                throw new IllegalArgumentException("apiKey must not be blank");
            }
            this.apiKey = key;
            return this;
        }

        /** The head profile that makes {@code "longctx": {"strategy": "duo"}} available (default: none, refused). */
        public Builder headProfile(HeadProfile p) {
            this.headProfile = Objects.requireNonNull(p, "headProfile");
            return this;
        }

        /**
         * The MoA profile (from {@code profile-heads --moa}) that makes {@code "longctx": {"strategy": "moa",
         * "budget_tokens": N}} available (default: none, refused). Each such request gets the profile's
         * windows fitted to its budget over its prompt plus {@code max_tokens}.
         */
        public Builder moaProfile(MoaProfile p) {
            this.moaProfile = Objects.requireNonNull(p, "moaProfile");
            return this;
        }

        /** The registry {@code /metrics} scrapes (default: the engine's, when it is a Prometheus one). */
        public Builder prometheus(PrometheusMeterRegistry r) {
            this.prometheus = Objects.requireNonNull(r, "prometheus");
            return this;
        }

        /** How long a non-streamed completion runs before its connection is watched (0: every one is, from its submission). */
        Builder watchAfter(Duration d) {
            if (d.isNegative()) {
                throw new IllegalArgumentException("watchAfter must not be negative, got " + d);
            }
            this.watchAfter = d;
            return this;
        }

        /**
         * Starts listening.
         *
         * @throws IllegalArgumentException when the model has no tokenizer
         * @throws java.io.UncheckedIOException when the port cannot be bound
         */
        public OpenAiServer start() {
            return new OpenAiServer(this);
        }
    }
}
