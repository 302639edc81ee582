package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link LongHeadsAttention} against a naive double-precision reference of LongHeads' rule (per
 * query head: the first chunk, the last complete one, the query's own, and the top
 * {@code chunks - 3} others by {@code q . r_c}, {@code r_c} the chunk's keys pooled by softmax from
 * their mean), at awkward sizes, and exact attention when every chunk is selected.
 */
class LongHeadsAttentionTest {
    private static final int PAGE = 13;

    /** The chunk representation, naively: softmax(kbar . k_j / sqrt(d)) pooling of the chunk's valid keys. */
    private static double[] representation(float[] keys, KvView view, int d, int first, int last) {
        List<Integer> in = new ArrayList<>();
        for (int i = first; i <= last && i < keys.length / d; i++) {
            if (view.isValid(i / PAGE, i % PAGE)) {
                in.add(i);
            }
        }
        double[] r = new double[d];
        if (in.isEmpty()) {
            return r;
        }
        double[] mean = new double[d];
        for (int i : in) {
            for (int c = 0; c < d; c++) {
                mean[c] += keys[i * d + c] / (double) in.size();
            }
        }
        double[] w = new double[in.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < w.length; j++) {
            for (int c = 0; c < d; c++) {
                w[j] += mean[c] * keys[in.get(j) * d + c];
            }
            w[j] /= Math.sqrt(d);
            max = Math.max(max, w[j]);
        }
        double sum = 0;
        for (int j = 0; j < w.length; j++) {
            w[j] = Math.exp(w[j] - max);
            sum += w[j];
        }
        for (int j = 0; j < w.length; j++) {
            for (int c = 0; c < d; c++) {
                r[c] += w[j] / sum * keys[in.get(j) * d + c];
            }
        }
        return r;
    }

    /** The rule, naively: the chunks query head {@code h} of row 0 attends. */
    private static BitSet referenceChunks(float[] keys, KvView view, AttentionProblem p, int h, int chunk, int chunks, int d) {
        long qPos = p.queryPositions()[0];
        int cur = (int) (qPos / chunk);
        BitSet chosen = new BitSet();
        chosen.set(0);
        chosen.set(Math.max(0, cur - 1));
        chosen.set(cur);
        List<Integer> order = new ArrayList<>();
        double[] score = new double[Math.max(0, cur)];
        for (int c = 1; c <= cur - 2; c++) {
            double[] r = representation(keys, view, d, c * chunk, c * chunk + chunk - 1);
            int qi = p.queryIndex(0, h);
            for (int x = 0; x < d; x++) {
                score[c] += (double) p.queries()[qi + x] * r[x];
            }
            order.add(c);
        }
        order.sort((a, b) -> score[a] != score[b] ? Double.compare(score[b], score[a]) : Integer.compare(a, b));
        for (int i = 0; i < Math.min(chunks - 3, order.size()); i++) {
            chosen.set(order.get(i));
        }
        return chosen;
    }

