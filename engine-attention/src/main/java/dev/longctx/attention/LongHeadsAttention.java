package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.select.TopK;
import java.util.BitSet;
import java.util.Objects;

/**
 * LongHeads' attention (Lu et al., 2024, "LongHeads: Multi-Head Attention is Secretly a Long
 * Context Processor", EMNLP Findings), over a cache that keeps every token: the positions are cut
 * into chunks of {@code l} ({@code [c*l, (c+1)*l)}), and every query row and <em>query</em> head
 * attends its own {@code chunks} chunks (at most {@code chunks * l} keys):
 * <ul>
 *   <li>chunk 0 (the attention sink), the last complete chunk and the incomplete chunk holding the
 *       query (the local tokens) always,</li>
 *   <li>the {@code chunks - 3} other complete chunks with the highest {@code q_h . r_c}, where
 *       {@code r_c} is the chunk's representation ({@link LongHeadsMemory}: the chunk's keys pooled
 *       by attention from their mean key) for the KV head the query head reads; ties to the older
 *       chunk.</li>
 * </ul>
 * This is the authors' decode rule (their reference code, LuLuLuyi/LongHeads
 * {@code modeling_longheads/modeling_llama.py}: {@code topk(k = atten_chunk_num - 3)} over the
 * chunks between the first and the last complete one, then first + those + last + the tail); each
 * head then runs exact softmax attention over its keys, within the problem's mask. When every chunk
 * is selected (at most {@code chunks} chunks up to the query) the output is exact attention.
 *
 * <p>Where this differs from the reference code, on purpose: (1) the chunk representation. The
 * reference pools the chunk's keys (rotated at in-chunk positions) by attention from the mean of
 * the chunk's intra-chunk attention outputs, which needs every past query; this cache keeps no
 * queries, so the pooling query here is the chunk's mean key (the same attention pooling, a
 * different pooling query), and keys are the cached ones, rotated at their original positions;
 * the selecting query is the rotated query (the reference scores the unrotated one). (2) Positions:
 * the reference re-rotates the selected keys to contiguous positions {@code 0 .. n-1} so that every
 * head sees distances below the pre-trained length; here keys keep their original positions (each
 * head attends at most {@code chunks * l} keys, but their distances are the original ones). Within
 * the model's trained length (the retrieval model at 16K) that is what the model was trained on.
 *
 * <p><b>Cost</b> per query row and query head: {@code C * D} for the chunk scores (C complete
 * chunks), a top-k, a scan of the page positions, then split-K exact attention over at most
 * {@code chunks * l} keys, read in place ({@link SelectedKvView}); the chunk representations cost
 * one pass over each chunk's keys, once per chunk (on the first query after it completes).
 *
 * <p>Threading: bind a memory per call ({@link #attend(LongHeadsMemory, AttentionProblem, float[],
 * float[], AttentionObserver)}) or take a kernel from {@link #over}; an instance serves one sequence,
 * one call at a time.
 */
public final class LongHeadsAttention implements AttentionKernel {
    /** Chunks every head always attends: the first, the last complete one and the incomplete one. */
    public static final int ALWAYS = 3;

    private final TensorOps ops;
    private final int chunks;
    private final SplitKDecodeAttention exact;
    private final BitSet chosen = new BitSet();
    private float[] score = new float[0];
    private double[] rank = new double[0];
    private LongHeadsMemory memory;

    /**
     * @param chunks chunks each head attends per query, the three {@link #ALWAYS} attended included (at least 3)
     */
    public LongHeadsAttention(TensorOps ops, int chunks) {
        this.ops = Objects.requireNonNull(ops, "ops");
        if (chunks < ALWAYS) {
            throw new IllegalArgumentException("longheads: a head attends at least " + ALWAYS
                    + " chunks (the first, the last complete and the incomplete one), got " + chunks);
        }
        this.chunks = chunks;
        this.exact = new SplitKDecodeAttention(ops);
    }

    @Override
    public String name() {
        return "longheads";
    }

    /** Chunks each head attends per query. */
    public int chunks() {
        return chunks;
    }

    /** Attends with {@code mem}'s chunk representations (updated first, see the class comment). */
    public void attend(LongHeadsMemory mem, AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        this.memory = Objects.requireNonNull(mem, "memory");
        attend(p, out, lse, observer);
    }

    /** A kernel attending with {@code mem} through this instance (same threading rule). */
    public AttentionKernel over(LongHeadsMemory mem) {
        Objects.requireNonNull(mem, "memory");
        return new BoundKernel(this, () -> this.memory = mem);
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        LongHeadsMemory mem = boundMemory(p);
        int hq = p.queryHeads();
        int d = p.headDim();
        int g = p.groupSize();
        float[] rowOut = p.queryRows() == 1 ? out : new float[hq * d];
        float[] rowLse = p.queryRows() == 1 || lse == null ? lse : new float[hq];
        KvView[] views = new KvView[hq];
        for (int row = 0; row < p.queryRows(); row++) {
            long qPos = p.queryPositions()[row];
            for (int h = 0; h < hq; h++) {
                views[h] = SelectedKvView.of(p.kv()[h / g], keys(mem, p, row, h));
            }
            AttentionProblem sub = new AttentionProblem(p.queries(), p.queryIndex(row, 0), 1, hq, views, new long[] {qPos},
                    p.scale(), p.softCap(), p.mask());
            int r = row;
            AttentionObserver o = observer == null ? null : (x, head, kvHead, page, probs, count) ->
                    observer.observe(r, head, head / g, ((SelectedKvView) views[head]).basePage(page), probs, count);
            exact.attend(sub, rowOut, rowLse, o);
            if (rowOut != out) {
                System.arraycopy(rowOut, 0, out, row * hq * d, hq * d);
                if (lse != null) {
                    System.arraycopy(rowLse, 0, lse, row * hq, hq);
                }
            }
        }
    }

