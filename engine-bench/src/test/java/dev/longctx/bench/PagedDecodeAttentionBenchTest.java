package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.NaiveAttention;
import dev.longctx.attention.QuestAttention;
import org.junit.jupiter.api.Test;

/** The benchmark measures what it says: split-K over the paged cache equals the naive reference, Quest selects. */
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

    @Test
    void questSelectsPagesOverThePagedCacheAndAgreesWithItsGenericPath() {
        PagedDecodeAttentionBench bench = new PagedDecodeAttentionBench();
        bench.depth = 1000; // 16 pages per head
        bench.kvType = "F16";
        bench.threads = 2;
        bench.questBudget = 256; // 4 pages of 16: the scan and the selection run
        bench.setup();
        try {
            float[] out = bench.quest().clone(); // the last layer's output, through the decode path
            AttentionProblem last = bench.problems[PagedDecodeAttentionBench.LAYERS - 1];
            float[] generic = new float[last.outputLength()];
            // An observer sends the same problem through the generic path (one task per KV head).
            new QuestAttention(bench.ops(), bench.questBudget).attend(last, generic, null,
                    (row, head, kvHead, page, probs, count) -> { });
            float[] exact = new float[last.outputLength()];
            new NaiveAttention().attend(last, exact, null, null);
            double diff = 0;
            for (int i = 0; i < generic.length; i++) {
                assertEquals(generic[i], out[i], 1e-4 * Math.max(1, Math.abs(generic[i])), "output " + i);
                diff = Math.max(diff, Math.abs(exact[i] - out[i]));
            }
            assertTrue(diff > 1e-3, "a budget of 4 of 16 pages changes the output: the selection ran");
        } finally {
            bench.tearDown();
        }
    }
}
