package dev.longctx.models.serving;

import dev.longctx.models.session.FinishReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The engine's meters in a Micrometer registry (names under {@code longctx.}); what a Prometheus
 * scrape of {@code /metrics} shows. Counters and timers are written by the engine thread; gauges
 * read values the engine publishes through atomics or volatile fields, so any thread may scrape.
 */
final class EngineMetrics {
    /** Throughput gauges average over this window (long enough to span a few steps of any size). */
    static final long RATE_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);

    final Counter prefillTokens;
    final Counter decodeTokens;
    final Counter prefixLookupTokens;
    final Counter prefixHitTokens;
    final Counter preemptions;
    final Counter steps;
    /** Squeezed Attention: fixed contexts clustered (every layer's index built by a request). */
    final Counter squeezedIndexBuilds;
    /** Squeezed Attention: requests that took a cached fixed context's clusters from the prefix cache. */
    final Counter squeezedIndexReuses;
    final Timer timeToFirstToken;
    final Timer interTokenLatency;
    final Timer stepTime;
    final DistributionSummary stepRows;
    private final Map<FinishReason, Counter> finished = new EnumMap<>(FinishReason.class);
    private final Counter failed;
    private final MeterRegistry registry;
    private final Tags tags;
    private final RateWindow prefillRate = new RateWindow();
    private final RateWindow decodeRate = new RateWindow();

    EngineMetrics(MeterRegistry registry, Tags tags, ServingEngine engine) {
        this.registry = registry;
        this.tags = tags;
        prefillTokens = Counter.builder("longctx.tokens").tags(tags).tag("phase", "prefill")
                .description("tokens run through the model for prompts (recomputation included, prefix-cache hits not)")
                .register(registry);
        decodeTokens = Counter.builder("longctx.tokens").tags(tags).tag("phase", "decode").description("tokens generated")
                .register(registry);
        prefixLookupTokens = Counter.builder("longctx.prefix.lookup.tokens").tags(tags)
                .description("prompt tokens looked up in the prefix cache").register(registry);
        prefixHitTokens = Counter.builder("longctx.prefix.hit.tokens").tags(tags)
                .description("prompt tokens found in the prefix cache").register(registry);
        preemptions = Counter.builder("longctx.preemptions").tags(tags)
                .description("sequences preempted (pages freed, recomputed later)").register(registry);
        steps = Counter.builder("longctx.steps").tags(tags).description("batched forward steps").register(registry);
        squeezedIndexBuilds = Counter.builder("longctx.squeezed.index").tags(tags).tag("source", "built")
                .description("Squeezed Attention: fixed contexts whose keys a request clustered").register(registry);
        squeezedIndexReuses = Counter.builder("longctx.squeezed.index").tags(tags).tag("source", "prefix-cache")
                .description("Squeezed Attention: requests that reused a cached fixed context's clusters").register(registry);
        failed = Counter.builder("longctx.requests").tags(tags).tag("finish", "error").description("requests ended")
                .register(registry);
        for (FinishReason r : FinishReason.values()) {
            finished.put(r, Counter.builder("longctx.requests").tags(tags).tag("finish", r.label()).description("requests ended")
                    .register(registry));
        }
        timeToFirstToken = Timer.builder("longctx.ttft").tags(tags).description("submission to first generated token")
                .publishPercentiles(0.5, 0.99).publishPercentileHistogram().register(registry);
        interTokenLatency = Timer.builder("longctx.itl").tags(tags).description("time between a request's generated tokens")
                .publishPercentiles(0.5, 0.99).publishPercentileHistogram().register(registry);
        stepTime = Timer.builder("longctx.step").tags(tags).description("one batched forward step").register(registry);
        stepRows = DistributionSummary.builder("longctx.step.rows").tags(tags).description("token rows per step")
                .register(registry);
        Gauge.builder("longctx.queue.length", engine, e -> e.stats().waiting()).tags(tags)
                .description("requests waiting for admission").register(registry);
        Gauge.builder("longctx.sequences.running", engine, e -> e.stats().running()).tags(tags)
                .description("sequences admitted").register(registry);
        Gauge.builder("longctx.kv.pages", engine, e -> e.stats().pagesUsed()).tags(tags).tag("state", "used")
                .description("KV pages").register(registry);
        Gauge.builder("longctx.kv.pages", engine, e -> e.stats().pagesFree()).tags(tags).tag("state", "free")
                .description("KV pages").register(registry);
        Gauge.builder("longctx.kv.pages", engine, e -> e.stats().pagesCached()).tags(tags).tag("state", "cached")
                .description("KV pages").register(registry);
        Gauge.builder("longctx.prefix.hit.ratio", engine, e -> e.stats().prefixHitRate()).tags(tags)
                .description("prefix-cache hit tokens / looked-up tokens since start").register(registry);
        Gauge.builder("longctx.throughput", prefillRate, w -> w.perSecond(System.nanoTime())).tags(tags).tag("phase", "prefill")
                .description("tokens per second over the last 10 s").baseUnit("tokens/s").register(registry);
        Gauge.builder("longctx.throughput", decodeRate, w -> w.perSecond(System.nanoTime())).tags(tags).tag("phase", "decode")
                .description("tokens per second over the last 10 s").baseUnit("tokens/s").register(registry);
    }

    MeterRegistry registry() {
        return registry;
    }

    void step(long nanos, int rows, int prefill, long now) {
        steps.increment();
        stepTime.record(nanos, TimeUnit.NANOSECONDS);
        stepRows.record(rows);
        if (prefill > 0) {
            prefillTokens.increment(prefill);
            prefillRate.add(now, prefill);
        }
    }

    /** Adds a step's generated tokens to the decode rate (the counter is incremented per token as it is sampled). */
    void decodeRate(long now, int generated) {
        if (generated > 0) {
            decodeRate.add(now, generated);
        }
    }

    void finished(FinishReason r) {
        finished.get(r).increment();
    }

    void failed() {
        failed.increment();
    }

    void ttft(long nanos) {
        timeToFirstToken.record(Duration.ofNanos(nanos));
    }

    void itl(long nanos) {
        interTokenLatency.record(Duration.ofNanos(nanos));
    }

    double prefillPerSecond() {
        return prefillRate.perSecond(System.nanoTime());
    }

    double decodePerSecond() {
        return decodeRate.perSecond(System.nanoTime());
    }

    /** Removes the engine's meters from the registry (the registry may outlive the engine). */
    void close() {
        registry.getMeters().stream().filter(m -> m.getId().getName().startsWith("longctx.")
                && m.getId().getTags().containsAll(tags.stream().toList())).forEach(registry::remove);
    }

    /**
     * Tokens per second over the last {@link #RATE_WINDOW_NANOS}: counts in one-second buckets of
     * a ring (written by the engine thread, read by any; a reading is approximate by a bucket).
     */
    static final class RateWindow {
        private static final int BUCKETS = 10;
        private final AtomicLong[] counts = new AtomicLong[BUCKETS];
        private final AtomicLong[] seconds = new AtomicLong[BUCKETS];

        RateWindow() {
            for (int i = 0; i < BUCKETS; i++) {
                counts[i] = new AtomicLong();
                seconds[i] = new AtomicLong(Long.MIN_VALUE);
            }
        }

        void add(long now, long n) {
            long sec = now / 1_000_000_000L;
            int b = (int) Math.floorMod(sec, BUCKETS);
            if (seconds[b].get() != sec) {
                counts[b].set(0);
                seconds[b].set(sec);
            }
            counts[b].addAndGet(n);
        }

        double perSecond(long now) {
            long sec = now / 1_000_000_000L;
            long sum = 0;
            for (int i = 0; i < BUCKETS; i++) {
                long s = seconds[i].get();
                if (s > sec - BUCKETS && s <= sec) {
                    sum += counts[i].get();
                }
            }
            return sum / (double) BUCKETS;
        }
    }
}