    /**
     * The keys query row {@code row} attends through query head {@code queryHead}, as key indices
     * {@code page * pageSize + slot} of its KV head's view (before the mask; the kernel applies it),
     * under {@code mem} (which it updates). For tests and harnesses.
     */
    public BitSet selectedKeys(LongHeadsMemory mem, AttentionProblem p, int row, int queryHead) {
        this.memory = Objects.requireNonNull(mem, "memory");
        if (row < 0 || row >= p.queryRows() || queryHead < 0 || queryHead >= p.queryHeads()) {
            throw new IllegalArgumentException(name() + ": row " + row + " / query head " + queryHead + " outside [0, "
                    + p.queryRows() + ") x [0, " + p.queryHeads() + ")");
        }
        return (BitSet) keys(boundMemory(p), p, row, queryHead).clone();
    }

    /** The chunks query row {@code row} and head {@code queryHead} attend, as chunk indices (see {@link #selectedKeys}). */
    public BitSet selectedChunks(LongHeadsMemory mem, AttentionProblem p, int row, int queryHead) {
        this.memory = Objects.requireNonNull(mem, "memory");
        boundMemory(p);
        BitSet c = new BitSet();
        choose(mem, p, row, queryHead, c);
        return c;
    }

    private LongHeadsMemory boundMemory(AttentionProblem p) {
        LongHeadsMemory mem = memory;
        if (mem == null) {
            throw new IllegalStateException(name() + ": no memory bound (attend(memory, ...) or over(memory))");
        }
        if (mem.kvHeads() != p.kvHeads() || mem.headDim() != p.headDim()) {
            throw new IllegalArgumentException(name() + ": the memory holds " + mem.kvHeads() + " KV heads of " + mem.headDim()
                    + " elements, the problem " + p.kvHeads() + " of " + p.headDim());
        }
        long maxPos = Long.MIN_VALUE;
        for (long pos : p.queryPositions()) {
            maxPos = Math.max(maxPos, pos);
        }
        if (maxPos >= 0) {
            VectorKernels k = ops.kernels();
            for (int kh = 0; kh < p.kvHeads(); kh++) {
                // the chunks complete before the query's chunk
                mem.represent(p.kv()[kh], kh, maxPos / mem.chunkSize(), k);
            }
        }
        return mem;
    }

    /** Marks in {@code chosen} the chunk indices row {@code row} and head {@code h} attend. */
    private void choose(LongHeadsMemory mem, AttentionProblem p, int row, int h, BitSet chosen) {
        chosen.clear();
        long qPos = p.queryPositions()[row];
        if (qPos < 0) {
            return;
        }
        int cur = (int) (qPos / mem.chunkSize()); // the incomplete chunk holding the query
        chosen.set(0);
        chosen.set(Math.max(0, cur - 1));
        chosen.set(cur);
        int candidates = cur - 2; // chunks 1 .. cur - 2
        if (candidates <= 0) {
            return;
        }
        int d = p.headDim();
        int kh = h / p.groupSize();
        float[] reps = mem.representations(kh);
        VectorKernels k = ops.kernels();
        score = SelectedAttention.grow(score, candidates);
        int qi = p.queryIndex(row, h);
        for (int c = 0; c < candidates; c++) {
            score[c] = k.dot(p.queries(), qi, reps, (c + 1) * d, d);
        }
        rank = TopK.scratch(rank, candidates);
        BitSet top = new BitSet();
        TopK.mark(score, candidates, chunks - ALWAYS, rank, top);
        for (int c = top.nextSetBit(0); c >= 0; c = top.nextSetBit(c + 1)) {
            chosen.set(c + 1);
        }
    }

    /** The key indices of the view of {@code h}'s KV head whose positions fall in the chosen chunks (a shared buffer). */
    private BitSet keys(LongHeadsMemory mem, AttentionProblem p, int row, int h) {
        choose(mem, p, row, h, chosen);
        KvView view = p.kv()[h / p.groupSize()];
        int ps = view.pageSize();
        long l = mem.chunkSize();
        BitSet keys = new BitSet(view.pageCount() * ps);
        for (int pg = 0; pg < view.pageCount(); pg++) {
            int n = view.pageLength(pg);
            if (n == 0) {
                continue;
            }
            long lo = view.pageMinPosition(pg);
            long hi = view.pageMaxPosition(pg);
            int base = pg * ps;
            if (hi - lo == n - 1 && view.allValid(pg)) {
                // positions lo..hi in slot order: set each chosen chunk's range directly
                for (int c = chosen.nextSetBit((int) Math.min(Integer.MAX_VALUE, lo / l)); c >= 0 && c * l <= hi;
                        c = chosen.nextSetBit(c + 1)) {
                    long a = Math.max(lo, c * l);
                    long b = Math.min(hi, c * l + l - 1);
                    if (a <= b) {
                        keys.set(base + (int) (a - lo), base + (int) (b - lo) + 1);
                    }
                }
                continue;
            }
            for (int s = 0; s < n; s++) {
                long pos = view.position(pg, s);
                if (pos >= 0 && chosen.get((int) Math.min(Integer.MAX_VALUE, pos / l))) {
                    keys.set(base + s);
                }
            }
        }
        return keys;
    }
}
