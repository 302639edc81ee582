package dev.longctx.models.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Strategy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Many client threads on one engine with a small KV budget: requests with shared prefixes under
 * different strategies, continuations of earlier outputs (prefix hits), cancellations from
 * listeners and from other threads, and a close with requests in flight. Every request that
 * completes equals a single-threaded replay in a session; no page is leaked; a failure in any
 * thread fails the test. Bounded by a fixed number of operations, not by time.
 */
class ServingEngineStressTest {
    private static final int THREADS = 4;
    private static final int OPS_PER_THREAD = 14;

    @BeforeAll
    static void open() {
        ServingEngineTest.open();
    }

    @AfterAll
    static void close() {
        ServingEngineTest.close();
    }

    record Done(int[] prompt, GenerateOptions options, Strategy strategy, int budget, Generation result) {
    }

    @Test
    void manyThreadsOnOneEngine() throws Exception {
        var c = ServingEngineTest.model.config();
        long pageBytes = BlockPool.pageBytes(new KvLayout(c.layers(), c.kvHeads(), c.headDim(), KvLayout.DEFAULT_PAGE_SIZE,
                KvLayout.DEFAULT_DTYPE));
        // 24 blocks of 64 tokens over all layers and heads: a few requests at a time, so admission
        // waits, prefix blocks are reclaimed and running sequences are preempted
        long budget = 24L * c.layers() * c.kvHeads() * pageBytes;
        int[][] prefixes = {ServingEngineTest.prompt(140, 1), ServingEngineTest.prompt(70, 2), ServingEngineTest.prompt(200, 3)};
        ConcurrentLinkedQueue<Done> done = new ConcurrentLinkedQueue<>();
        AtomicInteger cancelled = new AtomicInteger();
        ServingEngine engine = ServingEngineTest.engine().budgetBytes(budget).maxRunning(6).build();
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                long seed = 1000 + t;
                workers.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    List<Done> mine = new ArrayList<>();
                    for (int op = 0; op < OPS_PER_THREAD; op++) {
                        int[] prompt;
                        if (!mine.isEmpty() && r.nextInt(4) == 0) {
                            // continue an earlier conversation: its prompt and output (a prefix hit for full)
                            Done d = mine.get(r.nextInt(mine.size()));
                            prompt = concat(d.prompt(), d.result().outputIds());
                            if (prompt.length > 400) {
                                prompt = Arrays.copyOf(prompt, 400);
                            }
                        } else {
                            int[] p = prefixes[r.nextInt(prefixes.length)];
                            int extra = r.nextInt(60);
                            prompt = concat(p, ServingEngineTest.prompt(1 + extra, r.nextInt(50)));
                        }
                        Strategy s = switch (r.nextInt(5)) {
                            case 0, 1 -> new Strategy.Full();
                            case 2 -> new Strategy.Quest(48);
                            case 3 -> new Strategy.Streaming(4, 0);
                            default -> new Strategy.H2o(0, 0);
                        };
                        int budgetTokens = s.keepsEveryToken() ? 512 : 96 + r.nextInt(64);
                        GenerateOptions o = GenerateOptions.greedy(5 + r.nextInt(40)).withStopIds(List.of());
                        int cancelAt = r.nextInt(6) == 0 ? 1 + r.nextInt(4) : -1;
                        RequestHandle[] h = new RequestHandle[1];
                        AtomicInteger seen = new AtomicInteger();
                        Request.Builder b = Request.tokens(prompt).options(o).strategy(s).budgetTokens(budgetTokens);
                        if (cancelAt > 0) {
                            b.listener((id, text) -> {
                                if (seen.incrementAndGet() == cancelAt) {
                                    synchronized (h) {
                                        h[0].cancel();
                                    }
                                }
                            });
                        }
                        synchronized (h) {
                            h[0] = engine.submit(b.build());
                        }
                        if (r.nextInt(10) == 0) {
                            h[0].cancel(); // from this thread, at any point
                        }
                        Generation g = h[0].join();
                        if (g.finishReason() == FinishReason.CANCELLED) {
                            cancelled.incrementAndGet();
                            assertTrue(g.outputIds().length < o.maxTokens());
                        } else {
                            assertEquals(FinishReason.LENGTH, g.finishReason());
                            Done d = new Done(prompt, o, s, budgetTokens, g);
                            mine.add(d);
                            done.add(d);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : workers) {
                f.get(); // a failure in any worker fails the test
            }
            EngineStats st = engine.stats();
            assertEquals(0, st.running());
            assertEquals(0, st.waiting());
            assertEquals(st.pagesCached(), st.pagesUsed(), "only the prefix cache holds pages once every request ended: " + st);
            assertTrue(st.prefixHitTokens() > 0, "continuations and shared prefixes hit the prefix cache: " + st);
            // close with requests in flight: they end, cancelled or finished, and every page is freed
            List<RequestHandle> inFlight = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                inFlight.add(engine.submit(Request.tokens(ServingEngineTest.prompt(100, i)).options(GenerateOptions.greedy(200)
                        .withStopIds(List.of())).build()));
            }
            engine.close();
            for (RequestHandle h : inFlight) {
                assertTrue(h.isDone());
                assertEquals(FinishReason.CANCELLED, h.join().finishReason());
            }
            assertEquals(0, engine.stats().pagesUsed(), "no page leaked");
        } finally {
            pool.shutdownNow();
            engine.close();
        }
        assertTrue(done.size() >= THREADS * OPS_PER_THREAD / 2, "most requests completed: " + done.size());
        for (Done d : done) {
            Generation ref = ServingEngineTest.alone(d.prompt(), d.options(), d.strategy(), d.budget());
            assertArrayEquals(ref.outputIds(), d.result().outputIds(), d.strategy().name() + " prompt of " + d.prompt().length);
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
