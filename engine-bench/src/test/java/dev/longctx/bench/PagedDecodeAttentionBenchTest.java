package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.NaiveAttention;
import org.junit.jupiter.api.Test;

/** The benchmark measures what it says: split-K over the paged cache equals the naive reference. */
class PagedDecodeAttentionBenchTest {

    @Test
    void splitKOverThePagedCacheMatchesNaiveAndEveryPageIsRead() {
        PagedDecodeAttentionBench bench = new PagedDecodeAttentionBench();
        bench.depth = 330; // 6 pages per head, the last partly filled: 18 per layer, split into 2 units
        bench.kvType = "F16";
        bench.threads = 2;
        bench.setup();
        try {
            float[] out = bench.splitK().clone(); // the last layer's output
            AttentionProblem last = bench.problems[PagedDecodeAttentionBench.LAYERS - 1];
            float[] expected = new float[last.outputLength()];
            new NaiveAttention().attend(last, expected, null, null);
            for (int i = 0; i < expected.length; i++) {
                // Both read the same F16 pages: only f32 against double rounding differs.
                assertEquals(expected[i], out[i], 1e-4 * Math.max(1, Math.abs(expected[i])), "output " + i);
            }
            assertTrue(Float.isFinite(bench.readPages()));
        } finally {
            bench.tearDown();
        }
    }
}
