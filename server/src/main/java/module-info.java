/**
 * An OpenAI-compatible HTTP server over the serving engine ({@link dev.longctx.server.OpenAiServer}),
 * on Helidon SE 4's web server: chat completions, completions, models, health and Prometheus metrics.
 */
module dev.longctx.server {
    requires transitive dev.longctx.models;
    requires io.helidon.webserver;
    requires transitive micrometer.registry.prometheus;
    requires com.fasterxml.jackson.databind;
    requires org.slf4j;

    exports dev.longctx.server;
}
