package dev.longctx.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.ServingEngine;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.Handler;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.charset.StandardCharsets;

/**
 * {@code GET /v1/models}, {@code GET /v1/models/{id}}, {@code GET /health} and {@code GET /metrics}.
 *
 * <p>Threading: immutable; any thread.
 */
final class InfoEndpoints {
    /** Prometheus' text exposition format, version 0.0.4. */
    static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private final ServingEngine engine;
    private final String modelId;
    private final long created;
    private final PrometheusMeterRegistry prometheus;
    private final ErrorMapper errors;

    InfoEndpoints(ServingEngine engine, String modelId, PrometheusMeterRegistry prometheus, ErrorMapper errors) {
        this.engine = engine;
        this.modelId = modelId;
        this.created = System.currentTimeMillis() / 1000;
        this.prometheus = prometheus;
        this.errors = errors;
    }

    /** The Prometheus registry among the engine's: itself, or one inside a composite; null when none. */
    static PrometheusMeterRegistry findPrometheus(MeterRegistry r) {
        if (r instanceof PrometheusMeterRegistry p) {
            return p;
        }
        if (r instanceof CompositeMeterRegistry c) {
            for (MeterRegistry inner : c.getRegistries()) {
                PrometheusMeterRegistry p = findPrometheus(inner);
                if (p != null) {
                    return p;
                }
            }
        }
        return null;
    }

    Handler models() {
        return (req, res) -> {
            ObjectNode root = Json.MAPPER.createObjectNode();
            root.put("object", "list");
            root.putArray("data").add(model());
            res.header(HeaderNames.CONTENT_TYPE, Json.CONTENT_TYPE);
            res.send(Json.bytes(root));
        };
    }

    Handler model(String pathParam) {
        return (req, res) -> {
            String id = req.path().pathParameters().get(pathParam);
            if (!id.equals(modelId)) {
                errors.send(res, new ApiException(404, ApiException.INVALID_REQUEST, "model", "model_not_found", "the model '" + id
                        + "' does not exist; this server serves '" + modelId + "'", false));
                return;
            }
            res.header(HeaderNames.CONTENT_TYPE, Json.CONTENT_TYPE);
            res.send(Json.bytes(model()));
        };
    }

    Handler health() {
        return (req, res) -> {
            EngineStats s = engine.stats();
            ObjectNode root = Json.MAPPER.createObjectNode();
            root.put("status", "ok");
            root.put("model", modelId);
            root.put("waiting", s.waiting());
            root.put("running", s.running());
            root.put("kv_pages_used", s.pagesUsed());
            root.put("kv_pages_free", s.pagesFree());
            root.put("kv_pages_cached", s.pagesCached());
            res.header(HeaderNames.CONTENT_TYPE, Json.CONTENT_TYPE);
            res.send(Json.bytes(root));
        };
    }

    Handler metrics() {
        return (req, res) -> {
            if (prometheus == null) {
                errors.send(res, new ApiException(404, ApiException.NOT_FOUND, null, "no_metrics", "no Prometheus registry: build "
                        + "the engine with a PrometheusMeterRegistry (./longctx serve does) to serve /metrics", false));
                return;
            }
            res.header(HeaderNames.CONTENT_TYPE, PROMETHEUS_TEXT);
            res.send(prometheus.scrape().getBytes(StandardCharsets.UTF_8));
        };
    }

    private ObjectNode model() {
        ObjectNode m = Json.MAPPER.createObjectNode();
        m.put("id", modelId);
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", "longctx");
        m.put("context_length", engine.config().maxPositions());
        return m;
    }
}
