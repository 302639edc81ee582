package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.fail;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.models.Model;
import dev.longctx.models.serving.ServingEngine;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * A model, a serving engine with a Prometheus registry and a server on a free loopback port, closed
 * together; plus the official OpenAI client pointed at it (no retries, so a 429 is seen as one).
 */
final class TestServer implements AutoCloseable {
    final Model model;
    final ServingEngine engine;
    final OpenAiServer server;
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    TestServer(Path modelPath, Consumer<ServingEngine.Builder> engineOptions, Consumer<OpenAiServer.Builder> serverOptions) {
        this.model = Model.open(modelPath, Model.Options.defaults().withOps(TensorOps.withThreads(2)));
        ServingEngine.Builder eb = ServingEngine.builder(model).budgetBytes(64L << 20).meterRegistry(registry).name("test");
        engineOptions.accept(eb);
        this.engine = eb.build();
        OpenAiServer.Builder sb = OpenAiServer.builder(engine).port(0);
        serverOptions.accept(sb);
        this.server = sb.start();
    }

    static TestServer stories() {
        return new TestServer(stories260k(), e -> { }, s -> { });
    }

    /** The OpenAI Java client on this server. */
    OpenAIClient openAi() {
        return openAi("not-needed");
    }

    OpenAIClient openAi(String key) {
        return OpenAIOkHttpClient.builder().baseUrl(server.baseUrl().toString()).apiKey(key).maxRetries(0)
                .timeout(Duration.ofMinutes(2)).build();
    }

    String url(String path) {
        return "http://localhost:" + server.port() + path;
    }

    @Override
    public void close() {
        server.close();
        engine.close();
        model.close();
    }

    /** stories260K (GGUF, no chat template), from the shared fixtures. */
    static Path stories260k() {
        return shared("fixtures/stories260k/stories260K.gguf");
    }

    /** The committed retrieval model (a Hugging Face folder with a chat template). */
    static Path chatModel() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path m = dir.resolve("tools/retrieval-model/model/hf");
            if (Files.isDirectory(m)) {
                return m;
            }
        }
        return fail("tools/retrieval-model/model/hf not found above " + Path.of("").toAbsolutePath());
    }

    /** A shared fixture, found as the other modules' tests find them: $LONGCTX_SHARED, else shared/ beside or above. */
    static Path shared(String rel) {
        String override = System.getenv("LONGCTX_SHARED");
        if (override != null && Files.exists(Path.of(override).resolve(rel))) {
            return Path.of(override).resolve(rel);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            for (Path shared : new Path[] {dir.resolve("shared"), dir.resolveSibling("shared")}) {
                if (Files.exists(shared.resolve(rel))) {
                    return shared.resolve(rel);
                }
            }
        }
        return fail("fixture " + rel + " not found in shared/ beside or above " + Path.of("").toAbsolutePath()
                + " (set LONGCTX_SHARED to the shared folder)");
    }
}
