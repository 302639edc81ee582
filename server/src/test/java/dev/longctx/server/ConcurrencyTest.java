package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.RateLimitException;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import okhttp3.Call;
import okhttp3.RequestBody;
import okhttp3.Response;
import org.junit.jupiter.api.Test;

/**
 * Many clients at once: sixteen concurrent clients each get what a sequential run gives; a client
 * that disconnects mid-stream has its request cancelled and its pages freed; a full queue answers
 * 429 with {@code Retry-After} and the server keeps serving. Where a test needs the engine held at a
 * point, an in-process request whose listener waits on the test holds the engine's thread: the
 * tests wait for states, never for the clock.
 */
class ConcurrencyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] OPENINGS = {"Once upon a time", "The little dog", "Lily wanted to", "One day, Tom", "The sun was",
        "There was a big", "Sam and Mia", "In the park", "A small bird", "The cat", "Ben had a", "Mom said", "The girl saw",
        "It was a sunny day", "Max likes", "The red ball"};

    @Test
    void sixteenConcurrentClientsEachEqualASequentialRun() throws Exception {
        try (TestServer t = TestServer.stories()) {
            int n = OPENINGS.length;
            List<Generation> sequential = new ArrayList<>();
            for (String p : OPENINGS) {
                sequential.add(t.model.generate(p, GenerateOptions.greedy(40)));
            }
            OpenAIClient client = t.openAi();
            CountDownLatch go = new CountDownLatch(1);
            try (ExecutorService pool = Executors.newFixedThreadPool(n)) {
                List<Future<String[]>> answers = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    String prompt = OPENINGS[i];
                    boolean stream = i % 2 == 1;
                    answers.add(pool.submit(() -> {
                        go.await();
                        CompletionCreateParams p = CompletionCreateParams.builder().model(t.server.modelId()).prompt(prompt)
                                .maxTokens(40).temperature(0.0).build();
                        if (!stream) {
                            Completion c = client.completions().create(p);
                            return new String[] {c.choices().get(0).text(), Long.toString(c.usage().orElseThrow().completionTokens())};
                        }
                        StringBuilder sb = new StringBuilder();
                        try (StreamResponse<Completion> s = client.completions().createStreaming(p)) {
                            s.stream().forEach(c -> c.choices().forEach(ch -> sb.append(ch.text())));
                        }
                        return new String[] {sb.toString(), null};
                    }));
                }
                go.countDown();
                for (int i = 0; i < n; i++) {
                    String[] a = answers.get(i).get(2, TimeUnit.MINUTES);
                    assertEquals(sequential.get(i).text(), a[0], "client " + i + " (" + OPENINGS[i] + ")");
                    if (a[1] != null) {
                        assertEquals(sequential.get(i).outputIds().length, Long.parseLong(a[1]));
                    }
                }
            } finally {
                client.close();
            }
            EngineStats s = t.engine.stats();
            assertEquals(s.pagesCached(), s.pagesUsed(), s.toString());
            assertTrue(s.steps() > 0);
        }
    }

    @Test
    void aClientThatDisconnectsMidStreamIsCancelledAndItsPagesFreed() throws Exception {
        try (TestServer t = TestServer.stories()) {
            // The pacer: an in-process request whose listener takes a permit per token, so the engine
            // makes one step per permit the test hands out.
            Semaphore permits = new Semaphore(0);
            CountDownLatch pacing = new CountDownLatch(1);
            RequestHandle pacer = t.engine.submit(Request.text("Once upon a time")
                    .options(GenerateOptions.greedy(400).withStopIds(List.of())).listener((id, text) -> {
                        pacing.countDown();
                        permits.acquireUninterruptibly();
                    }).build());
            permits.release();
            assertTrue(pacing.await(1, TimeUnit.MINUTES));
            double cancelledBefore = cancelled(t);
            double endedBefore = DisconnectTest.ended(t);

            // Steps one at a time (a permit only once the last was taken), at most 50 while the stream
            // starts, at most 200 after the client leaves: the stream's 300 tokens cannot run out first.
            AtomicBoolean pump = new AtomicBoolean(true);
            Thread pumper = Thread.ofVirtual().start(() -> {
                for (int released = 0; pump.get() && released < 50; ) {
                    if (permits.availablePermits() == 0) {
                        permits.release();
                        released++;
                    }
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            String body = "{\"model\": \"" + t.server.modelId() + "\", \"prompt\": \"The little dog\", \"max_tokens\": 300, "
                    + "\"temperature\": 0, \"stream\": true, \"longctx\": {\"ignore_eos\": true}}";
            Call call = Http.CLIENT.newCall(new okhttp3.Request.Builder().url(t.url("/v1/completions"))
                    .post(RequestBody.create(body, Http.JSON)).build());
            Response response = call.execute();
            BufferedReader in = new BufferedReader(new InputStreamReader(response.body().byteStream(), StandardCharsets.UTF_8));
            int contentChunks = 0;
            for (String line; contentChunks < 3 && (line = in.readLine()) != null; ) {
                if (line.startsWith("data: {")) {
                    contentChunks++;
                }
            }
            pump.set(false);
            pumper.join();
            assertEquals(3, contentChunks, "the stream started");
            int runningWithStream = t.engine.stats().running();
            assertEquals(2, runningWithStream, "the pacer and the stream run");
            call.cancel();
            response.close();

            // One step per permit until the server has noticed and the engine has reaped the request.
            int steps = 0;
            while (t.engine.stats().running() > 1) {
                if (permits.availablePermits() == 0) {
                    if (++steps > 200) {
                        fail("the disconnected stream was not cancelled within 200 steps: " + t.engine.stats());
                    }
                    permits.release();
                }
                Thread.sleep(2);
            }
            // the engine counts the end just after it frees the pages (and before it calls the pacer again)
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2); // a bound against hanging, not a speed
            while (DisconnectTest.ended(t) < endedBefore + 1) {
                assertTrue(System.nanoTime() < deadline, "the stream's end was never counted");
                Thread.sleep(2);
            }
            assertEquals(cancelledBefore + 1, cancelled(t), "the stream ended as cancelled, not by its length");
            assertFalse(pacer.isDone());
            pacer.cancel();
            permits.release(1000);
            assertEquals(FinishReason.CANCELLED, pacer.result().get(1, TimeUnit.MINUTES).finishReason());
            EngineStats s = t.engine.stats();
            assertEquals(0, s.running());
            assertEquals(s.pagesCached(), s.pagesUsed(), "every page not in the prefix cache is back: " + s);
        }
    }

    private static double cancelled(TestServer t) {
        return t.registry.get("longctx.requests").tag("finish", "cancelled").counter().count();
    }

    @Test
    void aFullQueueAnswers429WithRetryAfterAndTheServerKeepsServing() throws Exception {
        try (TestServer t = new TestServer(TestServer.stories260k(), e -> e.maxRunning(1).maxQueue(1), s -> { })) {
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            RequestHandle blocker = t.engine.submit(Request.text("Once upon a time").options(GenerateOptions.greedy(4))
                    .listener((id, text) -> {
                        held.countDown();
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }).build());
            assertTrue(held.await(1, TimeUnit.MINUTES), "the engine's one running slot is taken");
            OpenAIClient client = t.openAi();
            try (ExecutorService pool = Executors.newSingleThreadExecutor()) {
                CompletionCreateParams p = CompletionCreateParams.builder().model(t.server.modelId()).prompt("The little dog")
                        .maxTokens(4).temperature(0.0).build();
                Future<Completion> queued = pool.submit(() -> client.completions().create(p));
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2); // a bound against hanging, not a speed
                while (t.engine.stats().waiting() < 1) {
                    assertFalse(queued.isDone(), "the queued request waits");
                    assertTrue(System.nanoTime() < deadline, "the request never reached the queue");
                    Thread.sleep(2);
                }
                RateLimitException e = assertThrows(RateLimitException.class, () -> client.completions().create(p));
                assertEquals("queue_full", e.code().orElseThrow());
                assertEquals(List.of("1"), e.headers().values("Retry-After"));
                Http.Reply raw = Http.post(t.url("/v1/completions"), "{\"model\": \"" + t.server.modelId()
                        + "\", \"prompt\": \"hi\", \"max_tokens\": 2}");
                assertEquals(429, raw.status());
                assertEquals("1", raw.retryAfter());
                assertEquals("rate_limit_error", JSON.readTree(raw.body()).get("error").get("type").asText());

                release.countDown();
                assertEquals(4, blocker.result().get(1, TimeUnit.MINUTES).outputIds().length);
                assertEquals(4, queued.get(1, TimeUnit.MINUTES).usage().orElseThrow().completionTokens());
                assertEquals(4, client.completions().create(p).usage().orElseThrow().completionTokens(), "still serving");
            } finally {
                client.close();
            }
            EngineStats s = t.engine.stats();
            assertEquals(s.pagesCached(), s.pagesUsed(), s.toString());
        }
    }
}
