package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PartialStateTest {

    /** Exact state (output, lse) of one query over keys [from, to) of a view, via the naive kernel. */
    private static float[] state(KvView full, float[] q, int from, int to, float[] lseOut) {
        int d = full.headDim();
        long[] pos = {Long.MAX_VALUE / 2};
        AttentionMask keep = new AttentionMask(false, 0, 0);
        // A view of the subrange: invalidate everything else.
        DenseKvView sub = (DenseKvView) full;
        float[] out = new float[d];
        float[] lse = new float[1];
        new NaiveAttention().attend(new AttentionProblem(q, 0, 1, 1, new KvView[] {restrict(sub, from, to)}, pos, 0.3f, 0f, keep),
                out, lse, null);
        lseOut[0] = lse[0];
        return out;
    }

    private static KvView restrict(DenseKvView v, int from, int to) {
        return new KvView() {
            public int headDim() { return v.headDim(); }
            public DType dtype() { return v.dtype(); }
            public int pageSize() { return v.pageSize(); }
            public int pageCount() { return v.pageCount(); }
            public int pageLength(int page) { return v.pageLength(page); }
            public java.lang.foreign.MemorySegment keys(int page) { return v.keys(page); }
            public java.lang.foreign.MemorySegment values(int page) { return v.values(page); }
            public long position(int page, int slot) { return v.position(page, slot); }
            public boolean isValid(int page, int slot) {
                int i = page * v.pageSize() + slot;
                return i >= from && i < to && v.isValid(page, slot);
            }
        };
    }

    @Test
    void mergeIsExactCommutativeAndAssociative() {
        SplittableRandom r = new SplittableRandom(1);
        int d = 16;
        int n = 90;
        KvView view = DenseKvView.of(Problems.gaussian(r, n * d, 1), Problems.gaussian(r, n * d, 1), d, DType.F32, 8);
        float[] q = Problems.gaussian(r, d, 2);
        float[] l = new float[1];
        float[] whole = state(view, q, 0, n, l);
        float lseWhole = l[0];
        float[] a = state(view, q, 0, 20, l);
        float la = l[0];
        float[] b = state(view, q, 20, 55, l);
        float lb = l[0];
        float[] c = state(view, q, 55, n, l);
        float lc = l[0];

        // (a + b) + c
        float[] ab = a.clone();
        float lab = PartialState.merge(ab, 0, la, b, 0, lb, d);
        float[] abc = ab.clone();
        float labc = PartialState.merge(abc, 0, lab, c, 0, lc, d);
        // a + (b + c), and c + (b + a)
        float[] bc = b.clone();
        float lbc = PartialState.merge(bc, 0, lb, c, 0, lc, d);
        float[] abc2 = a.clone();
        float labc2 = PartialState.merge(abc2, 0, la, bc, 0, lbc, d);
        float[] ba = b.clone();
        float lba = PartialState.merge(ba, 0, lb, a, 0, la, d);
        float[] cba = c.clone();
        float lcba = PartialState.merge(cba, 0, lc, ba, 0, lba, d);

        for (float[] m : new float[][] {abc, abc2, cba}) {
            assertTrue(Problems.relativeError(m, whole, d) <= 1e-6, "merged output differs from the whole");
        }
        for (float lm : new float[] {labc, labc2, lcba}) {
            assertEquals(lseWhole, lm, 1e-5);
        }
    }

    @Test
    void emptyStateIsTheIdentity() {
        float[] a = {1, 2, 3};
        float[] empty = {9, 9, 9};
        assertEquals(0.5f, PartialState.merge(a, 0, 0.5f, empty, 0, Float.NEGATIVE_INFINITY, 3));
        assertArrayEquals(new float[] {1, 2, 3}, a);
        float[] e2 = {7, 7, 7};
        assertEquals(0.5f, PartialState.merge(e2, 0, Float.NEGATIVE_INFINITY, a, 0, 0.5f, 3));
        assertArrayEquals(new float[] {1, 2, 3}, e2);
    }

    @Test
    void largeLogSumExpsDoNotOverflow() {
        float[] a = {1, 0};
        float[] b = {0, 1};
        float l = PartialState.merge(a, 0, 1000f, b, 0, 1000f, 2);
        assertEquals(1000f + (float) Math.log(2), l, 1e-3);
        assertArrayEquals(new float[] {0.5f, 0.5f}, a, 1e-6f);
    }
}
