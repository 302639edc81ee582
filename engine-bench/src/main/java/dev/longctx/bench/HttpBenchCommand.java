package dev.longctx.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.models.Model;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.server.OpenAiServer;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx bench-http}: the OpenAI-compatible server measured on loopback against the same
 * model in process, in three parts (the server, its engine and the client share one JVM and its
 * compute pool, as {@code ./longctx serve} with a local client would):
 * <ol>
 *   <li><b>Streaming overhead</b>: one client streams {@code --output-tokens} greedy tokens (EOS
 *       ignored) from a {@code --prompt-tokens} prompt of token ids; tokens/s between the first and
 *       the last streamed token, against {@code Session.generate} on the same prompt (what
 *       {@code ./longctx generate} runs) and against the engine without HTTP.</li>
 *   <li><b>Time to first streamed token</b> for a {@code --ttft-prompt}-token prompt (a fresh random
 *       prompt each time, so no prefix-cache hit), against the prefill of the same prompt in a
 *       session.</li>
 *   <li><b>Load</b>: {@code --load-requests} streamed requests, {@code --load-concurrency} at a time
 *       (prompts of 64-256 random ids, 16-64 tokens each): errors, requests/s, generated tokens/s,
 *       latency and time-to-first-token percentiles, and KV pages left held afterwards.</li>
 * </ol>
 */
