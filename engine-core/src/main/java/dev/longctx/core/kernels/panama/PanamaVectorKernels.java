package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;

import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;

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
     * width). Read once, when the kernels' classes initialise: the species must stay constants for C2.
     */
    public static final String VECTOR_BITS_PROPERTY = PanamaSpecies.VECTOR_BITS_PROPERTY;

    /** Creates the kernels; throws if {@link #unsupportedReason()} is not null. */
    public PanamaVectorKernels() {
        String why = unsupportedReason();
        if (why != null) {
            throw new UnsupportedOperationException(why);
        }
    }

    /** The vector width these kernels run at, in bits. */
    public static int vectorBits() {
        return FS.vectorBitSize();
    }

    /**
     * How {@link #matvecRows} multiplies rows of {@code type}: {@code "in-register"} (blocks decoded
     * in vector registers straight from the weights) or {@code "decoded-row"} (each row decoded
     * into a scratch row first, then one dot product). Tests assert the fast path of each type.
     */
    public static String matvecKernel(DType type) {
        return switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS -> "in-register";
        };
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

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return PanamaElementwise.dot(a, aOff, b, bOff, n);
    }

    @Override
    public void pairedDots(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] xs, float[] ys,
            int from, int to, float[] out, int outStride) {
        PanamaElementwise.pairedDots(a, aOff, b, bOff, rows, n, xs, ys, from, to, out, outStride);
    }

    @Override
    public void pairedDotsBf16(float[] a, int aOff, float[] b, int bOff, int rows, int n, short[] xs, short[] ys,
            int from, int to, float[] out, int outStride) {
        PanamaElementwise.pairedDotsBf16(a, aOff, b, bOff, rows, n, xs, ys, from, to, out, outStride);
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        PanamaElementwise.axpy(alpha, x, xOff, y, yOff, n);
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        PanamaElementwise.scale(x, off, n, s);
    }

    @Override
    public void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        PanamaElementwise.add(a, aOff, b, bOff, out, outOff, n);
    }

    @Override
    public void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        PanamaElementwise.mul(a, aOff, b, bOff, out, outOff, n);
    }

    @Override
    public void weightedRowSum(float[] w, int wOff, int n, float[] rows, int rowsOff, int d, float[] out, int outOff) {
        PanamaAttentionTile.weightedRowSum(w, wOff, n, rows, rowsOff, d, out, outOff);
    }

    @Override
    public void weightedRowSums(float[] w, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
            float[] out, int outOff) {
        PanamaAttentionTile.weightedRowSums(w, wOff, wStride, m, n, rows, rowsOff, d, out, outOff);
    }

    @Override
    public void weightedRowSumsT(float[] wT, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
            float[] out, int outOff) {
        PanamaAttentionTile.weightedRowSumsT(wT, wOff, wStride, m, n, rows, rowsOff, d, out, outOff);
    }

    @Override
    public float sumOfSquares(float[] x, int off, int n) {
        return PanamaElementwise.sumOfSquares(x, off, n);
    }

    @Override
    public float max(float[] x, int off, int n) {
        return PanamaElementwise.max(x, off, n);
    }

    @Override
    public float expShiftSum(float[] x, int off, int n, float shift) {
        return PanamaAttentionTile.expShiftSum(x, off, n, shift);
    }

    @Override
    public boolean onlineSoftmaxColumns(float[] s, int off, int stride, int n, int m, float[] max, float[] sum,
            float[] corr) {
        return PanamaAttentionTile.onlineSoftmaxColumns(s, off, stride, n, m, max, sum, corr);
    }

    @Override
    public void expShiftColumns(float[] s, int off, int stride, int n, int m, float[] shift) {
        PanamaAttentionTile.expShiftColumns(s, off, stride, n, m, shift);
    }

    @Override
    public void decodeAttentionPage(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
            float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch) {
        PanamaDecodeAttention.decodePage(type, keys, values, rowBytes, n, d, q, m, max, sum, out, scratch, null, 0, 0);
    }

    @Override
    public void decodeAttentionPageLogits(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
            float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch, float[] logits, int logitsOff,
            int logitsStride) {
        PanamaDecodeAttention.decodePage(type, keys, values, rowBytes, n, d, q, m, max, sum, out, scratch, logits, logitsOff,
                logitsStride);
    }

    @Override
    public void decodeAttentionRows(DType type, MemorySegment[] keyPages, MemorySegment[] valuePages, int[] pageOf,
            int[] slotOf, int off, int n, long rowBytes, int d, float[] q, int m, float[] max, float[] sum, float[] out,
            float[] scratch) {
        PanamaDecodeAttention.decodeRowsByIndex(type, keyPages, valuePages, pageOf, slotOf, off, n, rowBytes, d, q, m, max,
                sum, out, scratch);
    }

    @Override
    public void silu(float[] x, int off, int n) {
        PanamaElementwise.silu(x, off, n);
    }

    @Override
    public void gelu(float[] x, int off, int n) {
        PanamaElementwise.gelu(x, off, n);
    }

    @Override
    public int argmax(float[] x, int off, int n) {
        return PanamaElementwise.argmax(x, off, n);
    }

    @Override
    public void quantize(DType type, float[] src, int srcOff, int n, MemorySegment dst, long byteOffset) {
        PanamaCodecs.quantize(type, src, srcOff, n, dst, byteOffset);
    }

    @Override
    public void dequantize(DType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n) {
        PanamaCodecs.dequantize(type, src, byteOffset, dst, dstOff, n);
    }

    @Override
    public void matvecRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo, float[] x,
            int xOff, float[] out, int outOff) {
        PanamaMatvec.matvecRows(type, w, rowBytes, cols, rowFrom, rowTo, x, xOff, out, outOff);
    }

    @Override
    public void matmulRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo, float[] x,
            int tokens, float[] out, int outStride) {
        PanamaMatmul.matmulRows(type, w, rowBytes, cols, rowFrom, rowTo, x, tokens, out, outStride);
    }

    @Override
    public void matmulRowsSmallBatch(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
            float[] x, int tokens, float[] out, int outStride) {
        PanamaSmallBatch.matmulRows(type, w, rowBytes, cols, rowFrom, rowTo, x, tokens, out, outStride);
    }

    @Override
    public void matmulRowsTransposed(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
            float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        PanamaMatmul.matmulRowsTransposed(type, w, rowBytes, cols, rowFrom, rowTo, xt, tokenStride, tokens, out, outStride);
    }

    @Override
    public void matmulRowsTransposedT(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
            float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        PanamaMatmul.matmulRowsTransposedT(type, w, rowBytes, cols, rowFrom, rowTo, xt, tokenStride, tokens, out, outStride);
    }
}
