package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.config.ModelConfig;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * A batched step (several sequences' rows through one matrix product per weight) against each
 * sequence run alone: a mixed batch of prefill chunks and decode tokens, sequences at different
 * depths, on stories260K and on a Hugging Face model with q/k/v biases.
 */
class BatchForwardTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));

    private static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[off + i] > a[off + best]) {
                best = i;
            }
        }
        return best;
    }

    private static double maxAbsDiff(float[] a, float[] b, int n) {
        double m = 0;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    /** Three sequences: alone (one forward each) and batched (forwardBatch) give the same logits and the same greedy tokens. */
    private static void batchedEqualsAlone(Path model, double tolerance) {
        try (Model m = Model.open(model, Model.Options.defaults().withOps(OPS))) {
            ModelConfig c = m.config();
            Decoder d = new Decoder(m.weights(), OPS);
            AttentionPlan exact = AttentionPlan.exact(OPS);
            KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
            int vocab = c.vocabSize();
            int[][] prompts = {{1, 5, 9, 13, 17, 21, 25}, {1, 40, 41}, {1, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109}};
            try (BlockPool pool = new BlockPool(layout, 64L << 20)) {
                SequenceKvCache[] alone = new SequenceKvCache[3];
                SequenceKvCache[] batched = new SequenceKvCache[3];
                Decoder.State[] states = new Decoder.State[3];
                int[] next = new int[3];
                long[] pos = new long[3];
                // Sequences 0 and 1 prefill alone in both worlds; sequence 2 prefills inside the first batched step.
                for (int i = 0; i < 3; i++) {
                    alone[i] = SequenceKvCache.create(pool);
                    batched[i] = SequenceKvCache.create(pool);
                    states[i] = d.newState(16);
                }
                for (int i = 0; i < 2; i++) {
                    float[] a = d.forward(alone[i], prompts[i], 0, false);
                    float[] b = d.forward(states[i], batched[i], prompts[i], 0, false, exact, true);
                    // the same single-sequence path (the Panama matvec's lane sums may round differently between calls)
                    assertEquals(0, maxAbsDiff(a, b, vocab), tolerance, "the same single-sequence path");
                    next[i] = argmax(a, 0, vocab);
                    pos[i] = prompts[i].length;
                }
                float[] alone2 = d.forward(alone[2], prompts[2], 0, false);
                Decoder.State batch = d.newState(32);
                Decoder.Step[] steps = {new Decoder.Step(), new Decoder.Step(), new Decoder.Step()};
                // step 1: two decode tokens and a prefill chunk of 11 rows, mixed
                steps[0].set(states[0], batched[0], new int[] {next[0]}, pos[0], exact, false, false);
                steps[1].set(states[1], batched[1], new int[] {next[1]}, pos[1], exact, false, false);
                steps[2].set(states[2], batched[2], prompts[2], 0, exact, true, false);
                d.forwardBatch(batch, steps, 3);
                assertTrue(maxAbsDiff(alone2, steps[2].logits(), vocab) < tolerance, "prefill chunk inside a batch");
                next[2] = argmax(steps[2].logits(), 0, vocab);
                pos[2] = prompts[2].length;
                for (int i = 0; i < 2; i++) {
                    float[] a = d.forward(alone[i], new int[] {next[i]}, pos[i], false);
                    double diff = maxAbsDiff(a, steps[i].logits(), vocab);
                    assertTrue(diff < tolerance, "sequence " + i + " decode in a batch: " + diff);
                    next[i] = argmax(a, 0, vocab);
                    assertEquals(next[i], argmax(steps[i].logits(), 0, vocab));
                    pos[i]++;
                }
                // then 12 batched decode steps of all three, against each alone
                for (int step = 0; step < 12; step++) {
                    for (int i = 0; i < 3; i++) {
                        steps[i].set(states[i], batched[i], new int[] {next[i]}, pos[i], exact, false, false);
                    }
                    d.forwardBatch(batch, steps, 3);
                    for (int i = 0; i < 3; i++) {
                        float[] a = d.forward(alone[i], new int[] {next[i]}, pos[i], false);
                        double diff = maxAbsDiff(a, steps[i].logits(), vocab);
                        assertTrue(diff < tolerance, "step " + step + " sequence " + i + ": " + diff);
                        int chosen = argmax(a, 0, vocab);
                        assertEquals(chosen, argmax(steps[i].logits(), 0, vocab), "greedy token, step " + step + " sequence " + i);
                        next[i] = chosen;
                        pos[i]++;
                    }
                }
                for (int i = 0; i < 3; i++) {
                    assertEquals(alone[i].length(0, 0), batched[i].length(0, 0), "same tokens cached");
                    alone[i].close();
                    batched[i].close();
                }
            }
        }
    }

    /** Prefill chunks whose rows fit one tile go through split-K (it spreads a deep cache over every thread). */
    @Test
    void exactPlanRunsSplitKForDecodeStepsAndFewRowChunks() {
        AttentionPlan exact = AttentionPlan.exact(OPS);
        for (int rows : new int[] {1, 2, 8, 32, 512}) {
            assertEquals("split-k", exact.kernel(0, rows).name(), rows + " rows");
        }
    }

    @Test
    void storiesBatchedEqualsAlone() {
        batchedEqualsAlone(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"), 1e-4);
    }

    @Test
    void hfModelWithBiasesBatchedEqualsAlone() {
        batchedEqualsAlone(SharedFixtures.locate("fixtures/hf/qwen2-bias-tied"), 1e-4);
    }

    /** Gemma 3 from GGUF: two RoPE tables (local and global layers) and per-layer windows, per sequence in a batch. */
    @Test
    void gemma3BatchedEqualsAlone() {
        batchedEqualsAlone(SharedFixtures.resource("fixtures/arch/gemma3-text/model.gguf"), 1e-4);
    }

    @Test
    void aBatchLargerThanItsStateIsRefused() {
        try (Model m = Model.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"), Model.Options.defaults().withOps(OPS))) {
            Decoder d = new Decoder(m.weights(), OPS);
            ModelConfig c = m.config();
            KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
            try (BlockPool pool = new BlockPool(layout, 8L << 20); SequenceKvCache a = SequenceKvCache.create(pool);
                 SequenceKvCache b = SequenceKvCache.create(pool)) {
                Decoder.State small = d.newState(4);
                Decoder.Step[] steps = {new Decoder.Step(), new Decoder.Step()};
                steps[0].set(d.newState(4), a, new int[] {1, 2, 3}, 0, AttentionPlan.exact(OPS), true, false);
                steps[1].set(d.newState(4), b, new int[] {1, 2}, 0, AttentionPlan.exact(OPS), true, false);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> d.forwardBatch(small, steps, 2));
                assertTrue(e.getMessage().contains("5 rows exceed") && e.getMessage().contains("capacity of 4"), e.getMessage());
                assertEquals(0, a.length(0, 0), "nothing appended");
                int[] tooMany = new int[5];
                Arrays.fill(tooMany, 1);
                IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                        () -> steps[0].set(d.newState(4), a, tooMany, 0, AttentionPlan.exact(OPS), true, false));
                assertTrue(e2.getMessage().contains("capacity of 4"), e2.getMessage());
            }
        }
    }
}
