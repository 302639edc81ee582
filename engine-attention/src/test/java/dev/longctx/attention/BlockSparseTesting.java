package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Helpers for the block-sparse tests: the explicit element mask equivalent to a {@link BlockMask}
 * (views whose dropped pages read as invalid), a view that counts page reads, random masks.
 */
final class BlockSparseTesting {
    private BlockSparseTesting() {
    }

    /** Which slots of a view stay valid (besides the view's own validity). */
    interface SlotFilter {
        boolean keep(int page, int slot);
    }

    /** A view that delegates everything but reports the slots {@code keep} rejects as invalid. */
    static final class FilteredView implements KvView {
        private final KvView v;
        private final SlotFilter keep;

        FilteredView(KvView v, SlotFilter keep) {
            this.v = v;
            this.keep = keep;
        }

        @Override public int headDim() { return v.headDim(); }
        @Override public DType dtype() { return v.dtype(); }
        @Override public int pageSize() { return v.pageSize(); }
        @Override public int pageCount() { return v.pageCount(); }
        @Override public int pageLength(int page) { return v.pageLength(page); }
        @Override public MemorySegment keys(int page) { return v.keys(page); }
        @Override public MemorySegment values(int page) { return v.values(page); }
        @Override public long position(int page, int slot) { return v.position(page, slot); }
        @Override public boolean isValid(int page, int slot) { return keep.keep(page, slot) && v.isValid(page, slot); }
    }

    /** {@code v} with only the pages in {@code kept} valid. */
    static KvView maskedView(KvView v, int[] kept) {
        boolean[] keptPage = new boolean[v.pageCount()];
        for (int page : kept) {
            keptPage[page] = true;
        }
        return new FilteredView(v, (page, slot) -> keptPage[page]);
    }

    /** A view that counts reads of each page's keys and values, optionally with other key bounds. */
    static final class CountingView implements KvView {
        final KvView v;
        final AtomicIntegerArray keyReads;
        final AtomicIntegerArray valueReads;
        private final PageKeyBounds bounds;

        CountingView(KvView v) {
            this(v, null);
        }

        /** Counts reads and reports {@code bounds} (null: none) as its key bounds. */
        CountingView(KvView v, PageKeyBounds bounds) {
            this.v = v;
            this.keyReads = new AtomicIntegerArray(v.pageCount());
            this.valueReads = new AtomicIntegerArray(v.pageCount());
            this.bounds = bounds;
        }

        @Override public PageKeyBounds keyBounds() { return bounds; }

        @Override public int headDim() { return v.headDim(); }
        @Override public DType dtype() { return v.dtype(); }
        @Override public int pageSize() { return v.pageSize(); }
        @Override public int pageCount() { return v.pageCount(); }
        @Override public int pageLength(int page) { return v.pageLength(page); }
        @Override public long position(int page, int slot) { return v.position(page, slot); }
        @Override public boolean isValid(int page, int slot) { return v.isValid(page, slot); }

        @Override
        public MemorySegment keys(int page) {
            keyReads.incrementAndGet(page);
            return v.keys(page);
        }

        @Override
        public MemorySegment values(int page) {
            valueReads.incrementAndGet(page);
            return v.values(page);
        }

        int reads(int page) {
            return keyReads.get(page) + valueReads.get(page);
        }
    }

    /**
     * The reference for a block mask: {@link NaiveAttention} run per query block on views whose
     * dropped pages read as invalid (the equivalent explicit element mask). Fills out and lse.
     */
    static void naiveWithMask(AttentionProblem p, BlockMask mask, float[] out, float[] lse, AttentionObserver observer) {
        int d = p.headDim();
        for (int b = 0; b < mask.queryBlocks(); b++) {
            int i0 = mask.queryBlockStart(b);
            int i1 = mask.queryBlockEnd(b);
            KvView[] views = new KvView[p.kvHeads()];
            for (int h = 0; h < views.length; h++) {
                views[h] = maskedView(p.kv()[h], mask.keptPages(h, b));
            }
            AttentionProblem sub = new AttentionProblem(p.queries(), p.queryIndex(i0, 0), i1 - i0, p.queryHeads(), views,
                    Arrays.copyOfRange(p.queryPositions(), i0, i1), p.scale(), p.softCap(), p.mask());
            float[] o = new float[sub.outputLength()];
            float[] l = new float[(i1 - i0) * p.queryHeads()];
            AttentionObserver shifted = observer == null ? null
                    : (row, head, kvHead, page, probs, count) -> observer.observe(row + i0, head, kvHead, page, probs, count);
            new NaiveAttention().attend(sub, o, l, shifted);
            System.arraycopy(o, 0, out, i0 * p.queryHeads() * d, o.length);
            if (lse != null) {
                System.arraycopy(l, 0, lse, i0 * p.queryHeads(), l.length);
            }
        }
    }

    /** Runs the block-sparse kernel with the mask and checks it against {@link #naiveWithMask}. */
    static void assertMatchesMaskedNaive(BlockSparseAttention kernel, AttentionProblem p, BlockMask mask, double tol,
                                         String what) {
        float[] out = new float[p.outputLength()];
        float[] lse = new float[p.queryRows() * p.queryHeads()];
        float[] refOut = new float[p.outputLength()];
        float[] refLse = new float[p.queryRows() * p.queryHeads()];
        kernel.attend(p, mask, out, lse, null);
        naiveWithMask(p, mask, refOut, refLse, null);
        double err = Problems.relativeError(out, refOut, out.length);
        assertTrue(err <= tol, what + " " + p + " " + mask + ": relative error " + err + " > " + tol);
        for (int i = 0; i < lse.length; i++) {
            boolean bothEmpty = lse[i] == Float.NEGATIVE_INFINITY && refLse[i] == Float.NEGATIVE_INFINITY;
            assertTrue(bothEmpty || Math.abs(lse[i] - refLse[i]) <= 1e-4 * Math.max(1, Math.abs(refLse[i])),
                    what + " " + p + ": lse[" + i + "] " + lse[i] + " vs " + refLse[i]);
        }
    }

    /**
     * A random mask: each (head, query block, page) kept with probability {@code density}; with
     * {@code causalDiagonal}, also the last page each block may attend (so few rows are empty).
     */
    static BlockMask randomMask(SplittableRandom r, AttentionProblem p, double density, boolean causalDiagonal) {
        BlockMask.Builder b = BlockMask.builder(p);
        for (int h = 0; h < p.kvHeads(); h++) {
            KvView view = p.kv()[h];
            for (int q = 0; q < b.queryBlocks(); q++) {
                int i1 = Math.min(p.queryRows(), (q + 1) * b.queryBlockTokens()) - 1;
                long qHi = p.queryPositions()[i1];
                for (int page = 0; page < view.pageCount(); page++) {
                    if (r.nextDouble() < density) {
                        b.keep(h, q, page);
                    }
                    if (causalDiagonal && view.pageLength(page) > 0 && view.pageMinPosition(page) <= qHi
                            && (page + 1 == view.pageCount() || view.pageMinPosition(page + 1) > qHi)) {
                        b.keep(h, q, page);
                    }
                }
            }
        }
        return b.build();
    }
}
