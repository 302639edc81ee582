package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of a non-streamed completion that goes away while its request generates: its request is
 * cancelled and its pages return to the pool; a client that stays gets its whole answer on a watched
 * connection, which is then closed. The clients are raw sockets (a client that closes its socket, one
 * that resets it) and the official OpenAI client. The engine is held by an in-process "pacer"
 * request whose listener takes a permit per step, so nothing generates while the test waits for the
 * server to notice: the tests wait for states (with generous bounds against hanging), never for the
 * clock, and the request cannot reach its token limit first.
 */
class DisconnectTest {
    private static final Logger LOG = LoggerFactory.getLogger(DisconnectTest.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long BOUND_NANOS = TimeUnit.MINUTES.toNanos(2);

    @Test
    void aNonStreamedClientThatClosesItsSocketIsCancelledAndItsPagesFreed() throws Exception {
        // the default: watched from 200 ms after submission, so the close usually comes before the watch
        // reads (and is read at once when it starts); either way it is noticed
        try (TestServer t = server(OpenAiServer.WATCH_AFTER)) {
            leaveWhileGenerating(t, false, OpenAiServer.WATCH_AFTER);
        }
    }

    @Test
    void aWatchedNonStreamedClientThatClosesItsSocketIsNoticedAtOnce() throws Exception {
        // watched from submission: the close reaches a watch already blocked in its read
        try (TestServer t = server(Duration.ZERO)) {
            leaveWhileGenerating(t, false, Duration.ZERO);
        }
    }

    @Test
    void aNonStreamedClientThatResetsItsConnectionIsCancelledAndItsPagesFreed() throws Exception {
        // watched from the start: the reset reaches a watch already blocked in its read
        try (TestServer t = server(Duration.ZERO)) {
            leaveWhileGenerating(t, true, Duration.ZERO);
        }
    }

    @Test
    void aWatchedClientThatStaysGetsItsAnswerAndTheConnectionIsClosed() throws Exception {
        // watched from submission, so every request here is watched, however fast it is answered
        try (TestServer t = server(Duration.ZERO)) {
            Generation ref = t.model.generate("Once upon a time", GenerateOptions.greedy(24));
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), t.server.port())) {
                socket.setSoTimeout((int) TimeUnit.MINUTES.toMillis(2));
                send(socket, t, "Once upon a time", 24, false);
                // the server closes the watched connection after the response: read to the end
                String reply = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(reply.startsWith("HTTP/1.1 200 "), reply);
                String head = reply.substring(0, reply.indexOf("\r\n\r\n")).toLowerCase(java.util.Locale.ROOT);
                assertTrue(head.contains("\r\nconnection: close"), head);
                JsonNode body = JSON.readTree(reply.substring(reply.indexOf("\r\n\r\n") + 4));
                assertEquals(ref.text(), body.get("choices").get(0).get("text").asText());
                assertEquals(ref.outputIds().length, body.get("usage").get("completion_tokens").asInt());
            }
            // real clients reconnect after Connection: close
            OpenAIClient client = t.openAi();
            try {
                for (int i = 0; i < 3; i++) {
                    Completion c = client.completions().create(CompletionCreateParams.builder().model(t.server.modelId())
                            .prompt("Once upon a time").maxTokens(24).temperature(0.0).build());
                    assertEquals(ref.text(), c.choices().get(0).text());
                }
            } finally {
                client.close();
            }
            assertEquals(0.0, disconnects(t), "nobody left");
            EngineStats s = t.engine.stats();
            assertEquals(0, s.running());
            assertEquals(s.pagesCached(), s.pagesUsed(), "every page not in the prefix cache is back: " + s);
        }
    }

    private static TestServer server(Duration watchAfter) {
        return new TestServer(TestServer.stories260k(), e -> { }, s -> s.watchAfter(watchAfter));
    }

    /** An in-process request whose listener takes a permit per token: the engine makes one step per permit handed out. */
    private static RequestHandle startPacer(TestServer t, Semaphore permits) throws InterruptedException {
        CountDownLatch pacing = new CountDownLatch(1);
        RequestHandle pacer = t.engine.submit(Request.text("Once upon a time")
                .options(GenerateOptions.greedy(400).withStopIds(List.of())).listener((id, text) -> {
                    pacing.countDown();
                    permits.acquireUninterruptibly();
                }).build());
        permits.release();
        assertTrue(pacing.await(2, TimeUnit.MINUTES));
        return pacer;
    }

    /**
     * Holds the engine with a pacer, sends a non-streamed request over a raw socket, steps the engine
     * until the request runs, leaves (closing or resetting the socket), waits for the server to count
     * the disconnect without stepping, then steps until the engine has reaped the request.
     */
    private static void leaveWhileGenerating(TestServer t, boolean reset, Duration watchAfter) throws Exception {
        Semaphore permits = new Semaphore(0);
        RequestHandle pacer = startPacer(t, permits);
        try {
            double cancelledBefore = cancelled(t);
            long completedBefore = t.engine.stats().completed();
            double endedBefore = ended(t);

            Socket socket = new Socket(InetAddress.getLoopbackAddress(), t.server.port());
            send(socket, t, "The little dog", 300, true);
            await(() -> t.engine.stats().waiting() + t.engine.stats().running() >= 2, "the request reached the engine");
            // one step per permit until the request is admitted (its prefill, at most a few tokens)
            stepUntil(t, permits, () -> t.engine.stats().running() == 2, 20, "the request runs");
            assertEquals(0, socket.getInputStream().available(), "no answer yet");

            if (reset) {
                socket.setSoLinger(true, 0); // close() sends RST
            }
            long left = System.nanoTime();
            socket.close();
            await(() -> disconnects(t) == 1.0, "the server noticed the client leave");
            LOG.info("{}: disconnect noticed {} ms after the client left (watch after {} ms)", reset ? "reset" : "close",
                    (System.nanoTime() - left) / 1_000_000, watchAfter.toMillis());

            // cancelled: the engine ends it at its next step
            stepUntil(t, permits, () -> t.engine.stats().running() == 1, 5, "the cancelled request is reaped");
            // the engine counts the end just after it frees the pages (and before it calls the pacer again)
            await(() -> ended(t) == endedBefore + 1, "the request's end is counted");
            assertEquals(cancelledBefore + 1, cancelled(t), "the request ended as cancelled, not by its length");
            assertEquals(completedBefore + 1, t.engine.stats().completed(), "only that request ended");
            assertFalse(pacer.isDone());
            pacer.cancel();
            permits.release(1000);
            assertEquals(FinishReason.CANCELLED, pacer.result().get(2, TimeUnit.MINUTES).finishReason());
            EngineStats s = t.engine.stats();
            assertEquals(0, s.running());
            assertEquals(s.pagesCached(), s.pagesUsed(), "every page not in the prefix cache is back: " + s);
            await(() -> status499(t) == 1.0, "the request counter records 499 client closed request");
        } finally {
            pacer.cancel();
            permits.release(1_000_000); // never leave the engine held, also when an assertion failed
        }

        // and the server serves the next client
        Http.Reply next = Http.post(t.url("/v1/completions"), "{\"model\": \"" + t.server.modelId()
                + "\", \"prompt\": \"The cat\", \"max_tokens\": 4, \"temperature\": 0}");
        assertEquals(200, next.status(), next.body());
    }

    private static void send(Socket socket, TestServer t, String prompt, int maxTokens, boolean ignoreEos) throws IOException {
        byte[] body = ("{\"model\": \"" + t.server.modelId() + "\", \"prompt\": \"" + prompt + "\", \"max_tokens\": " + maxTokens
                + ", \"temperature\": 0" + (ignoreEos ? ", \"longctx\": {\"ignore_eos\": true}" : "") + "}")
                .getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream request = new ByteArrayOutputStream();
        request.writeBytes(("POST /v1/completions HTTP/1.1\r\nHost: localhost:" + t.server.port()
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        request.writeBytes(body);
        OutputStream out = socket.getOutputStream();
        out.write(request.toByteArray());
        out.flush();
    }

    /** Releases one permit at a time (each the pacer's next step, and the engine's) until {@code done}, at most {@code max}. */
    private static void stepUntil(TestServer t, Semaphore permits, BooleanSupplier done, int max, String what)
            throws InterruptedException {
        int steps = 0;
        long deadline = System.nanoTime() + BOUND_NANOS;
        while (!done.getAsBoolean()) {
            if (permits.availablePermits() == 0) {
                if (++steps > max) {
                    fail(what + ": not within " + max + " steps: " + t.engine.stats());
                }
                permits.release();
            }
            assertTrue(System.nanoTime() < deadline, what + ": hung: " + t.engine.stats());
            Thread.sleep(1);
        }
    }

    /** Polls {@code done}; the bound is against hanging, not a speed. */
    private static void await(BooleanSupplier done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + BOUND_NANOS;
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what + ": not within " + TimeUnit.NANOSECONDS.toSeconds(BOUND_NANOS) + " s");
            Thread.sleep(2);
        }
    }

    private static double cancelled(TestServer t) {
        return t.registry.get("longctx.requests").tag("finish", "cancelled").counter().count();
    }

    /** Requests ended, whatever their finish reason ({@code longctx_requests_total}). */
    static double ended(TestServer t) {
        return t.registry.find("longctx.requests").counters().stream().mapToDouble(c -> c.count()).sum();
    }

    private static double disconnects(TestServer t) {
        return t.registry.get("longctx.http.client.disconnects").tag("stream", "false").counter().count();
    }

    private static double status499(TestServer t) {
        var c = t.registry.find("longctx.http.requests").tag("endpoint", "/v1/completions").tag("status", "499").counter();
        return c == null ? 0 : c.count();
    }
}
