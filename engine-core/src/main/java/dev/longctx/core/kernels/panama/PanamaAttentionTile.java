package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaElementwise.*;
import static dev.longctx.core.kernels.panama.PanamaCodecs.*;
import static dev.longctx.core.kernels.panama.PanamaMatvec.*;
import static dev.longctx.core.kernels.panama.PanamaMatmul.*;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * The attention tile's kernels: weighted row sums (P.V), the online softmax across query rows of
 * key-major logits, the decode softmax, and the written-out vector exponential they share.
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaAttentionTile {
    private PanamaAttentionTile() {
    }

    /**
     * Keeps up to 8 vectors of the output in registers and streams the rows through them: per
     * row 8 loads and 8 FMAs, no stores (instead of an axpy per row, which loads and stores the
     * output every time and pays a call per row).
     */
    static void weightedRowSum(float[] w, int wOff, int n, float[] rows, int rowsOff, int d, float[] out, int outOff) {
        int c0 = 0;
        int block = 8 * FL;
        for (; c0 + block <= d; c0 += block) {
            int o = outOff + c0;
            FloatVector o0 = FloatVector.fromArray(FS, out, o);
            FloatVector o1 = FloatVector.fromArray(FS, out, o + FL);
            FloatVector o2 = FloatVector.fromArray(FS, out, o + 2 * FL);
            FloatVector o3 = FloatVector.fromArray(FS, out, o + 3 * FL);
            FloatVector o4 = FloatVector.fromArray(FS, out, o + 4 * FL);
            FloatVector o5 = FloatVector.fromArray(FS, out, o + 5 * FL);
            FloatVector o6 = FloatVector.fromArray(FS, out, o + 6 * FL);
            FloatVector o7 = FloatVector.fromArray(FS, out, o + 7 * FL);
            for (int k = 0; k < n; k++) {
                FloatVector wk = FloatVector.broadcast(FS, w[wOff + k]);
                int r = rowsOff + k * d + c0;
                o0 = FloatVector.fromArray(FS, rows, r).fma(wk, o0);
                o1 = FloatVector.fromArray(FS, rows, r + FL).fma(wk, o1);
                o2 = FloatVector.fromArray(FS, rows, r + 2 * FL).fma(wk, o2);
                o3 = FloatVector.fromArray(FS, rows, r + 3 * FL).fma(wk, o3);
                o4 = FloatVector.fromArray(FS, rows, r + 4 * FL).fma(wk, o4);
                o5 = FloatVector.fromArray(FS, rows, r + 5 * FL).fma(wk, o5);
                o6 = FloatVector.fromArray(FS, rows, r + 6 * FL).fma(wk, o6);
                o7 = FloatVector.fromArray(FS, rows, r + 7 * FL).fma(wk, o7);
            }
            o0.intoArray(out, o);
            o1.intoArray(out, o + FL);
            o2.intoArray(out, o + 2 * FL);
            o3.intoArray(out, o + 3 * FL);
            o4.intoArray(out, o + 4 * FL);
            o5.intoArray(out, o + 5 * FL);
            o6.intoArray(out, o + 6 * FL);
            o7.intoArray(out, o + 7 * FL);
        }
        // Four columns at once (a 64-wide head at 512 bits): four independent FMA chains instead of
        // one chain per column, which was latency-bound (0.77 us of a decode page's 3.3, 2026-11-26).
        // Each element still sums k in ascending order, so the result is the same.
        for (; c0 + 4 * FL <= d; c0 += 4 * FL) {
            int o = outOff + c0;
            FloatVector o0 = FloatVector.fromArray(FS, out, o);
            FloatVector o1 = FloatVector.fromArray(FS, out, o + FL);
            FloatVector o2 = FloatVector.fromArray(FS, out, o + 2 * FL);
            FloatVector o3 = FloatVector.fromArray(FS, out, o + 3 * FL);
            for (int k = 0; k < n; k++) {
                FloatVector wk = FloatVector.broadcast(FS, w[wOff + k]);
                int r = rowsOff + k * d + c0;
                o0 = FloatVector.fromArray(FS, rows, r).fma(wk, o0);
                o1 = FloatVector.fromArray(FS, rows, r + FL).fma(wk, o1);
                o2 = FloatVector.fromArray(FS, rows, r + 2 * FL).fma(wk, o2);
                o3 = FloatVector.fromArray(FS, rows, r + 3 * FL).fma(wk, o3);
            }
            o0.intoArray(out, o);
            o1.intoArray(out, o + FL);
            o2.intoArray(out, o + 2 * FL);
            o3.intoArray(out, o + 3 * FL);
        }
        for (; c0 + FL <= d; c0 += FL) {
            FloatVector acc = FloatVector.fromArray(FS, out, outOff + c0);
            for (int k = 0; k < n; k++) {
                acc = FloatVector.fromArray(FS, rows, rowsOff + k * d + c0).fma(FloatVector.broadcast(FS, w[wOff + k]), acc);
            }
            acc.intoArray(out, outOff + c0);
        }
        for (; c0 < d; c0++) {
            float acc = out[outOff + c0];
            for (int k = 0; k < n; k++) {
                acc = Math.fma(w[wOff + k], rows[rowsOff + k * d + c0], acc);
            }
            out[outOff + c0] = acc;
        }
    }

    /**
     * Outer-product form: 4 weight vectors x 4 column vectors = 16 accumulators loaded from and
     * stored back to {@code out}; per k, 4 row loads, 4 broadcasts and 16 FMAs, so each loaded
     * row serves four weight vectors. Remainders fall back to {@link #weightedRowSum}, whose
     * per-element order (k ascending, one FMA each) is the same.
     */
    static void weightedRowSums(float[] w, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                                float[] out, int outOff) {
        weightedRowSums(w, wOff, wStride, 1, m, n, rows, rowsOff, d, out, outOff);
    }

    static void weightedRowSumsT(float[] wT, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                                 float[] out, int outOff) {
        weightedRowSums(wT, wOff, 1, wStride, m, n, rows, rowsOff, d, out, outOff);
    }

    /** Weight of row i at key k at {@code w[wOff + i * wStride + k * ks]}. */
    static void weightedRowSums(float[] w, int wOff, int wStride, int ks, int m, int n, float[] rows,
                                        int rowsOff, int d, float[] out, int outOff) {
        int i = 0;
        int cBlock = 4 * FL;
        for (; i + 4 <= m; i += 4) {
            int c0 = 0;
            for (; c0 + cBlock <= d; c0 += cBlock) {
                weightedRowSums4(w, wOff + i * wStride, wStride, ks, n, rows, rowsOff + c0, d, out, outOff + i * d + c0);
            }
            if (c0 < d) {
                for (int ii = i; ii < i + 4; ii++) {
                    weightedRowSumColumns(w, wOff + ii * wStride, ks, n, rows, rowsOff, d, out, outOff + ii * d, c0);
                }
            }
        }
        if (m - i == 3) {
            // Three weight vectors left (decode with a group of 3 query heads): each row of
            // {@code rows} loaded once for the three, four columns of vectors at a time.
            int c0 = 0;
            for (; c0 + cBlock <= d; c0 += cBlock) {
                weightedRowSums3(w, wOff + i * wStride, wStride, ks, n, rows, rowsOff + c0, d, out, outOff + i * d + c0);
            }
            if (c0 < d) {
                for (int ii = i; ii < m; ii++) {
                    weightedRowSumColumns(w, wOff + ii * wStride, ks, n, rows, rowsOff, d, out, outOff + ii * d, c0);
                }
            }
            return;
        }
        for (; i < m; i++) {
            weightedRowSumColumns(w, wOff + i * wStride, ks, n, rows, rowsOff, d, out, outOff + i * d, 0);
        }
    }

    /** One 3 x (4 vectors) block of {@link #weightedRowSums}; k ascending per element, as weightedRowSum. */
    static void weightedRowSums3(float[] w, int wOff, int wStride, int ks, int n, float[] rows, int rowsOff, int d,
                                         float[] out, int outOff) {
        int p0 = outOff;
        int p1 = p0 + d;
        int p2 = p1 + d;
        FloatVector a0 = FloatVector.fromArray(FS, out, p0), a1 = FloatVector.fromArray(FS, out, p0 + FL);
        FloatVector a2 = FloatVector.fromArray(FS, out, p0 + 2 * FL), a3 = FloatVector.fromArray(FS, out, p0 + 3 * FL);
        FloatVector b0 = FloatVector.fromArray(FS, out, p1), b1 = FloatVector.fromArray(FS, out, p1 + FL);
        FloatVector b2 = FloatVector.fromArray(FS, out, p1 + 2 * FL), b3 = FloatVector.fromArray(FS, out, p1 + 3 * FL);
        FloatVector c0 = FloatVector.fromArray(FS, out, p2), c1 = FloatVector.fromArray(FS, out, p2 + FL);
        FloatVector c2 = FloatVector.fromArray(FS, out, p2 + 2 * FL), c3 = FloatVector.fromArray(FS, out, p2 + 3 * FL);
        for (int k = 0; k < n; k++) {
            int r = rowsOff + k * d;
            FloatVector v0 = FloatVector.fromArray(FS, rows, r);
            FloatVector v1 = FloatVector.fromArray(FS, rows, r + FL);
            FloatVector v2 = FloatVector.fromArray(FS, rows, r + 2 * FL);
            FloatVector v3 = FloatVector.fromArray(FS, rows, r + 3 * FL);
            FloatVector wa = FloatVector.broadcast(FS, w[wOff + k * ks]);
            a0 = v0.fma(wa, a0);
            a1 = v1.fma(wa, a1);
            a2 = v2.fma(wa, a2);
            a3 = v3.fma(wa, a3);
            FloatVector wb = FloatVector.broadcast(FS, w[wOff + wStride + k * ks]);
            b0 = v0.fma(wb, b0);
            b1 = v1.fma(wb, b1);
            b2 = v2.fma(wb, b2);
            b3 = v3.fma(wb, b3);
            FloatVector wc = FloatVector.broadcast(FS, w[wOff + 2 * wStride + k * ks]);
            c0 = v0.fma(wc, c0);
            c1 = v1.fma(wc, c1);
            c2 = v2.fma(wc, c2);
            c3 = v3.fma(wc, c3);
        }
        a0.intoArray(out, p0);
        a1.intoArray(out, p0 + FL);
        a2.intoArray(out, p0 + 2 * FL);
        a3.intoArray(out, p0 + 3 * FL);
        b0.intoArray(out, p1);
        b1.intoArray(out, p1 + FL);
        b2.intoArray(out, p1 + 2 * FL);
        b3.intoArray(out, p1 + 3 * FL);
        c0.intoArray(out, p2);
        c1.intoArray(out, p2 + FL);
        c2.intoArray(out, p2 + 2 * FL);
        c3.intoArray(out, p2 + 3 * FL);
    }

    /**
     * One 4 x (4 vectors) block of {@link #weightedRowSums}: its own method so that C2 compiles it
     * small enough to intrinsify every vector operation (inside the larger caller it did not, and
     * ran the boxed fallback).
     */
    static void weightedRowSums4(float[] w, int wOff, int wStride, int ks, int n, float[] rows, int rowsOff, int d,
                                         float[] out, int outOff) {
        int o0 = outOff;
        int o1 = o0 + d;
        int o2 = o1 + d;
        int o3 = o2 + d;
        FloatVector a00 = FloatVector.fromArray(FS, out, o0), a01 = FloatVector.fromArray(FS, out, o0 + FL);
        FloatVector a02 = FloatVector.fromArray(FS, out, o0 + 2 * FL), a03 = FloatVector.fromArray(FS, out, o0 + 3 * FL);
        FloatVector a10 = FloatVector.fromArray(FS, out, o1), a11 = FloatVector.fromArray(FS, out, o1 + FL);
        FloatVector a12 = FloatVector.fromArray(FS, out, o1 + 2 * FL), a13 = FloatVector.fromArray(FS, out, o1 + 3 * FL);
        FloatVector a20 = FloatVector.fromArray(FS, out, o2), a21 = FloatVector.fromArray(FS, out, o2 + FL);
        FloatVector a22 = FloatVector.fromArray(FS, out, o2 + 2 * FL), a23 = FloatVector.fromArray(FS, out, o2 + 3 * FL);
        FloatVector a30 = FloatVector.fromArray(FS, out, o3), a31 = FloatVector.fromArray(FS, out, o3 + FL);
        FloatVector a32 = FloatVector.fromArray(FS, out, o3 + 2 * FL), a33 = FloatVector.fromArray(FS, out, o3 + 3 * FL);
        for (int k = 0; k < n; k++) {
            int r = rowsOff + k * d;
            FloatVector v0 = FloatVector.fromArray(FS, rows, r);
            FloatVector v1 = FloatVector.fromArray(FS, rows, r + FL);
            FloatVector v2 = FloatVector.fromArray(FS, rows, r + 2 * FL);
            FloatVector v3 = FloatVector.fromArray(FS, rows, r + 3 * FL);
            FloatVector b = FloatVector.broadcast(FS, w[wOff + k * ks]);
            a00 = v0.fma(b, a00);
            a01 = v1.fma(b, a01);
            a02 = v2.fma(b, a02);
            a03 = v3.fma(b, a03);
            b = FloatVector.broadcast(FS, w[wOff + wStride + k * ks]);
            a10 = v0.fma(b, a10);
            a11 = v1.fma(b, a11);
            a12 = v2.fma(b, a12);
            a13 = v3.fma(b, a13);
            b = FloatVector.broadcast(FS, w[wOff + 2 * wStride + k * ks]);
            a20 = v0.fma(b, a20);
            a21 = v1.fma(b, a21);
            a22 = v2.fma(b, a22);
            a23 = v3.fma(b, a23);
            b = FloatVector.broadcast(FS, w[wOff + 3 * wStride + k * ks]);
            a30 = v0.fma(b, a30);
            a31 = v1.fma(b, a31);
            a32 = v2.fma(b, a32);
            a33 = v3.fma(b, a33);
        }
        a00.intoArray(out, o0);
        a01.intoArray(out, o0 + FL);
        a02.intoArray(out, o0 + 2 * FL);
        a03.intoArray(out, o0 + 3 * FL);
        a10.intoArray(out, o1);
        a11.intoArray(out, o1 + FL);
        a12.intoArray(out, o1 + 2 * FL);
        a13.intoArray(out, o1 + 3 * FL);
        a20.intoArray(out, o2);
        a21.intoArray(out, o2 + FL);
        a22.intoArray(out, o2 + 2 * FL);
        a23.intoArray(out, o2 + 3 * FL);
        a30.intoArray(out, o3);
        a31.intoArray(out, o3 + FL);
        a32.intoArray(out, o3 + 2 * FL);
        a33.intoArray(out, o3 + 3 * FL);
    }

    /** Columns {@code [c0, d)} of one weighted row sum, k in ascending order per element. */
    static void weightedRowSumColumns(float[] w, int wOff, int ks, int n, float[] rows, int rowsOff, int d,
                                              float[] out, int outOff, int c0) {
        int c = c0;
        for (; c + FL <= d; c += FL) {
            FloatVector acc = FloatVector.fromArray(FS, out, outOff + c);
            for (int k = 0; k < n; k++) {
                acc = FloatVector.fromArray(FS, rows, rowsOff + k * d + c).fma(FloatVector.broadcast(FS, w[wOff + k * ks]), acc);
            }
            acc.intoArray(out, outOff + c);
        }
        for (; c < d; c++) {
            float acc = out[outOff + c];
            for (int k = 0; k < n; k++) {
                acc = Math.fma(w[wOff + k * ks], rows[rowsOff + k * d + c], acc);
            }
            out[outOff + c] = acc;
        }
    }

    static float expShiftSum(float[] x, int off, int n, float shift) {
        FloatVector s = FloatVector.zero(FS);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            // The library exponential, not exp(FloatVector): on a decode tile's rows (3 x 64
            // entries) it took 57-60 ns against 92-95 ns for the written-out one.
            FloatVector e = FloatVector.fromArray(FS, x, off + i).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            s = s.add(e);
        }
        float r = s.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - shift);
            x[off + i] = e;
            r += e;
        }
        return r;
    }

    /** log2(e): exp(x) = 2^(x log2 e). */
    static final float EXP_LOG2E = 1.44269504f;

    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer, held in the low mantissa bits. */
    static final float EXP_ROUND = 12582912f;

    /** The bits of {@link #EXP_ROUND}: subtracting them from the sum's bits leaves the integer. */
    static final int EXP_ROUND_BITS = Float.floatToRawIntBits(EXP_ROUND);

    /** -ln 2 split in two (Cody and Waite) so that x - n ln 2 is exact for the n that occur here. */
    static final float EXP_MINUS_LN2_HI = -0.693145752f;

    static final float EXP_MINUS_LN2_LO = -1.42860677e-6f;

    /**
     * 2/k! for k = 1..6: twice the Taylor coefficients of exp (exact in binary), so that the
     * polynomial gives 2 exp(r) and the exponent bits need only 2^(n-1), which stays a normal
     * float from n = -124 to n = 128 (the whole range below).
     */
    static final float EXP_C1 = 2f;

    static final float EXP_C2 = 1f;

    static final float EXP_C3 = 2f / 6;

    static final float EXP_C4 = 2f / 24;

    static final float EXP_C5 = 2f / 120;

    static final float EXP_C6 = 2f / 720;

    /** Smallest argument kept: exp(-86) = 4.4e-38, a normal float; below it the result is 0. */
    static final float EXP_MIN_ARG = -86f;

    /** Largest argument with a finite result: ln(Float.MAX_VALUE); above it the result is infinity. */
    static final float EXP_MAX_ARG = 88.7228391f;

    /**
     * Vectorised across the rows (columns of s), a block of FL rows at a time, the last block
     * masked: one pass for the maxima ({@link #columnMaxima}) and one for the exponentials and
     * sums ({@link #expColumns}), with no horizontal reduction. Two small methods, not one: inlined
     * into a larger caller, C2 left some of the vector operations unintrinsified (this kernel
     * then took 16-83 instead of 3-4 us per page of 64 keys x 128 rows).
     */
    static boolean onlineSoftmaxColumns(float[] s, int off, int stride, int n, int m, float[] max, float[] sum,
                                        float[] corr) {
        boolean any = false;
        for (int i = 0; i < m; i += FL) {
            any |= columnMaxima(s, off, stride, n, i, m, max, corr);
            expColumns(s, off, stride, n, i, m, max, sum, corr);
        }
        return any;
    }

    static void expShiftColumns(float[] s, int off, int stride, int n, int m, float[] shift) {
        for (int i = 0; i < m; i += FL) {
            expColumns(s, off, stride, n, i, m, shift, null, null);
        }
    }

    /**
     * Rows {@code [i, i + FL)} of {@link #onlineSoftmaxColumns}: the new maxima into {@code max}
     * and the rescaling factors into {@code corr} (1 for rows that see no key, whose maximum
     * stays); returns whether any of these rows sees a key.
     */
    static boolean columnMaxima(float[] s, int off, int stride, int n, int i, int m, float[] max,
                                        float[] corr) {
        VectorMask<Float> in = FS.indexInRange(i, m);
        // Four chains: Java's max (NaN and signed zeros) compiles to several dependent
        // instructions, and one chain over 64 keys took as long as the exponentials.
        FloatVector mx0 = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        FloatVector mx1 = mx0;
        FloatVector mx2 = mx0;
        FloatVector mx3 = mx0;
        int j4 = n & ~3;
        for (int j = 0; j < j4; j += 4) {
            int o = off + j * stride + i;
            mx0 = mx0.max(FloatVector.fromArray(FS, s, o, in));
            mx1 = mx1.max(FloatVector.fromArray(FS, s, o + stride, in));
            mx2 = mx2.max(FloatVector.fromArray(FS, s, o + 2 * stride, in));
            mx3 = mx3.max(FloatVector.fromArray(FS, s, o + 3 * stride, in));
        }
        for (int j = j4; j < n; j++) {
            mx0 = mx0.max(FloatVector.fromArray(FS, s, off + j * stride + i, in));
        }
        FloatVector mx = mx0.max(mx1).max(mx2.max(mx3));
        VectorMask<Float> unseen = mx.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY);
        FloatVector old = FloatVector.fromArray(FS, max, i, in);
        FloatVector mNew = old.max(mx);
        // exp(-inf - mNew) = 0 where nothing was seen before; exactly 1 where the maximum stays
        // (and for rows that see nothing, whose old - mNew may be -inf - -inf).
        exp(old.sub(mNew)).blend(1f, old.compare(VectorOperators.EQ, mNew).or(unseen))
                .intoArray(corr, i, in);
        mNew.intoArray(max, i, in);
        return in.andNot(unseen).anyTrue();
    }

    /**
     * Rows {@code [i, i + FL)} of {@link #onlineSoftmaxColumns} after {@link #columnMaxima}, or of
     * {@link #expShiftColumns}: {@code s = exp(s - shift)} (shift 0 for a row whose shift is
     * -infinity, so that its -infinity logits give 0, not NaN) and, unless {@code sum} is null,
     * {@code sum = sum * corr + sum of the new s}.
     */
    static void expColumns(float[] s, int off, int stride, int n, int i, int m, float[] shifts, float[] sum,
                                   float[] corr) {
        VectorMask<Float> in = FS.indexInRange(i, m);
        FloatVector mv = FloatVector.fromArray(FS, shifts, i, in);
        FloatVector shift = mv.blend(0f, mv.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY));
        FloatVector total = FloatVector.zero(FS);
        for (int j = 0; j < n; j++) {
            int o = off + j * stride + i;
            FloatVector e = exp(FloatVector.fromArray(FS, s, o, in).sub(shift));
            e.intoArray(s, o, in);
            total = total.add(e);
        }
        if (sum != null) {
            FloatVector.fromArray(FS, sum, i, in).fma(FloatVector.fromArray(FS, corr, i, in), total).intoArray(sum, i, in);
        }
    }

    /**
     * exp(x) for the column (prefill) kernels, written out (see EXP_*): there the library call
     * ({@code VectorOperators.EXP}) cost as much as the logits of the page (the decode softmax,
     * {@link #expShiftSum}, keeps the library call, faster on its short rows). x = n ln2 + r,
     * |r| <= ln2 / 2, 2 exp(r) by the Taylor polynomial of degree 6 (truncation below 1.2e-7
     * relative), times 2^(n-1) through the exponent bits; below {@link #EXP_MIN_ARG} (and at
     * -infinity) the result is 0, above {@link #EXP_MAX_ARG} infinity, NaN stays NaN.
     */
    static FloatVector exp(FloatVector x) {
        VectorMask<Float> tiny = x.compare(VectorOperators.LT, EXP_MIN_ARG);
        VectorMask<Float> huge = x.compare(VectorOperators.GT, EXP_MAX_ARG);
        FloatVector xc = x.max(EXP_MIN_ARG).min(EXP_MAX_ARG);
        FloatVector t = xc.fma(EXP_LOG2E, EXP_ROUND);
        FloatVector nf = t.sub(EXP_ROUND);
        FloatVector r = nf.fma(FloatVector.broadcast(FS, EXP_MINUS_LN2_LO),
                nf.fma(FloatVector.broadcast(FS, EXP_MINUS_LN2_HI), xc));
        FloatVector two = FloatVector.broadcast(FS, EXP_C1);
        FloatVector p = r.fma(EXP_C6, EXP_C5).fma(r, FloatVector.broadcast(FS, EXP_C4)).fma(r, FloatVector.broadcast(FS, EXP_C3))
                .fma(r, FloatVector.broadcast(FS, EXP_C2)).fma(r, two).fma(r, two);
        FloatVector scale = ((IntVector) t.reinterpretAsInts().sub(EXP_ROUND_BITS).add(126)
                .lanewise(VectorOperators.LSHL, 23)).reinterpretAsFloats();
        return p.mul(scale).blend(0f, tiny).blend(Float.POSITIVE_INFINITY, huge);
    }
}
