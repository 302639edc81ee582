package dev.longctx.core.kernels.panama;

import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Halfs;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels with the preferred species (512-bit on AVX-512, 256-bit on AVX2).
 *
 * <p>Weight rows are read in place from their {@link MemorySegment} and dequantised in registers:
 * F16 by integer bit manipulation (JDK 25 has no half-float conversion operator), BF16 by a shift,
 * Q8_0 and Q4_0 by byte-to-float conversion and one scale per block of 32.
 *
 * <p>Matvec processes four rows at a time so each activation vector is loaded once per four
 * rows; matmul decodes a tile of weight rows once into a thread-local buffer and multiplies it with
 * blocks of tokens through a 4x4 register-blocked microkernel (16 vector accumulators). Every
 * output element is accumulated in one vector register in the same order whichever path computes
 * it, so results do not depend on how rows are split between threads.
 */
public final class PanamaVectorKernels implements VectorKernels {
    /**
     * System property setting the vector width in bits ({@code 128}, {@code 256} or {@code 512}):
     * the tests run every kernel at each width; users leave it unset (the machine's preferred
     * width). Read once, when this class initialises: the species must stay constants for C2.
     */
    public static final String VECTOR_BITS_PROPERTY = "longctx.vectorBits";
    private static final String VECTOR_BITS = System.getProperty(VECTOR_BITS_PROPERTY, "").trim();
    private static final VectorSpecies<Float> FS = floatSpecies(VECTOR_BITS);
    private static final int FL = FS.length();
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    /** Shorts for FL lanes of half floats; only built when the shape exists (FL >= 4). */
    private static final VectorSpecies<Short> SS = FL >= 4
            ? VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, FL * 16))) : null;
    private static final VectorSpecies<Byte> BS = ByteVector.SPECIES_128;
    /** Float vectors per 16 bytes converted with B2F. */
    private static final int PARTS16 = 16 / Math.max(1, Math.min(16, FL));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int QK = Quantization.QK;
    /** Tokens per block of the transposed activation layout (see VectorKernels). */
    private static final int TB = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
    /** Floats of activations per token block in matmul (256 KiB: stays in L2 next to the weight tile). */
    private static final int TOKEN_BLOCK_FLOATS = 64 * 1024;

    private final ThreadLocal<float[]> tileScratch = ThreadLocal.withInitial(() -> new float[0]);

    /** Creates the kernels; throws if {@link #unsupportedReason()} is not null. */
    public PanamaVectorKernels() {
        String why = unsupportedReason();
        if (why != null) {
            throw new UnsupportedOperationException(why);
        }
    }

    /** The float species of {@code bits} (128, 256, 512), or the preferred one for "" and anything else (see {@link #unsupportedReason()}). */
    private static VectorSpecies<Float> floatSpecies(String bits) {
        return switch (bits) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> FloatVector.SPECIES_PREFERRED;
        };
    }

    /** The vector width these kernels run at, in bits. */
    public static int vectorBits() {
        return FS.vectorBitSize();
    }

    /** Why these kernels cannot run with the chosen species, or null. */
    public static String unsupportedReason() {
        if (!VECTOR_BITS.isEmpty() && !VECTOR_BITS.equals("128") && !VECTOR_BITS.equals("256") && !VECTOR_BITS.equals("512")) {
            return "-D" + VECTOR_BITS_PROPERTY + "=" + VECTOR_BITS + " is not one of 128, 256, 512";
        }
        if (2 * FL > VectorKernels.TRANSPOSED_TOKEN_MULTIPLE && FL <= 16) {
            return "internal: token padding " + VectorKernels.TRANSPOSED_TOKEN_MULTIPLE + " is not a multiple of 2 x " + FL;
        }
        if (FL < 4) {
            return "the preferred float species has " + FL + " lanes (fewer than 4): no useful SIMD";
        }
        if (FL > 16) {
            return "the preferred float species has " + FL + " lanes: wider than 512 bits is not supported yet";
        }
        return null;
    }

    @Override
    public String name() {
        return "panama-" + FS.vectorBitSize();
    }

    @Override
    public boolean isVectorized() {
        return true;
    }

    // ---------------------------------------------------------------- elementwise

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector s0 = FloatVector.zero(FS);
        FloatVector s1 = FloatVector.zero(FS);
        FloatVector s2 = FloatVector.zero(FS);
        FloatVector s3 = FloatVector.zero(FS);
        int i = 0;
        int bound4 = n - n % (4 * FL);
        for (; i < bound4; i += 4 * FL) {
            s0 = FloatVector.fromArray(FS, a, aOff + i).fma(FloatVector.fromArray(FS, b, bOff + i), s0);
            s1 = FloatVector.fromArray(FS, a, aOff + i + FL).fma(FloatVector.fromArray(FS, b, bOff + i + FL), s1);
            s2 = FloatVector.fromArray(FS, a, aOff + i + 2 * FL).fma(FloatVector.fromArray(FS, b, bOff + i + 2 * FL), s2);
            s3 = FloatVector.fromArray(FS, a, aOff + i + 3 * FL).fma(FloatVector.fromArray(FS, b, bOff + i + 3 * FL), s3);
        }
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            s0 = FloatVector.fromArray(FS, a, aOff + i).fma(FloatVector.fromArray(FS, b, bOff + i), s0);
        }
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    /** Two FMA chains per bound (one per pair), one horizontal sum; the tail as in {@link #dot}. */
    @Override
    public void pairedDots(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] xs, float[] ys, int from,
                           int to, float[] out, int outStride) {
        int bound = n - n % FL;
        for (int p = from; p < to; p++) {
            int xo = p * n;
            for (int j = 0; j < rows; j++) {
                int ao = aOff + j * n;
                int bo = bOff + j * n;
                FloatVector sa = FloatVector.zero(FS);
                FloatVector sb = FloatVector.zero(FS);
                int i = 0;
                for (; i < bound; i += FL) {
                    sa = FloatVector.fromArray(FS, a, ao + i).fma(FloatVector.fromArray(FS, xs, xo + i), sa);
                    sb = FloatVector.fromArray(FS, b, bo + i).fma(FloatVector.fromArray(FS, ys, xo + i), sb);
                }
                float s = sa.add(sb).reduceLanes(VectorOperators.ADD);
                for (; i < n; i++) {
                    s += a[ao + i] * xs[xo + i] + b[bo + i] * ys[xo + i];
                }
                out[j * outStride + p] = s;
            }
        }
    }

    /**
     * As {@link #pairedDots}, each bfloat16 widened in registers (sign extension and shift, as the
     * BF16 matvec): 90 heads x 1024 pages of 64-channel bounds, g = 3, one thread, 1.9 ms against
     * 3.1 ms for the F32 run (scratch probe, same process).
     */
    @Override
    public void pairedDotsBf16(float[] a, int aOff, float[] b, int bOff, int rows, int n, short[] xs, short[] ys,
                               int from, int to, float[] out, int outStride) {
        int bound = n - n % FL;
        for (int p = from; p < to; p++) {
            int xo = p * n;
            for (int j = 0; j < rows; j++) {
                int ao = aOff + j * n;
                int bo = bOff + j * n;
                FloatVector sa = FloatVector.zero(FS);
                FloatVector sb = FloatVector.zero(FS);
                int i = 0;
                for (; i < bound; i += FL) {
                    sa = FloatVector.fromArray(FS, a, ao + i).fma(widenBf16(xs, xo + i), sa);
                    sb = FloatVector.fromArray(FS, b, bo + i).fma(widenBf16(ys, xo + i), sb);
                }
                float s = sa.add(sb).reduceLanes(VectorOperators.ADD);
                for (; i < n; i++) {
                    s += a[ao + i] * Halfs.bf16ToFloat(xs[xo + i]) + b[bo + i] * Halfs.bf16ToFloat(ys[xo + i]);
                }
                out[j * outStride + p] = s;
            }
        }
    }

    /** FL bfloat16 values from {@code s[off]} widened to floats (exact). */
    private static FloatVector widenBf16(short[] s, int off) {
        return ((IntVector) ShortVector.fromArray(SS, s, off).convertShape(VectorOperators.S2I, IS, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, x, xOff + i)
                    .fma(FloatVector.broadcast(FS, alpha), FloatVector.fromArray(FS, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, x, off + i).mul(s).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= s;
        }
    }

    @Override
    public void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, a, aOff + i).add(FloatVector.fromArray(FS, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = a[aOff + i] + b[bOff + i];
        }
    }

    @Override
    public void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, a, aOff + i).mul(FloatVector.fromArray(FS, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = a[aOff + i] * b[bOff + i];
        }
    }

    /**
     * Keeps up to 8 vectors of the output in registers and streams the rows through them: per
     * row 8 loads and 8 FMAs, no stores (instead of an axpy per row, which loads and stores the
     * output every time and pays a call per row).
     */
    @Override
    public void weightedRowSum(float[] w, int wOff, int n, float[] rows, int rowsOff, int d, float[] out, int outOff) {
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
    @Override
    public void weightedRowSums(float[] w, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                                float[] out, int outOff) {
        weightedRowSums(w, wOff, wStride, 1, m, n, rows, rowsOff, d, out, outOff);
    }

    @Override
    public void weightedRowSumsT(float[] wT, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                                 float[] out, int outOff) {
        weightedRowSums(wT, wOff, 1, wStride, m, n, rows, rowsOff, d, out, outOff);
    }

    /** Weight of row i at key k at {@code w[wOff + i * wStride + k * ks]}. */
    private static void weightedRowSums(float[] w, int wOff, int wStride, int ks, int m, int n, float[] rows,
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
    private static void weightedRowSums3(float[] w, int wOff, int wStride, int ks, int n, float[] rows, int rowsOff, int d,
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
    private static void weightedRowSums4(float[] w, int wOff, int wStride, int ks, int n, float[] rows, int rowsOff, int d,
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
    private static void weightedRowSumColumns(float[] w, int wOff, int ks, int n, float[] rows, int rowsOff, int d,
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

    @Override
    public float sumOfSquares(float[] x, int off, int n) {
        FloatVector s0 = FloatVector.zero(FS);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            s0 = v.fma(v, s0);
        }
        float s = s0.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += x[off + i] * x[off + i];
        }
        return s;
    }

    @Override
    public float max(float[] x, int off, int n) {
        FloatVector m = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            m = m.max(FloatVector.fromArray(FS, x, off + i));
        }
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            r = Math.max(r, x[off + i]);
        }
        return r;
    }

    @Override
    public float expShiftSum(float[] x, int off, int n, float shift) {
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
    private static final float EXP_LOG2E = 1.44269504f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer, held in the low mantissa bits. */
    private static final float EXP_ROUND = 12582912f;
    /** The bits of {@link #EXP_ROUND}: subtracting them from the sum's bits leaves the integer. */
    private static final int EXP_ROUND_BITS = Float.floatToRawIntBits(EXP_ROUND);
    /** -ln 2 split in two (Cody and Waite) so that x - n ln 2 is exact for the n that occur here. */
    private static final float EXP_MINUS_LN2_HI = -0.693145752f;
    private static final float EXP_MINUS_LN2_LO = -1.42860677e-6f;
    /**
     * 2/k! for k = 1..6: twice the Taylor coefficients of exp (exact in binary), so that the
     * polynomial gives 2 exp(r) and the exponent bits need only 2^(n-1), which stays a normal
     * float from n = -124 to n = 128 (the whole range below).
     */
    private static final float EXP_C1 = 2f;
    private static final float EXP_C2 = 1f;
    private static final float EXP_C3 = 2f / 6;
    private static final float EXP_C4 = 2f / 24;
    private static final float EXP_C5 = 2f / 120;
    private static final float EXP_C6 = 2f / 720;
    /** Smallest argument kept: exp(-86) = 4.4e-38, a normal float; below it the result is 0. */
    private static final float EXP_MIN_ARG = -86f;
    /** Largest argument with a finite result: ln(Float.MAX_VALUE); above it the result is infinity. */
    private static final float EXP_MAX_ARG = 88.7228391f;

    /**
     * Vectorised across the rows (columns of s), a block of FL rows at a time, the last block
     * masked: one pass for the maxima ({@link #columnMaxima}) and one for the exponentials and
     * sums ({@link #expColumns}), with no horizontal reduction. Two small methods, not one: inlined
     * into a larger caller, C2 left some of the vector operations unintrinsified (this kernel
     * then took 16-83 instead of 3-4 us per page of 64 keys x 128 rows).
     */
    @Override
    public boolean onlineSoftmaxColumns(float[] s, int off, int stride, int n, int m, float[] max, float[] sum,
                                        float[] corr) {
        boolean any = false;
        for (int i = 0; i < m; i += FL) {
            any |= columnMaxima(s, off, stride, n, i, m, max, corr);
            expColumns(s, off, stride, n, i, m, max, sum, corr);
        }
        return any;
    }

    @Override
    public void expShiftColumns(float[] s, int off, int stride, int n, int m, float[] shift) {
        for (int i = 0; i < m; i += FL) {
            expColumns(s, off, stride, n, i, m, shift, null, null);
        }
    }

    /**
     * Rows {@code [i, i + FL)} of {@link #onlineSoftmaxColumns}: the new maxima into {@code max}
     * and the rescaling factors into {@code corr} (1 for rows that see no key, whose maximum
     * stays); returns whether any of these rows sees a key.
     */
    private static boolean columnMaxima(float[] s, int off, int stride, int n, int i, int m, float[] max,
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
    private static void expColumns(float[] s, int off, int stride, int n, int i, int m, float[] shifts, float[] sum,
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
    private static FloatVector exp(FloatVector x) {
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

    @Override
    public void silu(float[] x, int off, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            v.div(v.neg().lanewise(VectorOperators.EXP).add(1f)).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            float v = x[off + i];
            x[off + i] = (float) (v / (1.0 + Math.exp(-v)));
        }
    }

    /** sqrt(2/pi) of the tanh approximation (Hendrycks and Gimpel, 2016). */
    private static final float SQRT_2_OVER_PI = 0.7978845608028654f;
    private static final float GELU_COEF_A = 0.044715f;

    @Override
    public void gelu(float[] x, int off, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            FloatVector inner = v.mul(v).mul(v).mul(GELU_COEF_A).add(v).mul(SQRT_2_OVER_PI);
            v.mul(0.5f).mul(inner.lanewise(VectorOperators.TANH).add(1f)).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            float v = x[off + i];
            x[off + i] = (float) (0.5 * v * (1.0 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_COEF_A * v * v * v))));
        }
    }

    @Override
    public int argmax(float[] x, int off, int n) {
        FloatVector m = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            m = m.max(v.blend(Float.NEGATIVE_INFINITY, v.test(VectorOperators.IS_NAN)));
        }
        float best = m.reduceLanes(VectorOperators.MAX);
        for (int j = i; j < n; j++) {
            if (x[off + j] > best) {
                best = x[off + j];
            }
        }
        for (i = 0; i < bound; i += FL) {
            VectorMask<Float> eq = FloatVector.fromArray(FS, x, off + i).eq(best);
            if (eq.anyTrue()) {
                return i + eq.firstTrue();
            }
        }
        for (; i < n; i++) {
            if (x[off + i] == best) {
                return i;
            }
        }
        return 0;
    }

    // ---------------------------------------------------------------- weight decoding



    private static float scaleAt(MemorySegment seg, long off) {
        return Float.float16ToFloat(seg.get(Quantization.SHORT_LE, off));
    }

    /**
     * F16 encoding in vectors (JDK 25's Vector API has no float-to-half conversion), bit-exact with
     * {@link Float#floatToFloat16}: round to nearest even, subnormals through a float addition of a
     * magic constant, overflow to infinity, NaN to a quiet NaN (after F. Giesen's
     * "float_to_half_fast3_rtne"). Other dtypes use the scalar reference.
     */
    @Override
    public void quantize(DType type, float[] src, int srcOff, int n, MemorySegment dst, long byteOffset) {
        if (type != DType.F16) {
            Quantization.quantize(type, src, srcOff, n, dst, byteOffset);
            return;
        }
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            IntVector raw = FloatVector.fromArray(FS, src, srcOff + i).reinterpretAsInts();
            IntVector abs = raw.and(0x7FFFFFFF);
            IntVector sign = raw.lanewise(VectorOperators.LSHR, 16).and(0x8000);
            // Normal halves: rebias the exponent (127 -> 15), round to nearest even at bit 13.
            IntVector odd = abs.lanewise(VectorOperators.LSHR, 13).and(1);
            IntVector normal = abs.add(F2H_REBIAS + 0xFFF).add(odd).lanewise(VectorOperators.LSHR, 13);
            // Subnormal halves and zero: adding 0.5 (2^-1) makes the FPU round the mantissa for us.
            IntVector sub = abs.reinterpretAsFloats().add(F2H_DENORM_MAGIC).reinterpretAsInts().sub(F2H_DENORM_MAGIC_BITS);
            IntVector h = normal.blend(sub, abs.compare(VectorOperators.LT, F2H_MIN_NORMAL));
            IntVector special = abs.compare(VectorOperators.GT, 0x7F800000).toVector().reinterpretAsInts()
                    .and(0x0200).or(0x7C00); // 0x7E00 for NaN, 0x7C00 for infinity and overflow
            h = h.blend(special, abs.compare(VectorOperators.GE, F2H_OVERFLOW));
            ((ShortVector) h.or(sign).convertShape(VectorOperators.I2S, SS, 0))
                    .intoMemorySegment(dst, byteOffset + 2L * i, LE);
        }
        for (; i < n; i++) {
            dst.set(Quantization.SHORT_LE, byteOffset + 2L * i, Float.floatToFloat16(src[srcOff + i]));
        }
    }

    /** Adds (15 - 127) to the exponent field: float to half bias. */
    private static final int F2H_REBIAS = (15 - 127) << 23;
    /** Floats below 2^-14 (exponent 113) become half subnormals. */
    private static final int F2H_MIN_NORMAL = 113 << 23;
    /** Floats at or above 65520 (2^16 with the rounding bit set) overflow to infinity. */
    private static final int F2H_OVERFLOW = (127 + 16) << 23;
    /** 0.5f: adding it aligns a subnormal half's mantissa at the float's last bits. */
    private static final int F2H_DENORM_MAGIC_BITS = ((127 - 15) + (23 - 10) + 1) << 23;
    private static final float F2H_DENORM_MAGIC = Float.intBitsToFloat(F2H_DENORM_MAGIC_BITS);

    @Override
    public void dequantize(DType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n) {
        switch (type) {
            case F32 -> MemorySegment.copy(src, Quantization.FLOAT_LE, byteOffset, dst, dstOff, n);
            case F16 -> decodeF16(src, byteOffset, dst, dstOff, n);
            case BF16 -> {
                int i = 0;
                int bound = n - n % FL;
                for (; i < bound; i += FL) {
                    ((IntVector) ShortVector.fromMemorySegment(SS, src, byteOffset + 2L * i, LE)
                            .convertShape(VectorOperators.S2I, IS, 0))
                            .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
                }
                for (; i < n; i++) {
                    dst[dstOff + i] = Float.intBitsToFloat((src.get(Quantization.SHORT_LE, byteOffset + 2L * i) & 0xFFFF) << 16);
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    long base = byteOffset + 34L * b;
                    float d = scaleAt(src, base);
                    for (int h = 0; h < 2; h++) {
                        ByteVector q = ByteVector.fromMemorySegment(BS, src, base + 2 + 16 * h, LE);
                        for (int p = 0; p < PARTS16; p++) {
                            ((FloatVector) q.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                                    .intoArray(dst, dstOff + b * QK + 16 * h + p * FL);
                        }
                    }
                }
            }
            case Q4_0 -> decodeQ4(src, byteOffset, dst, dstOff, n / QK);
        }
    }


    /**
     * Decodes n half floats with a plain loop on purpose: C2's auto-vectorizer turns
     * {@code Float.float16ToFloat} over consecutive elements into the hardware conversion
     * ({@code vcvtph2ps}), which the Vector API of JDK 25 cannot express. Measured on one core
     * (8192 halves from L1): 0.20 us against 0.48 us for the bit-manipulation decode in vectors.
     */
    private static void decodeF16(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src.get(Quantization.SHORT_LE, off + 2L * i));
        }
    }

    /**
     * Decodes Q4_0 blocks. The nibble shift runs on 16-bit lanes (x86 has no byte shift; the
     * mask drops the bits that cross into the neighbouring byte).
     */
    private static void decodeQ4(MemorySegment src, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 18L * b;
            FloatVector d = FloatVector.broadcast(FS, scaleAt(src, base));
            ByteVector q = ByteVector.fromMemorySegment(BS, src, base + 2, LE);
            ByteVector lo = q.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                        .intoArray(dst, dstOff + b * QK + p * FL);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                        .intoArray(dst, dstOff + b * QK + 16 + p * FL);
            }
        }
    }

    // ---------------------------------------------------------------- matvec

    /** Q8_0 and F16 rows shorter than this use the one-row kernel (see matvecRows). */
    private static final int ONE_ROW_MAX_COLS = 4096;

    @Override
    public void matvecRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int xOff, float[] out, int outOff) {
        // Four rows at a time: four concurrent memory streams per thread (one stream per thread
        // reaches only about half the read bandwidth) and four independent FMA chains. Decodes are
        // written out in each loop body because C2 will not inline a vector helper that it has
        // already compiled on its own, and would then box every vector.
        int r = rowFrom;
        // Q8_0 and F16 on short rows run one row at a time: C2 keeps those four-row bodies' vectors in
        // registers badly there. Measured side by side (MatvecBench, 2 threads, 2026-11-26): Q8_0
        // 576x1536 77 -> 50 us and 49152x576 3170 -> 2260 us, F16 576x1536 84 -> 68 us; on 8192-long
        // rows four rows stay ahead (2048x8192: Q8_0 865 vs 880-1040 us, F16 1280 vs 1640 us).
        boolean fourRows = !((type == DType.Q8_0 || type == DType.F16) && cols < ONE_ROW_MAX_COLS);
        for (; fourRows && r + 4 <= rowTo; r += 4) {
            long o = r * rowBytes;
            switch (type) {
                case F32 -> matvecF32x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case F16 -> matvecF16x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case BF16 -> matvecBf16x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case Q8_0 -> matvecQ8x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case Q4_0 -> matvecQ4x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
            }
        }
        for (; r < rowTo; r++) {
            long o = r * rowBytes;
            out[outOff + r] = switch (type) {
                case F32 -> matvecF32x1(w, o, cols, x, xOff);
                case F16 -> matvecF16x1(w, o, cols, x, xOff);
                case BF16 -> matvecBf16x1(w, o, cols, x, xOff);
                case Q8_0 -> matvecQ8x1(w, o, cols, x, xOff);
                case Q4_0 -> matvecQ4x1(w, o, cols, x, xOff);
            };
        }
    }

    /** Sign (bit 31) and exponent+mantissa (bits 13..27) of a sign-extended half shifted left by 13. */
    private static final int F16_SIGN_EXP_MANT = 0x8FFFE000;
    /** The half exponent field (31 = inf/NaN) after the shift by 13. */
    private static final int F16_EXP_31 = 0x0F800000;
    /** ORed onto a shifted half with exponent 31, it gives the float inf/NaN exponent (255). */
    private static final int F16_INF_FIX = 0x70000000;

    /** Four F16 rows: four memory streams, a cache line per row per step, the conversion written out. */
    private static void matvecF16x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector b0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector b1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector b2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector b3 = FloatVector.zero(FS);
        int bound2 = cols - cols % (2 * FL);
        int c = 0;
        for (; c < bound2; c += 2 * FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            FloatVector xw = FloatVector.fromArray(FS, x, xOff + c + FL);
            IntVector ea0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a0 = ea0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea0.or(F16_INF_FIX), ea0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a0);
            IntVector eb0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * (c + FL), LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            b0 = eb0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(eb0.or(F16_INF_FIX), eb0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xw, b0);
            IntVector ea1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a1 = ea1.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea1.or(F16_INF_FIX), ea1.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a1);
            IntVector eb1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * (c + FL), LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            b1 = eb1.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(eb1.or(F16_INF_FIX), eb1.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xw, b1);
            IntVector ea2 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2 * rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a2 = ea2.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea2.or(F16_INF_FIX), ea2.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a2);
            IntVector eb2 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2 * rb + 2L * (c + FL), LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            b2 = eb2.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(eb2.or(F16_INF_FIX), eb2.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xw, b2);
            IntVector ea3 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 3 * rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a3 = ea3.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea3.or(F16_INF_FIX), ea3.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a3);
            IntVector eb3 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 3 * rb + 2L * (c + FL), LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            b3 = eb3.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(eb3.or(F16_INF_FIX), eb3.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xw, b3);
        }
        int bound = cols - cols % FL;
        for (; c < bound; c += FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            IntVector ea0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a0 = ea0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea0.or(F16_INF_FIX), ea0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a0);
            IntVector ea1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a1 = ea1.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea1.or(F16_INF_FIX), ea1.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a1);
            IntVector ea2 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2 * rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a2 = ea2.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea2.or(F16_INF_FIX), ea2.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a2);
            IntVector ea3 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 3 * rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a3 = ea3.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea3.or(F16_INF_FIX), ea3.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a3);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD);
        float s1 = a1.add(b1).reduceLanes(VectorOperators.ADD);
        float s2 = a2.add(b2).reduceLanes(VectorOperators.ADD);
        float s3 = a3.add(b3).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xOff + c];
                s0 += Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + 2L * c)) * xc;
                s1 += Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + rb + 2L * c)) * xc;
                s2 += Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + 2 * rb + 2L * c)) * xc;
                s3 += Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + 3 * rb + 2L * c)) * xc;
        }
        out[oi] = s0;
        out[oi + 1] = s1;
        out[oi + 2] = s2;
        out[oi + 3] = s3;
    }

    /** One F16 row, same order of operations as {@link #matvecF16x4}. */
    private static float matvecF16x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector b0 = FloatVector.zero(FS);
        int bound2 = cols - cols % (2 * FL);
        int c = 0;
        for (; c < bound2; c += 2 * FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            FloatVector xw = FloatVector.fromArray(FS, x, xOff + c + FL);
            IntVector ea0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a0 = ea0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea0.or(F16_INF_FIX), ea0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a0);
            IntVector eb0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * (c + FL), LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            b0 = eb0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(eb0.or(F16_INF_FIX), eb0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xw, b0);
        }
        int bound = cols - cols % FL;
        for (; c < bound; c += FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            IntVector ea0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            a0 = ea0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(ea0.or(F16_INF_FIX), ea0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats().fma(xv, a0);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xOff + c];
                s0 += Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + 2L * c)) * xc;
        }
        return s0;
    }

    /** Four BF16 rows: the decode is a sign extension and a shift. */
    private static void matvecBf16x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector b0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector b1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector b2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector b3 = FloatVector.zero(FS);
        int bound2 = cols - cols % (2 * FL);
        int c = 0;
        for (; c < bound2; c += 2 * FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            FloatVector xw = FloatVector.fromArray(FS, x, xOff + c + FL);
            a0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a0);
            b0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * (c + FL), LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xw, b0);
            a1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a1);
            b1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * (c + FL), LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xw, b1);
            a2 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2 * rb + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a2);
            b2 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2 * rb + 2L * (c + FL), LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xw, b2);
            a3 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 3 * rb + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a3);
            b3 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 3 * rb + 2L * (c + FL), LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xw, b3);
        }
        int bound = cols - cols % FL;
        for (; c < bound; c += FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            a0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a0);
            a1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a1);
            a2 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2 * rb + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a2);
            a3 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 3 * rb + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a3);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD);
        float s1 = a1.add(b1).reduceLanes(VectorOperators.ADD);
        float s2 = a2.add(b2).reduceLanes(VectorOperators.ADD);
        float s3 = a3.add(b3).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xOff + c];
                s0 += Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + 2L * c) & 0xFFFF) << 16) * xc;
                s1 += Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + rb + 2L * c) & 0xFFFF) << 16) * xc;
                s2 += Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + 2 * rb + 2L * c) & 0xFFFF) << 16) * xc;
                s3 += Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + 3 * rb + 2L * c) & 0xFFFF) << 16) * xc;
        }
        out[oi] = s0;
        out[oi + 1] = s1;
        out[oi + 2] = s2;
        out[oi + 3] = s3;
    }

    /** One BF16 row, same order of operations as {@link #matvecBf16x4}. */
    private static float matvecBf16x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector b0 = FloatVector.zero(FS);
        int bound2 = cols - cols % (2 * FL);
        int c = 0;
        for (; c < bound2; c += 2 * FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            FloatVector xw = FloatVector.fromArray(FS, x, xOff + c + FL);
            a0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a0);
            b0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * (c + FL), LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xw, b0);
        }
        int bound = cols - cols % FL;
        for (; c < bound; c += FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            a0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE).convertShape(VectorOperators.S2I, IS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xv, a0);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xOff + c];
                s0 += Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + 2L * c) & 0xFFFF) << 16) * xc;
        }
        return s0;
    }

    /** Four Q8_0 rows: int8 codes to floats, times the block scale, into one FMA chain per row. */
    private static void matvecQ8x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q0 = o + 34L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector l0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector h0 = ByteVector.fromMemorySegment(BS, w, q0 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t0 = ((FloatVector) l0.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t0 = ((FloatVector) h0.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t0);
                a0 = t0.fma(d0, a0); // one scale per block, not per vector
            }
            long q1 = o + rb + 34L * b;
            FloatVector d1 = FloatVector.broadcast(FS, scaleAt(w, q1));
            ByteVector l1 = ByteVector.fromMemorySegment(BS, w, q1 + 2, LE);
            ByteVector h1 = ByteVector.fromMemorySegment(BS, w, q1 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t1 = ((FloatVector) l1.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t1 = ((FloatVector) h1.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t1);
                a1 = t1.fma(d1, a1); // one scale per block, not per vector
            }
            long q2 = o + 2 * rb + 34L * b;
            FloatVector d2 = FloatVector.broadcast(FS, scaleAt(w, q2));
            ByteVector l2 = ByteVector.fromMemorySegment(BS, w, q2 + 2, LE);
            ByteVector h2 = ByteVector.fromMemorySegment(BS, w, q2 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t2 = ((FloatVector) l2.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t2 = ((FloatVector) h2.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t2);
                a2 = t2.fma(d2, a2); // one scale per block, not per vector
            }
            long q3 = o + 3 * rb + 34L * b;
            FloatVector d3 = FloatVector.broadcast(FS, scaleAt(w, q3));
            ByteVector l3 = ByteVector.fromMemorySegment(BS, w, q3 + 2, LE);
            ByteVector h3 = ByteVector.fromMemorySegment(BS, w, q3 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t3 = ((FloatVector) l3.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t3 = ((FloatVector) h3.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t3);
                a3 = t3.fma(d3, a3); // one scale per block, not per vector
            }
        }
        out[oi] = a0.reduceLanes(VectorOperators.ADD);
        out[oi + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oi + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oi + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /** One Q8_0 row, same order of operations as {@link #matvecQ8x4}. */
    private static float matvecQ8x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector a0 = FloatVector.zero(FS);
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q0 = o + 34L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector l0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector h0 = ByteVector.fromMemorySegment(BS, w, q0 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t0 = ((FloatVector) l0.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t0 = ((FloatVector) h0.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t0);
                a0 = t0.fma(d0, a0); // one scale per block, not per vector
            }
        }
        return a0.reduceLanes(VectorOperators.ADD);
    }

    /** Four Q4_0 rows; the nibble shift runs on 16-bit lanes (x86 has no byte shift). */
    private static void matvecQ4x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q0 = o + 18L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector n0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector l0 = n0.and((byte) 0x0F).sub((byte) 8);
            ByteVector h0 = n0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t0 = ((FloatVector) l0.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t0 = ((FloatVector) h0.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t0);
                a0 = t0.fma(d0, a0); // one scale per block, not per vector
            }
            long q1 = o + rb + 18L * b;
            FloatVector d1 = FloatVector.broadcast(FS, scaleAt(w, q1));
            ByteVector n1 = ByteVector.fromMemorySegment(BS, w, q1 + 2, LE);
            ByteVector l1 = n1.and((byte) 0x0F).sub((byte) 8);
            ByteVector h1 = n1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t1 = ((FloatVector) l1.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t1 = ((FloatVector) h1.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t1);
                a1 = t1.fma(d1, a1); // one scale per block, not per vector
            }
            long q2 = o + 2 * rb + 18L * b;
            FloatVector d2 = FloatVector.broadcast(FS, scaleAt(w, q2));
            ByteVector n2 = ByteVector.fromMemorySegment(BS, w, q2 + 2, LE);
            ByteVector l2 = n2.and((byte) 0x0F).sub((byte) 8);
            ByteVector h2 = n2.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t2 = ((FloatVector) l2.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t2 = ((FloatVector) h2.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t2);
                a2 = t2.fma(d2, a2); // one scale per block, not per vector
            }
            long q3 = o + 3 * rb + 18L * b;
            FloatVector d3 = FloatVector.broadcast(FS, scaleAt(w, q3));
            ByteVector n3 = ByteVector.fromMemorySegment(BS, w, q3 + 2, LE);
            ByteVector l3 = n3.and((byte) 0x0F).sub((byte) 8);
            ByteVector h3 = n3.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t3 = ((FloatVector) l3.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t3 = ((FloatVector) h3.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t3);
                a3 = t3.fma(d3, a3); // one scale per block, not per vector
            }
        }
        out[oi] = a0.reduceLanes(VectorOperators.ADD);
        out[oi + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oi + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oi + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /** One Q4_0 row, same order of operations as {@link #matvecQ4x4}. */
    private static float matvecQ4x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector a0 = FloatVector.zero(FS);
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q0 = o + 18L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector n0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector l0 = n0.and((byte) 0x0F).sub((byte) 8);
            ByteVector h0 = n0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t0 = ((FloatVector) l0.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t0 = ((FloatVector) h0.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t0);
                a0 = t0.fma(d0, a0); // one scale per block, not per vector
            }
        }
        return a0.reduceLanes(VectorOperators.ADD);
    }

    private static void matvecF32x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector xv = FloatVector.fromArray(FS, x, xOff + c);
            long b = o + 4L * c;
            a0 = FloatVector.fromMemorySegment(FS, w, b, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(FS, w, b + rb, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(FS, w, b + 2 * rb, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(FS, w, b + 3 * rb, LE).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xOff + c];
            long b = o + 4L * c;
            s0 += w.get(Quantization.FLOAT_LE, b) * xc;
            s1 += w.get(Quantization.FLOAT_LE, b + rb) * xc;
            s2 += w.get(Quantization.FLOAT_LE, b + 2 * rb) * xc;
            s3 += w.get(Quantization.FLOAT_LE, b + 3 * rb) * xc;
        }
        out[oi] = s0;
        out[oi + 1] = s1;
        out[oi + 2] = s2;
        out[oi + 3] = s3;
    }

    private static float matvecF32x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector a0 = FloatVector.zero(FS);
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            a0 = FloatVector.fromMemorySegment(FS, w, o + 4L * c, LE).fma(FloatVector.fromArray(FS, x, xOff + c), a0);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            s0 += w.get(Quantization.FLOAT_LE, o + 4L * c) * x[xOff + c];
        }
        return s0;
    }




    private static float bf16(MemorySegment w, long b) {
        return Float.intBitsToFloat((w.get(Quantization.SHORT_LE, b) & 0xFFFF) << 16);
    }








    // ---------------------------------------------------------------- matmul

    /**
     * Rows {@code [rowFrom, rowFrom + rows)} of w decoded into this thread's tile: each task decodes
     * its weight rows once and every block of tokens then reads them from L2. Contiguous rows
     * (weights, KV pages) decode in one call: a call per short row (a 128-element key) cost more
     * than the decoding itself.
     */
    private float[] decodedTile(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rows) {
        float[] tile = tileScratch.get();
        if (tile.length < rows * cols) {
            tile = new float[rows * cols];
            tileScratch.set(tile);
        }
        if (rowBytes == type.bytesFor(cols)) {
            dequantize(type, w, rowFrom * rowBytes, tile, 0, rows * cols);
        } else {
            for (int r = 0; r < rows; r++) {
                dequantize(type, w, (rowFrom + r) * rowBytes, tile, r * cols, cols);
            }
        }
        return tile;
    }

    @Override
    public void matmulRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int tokens, float[] out, int outStride) {
        int rows = rowTo - rowFrom;
        float[] tile = decodedTile(type, w, rowBytes, cols, rowFrom, rows);
        int tokenBlock = Math.max(4, (TOKEN_BLOCK_FLOATS / Math.max(1, cols)) & ~3);
        for (int t0 = 0; t0 < tokens; t0 += tokenBlock) {
            int t1 = Math.min(tokens, t0 + tokenBlock);
            int r = 0;
            for (; r + 4 <= rows; r += 4) {
                int t = t0;
                for (; t + 4 <= t1; t += 4) {
                    micro4x4(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r, outStride);
                }
                // 1-3 tokens left (decode: the g query heads of a KV head): 4 rows x T tokens,
                // each weight vector loaded once for all T (same per-element order as dot1).
                switch (t1 - t) {
                    case 3 -> micro4x3(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r, outStride);
                    case 2 -> micro4x2(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r, outStride);
                    case 1 -> micro4x1(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r);
                    default -> {
                    }
                }
            }
            for (; r < rows; r++) {
                for (int t = t0; t < t1; t++) {
                    out[t * outStride + rowFrom + r] = dot1(tile, r * cols, x, t * cols, cols);
                }
            }
        }
    }

    /** out[t][r] for 3 tokens x 4 weight rows: 12 accumulators, 7 loads per 12 FMAs. */
    private static void micro4x3(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS), c12 = FloatVector.zero(FS), c13 = FloatVector.zero(FS);
        FloatVector c20 = FloatVector.zero(FS), c21 = FloatVector.zero(FS), c22 = FloatVector.zero(FS), c23 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromArray(FS, w, wo + c);
            FloatVector w1 = FloatVector.fromArray(FS, w, wo + n + c);
            FloatVector w2 = FloatVector.fromArray(FS, w, wo + 2 * n + c);
            FloatVector w3 = FloatVector.fromArray(FS, w, wo + 3 * n + c);
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(FS, x, xo + n + c);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
            FloatVector x2 = FloatVector.fromArray(FS, x, xo + 2 * n + c);
            c20 = x2.fma(w0, c20);
            c21 = x2.fma(w1, c21);
            c22 = x2.fma(w2, c22);
            c23 = x2.fma(w3, c23);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
        store(c10, w, wo, x, xo + n, c, n, out, oo + os);
        store(c11, w, wo + n, x, xo + n, c, n, out, oo + os + 1);
        store(c12, w, wo + 2 * n, x, xo + n, c, n, out, oo + os + 2);
        store(c13, w, wo + 3 * n, x, xo + n, c, n, out, oo + os + 3);
        store(c20, w, wo, x, xo + 2 * n, c, n, out, oo + 2 * os);
        store(c21, w, wo + n, x, xo + 2 * n, c, n, out, oo + 2 * os + 1);
        store(c22, w, wo + 2 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 2);
        store(c23, w, wo + 3 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 3);
    }

    /** out[t][r] for 2 tokens x 4 weight rows. */
    private static void micro4x2(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS), c12 = FloatVector.zero(FS), c13 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromArray(FS, w, wo + c);
            FloatVector w1 = FloatVector.fromArray(FS, w, wo + n + c);
            FloatVector w2 = FloatVector.fromArray(FS, w, wo + 2 * n + c);
            FloatVector w3 = FloatVector.fromArray(FS, w, wo + 3 * n + c);
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(FS, x, xo + n + c);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
        store(c10, w, wo, x, xo + n, c, n, out, oo + os);
        store(c11, w, wo + n, x, xo + n, c, n, out, oo + os + 1);
        store(c12, w, wo + 2 * n, x, xo + n, c, n, out, oo + os + 2);
        store(c13, w, wo + 3 * n, x, xo + n, c, n, out, oo + os + 3);
    }

    /** out[t][r] for 1 token x 4 weight rows: four independent chains. */
    private static void micro4x1(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(FloatVector.fromArray(FS, w, wo + c), c00);
            c01 = x0.fma(FloatVector.fromArray(FS, w, wo + n + c), c01);
            c02 = x0.fma(FloatVector.fromArray(FS, w, wo + 2 * n + c), c02);
            c03 = x0.fma(FloatVector.fromArray(FS, w, wo + 3 * n + c), c03);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
    }

    @Override
    public void matmulRowsTransposed(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                     float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        int rows = rowTo - rowFrom;
        float[] tile = decodedTile(type, w, rowBytes, cols, rowFrom, rows);
        float[] lanes = new float[8 * 2 * FL];
        for (int t0 = 0; t0 < tokens; t0 += 2 * FL) {
            int r = 0;
            for (; r + 8 <= rows; r += 8) {
                outer8x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0, 2 * FL);
                scatter(lanes, 8, t0, tokens, out, outStride, rowFrom + r);
            }
            for (; r < rows; r++) {
                outer1x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0);
                scatter(lanes, 1, t0, tokens, out, outStride, rowFrom + r);
            }
        }
    }

    /**
     * The outer-product kernel of {@link #matmulRowsTransposed} storing its accumulators straight
     * into {@code out[r][t]}: whole vectors for full blocks of 2 x FL tokens, the lanes of the
     * real tokens otherwise. Against the scattering variant, a page of 64 keys x 64 dims times 128
     * packed query rows (F16, one thread, in cache) took 5.5 instead of 7.8-10.3 us.
     */
    @Override
    public void matmulRowsTransposedT(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                      float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        int rows = rowTo - rowFrom;
        float[] tile = decodedTile(type, w, rowBytes, cols, rowFrom, rows);
        // Only ragged blocks (the last tokens, the last rows) go through lanes, allocated for them
        // alone: most calls (prefill tiles of 32-row multiples, full pages) never need them.
        float[] lanes = null;
        for (int t0 = 0; t0 < tokens; t0 += 2 * FL) {
            int n = Math.min(2 * FL, tokens - t0);
            int r = 0;
            for (; r + 8 <= rows; r += 8) {
                int o = (rowFrom + r) * outStride + t0;
                if (n == 2 * FL) {
                    outer8x2(tile, r * cols, cols, xt, tokenStride, t0, out, o, outStride);
                } else {
                    lanes = lanes != null ? lanes : new float[8 * 2 * FL];
                    outer8x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0, 2 * FL);
                    for (int rr = 0; rr < 8; rr++) {
                        System.arraycopy(lanes, rr * 2 * FL, out, o + rr * outStride, n);
                    }
                }
            }
            for (; r < rows; r++) {
                lanes = lanes != null ? lanes : new float[8 * 2 * FL];
                outer1x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0);
                System.arraycopy(lanes, 0, out, (rowFrom + r) * outStride + t0, n);
            }
        }
    }

    /**
     * Outer-product microkernel: 8 weight rows x 2 vectors of tokens = 16 accumulators; per column
     * 2 token-vector loads, 8 weight broadcasts, 16 FMAs and no horizontal reduction. Leaves
     * {@code dst[dstOff + row * dstStride + v * FL + j]} = output of (row, token t0 + v * FL + j).
     */
    private static void outer8x2(float[] w, int wo, int cols, float[] xt, int ts, int t0, float[] dst, int dstOff,
                                 int dstStride) {
        FloatVector a00 = FloatVector.zero(FS), a01 = FloatVector.zero(FS);
        FloatVector a10 = FloatVector.zero(FS), a11 = FloatVector.zero(FS);
        FloatVector a20 = FloatVector.zero(FS), a21 = FloatVector.zero(FS);
        FloatVector a30 = FloatVector.zero(FS), a31 = FloatVector.zero(FS);
        FloatVector a40 = FloatVector.zero(FS), a41 = FloatVector.zero(FS);
        FloatVector a50 = FloatVector.zero(FS), a51 = FloatVector.zero(FS);
        FloatVector a60 = FloatVector.zero(FS), a61 = FloatVector.zero(FS);
        FloatVector a70 = FloatVector.zero(FS), a71 = FloatVector.zero(FS);
        for (int c = 0; c < cols; c++) {
            int xo = (t0 / TB) * TB * cols + c * TB + t0 % TB;
            FloatVector x0 = FloatVector.fromArray(FS, xt, xo);
            FloatVector x1 = FloatVector.fromArray(FS, xt, xo + FL);
            int o = wo + c;
            FloatVector b = FloatVector.broadcast(FS, w[o]);
            a00 = x0.fma(b, a00);
            a01 = x1.fma(b, a01);
            b = FloatVector.broadcast(FS, w[o + cols]);
            a10 = x0.fma(b, a10);
            a11 = x1.fma(b, a11);
            b = FloatVector.broadcast(FS, w[o + 2 * cols]);
            a20 = x0.fma(b, a20);
            a21 = x1.fma(b, a21);
            b = FloatVector.broadcast(FS, w[o + 3 * cols]);
            a30 = x0.fma(b, a30);
            a31 = x1.fma(b, a31);
            b = FloatVector.broadcast(FS, w[o + 4 * cols]);
            a40 = x0.fma(b, a40);
            a41 = x1.fma(b, a41);
            b = FloatVector.broadcast(FS, w[o + 5 * cols]);
            a50 = x0.fma(b, a50);
            a51 = x1.fma(b, a51);
            b = FloatVector.broadcast(FS, w[o + 6 * cols]);
            a60 = x0.fma(b, a60);
            a61 = x1.fma(b, a61);
            b = FloatVector.broadcast(FS, w[o + 7 * cols]);
            a70 = x0.fma(b, a70);
            a71 = x1.fma(b, a71);
        }
        a00.intoArray(dst, dstOff);
        a01.intoArray(dst, dstOff + FL);
        a10.intoArray(dst, dstOff + dstStride);
        a11.intoArray(dst, dstOff + dstStride + FL);
        a20.intoArray(dst, dstOff + 2 * dstStride);
        a21.intoArray(dst, dstOff + 2 * dstStride + FL);
        a30.intoArray(dst, dstOff + 3 * dstStride);
        a31.intoArray(dst, dstOff + 3 * dstStride + FL);
        a40.intoArray(dst, dstOff + 4 * dstStride);
        a41.intoArray(dst, dstOff + 4 * dstStride + FL);
        a50.intoArray(dst, dstOff + 5 * dstStride);
        a51.intoArray(dst, dstOff + 5 * dstStride + FL);
        a60.intoArray(dst, dstOff + 6 * dstStride);
        a61.intoArray(dst, dstOff + 6 * dstStride + FL);
        a70.intoArray(dst, dstOff + 7 * dstStride);
        a71.intoArray(dst, dstOff + 7 * dstStride + FL);
    }

    /** One weight row of {@link #outer8x2}, same order of operations. */
    private static void outer1x2(float[] w, int wo, int cols, float[] xt, int ts, int t0, float[] dst, int dstOff) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        for (int c = 0; c < cols; c++) {
            int xo = (t0 / TB) * TB * cols + c * TB + t0 % TB;
            FloatVector b = FloatVector.broadcast(FS, w[wo + c]);
            a0 = FloatVector.fromArray(FS, xt, xo).fma(b, a0);
            a1 = FloatVector.fromArray(FS, xt, xo + FL).fma(b, a1);
        }
        a0.intoArray(dst, dstOff);
        a1.intoArray(dst, dstOff + FL);
    }

    /**
     * Writes the lanes of {@code rowCount} rows to out[t][row] for the real tokens of the block:
     * token by token, so each token's {@code rowCount} outputs are written contiguously (row by
     * row wrote one float per cache line).
     */
    private static void scatter(float[] lanes, int rowCount, int t0, int tokens, float[] out, int os, int row0) {
        int n = Math.min(2 * FL, tokens - t0);
        for (int j = 0; j < n; j++) {
            int o = (t0 + j) * os + row0;
            for (int r = 0; r < rowCount; r++) {
                out[o + r] = lanes[r * 2 * FL + j];
            }
        }
    }

    /** One accumulator per output, the same order of operations as {@link #micro4x4}. */
    private static float dot1(float[] w, int wo, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            a = FloatVector.fromArray(FS, x, xo + c).fma(FloatVector.fromArray(FS, w, wo + c), a);
        }
        float s = a.reduceLanes(VectorOperators.ADD);
        for (; c < n; c++) {
            s += x[xo + c] * w[wo + c];
        }
        return s;
    }

    /**
     * out[t][r] for 4 tokens x 4 weight rows: 16 accumulators, 8 loads per 16 FMAs.
     * {@code oo} is the output index of (token 0, row 0).
     */
    private static void micro4x4(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS), c12 = FloatVector.zero(FS), c13 = FloatVector.zero(FS);
        FloatVector c20 = FloatVector.zero(FS), c21 = FloatVector.zero(FS), c22 = FloatVector.zero(FS), c23 = FloatVector.zero(FS);
        FloatVector c30 = FloatVector.zero(FS), c31 = FloatVector.zero(FS), c32 = FloatVector.zero(FS), c33 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromArray(FS, w, wo + c);
            FloatVector w1 = FloatVector.fromArray(FS, w, wo + n + c);
            FloatVector w2 = FloatVector.fromArray(FS, w, wo + 2 * n + c);
            FloatVector w3 = FloatVector.fromArray(FS, w, wo + 3 * n + c);
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(FS, x, xo + n + c);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
            FloatVector x2 = FloatVector.fromArray(FS, x, xo + 2 * n + c);
            c20 = x2.fma(w0, c20);
            c21 = x2.fma(w1, c21);
            c22 = x2.fma(w2, c22);
            c23 = x2.fma(w3, c23);
            FloatVector x3 = FloatVector.fromArray(FS, x, xo + 3 * n + c);
            c30 = x3.fma(w0, c30);
            c31 = x3.fma(w1, c31);
            c32 = x3.fma(w2, c32);
            c33 = x3.fma(w3, c33);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
        store(c10, w, wo, x, xo + n, c, n, out, oo + os);
        store(c11, w, wo + n, x, xo + n, c, n, out, oo + os + 1);
        store(c12, w, wo + 2 * n, x, xo + n, c, n, out, oo + os + 2);
        store(c13, w, wo + 3 * n, x, xo + n, c, n, out, oo + os + 3);
        store(c20, w, wo, x, xo + 2 * n, c, n, out, oo + 2 * os);
        store(c21, w, wo + n, x, xo + 2 * n, c, n, out, oo + 2 * os + 1);
        store(c22, w, wo + 2 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 2);
        store(c23, w, wo + 3 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 3);
        store(c30, w, wo, x, xo + 3 * n, c, n, out, oo + 3 * os);
        store(c31, w, wo + n, x, xo + 3 * n, c, n, out, oo + 3 * os + 1);
        store(c32, w, wo + 2 * n, x, xo + 3 * n, c, n, out, oo + 3 * os + 2);
        store(c33, w, wo + 3 * n, x, xo + 3 * n, c, n, out, oo + 3 * os + 3);
    }

    /** Reduces an accumulator, adds the scalar tail [c, n) and stores. */
    private static void store(FloatVector acc, float[] w, int wo, float[] x, int xo, int c, int n, float[] out, int oi) {
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (int k = c; k < n; k++) {
            s += x[xo + k] * w[wo + k];
        }
        out[oi] = s;
    }
}
