package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Sequences on several threads share one pool while it grows: each appends, reads back through its
 * views, forks and closes, so page lookups on one thread race with slab growth on another. Every
 * thread must read exactly what it wrote, a failure on any thread fails the test, and no page leaks.
 */
class BlockPoolConcurrencyTest {
    private static final int D = 16;
    private static final int HEADS = 2;
    private static final int THREADS = 4;
    private static final int TOKENS = 600;

    @Test
    void sequencesOnManyThreadsReadWhatTheyWroteWhileThePoolGrows() throws Exception {
        KvLayout layout = new KvLayout(2, HEADS, D, 4, DType.F32); // 4-token pages: a new slab every few steps
        ExecutorService exec = Executors.newFixedThreadPool(THREADS);
        try (BlockPool pool = new BlockPool(layout, 1L << 30)) {
            CyclicBarrier start = new CyclicBarrier(THREADS);
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int id = t;
                done.add(exec.submit(() -> {
                    start.await();
                    return run(pool, id);
                }));
            }
            int checked = 0;
            for (Future<Integer> f : done) {
                checked += f.get(120, TimeUnit.SECONDS); // a worker's failure is rethrown here
            }
            assertEquals(THREADS * TOKENS * 2 * HEADS, checked);
            assertEquals(0, pool.stats().pagesInUse(), "pages leaked");
            assertTrue(pool.stats().allocatedPages() > 100, "the pool must have grown while the threads ran");
        } finally {
            exec.shutdownNow();
        }
    }

    /** One thread's sequence: append, check every token so far now and then, fork and close; returns tokens checked at the end. */
    private static int run(BlockPool pool, int id) {
        float[] key = new float[D];
        try (SequenceKvCache c = SequenceKvCache.create(pool)) {
            List<SequenceKvCache> forks = new ArrayList<>();
            for (int pos = 0; pos < TOKENS; pos++) {
                for (int layer = 0; layer < 2; layer++) {
                    float[] k = new float[HEADS * D];
                    float[] v = new float[HEADS * D];
                    for (int i = 0; i < k.length; i++) {
                        k[i] = value(id, pos, layer, i);
                        v[i] = -k[i];
                    }
                    c.append(layer, k, v, pos);
                }
                if (pos % 50 == 7) {
                    forks.add(c.fork()); // shares pages: the next append copies on write
                }
                if (forks.size() > 3) {
                    forks.removeFirst().close();
                }
            }
            forks.forEach(SequenceKvCache::close);
            int checked = 0;
            for (int layer = 0; layer < 2; layer++) {
                for (int h = 0; h < HEADS; h++) {
                    KvView view = c.view(layer, h);
                    int pos = 0;
                    for (int p = 0; p < view.pageCount(); p++) {
                        for (int s = 0; s < view.pageLength(p); s++) {
                            assertEquals(pos, view.position(p, s), "thread " + id);
                            Quantization.dequantize(DType.F32, view.keys(p), s * view.rowBytes(), key, 0, D);
                            for (int d = 0; d < D; d++) {
                                assertEquals(value(id, pos, layer, h * D + d), key[d], "thread " + id + " position " + pos);
                            }
                            pos++;
                            checked++;
                        }
                    }
                    assertEquals(TOKENS, pos, "thread " + id);
                }
            }
            return checked;
        }
    }

    private static float value(int thread, int pos, int layer, int i) {
        return thread * 1_000_000 + pos * 100 + layer * 50 + i;
    }
}
