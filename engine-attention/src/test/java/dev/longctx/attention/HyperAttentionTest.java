package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HyperAttentionTest {

    /**
     * The naive reference of HyperAttention's rule (see the class docs), from its definition: the
     * causal recursion on lists of rows; per non-causal piece and KV head, keys and queries ranked
     * with {@link SortLsh#rank} (the hash and the sample draws are the seeded definition both share),
     * sorted with a comparator, blocks and sample weights listed per query as explicit
     * (key, weight) pairs; finally a weighted softmax in double per (row, query head).
     */
    static float[] naiveHyper(AttentionProblem p, HyperAttention h) {
        int d = p.headDim();
        int g = p.groupSize();
        int hq = p.queryHeads();
        int kvHeads = p.kvHeads();
        float[][] keys = new float[kvHeads][];
        float[][] values = new float[kvHeads][];
        long[] pos = null;
        for (int kh = 0; kh < kvHeads; kh++) {
            KvView v = p.kv()[kh];
            List<Long> ps = new ArrayList<>();
            List<float[]> ks = new ArrayList<>();
            List<float[]> vs = new ArrayList<>();
            for (int page = 0; page < v.pageCount(); page++) {
                for (int s = 0; s < v.pageLength(page); s++) {
                    if (v.isValid(page, s)) {
                        float[] k = new float[d];
                        float[] val = new float[d];
                        Quantization.dequantize(v.dtype(), v.keys(page), s * v.rowBytes(), k, 0, d);
                        Quantization.dequantize(v.dtype(), v.values(page), s * v.rowBytes(), val, 0, d);
                        ks.add(k);
                        vs.add(val);
                        ps.add(v.position(page, s));
                    }
                }
            }
            keys[kh] = new float[ks.size() * d];
            values[kh] = new float[ks.size() * d];
            for (int i = 0; i < ks.size(); i++) {
                System.arraycopy(ks.get(i), 0, keys[kh], i * d, d);
                System.arraycopy(vs.get(i), 0, values[kh], i * d, d);
            }
            pos = ps.stream().mapToLong(Long::longValue).toArray();
        }
        // weighted key lists per (row, query head)
        List<List<double[]>> sets = new ArrayList<>();
        for (int i = 0; i < p.queryRows() * hq; i++) {
            sets.add(new ArrayList<>());
        }
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < p.queryRows(); i++) {
            rows.add(i);
        }
        rows.sort(Comparator.comparingLong(i -> p.queryPositions()[i]));
        float[] planes = SortLsh.planes(h.seed(), h.projections(), d);
        if (p.mask().causal()) {
            recurse(p, h, planes, keys, pos, 0, pos.length, rows, sets);
        } else if (pos.length <= h.minSeqLen()) {
            for (int r : rows) {
                for (int qh = 0; qh < hq; qh++) {
                    for (int key = 0; key < pos.length; key++) {
                        sets.get(r * hq + qh).add(new double[] {key, 1});
                    }
                }
            }
        } else {
            piece(p, h, planes, keys, 0, pos.length, rows, sets);
        }
        float[] out = new float[p.outputLength()];
        for (int r = 0; r < p.queryRows(); r++) {
            for (int qh = 0; qh < hq; qh++) {
                int kh = qh / g;
                List<double[]> set = sets.get(r * hq + qh);
                double[] logit = new double[set.size()];
                double max = Double.NEGATIVE_INFINITY;
                for (int i = 0; i < set.size(); i++) {
                    int key = (int) set.get(i)[0];
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) p.queries()[p.queryIndex(r, qh) + c] * keys[kh][key * d + c];
                    }
                    double x = dot * p.scale();
                    if (p.softCap() > 0) {
                        x = p.softCap() * Math.tanh(x / p.softCap());
                    }
                    logit[i] = x + Math.log(set.get(i)[1]);
                    max = Math.max(max, logit[i]);
                }
                double den = 0;
                double[] acc = new double[d];
                for (int i = 0; i < set.size(); i++) {
                    double e = Math.exp(logit[i] - max);
                    den += e;
                    int key = (int) set.get(i)[0];
                    for (int c = 0; c < d; c++) {
                        acc[c] += e * values[kh][key * d + c];
                    }
                }
                for (int c = 0; c < d; c++) {
                    out[(r * hq + qh) * d + c] = den == 0 ? 0f : (float) (acc[c] / den);
                }
            }
        }
        return out;
    }

    private static void recurse(AttentionProblem p, HyperAttention h, float[] planes, float[][] keys, long[] pos, int lo,
                                int hi, List<Integer> rows, List<List<double[]>> sets) {
        if (rows.isEmpty() || lo >= hi) {
            return;
        }
        if (hi - lo <= h.minSeqLen()) {
            for (int r : rows) {
                for (int qh = 0; qh < p.queryHeads(); qh++) {
                    for (int key = lo; key < hi; key++) {
                        if (pos[key] <= p.queryPositions()[r]) {
                            sets.get(r * p.queryHeads() + qh).add(new double[] {key, 1});
                        }
                    }
                }
            }
            return;
        }
        int mid = (lo + hi) / 2;
        List<Integer> left = rows.stream().filter(r -> p.queryPositions()[r] < pos[mid]).toList();
        List<Integer> right = rows.stream().filter(r -> p.queryPositions()[r] >= pos[mid]).toList();
        recurse(p, h, planes, keys, pos, lo, mid, left, sets);
        piece(p, h, planes, keys, lo, mid, right, sets);
        recurse(p, h, planes, keys, pos, mid, hi, right, sets);
    }

    /** The non-causal estimate of rows against keys [lo, hi), as explicit weighted key lists. */
    private static void piece(AttentionProblem p, HyperAttention h, float[] planes, float[][] keys, int lo, int hi,
                              List<Integer> rows, List<List<double[]>> sets) {
        if (rows.isEmpty()) {
            return;
        }
        int d = p.headDim();
        int g = p.groupSize();
        int n = hi - lo;
        int b = h.blockSize();
        int blocks = (n + b - 1) / b;
        for (int kh = 0; kh < p.kvHeads(); kh++) {
            final int head = kh;
            List<int[]> ranked = new ArrayList<>(); // {rank, key}
            for (int key = lo; key < hi; key++) {
                ranked.add(new int[] {SortLsh.rank(planes, h.projections(), keys[kh], key * d, d), key});
            }
            ranked.sort(Comparator.<int[]>comparingInt(x -> x[0]).thenComparingInt(x -> x[1]));
            int[] blockOf = new int[n];
            for (int i = 0; i < n; i++) {
                blockOf[ranked.get(i)[1] - lo] = i / b;
            }
            List<int[]> queries = new ArrayList<>(); // {rank, id = rowIndex * g + j}
            for (int i = 0; i < rows.size(); i++) {
                for (int j = 0; j < g; j++) {
                    queries.add(new int[] {SortLsh.rank(planes, h.projections(), p.queries(),
                            p.queryIndex(rows.get(i), head * g + j), d), i * g + j});
                }
            }
            queries.sort(Comparator.<int[]>comparingInt(x -> x[0]).thenComparingInt(x -> x[1]));
            int nq = queries.size();
            int[] samples = n > b ? SortLsh.samples(h.seed(), kh, lo, hi, h.sampleSize()) : new int[0];
            for (int s = 0; s < nq; s++) {
                int block = 0;
                while ((long) (block + 1) * nq / blocks <= s) {
                    block++;
                }
                int id = queries.get(s)[1];
                int row = rows.get(id / g);
                List<double[]> set = new ArrayList<>();
                for (int i = block * b; i < Math.min(n, (block + 1) * b); i++) {
                    set.add(new double[] {ranked.get(i)[1], 1});
                }
                for (int key : samples) {
                    if (blockOf[key - lo] != block) {
                        set.add(new double[] {key, (double) n / samples.length});
                    }
                }
                sets.get(row * p.queryHeads() + head * g + id % g).addAll(set);
            }
        }
    }

    private static AttentionProblem problem(SplittableRandom r, int kvHeads, int g, int lk, int lq, int d, int ps,
                                            DType dtype, AttentionMask mask) {
        KvView[] kv = Problems.views(r, kvHeads, lk, d, dtype, ps, 4);
        float[] q = Problems.gaussian(r, lq * kvHeads * g * d, 1);
        AttentionProblem c = AttentionProblem.causal(q, lq, kvHeads * g, kv);
        return new AttentionProblem(q, 0, lq, kvHeads * g, kv, c.queryPositions(), c.scale(), 0f, mask);
    }

    @Test
    void fastPathEqualsTheNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(4);
        // kvHeads, g, lk, lq, d, pageSize, b, m, r, minSeqLen, causal
        int[][] cases = {
            {2, 2, 1000, 1000, 16, 16, 37, 23, 5, 128, 1},
            {1, 3, 777, 300, 32, 7, 50, 64, 3, 200, 1},
            {3, 1, 513, 513, 16, 16, 64, 10, 7, 64, 1},
            {2, 2, 900, 123, 16, 13, 100, 31, 4, 1, 0},
            {1, 1, 1537, 1537, 16, 64, 256, 256, 7, 300, 1},
        };
        for (int[] c : cases) {
            AttentionProblem p = problem(r, c[0], c[1], c[2], c[3], c[4], c[5], c[3] % 2 == 0 ? DType.F16 : DType.F32,
                    c[10] == 1 ? AttentionMask.CAUSAL : AttentionMask.NONE);
            for (TensorOps ops : Problems.allOps()) {
                HyperAttention h = new HyperAttention(ops, c[6], c[7], c[8], c[9], 17);
                float[] out = new float[p.outputLength()];
                h.attend(p, out, null, null);
                float[] ref = naiveHyper(p, h);
                double err = Problems.relativeError(out, ref, out.length);
                String what = java.util.Arrays.toString(c) + " " + ops.kernels().name();
                assertTrue(err <= 2e-5, what + ": vs naive reference " + err);
                float[] exact = new float[p.outputLength()];
                new NaiveAttention().attend(p, exact, null, null);
                double approx = Problems.relativeError(out, exact, out.length);
                assertTrue(approx > 1e-3, what + ": no different from exact attention (" + approx + "): nothing was estimated");
            }
        }
    }

    @Test
    void exactWhenTheBlockOrTheExactRangeHoldsEveryKey() {
        SplittableRandom r = new SplittableRandom(8);
        for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.NONE}) {
            AttentionProblem p = problem(r, 2, 2, 700, 700, 16, 16, DType.F32, mask);
            TensorOps ops = Problems.panamaTwoThreads();
            Problems.assertMatchesNaive(new HyperAttention(ops, 700, 64, 7, 100, 3), p, 1e-5, "block of every key, " + mask);
            Problems.assertMatchesNaive(new HyperAttention(ops, 16, 64, 7, 700, 3), p, 1e-5, "exact range of every key, " + mask);
        }
    }

    @Test
    void deterministicAndIndependentOfTheThreadCount() {
        AttentionProblem p = problem(new SplittableRandom(2), 2, 2, 1200, 1200, 16, 16, DType.F32, AttentionMask.CAUSAL);
        float[] one = new float[p.outputLength()];
        float[] two = new float[p.outputLength()];
        float[] again = new float[p.outputLength()];
        new HyperAttention(new TensorOps(KernelProvider.scalar(), Problems.ONE), 64, 32, 5, 200, 9).attend(p, one, null, null);
        new HyperAttention(new TensorOps(KernelProvider.scalar(), Problems.TWO), 64, 32, 5, 200, 9).attend(p, two, null, null);
        new HyperAttention(new TensorOps(KernelProvider.scalar(), Problems.TWO), 64, 32, 5, 200, 9).attend(p, again, null, null);
        assertArrayEquals(one, two);
        assertArrayEquals(two, again);
        float[] otherSeed = new float[p.outputLength()];
        new HyperAttention(new TensorOps(KernelProvider.scalar(), Problems.TWO), 64, 32, 5, 200, 10).attend(p, otherSeed, null, null);
        assertTrue(Problems.relativeError(otherSeed, one, one.length) > 0, "the seed changes the samples");
    }

    @Test
    void badInputIsRejectedWithAClearMessage() {
        TensorOps ops = Problems.panamaOneThread();
        assertThrows(IllegalArgumentException.class, () -> new HyperAttention(ops, 0, 1, 7, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> new HyperAttention(ops, 8, 1, 31, 10, 0));
        AttentionProblem p = problem(new SplittableRandom(1), 1, 1, 100, 100, 16, 16, DType.F32, AttentionMask.CAUSAL);
        HyperAttention h = new HyperAttention(ops, 16, 16, 3, 10, 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> h.attend(p, new float[p.outputLength()], null, (row, head, kh, page, probs, n) -> { }));
        assertTrue(e.getMessage().contains("observer"), e.getMessage());
        AttentionProblem w = new AttentionProblem(p.queries(), 0, 100, 1, p.kv(), p.queryPositions(), p.scale(), 0f,
                AttentionMask.slidingWindow(8, 0));
        e = assertThrows(IllegalArgumentException.class, () -> h.attend(w, new float[w.outputLength()], null, null));
        assertTrue(e.getMessage().contains("causal mask"), e.getMessage());
    }
}
