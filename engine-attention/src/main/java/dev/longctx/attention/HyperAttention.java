package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * HyperAttention (Han et al., 2023, "HyperAttention: Long-context Attention in Near-Linear Time"),
 * a prefill kernel that estimates attention without reading every (query, key) pair.
 *
 * <p><b>Non-causal part (the paper's approximate attention with sortLSH).</b> For a set of
 * queries that may attend every key of a range {@code [lo, hi)} of {@code n} keys: each query (one
 * per query row and query head of the KV head) and each key is hashed by angular LSH with
 * {@code r} hyperplanes and ranked in Gray-code order ({@link SortLsh}); keys sorted by rank are cut
 * into {@code ceil(n / b)} blocks of {@code b}, and queries sorted by rank into as many blocks of
 * proportional size; query block j attends key block j exactly (the large entries sortLSH
 * catches). The rest of the row is estimated from {@code m} key columns sampled uniformly with
 * replacement from the range: a sample outside the query's key block enters the softmax with weight
 * {@code n / m} (logit {@code + ln(n / m)}), one inside it is dropped (the block counts it exactly).
 * So the row normaliser is {@code sum_block e^s + (n / m) sum_{samples not in block} e^s}, an
 * unbiased estimate of the full one, and the output is the same weighted average of the values.
 *
 * <p><b>Causal masking (as the paper handles it).</b> The keys are split in two halves by index:
 * the queries before the second half's first key recurse on the first half; the others attend the
 * first half with the non-causal estimate above (every key of it precedes them) and recurse on the
 * second half; the two states merge exactly ({@link PartialState}). A range of at most
 * {@code minSeqLen} keys is attended exactly with {@link TiledAttention}. So the exact work is
 * {@code n / minSeqLen} diagonal blocks and the estimated work O(n log n x (b + m)).
 *
 * <p><b>Defaults</b> ({@link #HyperAttention(TensorOps)}): {@code b = 256} and {@code m = 256} (the
 * paper's experiments); {@code r = 7} hyperplanes and {@code minSeqLen = 4096} (the
 * authors' reference implementation's example configuration); seed 0.
 *
 * <p><b>Scope.</b> Causal masks without window or sinks, and no mask at all; all KV heads' views
 * must hold the same valid positions in non-decreasing order (a sequence's prefill). No
 * observer: the probabilities are estimates. Problems of at most {@code minSeqLen} keys (either
 * mask) go to {@link TiledAttention} unchanged, so decode steps and short prompts are exact.
 *
 * <p><b>Determinism.</b> The hyperplanes and samples come from the seed (the samples of a key
 * range also from its bounds and the KV head), so the kept entries are a function of the problem
 * and the seed; rows are merged in a fixed order, so outputs do not depend on the thread count
 * beyond the kernels' own rounding. Immutable and thread-safe.
 */
public final class HyperAttention implements AttentionKernel {
    /** The paper's block size b (its experiments: b = m = 256). */
    public static final int PAPER_BLOCK_SIZE = 256;
    /** The paper's sample size m. */
    public static final int PAPER_SAMPLE_SIZE = 256;
    /** Hyperplanes of the angular LSH (the reference implementation's example: 7). */
    public static final int DEFAULT_PROJECTIONS = 7;
    /** Key ranges up to this size are attended exactly (the reference implementation's example: 4096). */
    public static final int DEFAULT_MIN_SEQ_LEN = 4096;

    private final TensorOps ops;
    private final TiledAttention tiled;
    private final int blockSize;
    private final int sampleSize;
    private final int projections;
    private final int minSeqLen;
    private final long seed;

    /** HyperAttention with the paper's defaults (b = m = 256, r = 7, exact below 4096 keys, seed 0). */
    public HyperAttention(TensorOps ops) {
        this(ops, PAPER_BLOCK_SIZE, PAPER_SAMPLE_SIZE, DEFAULT_PROJECTIONS, DEFAULT_MIN_SEQ_LEN, 0L);
    }

    /**
     * @param blockSize b, keys per sorted block ({@code >= 1})
     * @param sampleSize m, sampled columns per key range ({@code >= 0})
     * @param projections r, LSH hyperplanes (1..30)
     * @param minSeqLen key ranges of at most this many keys are exact ({@code >= 1})
     * @param seed of the hyperplanes and samples
     */
    public HyperAttention(TensorOps ops, int blockSize, int sampleSize, int projections, int minSeqLen, long seed) {
        this.ops = Objects.requireNonNull(ops, "ops");
        if (blockSize < 1 || sampleSize < 0 || projections < 1 || projections > 30 || minSeqLen < 1) {
            throw new IllegalArgumentException("hyper-attention: need blockSize >= 1, sampleSize >= 0, 1 <= projections"
                    + " <= 30, minSeqLen >= 1; got blockSize=" + blockSize + " sampleSize=" + sampleSize + " projections="
                    + projections + " minSeqLen=" + minSeqLen);
        }
        this.tiled = new TiledAttention(ops);
        this.blockSize = blockSize;
        this.sampleSize = sampleSize;
        this.projections = projections;
        this.minSeqLen = minSeqLen;
        this.seed = seed;
    }

    @Override
    public String name() {
        return "hyper-attention(b=" + blockSize + ",m=" + sampleSize + ",r=" + projections + ",min=" + minSeqLen + ")";
    }

    int blockSize() {
        return blockSize;
    }

    int sampleSize() {
        return sampleSize;
    }

    int projections() {
        return projections;
    }

    int minSeqLen() {
        return minSeqLen;
    }

    long seed() {
        return seed;
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        if (observer != null) {
            throw new IllegalArgumentException("hyper-attention: cannot report probabilities to an observer (its"
                    + " normalisers are estimates); use an exact kernel where a policy observes attention");
        }
        AttentionMask mask = p.mask();
        boolean causal = mask.causal();
        if (mask.window() != 0 || mask.sinks() != 0) {
            throw new IllegalArgumentException("hyper-attention: supports the causal mask and no mask, not " + mask);
        }
        if (p.queryRows() == 0) {
            return;
        }
        if (p.kv()[0].length() <= minSeqLen) {
            tiled.attend(p, out, lse, null);
            return;
        }
        HeadKeys[] heads = HeadKeys.gather(p, ops.kernels());
        int rows = p.queryRows();
        int hq = p.queryHeads();
        int d = p.headDim();
        Arrays.fill(out, 0, p.outputLength(), 0f);
        float[] l = new float[rows * hq];
        Arrays.fill(l, Float.NEGATIVE_INFINITY);
        Integer[] boxed = new Integer[rows];
        for (int i = 0; i < rows; i++) {
            boxed[i] = i;
        }
        Arrays.sort(boxed, (a, b) -> Long.compare(p.queryPositions()[a], p.queryPositions()[b]));
        int[] order = Arrays.stream(boxed).mapToInt(Integer::intValue).toArray();
        List<List<Range>> rounds = new ArrayList<>();
        List<Range> leaves = new ArrayList<>();
        long[] pos = heads[0].pos;
        if (causal) {
            split(pos, p.queryPositions(), 0, pos.length, order, 0, rounds, leaves);
        } else {
            rounds.add(List.of(new Range(0, pos.length, order)));
        }
        float[] planes = SortLsh.planes(seed, projections, d);
        for (List<Range> round : rounds) {
            runRound(p, heads, planes, round, out, l);
        }
        for (Range leaf : leaves) {
            exactLeaf(p, heads, leaf, out, l);
        }
        if (lse != null) {
            System.arraycopy(l, 0, lse, 0, l.length);
        }
    }

    /** Query rows (indices into the problem) and the key range [lo, hi) they attend in one piece. */
    record Range(int lo, int hi, int[] rows) {
    }

    /**
     * The causal recursion: rows (sorted by position) against keys [lo, hi); the non-causal pieces
     * go to {@code rounds[depth]} (disjoint rows per round), exact ranges to {@code leaves}.
     */
    void split(long[] pos, long[] qPos, int lo, int hi, int[] rows, int depth, List<List<Range>> rounds,
               List<Range> leaves) {
        if (rows.length == 0 || lo >= hi) {
            return;
        }
        if (hi - lo <= minSeqLen) {
            leaves.add(new Range(lo, hi, rows));
            return;
        }
        int mid = (lo + hi) >>> 1;
        long pm = pos[mid];
        int cut = 0;
        while (cut < rows.length && qPos[rows[cut]] < pm) {
            cut++;
        }
        split(pos, qPos, lo, mid, Arrays.copyOfRange(rows, 0, cut), depth + 1, rounds, leaves);
        if (cut < rows.length) {
            int[] right = Arrays.copyOfRange(rows, cut, rows.length);
            while (rounds.size() <= depth) {
                rounds.add(new ArrayList<>());
            }
            rounds.get(depth).add(new Range(lo, mid, right));
            split(pos, qPos, mid, hi, right, depth + 1, rounds, leaves);
        }
    }

    /** Exact attention of a leaf's rows over keys [lo, hi) (the causal mask applies), merged into out. */
    private void exactLeaf(AttentionProblem p, HeadKeys[] heads, Range leaf, float[] out, float[] l) {
        int d = p.headDim();
        int hq = p.queryHeads();
        int n = leaf.rows.length;
        KvView[] views = new KvView[heads.length];
        for (int h = 0; h < heads.length; h++) {
            HeadKeys k = heads[h];
            views[h] = DenseKvView.of(Arrays.copyOfRange(k.k, leaf.lo * d, leaf.hi * d),
                    Arrays.copyOfRange(k.v, leaf.lo * d, leaf.hi * d), Arrays.copyOfRange(k.pos, leaf.lo, leaf.hi), d,
                    DType.F32, p.kv()[0].pageSize());
        }
        float[] q = new float[n * hq * d];
        long[] qp = new long[n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(p.queries(), p.queryIndex(leaf.rows[i], 0), q, i * hq * d, hq * d);
            qp[i] = p.queryPositions()[leaf.rows[i]];
        }
        AttentionProblem sub = new AttentionProblem(q, 0, n, hq, views, qp, p.scale(), p.softCap(), p.mask());
        float[] o = new float[sub.outputLength()];
        float[] sl = new float[n * hq];
        tiled.attend(sub, o, sl, null);
        for (int i = 0; i < n; i++) {
            int r = leaf.rows[i];
            for (int h = 0; h < hq; h++) {
                l[r * hq + h] = PartialState.merge(out, (r * hq + h) * d, l[r * hq + h], o, (i * hq + h) * d, sl[i * hq + h], d);
            }
        }
    }

    /** One round of non-causal pieces (disjoint rows): prepare each (piece, KV head), then one task per key block. */
    private void runRound(AttentionProblem p, HeadKeys[] heads, float[] planes, List<Range> round, float[] out, float[] l) {
        int kvHeads = heads.length;
        Prepared[] prep = new Prepared[round.size() * kvHeads];
        ops.pool().parallelFor(prep.length, t -> prep[t] = prepare(p, heads[t % kvHeads], t % kvHeads,
                round.get(t / kvHeads), planes));
        int[] firstTask = new int[prep.length + 1];
        for (int i = 0; i < prep.length; i++) {
            firstTask[i + 1] = firstTask[i] + prep[i].blocks;
        }
        ops.pool().parallelFor(firstTask[prep.length], t -> {
            int i = Arrays.binarySearch(firstTask, t);
            if (i < 0) {
                i = -i - 2; // every piece has at least one block, so firstTask strictly increases
            }
            attendBlock(p, heads[i % kvHeads], prep[i], t - firstTask[i], out, l);
        });
    }

    /** sortLSH of one (piece, KV head): sorted keys cut into blocks, sorted queries assigned, samples drawn. */
    Prepared prepare(AttentionProblem p, HeadKeys hk, int kvHead, Range r, float[] planes) {
        int d = p.headDim();
        int g = p.groupSize();
        int n = r.hi - r.lo;
        int[] keys = new int[n];
        int[] keyRank = new int[n];
        for (int i = 0; i < n; i++) {
            keys[i] = r.lo + i;
            keyRank[i] = SortLsh.rank(planes, projections, hk.k, (r.lo + i) * d, d);
        }
        SortLsh.sortByRank(keys, keyRank);
        int blocks = (n + blockSize - 1) / blockSize;
        int[] blockOfKey = new int[n];
        for (int i = 0; i < n; i++) {
            blockOfKey[keys[i] - r.lo] = i / blockSize;
        }
        int nq = r.rows.length * g;
        int[] qs = new int[nq]; // query id = row index within the piece * g + head within the group
        int[] qRank = new int[nq];
        for (int i = 0; i < r.rows.length; i++) {
            for (int j = 0; j < g; j++) {
                qs[i * g + j] = i * g + j;
                qRank[i * g + j] = SortLsh.rank(planes, projections, p.queries(), p.queryIndex(r.rows[i], kvHead * g + j), d);
            }
        }
        SortLsh.sortByRank(qs, qRank);
        int[] qStart = new int[blocks + 1];
        for (int j = 0; j <= blocks; j++) {
            qStart[j] = (int) ((long) j * nq / blocks);
        }
        int[] samples = n > blockSize ? SortLsh.samples(seed, kvHead, r.lo, r.hi, sampleSize) : new int[0];
        return new Prepared(r, keys, blockOfKey, blocks, qs, qStart, samples);
    }

    /** The sortLSH layout of one (piece, KV head). */
    record Prepared(Range range, int[] sortedKeys, int[] blockOfKey, int blocks, int[] sortedQueries, int[] queryStart,
                    int[] samples) {
    }

    /** Query block j of a piece against key block j and the samples outside it, merged into out. */
    private void attendBlock(AttentionProblem p, HeadKeys hk, Prepared pr, int j, float[] out, float[] l) {
        VectorKernels k = ops.kernels();
        int d = p.headDim();
        int g = p.groupSize();
        int hq = p.queryHeads();
        int kvHead = hk.head;
        Range r = pr.range;
        int n = r.hi - r.lo;
        int k0 = j * blockSize;
        int k1 = Math.min(n, k0 + blockSize);
        int inBlock = k1 - k0;
        int[] cols = new int[inBlock + pr.samples.length];
        int c = 0;
        for (int i = k0; i < k1; i++) {
            cols[c++] = pr.sortedKeys[i];
        }
        for (int s : pr.samples) {
            if (pr.blockOfKey[s - r.lo] != j) {
                cols[c++] = s;
            }
        }
        float logWeight = pr.samples.length == 0 ? 0f : (float) Math.log((double) n / pr.samples.length);
        float[] kb = new float[c * d];
        float[] vt = new float[d * c]; // V transposed: row e is the values' channel e over the columns
        for (int i = 0; i < c; i++) {
            System.arraycopy(hk.k, cols[i] * d, kb, i * d, d);
            for (int e = 0; e < d; e++) {
                vt[e * c + i] = hk.v[cols[i] * d + e];
            }
        }
        int q0 = pr.queryStart[j];
        int q1 = pr.queryStart[j + 1];
        int nq = q1 - q0;
        if (nq == 0 || c == 0) {
            return;
        }
        float[] q = new float[nq * d];
        for (int i = 0; i < nq; i++) {
            int id = pr.sortedQueries[q0 + i];
            System.arraycopy(p.queries(), p.queryIndex(r.rows[id / g], kvHead * g + id % g), q, i * d, d);
        }
        float[] s = new float[nq * c];
        k.matmulRows(DType.F32, MemorySegment.ofArray(kb), (long) d * Float.BYTES, d, 0, c, q, nq, s, c);
        float scale = p.scale();
        float cap = p.softCap();
        float[] rowLse = new float[nq];
        for (int i = 0; i < nq; i++) {
            int off = i * c;
            for (int e = 0; e < c; e++) {
                float x = s[off + e] * scale;
                if (cap > 0) {
                    x = cap * (float) Math.tanh(x / cap);
                }
                s[off + e] = e < inBlock ? x : x + logWeight;
            }
            float m = k.max(s, off, c);
            float sum = k.expShiftSum(s, off, c, m);
            k.scale(s, off, c, 1f / sum);
            rowLse[i] = m + (float) Math.log(sum);
        }
        float[] o = new float[nq * d];
        k.matmulRows(DType.F32, MemorySegment.ofArray(vt), (long) c * Float.BYTES, c, 0, d, s, nq, o, d);
        for (int i = 0; i < nq; i++) {
            int id = pr.sortedQueries[q0 + i];
            int row = r.rows[id / g];
            int head = kvHead * g + id % g;
            int at = row * hq + head;
            l[at] = PartialState.merge(out, at * d, l[at], o, i * d, rowLse[i], d);
        }
    }

    /** One KV head's valid keys and values as dense F32 rows, with their positions. */
    static final class HeadKeys {
        final int head;
        final float[] k;
        final float[] v;
        final long[] pos;

        private HeadKeys(int head, float[] k, float[] v, long[] pos) {
            this.head = head;
            this.k = k;
            this.v = v;
            this.pos = pos;
        }

        /**
         * Every KV head's valid slots in view order.
         *
         * @throws IllegalArgumentException when heads hold different positions or positions decrease
         */
        static HeadKeys[] gather(AttentionProblem p, VectorKernels kernels) {
            HeadKeys[] out = new HeadKeys[p.kvHeads()];
            int d = p.headDim();
            for (int h = 0; h < out.length; h++) {
                KvView view = p.kv()[h];
                int n = 0;
                for (int page = 0; page < view.pageCount(); page++) {
                    for (int s = 0; s < view.pageLength(page); s++) {
                        if (view.isValid(page, s)) {
                            n++;
                        }
                    }
                }
                float[] k = new float[n * d];
                float[] v = new float[n * d];
                long[] pos = new long[n];
                float[] buf = new float[view.pageSize() * d];
                float[] vbuf = new float[view.pageSize() * d];
                int i = 0;
                for (int page = 0; page < view.pageCount(); page++) {
                    int len = view.pageLength(page);
                    if (len == 0) {
                        continue;
                    }
                    kernels.dequantize(view.dtype(), view.keys(page), 0, buf, 0, len * d);
                    kernels.dequantize(view.dtype(), view.values(page), 0, vbuf, 0, len * d);
                    for (int s = 0; s < len; s++) {
                        if (!view.isValid(page, s)) {
                            continue;
                        }
                        System.arraycopy(buf, s * d, k, i * d, d);
                        System.arraycopy(vbuf, s * d, v, i * d, d);
                        pos[i] = view.position(page, s);
                        if (i > 0 && pos[i] < pos[i - 1]) {
                            throw new IllegalArgumentException("hyper-attention: KV head " + h + " position " + pos[i]
                                    + " follows " + pos[i - 1] + " (positions must not decrease)");
                        }
                        i++;
                    }
                }
                if (h > 0 && !Arrays.equals(pos, out[0].pos)) {
                    throw new IllegalArgumentException("hyper-attention: KV head " + h + " holds other positions than"
                            + " KV head 0 (" + n + " vs " + out[0].pos.length + " keys); every head must hold the sequence");
                }
                out[h] = new HeadKeys(h, k, v, pos);
            }
            return out;
        }
    }
}
