package dev.longctx.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Strategy;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx bench-serve}: N concurrent synthetic clients on one {@link ServingEngine}. Each
 * client sends its requests one after another (random token ids, prompt and output lengths drawn
 * from the given ranges, an optional prefix shared by every request); per concurrency level it
 * prints aggregate prefill and decode throughput and time-to-first-token and inter-token latency
 * percentiles.
 *
 * <p>Throughput, as {@code llama-batched-bench} counts it when all requests start together:
 * prefill tok/s is the prompt tokens over the time until the last request's first token; decode
 * tok/s is the tokens generated after that instant over the time from it to the last token.
 *
 * <p>{@code --interfere T} adds, once every client is decoding, one request with a T-token prompt
 * and reports the clients' inter-token latency while it is prefilled against two unloaded
 * baselines: their gaps before it arrived (shallower in their caches), and a control run of the
 * same requests (same seed) without it, whose gaps at the same tokens are at the same depths. The
 * clients' own attention grows with every token they add during a long prefill, so only the
 * control separates what the prefill costs them from what their depth costs.
 */
@Command(name = "bench-serve", mixinStandardHelpOptions = true, description = "Concurrent clients on one serving engine.")
public final class ServeBenchCommand implements Callable<Integer> {
    /** The model the README's default run uses: the retrieval model committed with the engine. */
    static final Path DEFAULT_MODEL = Path.of("tools/retrieval-model/model/retrieval-16k.gguf");

    @Option(names = "--model", description = "GGUF file or Hugging Face folder (default ${DEFAULT-VALUE})")
    Path model = DEFAULT_MODEL;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,8", description = "client counts, one run each (default ${DEFAULT-VALUE})")
    List<Integer> concurrency;

    @Option(names = "--requests", description = "requests per client (default ${DEFAULT-VALUE})", defaultValue = "1")
    int requestsPerClient;

    @Option(names = "--prompt-tokens", defaultValue = "1024", description = "prompt length or range MIN-MAX (default ${DEFAULT-VALUE})")
    String promptTokens;

    @Option(names = "--output-tokens", defaultValue = "128", description = "output length or range MIN-MAX (default ${DEFAULT-VALUE})")
    String outputTokens;

    @Option(names = "--shared-prefix", defaultValue = "0", description = "tokens every prompt starts with (default ${DEFAULT-VALUE})")
    int sharedPrefix;

    @Option(names = "--interfere", defaultValue = "0", description = "prompt tokens of one request sent once the clients decode")
    int interfere;

    @Option(names = "--strategy", defaultValue = "full", description = "strategy of every request (default ${DEFAULT-VALUE})")
    String strategy;

    @Option(names = "--budget-tokens", defaultValue = "0", description = "per-request token budget (0: the request's default)")
    int budgetTokens;

    @Option(names = "--budget-bytes", defaultValue = "2147483648", description = "the engine's KV budget (default ${DEFAULT-VALUE})")
    long budgetBytes;

    @Option(names = "--kv-dtype", defaultValue = "bf16",
            description = "KV page dtype: f32, f16, bf16 or q8_0 (default ${DEFAULT-VALUE}, the engine's default)")
    String kvDtype;

    @Option(names = "--step-tokens", defaultValue = "512", description = "token rows per step (default ${DEFAULT-VALUE})")
    int stepTokens;

    @Option(names = "--chunk", defaultValue = "256", description = "prefill chunk (default ${DEFAULT-VALUE})")
    int chunk;

    @Option(names = "--step-attention", defaultValue = "0",
            description = "query-row x cached-key pairs a step's prefill may attend (0: no limit)")
    long stepAttention;

    @Option(names = "--step-attention-ratio", defaultValue = "0",
            description = "while sequences decode, a step's prefill may attend this many times their cached keys (0: no limit)")
    double stepAttentionRatio;

    @Option(names = "--threads", description = "compute threads (default: available processors)")
    Integer threads;