    @Test
    void fastPathIsTheRuleAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(2140);
        int checked = 0;
        int sparse = 0;
        for (TensorOps ops : List.of(Problems.panamaTwoThreads(), Problems.allOps().get(0))) {
            for (int g : new int[] {1, 3}) {
                for (int lk : new int[] {1, 29, 300, 2051}) {
                    for (int chunk : new int[] {1, 7, 64}) {
                        for (int chunks : new int[] {3, 4, 9}) {
                            int kvHeads = 2;
                            int hq = kvHeads * g;
                            int d = 24;
                            float[][] k = new float[kvHeads][];
                            float[][] v = new float[kvHeads][];
                            DenseKvView[] views = new DenseKvView[kvHeads];
                            for (int h = 0; h < kvHeads; h++) {
                                k[h] = Problems.gaussian(r, lk * d, 1);
                                v[h] = Problems.gaussian(r, lk * d, 1);
                                views[h] = DenseKvView.of(k[h], v[h], d, DType.F32, PAGE);
                                for (int i = 5; i < lk - 1; i += 17) {
                                    views[h].invalidate(i); // evicted slots: never attended, not in representations
                                }
                            }
                            float[] q = Problems.gaussian(r, hq * d, 1.5);
                            long[] pos = {lk - 1};
                            for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(200, 2)}) {
                                AttentionProblem p = new AttentionProblem(q, 0, 1, hq, views, pos, (float) (1 / Math.sqrt(d)), 0f, mask);
                                LongHeadsMemory mem = new LongHeadsMemory(kvHeads, d, chunk);
                                LongHeadsAttention kernel = new LongHeadsAttention(ops, chunks);
                                String what = ops.kernels().name() + " g=" + g + " lk=" + lk + " chunk=" + chunk + " chunks=" + chunks
                                        + " " + mask;
                                KvView[] explicit = new KvView[hq];
                                for (int h = 0; h < hq; h++) {
                                    int kh = h / g;
                                    BitSet want = referenceChunks(k[kh], views[kh], p, h, chunk, chunks, d);
                                    assertEquals(want, kernel.selectedChunks(mem, p, 0, h), what + " head " + h);
                                    BitSet keys = kernel.selectedKeys(mem, p, 0, h);
                                    DenseKvView e = DenseKvView.of(k[kh], v[kh], d, DType.F32, PAGE);
                                    for (int i = 0; i < lk; i++) {
                                        boolean in = want.get(i / chunk);
                                        assertEquals(in, keys.get(i), what + " head " + h + " key " + i);
                                        if (!in || !views[kh].isValid(i / PAGE, i % PAGE)) {
                                            e.invalidate(i);
                                        }
                                    }
                                    explicit[h] = e;
                                    checked++;
                                    if (want.cardinality() < (lk - 1) / chunk + 1) {
                                        sparse++; // some chunk left out: the selection really selected
                                    }
                                }
                                float[] out = new float[p.outputLength()];
                                float[] lse = new float[hq];
                                kernel.attend(mem, p, out, lse, null);
                                AttentionProblem ref = new AttentionProblem(q, 0, 1, hq, explicit, pos, p.scale(), 0f, mask);
                                float[] refOut = new float[p.outputLength()];
                                float[] refLse = new float[hq];
                                new NaiveAttention().attend(ref, refOut, refLse, null);
                                double err = Problems.relativeError(out, refOut, out.length);
                                assertTrue(err <= 1e-5, what + ": relative error " + err);
                                for (int h = 0; h < hq; h++) {
                                    assertEquals(refLse[h], lse[h], 1e-4, what + " lse " + h);
                                }
                            }
                        }
                    }
                }
            }
        }
        assertTrue(checked > 1000, "selections compared: " + checked);
        assertTrue(sparse > checked / 4, "selections that left chunks out: " + sparse + " of " + checked);
    }

    @Test
    void selectingEveryChunkIsExactAttention() {
        SplittableRandom r = new SplittableRandom(2141);
        TensorOps ops = Problems.panamaTwoThreads();
        for (int g : new int[] {1, 4}) {
            for (int lk : new int[] {1, 17, 513, 4099}) {
                int kvHeads = 2;
                int d = 32;
                KvView[] kv = new KvView[kvHeads];
                for (int h = 0; h < kvHeads; h++) {
                    kv[h] = DenseKvView.of(Problems.gaussian(r, lk * d, 1), Problems.gaussian(r, lk * d, 1), d, DType.F32, PAGE);
                }
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                AttentionProblem p = AttentionProblem.causal(q, 1, kvHeads * g, kv);
                int chunk = 50;
                int all = (lk - 1) / chunk + 1; // chunks up to the query's
                Problems.assertMatchesNaive(new LongHeadsAttention(ops, Math.max(3, all)).over(new LongHeadsMemory(kvHeads, d, chunk)), p,
                        1e-5, "g=" + g + " lk=" + lk);
                // several query rows (each selects for its own position) and an observer, against naive too
                int rows = Math.min(lk, 5);
                AttentionProblem block = AttentionProblem.causal(Problems.gaussian(r, rows * kvHeads * g * d, 1), rows, kvHeads * g, kv);
                double[] mass = new double[rows * kvHeads * g];
                AttentionKernel kernel = new LongHeadsAttention(ops, Math.max(3, all)).over(new LongHeadsMemory(kvHeads, d, chunk));
                Problems.assertMatchesNaive(kernel, block, 1e-5, "rows g=" + g + " lk=" + lk);
                kernel.attend(block, new float[block.outputLength()], null, (row, head, kvHead, page, probs, count) -> {
                    assertEquals(head / g, kvHead);
                    synchronized (mass) { // calls come from the pool's threads
                        for (int s = 0; s < count; s++) {
                            mass[row * kvHeads * g + head] += probs[s];
                        }
                    }
                });
                for (double m : mass) {
                    assertEquals(1.0, m, 1e-4, "observed mass g=" + g + " lk=" + lk);
                }
            }
        }
    }

    @Test
    void memoryRepresentsEachChunkOnceAndCopies() {
        SplittableRandom r = new SplittableRandom(2142);
        int d = 8;
        int lk = 100;
        float[] keys = Problems.gaussian(r, lk * d, 1);
        DenseKvView view = DenseKvView.of(keys, Problems.gaussian(r, lk * d, 1), d, DType.F32, PAGE);
        LongHeadsMemory mem = new LongHeadsMemory(1, d, 16);
        mem.represent(view, 0, 3, Problems.panamaOneThread().kernels());
        assertEquals(3, mem.chunks(0));
        LongHeadsMemory copy = mem.copy();
        mem.represent(view, 0, 6, Problems.panamaOneThread().kernels());
        assertEquals(6, mem.chunks(0));
        assertEquals(3, copy.chunks(0));
        for (int c = 0; c < 6; c++) {
            double[] want = representation(keys, view, d, c * 16, c * 16 + 15);
            float[] got = new float[d];
            System.arraycopy(mem.representations(0), c * d, got, 0, d);
            float[] w = new float[d];
            for (int x = 0; x < d; x++) {
                w[x] = (float) want[x];
            }
            assertArrayEquals(w, got, 1e-5f, "chunk " + c);
        }
    }

    @Test
    void misuseIsReported() {
        TensorOps ops = Problems.panamaOneThread();
        KvView[] kv = Problems.views(new SplittableRandom(1), 2, 10, 8, DType.F32, PAGE, 0);
        AttentionProblem p = AttentionProblem.causal(new float[16], 1, 2, kv);
        float[] out = new float[p.outputLength()];
        assertThrows(IllegalStateException.class, () -> new LongHeadsAttention(ops, 4).attend(p, out, null, null));
        assertThrows(IllegalArgumentException.class, () -> new LongHeadsAttention(ops, 4).attend(new LongHeadsMemory(3, 8, 4), p, out,
                null, null));
        assertThrows(IllegalArgumentException.class, () -> new LongHeadsAttention(ops, 2));
        assertThrows(IllegalArgumentException.class, () -> new LongHeadsMemory(1, 8, 0));
    }
}
