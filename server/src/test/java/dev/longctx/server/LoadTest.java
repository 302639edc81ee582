package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.longctx.models.serving.EngineStats;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bounded load on loopback: 200 requests, 8 at a time, through the OpenAI Java client (plain and
 * streamed, sampled and greedy, several strategies), on stories260K. Every request succeeds with the
 * tokens it asked for, and afterwards no page is held but the prefix cache's. Throughput and latency
 * are logged, not asserted (the SmolLM2-shape figures in docs/performance.md come from
 * {@code ./longctx bench-http}).
 */
class LoadTest {
    private static final Logger LOG = LoggerFactory.getLogger(LoadTest.class);
    private static final int REQUESTS = 200;
    private static final int CONCURRENCY = 8;
    private static final String[] STRATEGIES = {null, "full", "streaming", "h2o", "quest"};

    @Test
    void twoHundredRequestsEightAtATime() throws Exception {
        try (TestServer t = TestServer.stories()) {
            OpenAIClient client = t.openAi();
            SplittableRandom rnd = new SplittableRandom(19);
            long start = System.nanoTime();
            List<Future<long[]>> results = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(CONCURRENCY)) {
                for (int i = 0; i < REQUESTS; i++) {
                    int maxTokens = 8 + rnd.nextInt(56);
                    boolean stream = rnd.nextBoolean();
                    boolean greedy = rnd.nextBoolean();
                    String strategy = STRATEGIES[rnd.nextInt(STRATEGIES.length)];
                    String prompt = "Once upon a time, " + "there was a little girl who liked to play. ".repeat(1 + rnd.nextInt(20));
                    long seed = rnd.nextLong();
                    results.add(pool.submit(() -> one(client, t.server.modelId(), prompt, maxTokens, stream, greedy, seed, strategy)));
                }
                long[] latencies = new long[REQUESTS];
                long tokens = 0;
                for (int i = 0; i < REQUESTS; i++) {
                    long[] r = results.get(i).get(5, TimeUnit.MINUTES);
                    latencies[i] = r[0];
                    tokens += r[1];
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                Arrays.sort(latencies);
                LOG.info(String.format(Locale.ROOT, "load: %d requests, %d at a time, %.1f s: %.1f requests/s, %.0f generated tokens/s;"
                                + " latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms", REQUESTS, CONCURRENCY, seconds, REQUESTS / seconds,
                        tokens / seconds, latencies[REQUESTS / 2] / 1e6, latencies[REQUESTS * 9 / 10] / 1e6,
                        latencies[REQUESTS * 99 / 100] / 1e6));
            } finally {
                client.close();
            }
            EngineStats s = t.engine.stats();
            assertEquals(s.pagesCached(), s.pagesUsed(), "no leaked page: " + s);
            assertEquals(0, s.running());
            assertEquals(0, s.waiting());
            assertTrue(s.completed() >= REQUESTS, s.toString());
        }
    }

    /** One request: {latency nanos, completion tokens}; fails unless it generated exactly what it asked for (EOS ignored). */
    private static long[] one(OpenAIClient client, String model, String prompt, int maxTokens, boolean stream, boolean greedy,
                              long seed, String strategy) {
        CompletionCreateParams.Builder b = CompletionCreateParams.builder().model(model).prompt(prompt).maxTokens(maxTokens)
                .temperature(greedy ? 0.0 : 0.8).seed(seed);
        boolean evicting = "streaming".equals(strategy) || "h2o".equals(strategy);
        b.putAdditionalBodyProperty("longctx", JsonValue.from(strategy == null ? Map.of("ignore_eos", true)
                : evicting ? Map.of("ignore_eos", true, "strategy", strategy, "budget_tokens", 128)
                : Map.of("ignore_eos", true, "strategy", strategy)));
        long t0 = System.nanoTime();
        long completion;
        if (stream) {
            long[] usage = {-1};
            try (StreamResponse<Completion> s = client.completions().createStreaming(b.streamOptions(
                    ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
                s.stream().forEach(c -> c.usage().ifPresent(u -> usage[0] = u.completionTokens()));
            }
            completion = usage[0];
        } else {
            completion = client.completions().create(b.build()).usage().orElseThrow().completionTokens();
        }
        assertEquals(maxTokens, completion, "tokens generated");
        return new long[] {System.nanoTime() - t0, completion};
    }
}