@Command(name = "bench-http", mixinStandardHelpOptions = true, description = "The OpenAI-compatible server on loopback against in-process generation.")
public final class HttpBenchCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", defaultValue = "tools/retrieval-model/model/retrieval-16k.gguf", description = "GGUF file or Hugging Face folder"
            + " with a tokenizer (default ${DEFAULT-VALUE})")
    Path model;

    @Option(names = "--threads", defaultValue = "2", description = "compute threads (default ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--prompt-tokens", defaultValue = "128", description = "prompt of the streaming-overhead runs (default ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--output-tokens", defaultValue = "128", description = "tokens of the streaming-overhead runs (default ${DEFAULT-VALUE})")
    int outputTokens;

    @Option(names = "--ttft-prompt", defaultValue = "16", description = "prompt of the first-token runs (default ${DEFAULT-VALUE})")
    int ttftPrompt;

    @Option(names = "--repeats", defaultValue = "5", description = "timed runs of each single-client measurement (default ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--load-requests", defaultValue = "200", description = "requests of the load part, 0 to skip (default ${DEFAULT-VALUE})")
    int loadRequests;

    @Option(names = "--load-concurrency", defaultValue = "8", description = "clients of the load part (default ${DEFAULT-VALUE})")
    int loadConcurrency;

    @Option(names = "--seed", defaultValue = "7", description = "prompt seed (default ${DEFAULT-VALUE})")
    long seed;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new HttpBenchCommand()).execute(args));
    }

    /** One streamed request as the client saw it. */
    private record Stream(long sent, long headers, long firstToken, long lastToken, int tokens, int completionTokens) {
        double decodeTokensPerSecond() {
            return tokens <= 1 ? 0 : (tokens - 1) * 1e9 / (lastToken - firstToken);
        }

        /** Tokens over the whole request, from sending it to the last token (prefill included). */
        double endToEndTokensPerSecond() {
            return tokens * 1e9 / (lastToken - sent);
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Model m = Model.open(model, Model.Options.defaults().withOps(TensorOps.withThreads(threads)));
             ServingEngine engine = ServingEngine.builder(m).budgetBytes(1L << 30).name("bench-http").build();
             OpenAiServer server = OpenAiServer.builder(engine).port(0).modelId("bench").start();
             HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            int vocab = m.config().vocabSize();
            String url = "http://localhost:" + server.port() + "/v1/completions";
            out.printf(Locale.ROOT, "model %s, %d threads, server on port %d%n", model, threads, server.port());

            // Warm-up: compile the session, engine and server paths before anything is timed.
            int[] warm = ids(rnd, promptTokens, vocab);
            for (int i = 0; i < 2; i++) {
                sessionRun(m, warm, outputTokens);
                engineRun(engine, warm, outputTokens);
                stream(http, url, warm, outputTokens);
            }

            // 1. Streaming overhead.
            int[] prompt = ids(rnd, promptTokens, vocab);
            double[] session = new double[repeats];
            double[] sessionTotal = new double[repeats];
            double[] inEngine = new double[repeats];
            double[] viaHttp = new double[repeats];
            double[] viaHttpTotal = new double[repeats];
            for (int r = 0; r < repeats; r++) {
                Generation g = sessionRun(m, prompt, outputTokens);
                session[r] = g.decodeTokensPerSecond();
                sessionTotal[r] = g.outputIds().length * 1e9 / (g.prefillNanos() + g.decodeNanos());
                inEngine[r] = engineRun(engine, prompt, outputTokens);
                Stream s = stream(http, url, prompt, outputTokens);
                if (s.tokens() != outputTokens) {
                    throw new IllegalStateException("streamed " + s.tokens() + " tokens, asked for " + outputTokens);
                }
                viaHttp[r] = s.decodeTokensPerSecond();
                viaHttpTotal[r] = s.endToEndTokensPerSecond();
            }
            out.printf(Locale.ROOT, "streaming, %d-token prompt, %d tokens, %d runs (load average %s)%n", promptTokens, outputTokens, repeats,
                    loadAverage());
            out.printf(Locale.ROOT, "  decode tok/s (first to last token), median / best: generate (session) %.2f / %.2f, engine %.2f / %.2f,"
                            + " server stream %.2f / %.2f = %.1f%% / %.1f%% of generate (target >= 95%%)%n", median(session), max(session),
                    median(inEngine), max(inEngine), median(viaHttp), max(viaHttp), 100 * median(viaHttp) / median(session),
                    100 * max(viaHttp) / max(session));
            out.printf(Locale.ROOT, "  end to end tok/s (request to last token, prefill included), median / best: generate %.2f / %.2f,"
                            + " server stream %.2f / %.2f = %.1f%% / %.1f%%%n", median(sessionTotal), max(sessionTotal), median(viaHttpTotal),
                    max(viaHttpTotal), 100 * median(viaHttpTotal) / median(sessionTotal), 100 * max(viaHttpTotal) / max(sessionTotal));
            out.printf(Locale.ROOT, "  runs, decode: generate %s; engine %s; server %s%n", fmt(session), fmt(inEngine), fmt(viaHttp));
            out.printf(Locale.ROOT, "  runs, end to end: generate %s; server %s%n", fmt(sessionTotal), fmt(viaHttpTotal));

            // 2. Time to the first streamed token of a short prompt.
            double[] prefill = new double[repeats];
            double[] ttft = new double[repeats];
            double[] ttfb = new double[repeats];
            for (int r = 0; r < repeats; r++) {
                prefill[r] = sessionRun(m, ids(rnd, ttftPrompt, vocab), 1).prefillNanos() / 1e6;
                Stream s = stream(http, url, ids(rnd, ttftPrompt, vocab), 1);
                ttft[r] = (s.firstToken() - s.sent()) / 1e6;
                ttfb[r] = (s.headers() - s.sent()) / 1e6;
            }
            out.printf(Locale.ROOT, "first token, %d-token prompt, median of %d (load average %s): prefill (session) %.1f ms; server: response headers %.1f ms,"
                            + " first token %.1f ms = prefill + %.1f ms (target <= prefill + 50 ms)%n", ttftPrompt, repeats, loadAverage(), median(prefill),
                    median(ttfb), median(ttft), median(ttft) - median(prefill));
            out.printf(Locale.ROOT, "  runs: prefill %s; first token %s%n", fmt(prefill), fmt(ttft));

            // 3. Load.
            if (loadRequests > 0) {
                load(out, http, url, engine, rnd, vocab);
            }
        }
        return 0;
    }

    private void load(PrintWriter out, HttpClient http, String url, ServingEngine engine, SplittableRandom rnd, int vocab)
            throws Exception {
        List<int[]> prompts = new ArrayList<>();
        int[] outputs = new int[loadRequests];
        for (int i = 0; i < loadRequests; i++) {
            prompts.add(ids(rnd, 64 + rnd.nextInt(193), vocab));
            outputs[i] = 16 + rnd.nextInt(49);
        }
        long start = System.nanoTime();
        List<Future<Stream>> futures = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(loadConcurrency)) {
            for (int i = 0; i < loadRequests; i++) {
                int k = i;
                futures.add(pool.submit(() -> stream(http, url, prompts.get(k), outputs[k])));
            }
            int errors = 0;
            long tokens = 0;
            double[] latency = new double[loadRequests];
            double[] ttft = new double[loadRequests];
            for (int i = 0; i < loadRequests; i++) {
                try {
                    Stream s = futures.get(i).get();
                    if (s.completionTokens() != outputs[i]) {
                        errors++;
                    }
                    tokens += s.completionTokens();
                    latency[i] = (s.lastToken() - s.sent()) / 1e6;
                    ttft[i] = (s.firstToken() - s.sent()) / 1e6;
                } catch (java.util.concurrent.ExecutionException e) {
                    errors++;
                    out.println("  request " + i + " failed: " + e.getCause());
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            EngineStats st = engine.stats();
            Arrays.sort(latency);
            Arrays.sort(ttft);
            out.printf(Locale.ROOT, "load, %d streamed requests %d at a time (prompts 64-256, outputs 16-64 tokens): %d errors, %.1f s,"
                            + " %.2f requests/s, %.1f generated tok/s; latency p50 %.0f / p90 %.0f / p99 %.0f ms; first token p50 %.0f /"
                            + " p99 %.0f ms; KV pages held afterwards by requests: %d (load average %s)%n", loadRequests, loadConcurrency, errors, seconds,
                    loadRequests / seconds, tokens / seconds, pct(latency, 0.5), pct(latency, 0.9), pct(latency, 0.99), pct(ttft, 0.5),
                    pct(ttft, 0.99), st.pagesUsed() - st.pagesCached(), loadAverage());
        }
    }

    private static Generation sessionRun(Model m, int[] prompt, int n) {
        try (Session s = m.session().budgetTokens(Math.min(m.config().maxPositions(), prompt.length + n)).build()) {
            return s.generate(prompt, GenerateOptions.greedy(n).withStopIds(List.of()), null);
        }
    }

    /** Decode tokens/s of one request on the engine, measured as the client measures it: first to last token. */
    private static double engineRun(ServingEngine engine, int[] prompt, int n) {
        long[] times = new long[n];
        int[] count = {0};
        RequestHandle h = engine.submit(Request.tokens(prompt).options(GenerateOptions.greedy(n).withStopIds(List.of()))
                .listener((id, text) -> times[count[0]++] = System.nanoTime()).build());
        h.join();
        return (n - 1) * 1e9 / (times[n - 1] - times[0]);
    }

    /** One streamed completion; every {@code data:} event with text counts as a token (one per token, EOS ignored). */
    private static Stream stream(HttpClient http, String url, int[] prompt, int n) throws Exception {
        StringBuilder body = new StringBuilder("{\"model\": \"bench\", \"temperature\": 0, \"max_tokens\": ").append(n)
                .append(", \"stream\": true, \"stream_options\": {\"include_usage\": true}, \"longctx\": {\"ignore_eos\": true},"
                        + " \"prompt\": [");
        for (int i = 0; i < prompt.length; i++) {
            body.append(i == 0 ? "" : ",").append(prompt[i]);
        }
        body.append("]}");
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long sent = System.nanoTime();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        long headers = System.nanoTime();
        if (r.statusCode() != 200) {
            throw new IllegalStateException("HTTP " + r.statusCode() + ": " + new String(r.body().readAllBytes(), StandardCharsets.UTF_8));
        }
        long first = 0;
        long last = 0;
        int tokens = 0;
        int completion = -1;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: {")) {
                    continue;
                }
                long now = System.nanoTime();
                JsonNode chunk = JSON.readTree(line.substring(6));
                JsonNode choices = chunk.get("choices");
                if (choices.size() > 0 && choices.get(0).get("finish_reason").isNull()) {
                    if (tokens++ == 0) {
                        first = now;
                    }
                    last = now;
                }
                if (chunk.has("usage")) {
                    completion = chunk.get("usage").get("completion_tokens").asInt();
                }
            }
        }
        return new Stream(sent, headers, first, last, tokens, completion);
    }

    private static int[] ids(SplittableRandom rnd, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 3 + rnd.nextInt(vocab - 3);
        }
        return ids;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(0);
    }

    /** The 1-minute load average (Linux), or "n/a": how busy the machine was. */
    private static String loadAverage() {
        try {
            return java.nio.file.Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (java.io.IOException | RuntimeException e) {
            return "n/a";
        }
    }

    private static double pct(double[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }

    private static String fmt(double[] v) {
        StringBuilder sb = new StringBuilder();
        for (double x : v) {
            sb.append(sb.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.1f", x));
        }
        return sb.toString();
    }
}