    @Option(names = "--seed", defaultValue = "7", description = "prompt seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--warmup", negatable = true, defaultValue = "true",
            description = "run a short untimed level first so the JIT has compiled the step (default ${DEFAULT-VALUE})")
    boolean warmup;

    @Option(names = "--json", description = "print one JSON record per concurrency level instead of the table")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ServeBenchCommand()).execute(args));
    }

    /** One request's timeline: submit, first token and the time of every token after it. */
    private static final class Timeline {
        long submit;
        long first;
        final long[] tokens;
        int count;
        int prompt;
        /** The request's index in its level (the same request in a control run has the same one). */
        final int index;

        Timeline(int index, int maxTokens) {
            this.index = index;
            tokens = new long[maxTokens];
        }

        synchronized void token(long now) {
            if (count == 0) {
                first = now;
            }
            tokens[count++] = now;
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        int[] promptRange = range(promptTokens, "--prompt-tokens");
        int[] outputRange = range(outputTokens, "--output-tokens");
        if (sharedPrefix < 0 || sharedPrefix > promptRange[0]) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--shared-prefix must be between 0 and the shortest prompt");
        }
        for (int c : concurrency) {
            if (c <= 0) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--concurrency values must be positive, got " + c);
            }
        }
        kvType(); // a bad --kv-dtype fails here, before the model is opened
        Strategy s = Strategy.parse(strategy);
        TensorOps ops = TensorOps.withThreads(threads);
        ObjectMapper mapper = new ObjectMapper();
        try (Model m = Model.open(model, Model.Options.defaults().withOps(ops))) {
            if (!json) {
                out.printf(Locale.ROOT, "bench-serve: %s, %s, %d threads, prompts %s, outputs %s, shared prefix %d, strategy %s, "
                        + "KV pages %s%n", model, m.config().architecture(), ops.pool().threads(), promptTokens, outputTokens,
                        sharedPrefix, s.name(), kvType());
                out.printf(Locale.ROOT, "%8s %10s %10s %10s %10s %10s %10s %8s%n", "sessions", "prefill/s", "decode/s", "ttft p50",
                        "ttft p99", "itl p50", "itl p99", "hits");
            }
            int vocab = m.config().vocabSize();
            SplittableRandom rnd = new SplittableRandom(seed);
            int[] prefix = randomIds(rnd, sharedPrefix, vocab);
            if (warmup) {
                // every concurrency level's batch shapes, short: C2 compiles the step before anything is timed
                int max = concurrency.stream().mapToInt(Integer::intValue).max().orElse(1);
                int saved = requestsPerClient;
                int savedInterfere = interfere;
                requestsPerClient = 1;
                interfere = 0;
                try {
                    runLevel(m, s, max, new int[] {Math.min(promptRange[0], 2 * chunk), Math.min(promptRange[0], 2 * chunk)},
                            new int[] {Math.min(outputRange[0], 32), Math.min(outputRange[0], 32)}, new int[0], new SplittableRandom(seed + 1),
                            vocab, mapper, null, null);
                } finally {
                    requestsPerClient = saved;
                    interfere = savedInterfere;
                }
            }
            for (int c : concurrency) {
                ObjectNode rec;
                if (interfere > 0) {
                    // the control: the same requests (same draws) without the long prompt
                    long levelSeed = rnd.nextLong();
                    int savedInterfere = interfere;
                    interfere = 0;
                    List<Timeline> control = new ArrayList<>();
                    try {
                        runLevel(m, s, c, promptRange, outputRange, prefix, new SplittableRandom(levelSeed), vocab, mapper, null, control);
                    } finally {
                        interfere = savedInterfere;
                    }
                    rec = runLevel(m, s, c, promptRange, outputRange, prefix, new SplittableRandom(levelSeed), vocab, mapper, control, null);
                } else {
                    rec = runLevel(m, s, c, promptRange, outputRange, prefix, rnd, vocab, mapper, null, null);
                }
                if (json) {
                    out.println(mapper.writeValueAsString(rec));
                } else {
                    out.printf(Locale.ROOT, "%8d %10.1f %10.1f %8.1f ms %7.1f ms %7.1f ms %7.1f ms %7.0f%%%n", c, rec.get("prefill_tps")
                                    .asDouble(), rec.get("decode_tps").asDouble(), rec.get("ttft_p50_ms").asDouble(),
                            rec.get("ttft_p99_ms").asDouble(), rec.get("itl_p50_ms").asDouble(), rec.get("itl_p99_ms").asDouble(),
                            100 * rec.get("prefix_hit_rate").asDouble());
                    if (rec.has("interfere_tokens")) {
                        out.printf(Locale.ROOT, "         while a %d-token prompt was prefilled: itl p50 %.1f ms, p99 %.1f ms "
                                        + "(unloaded p50 %.1f ms; p99/unloaded p50 = %.2fx); its ttft %.0f ms%n",
                                rec.get("interfere_tokens").asInt(), rec.get("interfere_itl_p50_ms").asDouble(),
                                rec.get("interfere_itl_p99_ms").asDouble(), rec.get("unloaded_itl_p50_ms").asDouble(),
                                rec.get("interfere_itl_p99_ms").asDouble() / rec.get("unloaded_itl_p50_ms").asDouble(),
                                rec.get("interfere_ttft_ms").asDouble());
                        out.printf(Locale.ROOT, "         the same tokens in a control run without it: itl p50 %.1f ms, p99 %.1f ms "
                                        + "(p99 with it / control p50 = %.2fx; %d gaps)%n",
                                rec.get("control_itl_p50_ms").asDouble(), rec.get("control_itl_p99_ms").asDouble(),
                                rec.get("interfere_itl_p99_ms").asDouble() / rec.get("control_itl_p50_ms").asDouble(),
                                rec.get("control_gaps").asInt());
                    }
                    if (requestsPerClient > 1 || c > 1) {
                        out.printf(Locale.ROOT, "         first request's ttft %.1f ms, later requests' ttft p50 %.1f ms%n",
                                rec.get("ttft_first_ms").asDouble(), rec.get("ttft_rest_p50_ms").asDouble());
                    }
                }
                out.flush();
            }
        }
        return 0;
    }

    /**
     * One concurrency level. {@code control}: a control run's timelines to compare the interfered
     * clients' gaps with (or null); {@code timelinesOut}: receives this run's timelines (or null).
     */
    private ObjectNode runLevel(Model m, Strategy s, int clients, int[] promptRange, int[] outputRange, int[] prefix,
                                SplittableRandom rnd, int vocab, ObjectMapper mapper, List<Timeline> control,
                                List<Timeline> timelinesOut) throws Exception {
        int total = clients * requestsPerClient;
        int[][] prompts = new int[total][];
        int[] outputs = new int[total];
        for (int i = 0; i < total; i++) {
            int n = promptRange[0] + rnd.nextInt(promptRange[1] - promptRange[0] + 1);
            prompts[i] = Arrays.copyOf(prefix, n);
            System.arraycopy(randomIds(rnd, n - prefix.length, vocab), 0, prompts[i], prefix.length, n - prefix.length);
            outputs[i] = outputRange[0] + rnd.nextInt(outputRange[1] - outputRange[0] + 1);
        }
        ConcurrentLinkedQueue<Timeline> done = new ConcurrentLinkedQueue<>();
        Timeline[] firstOfAll = new Timeline[1];
        ServingEngine.Builder eb = ServingEngine.builder(m).budgetBytes(budgetBytes).kvType(kvType())
                .stepTokens(stepTokens).chunkTokens(chunk)
                .maxRunning(Math.max(clients + (interfere > 0 ? 1 : 0), 1)).maxQueue(Math.max(1024, total + 1));
        if (stepAttention > 0) {
            eb.stepAttention(stepAttention);
        }
        if (stepAttentionRatio > 0) {
            eb.stepAttentionRatio(stepAttentionRatio);
        }
        try (ServingEngine engine = eb.build()) {
            CountDownLatch decoding = new CountDownLatch(clients);
            List<Thread> threads = new ArrayList<>();
            long start = System.nanoTime();
            for (int c = 0; c < clients; c++) {
                int client = c;
                threads.add(Thread.ofVirtual().start(() -> {
                    for (int r = 0; r < requestsPerClient; r++) {
                        int i = client * requestsPerClient + r;
                        Timeline t = new Timeline(i, outputs[i]);
                        t.prompt = prompts[i].length;
                        boolean[] signalled = {r != 0};
                        Request.Builder b = Request.tokens(prompts[i]).options(GenerateOptions.greedy(outputs[i])
                                .withStopIds(List.of())).strategy(s).listener((id, text) -> {
                                    long now = System.nanoTime();
                                    t.token(now);
                                    if (!signalled[0] && t.count >= 8) {
                                        signalled[0] = true;
                                        decoding.countDown();
                                    }
                                });
                        if (budgetTokens > 0) {
                            b.budgetTokens(budgetTokens);
                        }
                        t.submit = System.nanoTime();
                        RequestHandle h = engine.submit(b.build());
                        h.join();
                        if (!signalled[0]) {
                            signalled[0] = true;
                            decoding.countDown();
                        }
                        done.add(t);
                        if (i == 0) {
                            firstOfAll[0] = t;
                        }
                    }
                }));
            }
            Timeline interference = null;
            if (interfere > 0) {
                decoding.await();
                interference = new Timeline(-1, 1);
                interference.prompt = interfere;
                Timeline it = interference;
                Request.Builder b = Request.tokens(randomIds(rnd, interfere, vocab)).options(GenerateOptions.greedy(1)
                        .withStopIds(List.of())).strategy(s).listener((id, text) -> it.token(System.nanoTime()));
                if (budgetTokens > 0) {
                    b.budgetTokens(budgetTokens);
                }
                it.submit = System.nanoTime();
                engine.submit(b.build()).join();
            }
            for (Thread t : threads) {
                t.join();
            }
            long end = System.nanoTime();
            EngineStats st = engine.stats();
            if (timelinesOut != null) {
                timelinesOut.addAll(done);
            }
            return record(mapper, clients, new ArrayList<>(done), start, end, st, interference, firstOfAll[0], control);
        }
    }

    private ObjectNode record(ObjectMapper mapper, int clients, List<Timeline> all, long start, long end, EngineStats st,
                              Timeline interference, Timeline first, List<Timeline> control) {
        Map<Integer, Timeline> controlByIndex = new HashMap<>();
        if (control != null) {
            for (Timeline t : control) {
                controlByIndex.put(t.index, t);
            }
        }
        List<Double> controlGaps = new ArrayList<>();
        long lastFirst = 0;
        long promptTotal = 0;
        List<Double> ttft = new ArrayList<>();
        List<Double> rest = new ArrayList<>();
        List<Double> itl = new ArrayList<>();
        List<Double> unloaded = new ArrayList<>();
        List<Double> during = new ArrayList<>();
        long afterFirst = 0;
        for (Timeline t : all) {
            lastFirst = Math.max(lastFirst, t.first);
            promptTotal += t.prompt;
        }
        for (Timeline t : all) {
            double ms = (t.first - t.submit) / 1e6;
            ttft.add(ms);
            if (t != first) {
                rest.add(ms);
            }
            for (int k = 1; k < t.count; k++) {
                double gap = (t.tokens[k] - t.tokens[k - 1]) / 1e6;
                itl.add(gap);
                if (t.tokens[k] > lastFirst) {
                    afterFirst++;
                }
                if (interference != null) {
                    if (t.tokens[k] <= interference.submit) {
                        unloaded.add(gap);
                    } else if (t.tokens[k - 1] >= interference.submit && t.tokens[k] <= interference.first) {
                        during.add(gap);
                        Timeline c = controlByIndex.get(t.index);
                        if (c != null && k < c.count) {
                            controlGaps.add((c.tokens[k] - c.tokens[k - 1]) / 1e6);
                        }
                    }
                }
            }
        }
        ObjectNode r = mapper.createObjectNode();
        r.put("sessions", clients);
        r.put("requests", all.size());
        r.put("prefill_tps", promptTotal * 1e9 / Math.max(1, lastFirst - start));
        r.put("decode_tps", afterFirst * 1e9 / Math.max(1, end - lastFirst));
        r.put("ttft_p50_ms", percentile(ttft, 0.5));
        r.put("ttft_p99_ms", percentile(ttft, 0.99));
        r.put("itl_p50_ms", percentile(itl, 0.5));
        r.put("itl_p99_ms", percentile(itl, 0.99));
        r.put("ttft_first_ms", first == null ? 0 : (first.first - first.submit) / 1e6);
        r.put("ttft_rest_p50_ms", percentile(rest, 0.5));
        r.put("wall_s", (end - start) / 1e9);
        r.put("prefix_hit_rate", st.prefixHitRate());
        r.put("preemptions", st.preemptions());
        r.put("steps", st.steps());
        r.put("kv_dtype", kvType().name());
        if (interference != null) {
            r.put("interfere_tokens", interference.prompt);
            r.put("interfere_ttft_ms", (interference.first - interference.submit) / 1e6);
            r.put("unloaded_itl_p50_ms", percentile(unloaded, 0.5));
            r.put("interfere_itl_p50_ms", percentile(during, 0.5));
            r.put("interfere_itl_p99_ms", percentile(during, 0.99));
            r.put("control_itl_p50_ms", percentile(controlGaps, 0.5));
            r.put("control_itl_p99_ms", percentile(controlGaps, 0.99));
            r.put("control_gaps", controlGaps.size());
        }
        ArrayNode lens = r.putArray("prompt_tokens");
        all.stream().mapToInt(t -> t.prompt).distinct().sorted().forEach(lens::add);
        return r;
    }

    /** The nearest-rank percentile of {@code values}, 0 when empty. */
    static double percentile(List<Double> values, double p) {
        if (values.isEmpty()) {
            return 0;
        }
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int rank = (int) Math.ceil(p * v.length);
        return v[Math.max(0, Math.min(v.length - 1, rank - 1))];
    }

    /** The {@code --kv-dtype} value as a page dtype: one of the four {@code KvLayout} accepts. */
    private DType kvType() {
        return switch (kvDtype.trim().toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            case "q8_0", "q8" -> DType.Q8_0;
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "--kv-dtype takes f32, f16, bf16 or q8_0, got '" + kvDtype + "'");
        };
    }

    private int[] range(String spec, String option) {
        String[] parts = spec.split("-");
        try {
            int lo = Integer.parseInt(parts[0].trim());
            int hi = parts.length > 1 ? Integer.parseInt(parts[1].trim()) : lo;
            if (parts.length > 2 || lo <= 0 || hi < lo) {
                throw new NumberFormatException();
            }
            return new int[] {lo, hi};
        } catch (NumberFormatException e) {
            throw new CommandLine.ParameterException(this.spec.commandLine(), option + " takes N or MIN-MAX with 0 < MIN <= MAX, got '"
                    + spec + "'");
        }
    }

    /** Random ids avoiding the lowest 16 (special tokens in the models we ship: BOS, EOS, turn markers). */
    private static int[] randomIds(SplittableRandom rnd, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 16 + rnd.nextInt(vocab - 16);
        }
        return ids;
    }
}
