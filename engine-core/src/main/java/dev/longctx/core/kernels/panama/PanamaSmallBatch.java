package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaCodecs.*;
import static dev.longctx.core.kernels.panama.PanamaMatvec.*;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Matrix-matrix rows for a few tokens (a batched decode step): each weight block decoded in
 * registers, as in {@link PanamaMatvec}, and multiplied with a group of tokens while it is there.
 *
 * <p>Register blocking of two weight rows times four tokens: per block (or vector of columns) the
 * two rows are decoded once and each token's activations are loaded once for both rows, eight
 * accumulators. Measured on one thread with a 1536x576 Q8_0 matrix in cache, 8 and 16 tokens
 * (2026-12-06): one row x 4 tokens 41 GMAC/s, 2 x 4 58-64, 3 x 4 62-76, 4 x 4 44-56, 1 x 8 44-67,
 * 2 x 8 49 (C2 keeps fewer of those vectors in registers); 2 x 4 was kept: it needs 14 vector
 * registers, so it also fits AVX2's 16. Tokens beyond the multiples of four: three run as a group
 * of four with the last token repeated (its results not stored), two through the 2 x 2 kernels, one
 * through the matvec's one-row kernel (in cache, 1536x576 Q8_0: three tokens as 2 + 1 took 83 us,
 * as a padded four 53 us; two as a padded four 52 us, as 2 x 2 46 us).
 *
 * <p>A pair is row {@code i} of the range with row {@code i + half}, not two neighbours: the range
 * is then read as two sequential streams, which the hardware prefetchers follow; neighbouring pairs
 * (rows 0 and 1, then 2 and 3) made every stream jump over the other's row, and from DRAM (256 MiB
 * of copies of a 1536x576 Q8_0 matrix, one thread) 2 tokens took 127-133 us against 48 us split
 * (42 us in cache either way; 4 tokens 135 against 55 us). The middle row of an odd range is computed
 * as a pair of itself, so the rows need no padding. A pair is read from memory by the first token
 * group and from L1 by the next ones (two 576-column Q8_0 rows are 1224 bytes).
 *
 * <p>Every output has its own accumulator and horizontal sum, so it does not depend on the group
 * or the pair it went in, up to the JIT-dependent lane order of {@code reduceLanes} (see
 * {@code TensorOps}).
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless, so safe
 * from any thread.
 */
final class PanamaSmallBatch {
    private PanamaSmallBatch() {
    }

    static void matmulRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int tokens, float[] out, int outStride) {
        if (tokens == 1) {
            // One token is a matvec: its four-row kernels where those are faster.
            PanamaMatvec.matvecRows(type, w, rowBytes, cols, rowFrom, rowTo, x, 0, out, 0);
            return;
        }
        if (!hasPairKernels(type)) {
            decodedRows(type, w, rowBytes, cols, rowFrom, rowTo, x, tokens, out, outStride);
            return;
        }
        int half = (rowTo - rowFrom + 1) / 2;
        for (int r = rowFrom; r < rowFrom + half; r++) {
            long o = r * rowBytes;
            // Row B of the pair: half a range further, or row A again for the middle row of an odd
            // range (same bytes, same output: written twice with the same value).
            boolean pair = r + half < rowTo;
            int rd = pair ? half : 0;
            long rb = rd * rowBytes;
            int t = 0;
            // Groups of four; three left over run as a group of four with the last token repeated
            // (cheaper than two and one: the one-token kernel reads the pair again at matvec speed).
            for (; t + 3 <= tokens; t += 4) {
                int xo = t * cols;
                int oo = t * outStride + r;
                int n = Math.min(4, tokens - t);
                switch (type) {
                    case F32 -> f32x2x4(w, o, rb, rd, cols, x, xo, n, out, oo, outStride);
                    case F16 -> f16x2x4(w, o, rb, rd, cols, x, xo, n, out, oo, outStride);
                    case BF16 -> bf16x2x4(w, o, rb, rd, cols, x, xo, n, out, oo, outStride);
                    case Q8_0 -> q8x2x4(w, o, rb, rd, cols, x, xo, n, out, oo, outStride);
                    case Q4_0 -> q4x2x4(w, o, rb, rd, cols, x, xo, n, out, oo, outStride);
                }
            }
            if (tokens - t == 2) {
                int xo = t * cols;
                int oo = t * outStride + r;
                switch (type) {
                    case F32 -> f32x2x2(w, o, rb, rd, cols, x, xo, out, oo, outStride);
                    case F16 -> f16x2x2(w, o, rb, rd, cols, x, xo, out, oo, outStride);
                    case BF16 -> bf16x2x2(w, o, rb, rd, cols, x, xo, out, oo, outStride);
                    case Q8_0 -> q8x2x2(w, o, rb, rd, cols, x, xo, out, oo, outStride);
                    case Q4_0 -> q4x2x2(w, o, rb, rd, cols, x, xo, out, oo, outStride);
                }
                t += 2;
            }
            if (t < tokens) {
                int xo = t * cols;
                int oo = t * outStride + r;
                out[oo] = oneRow(type, w, o, cols, x, xo);
                if (pair) {
                    out[oo + rd] = oneRow(type, w, o + rb, cols, x, xo);
                }
            }
        }
    }

    /** Whether {@code type} has the two-row kernels below. */
    static boolean hasPairKernels(DType type) {
        return switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0 -> true;
            default -> false;
        };
    }

    /**
     * Types without two-row kernels: each row decoded once into this thread's scratch row, then one
     * dot product per token while it sits in L1.
     */
    private static void decodedRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                    float[] x, int tokens, float[] out, int outStride) {
        float[] row = PanamaMatvec.rowScratch(cols);
        for (int r = rowFrom; r < rowTo; r++) {
            PanamaCodecs.dequantize(type, w, r * rowBytes, row, 0, cols);
            for (int t = 0; t < tokens; t++) {
                out[t * outStride + r] = PanamaElementwise.dot(row, 0, x, t * cols, cols);
            }
        }
    }

    /** One token times one row: the matvec's one-row kernels. */
    private static float oneRow(DType type, MemorySegment w, long o, int cols, float[] x, int xo) {
        return switch (type) {
            case F32 -> matvecF32x1(w, o, cols, x, xo);
            case F16 -> matvecF16x1(w, o, cols, x, xo);
            case BF16 -> matvecBf16x1(w, o, cols, x, xo);
            case Q8_0 -> matvecQ8x1(w, o, cols, x, xo);
            case Q4_0 -> matvecQ4x1(w, o, cols, x, xo);
            default -> throw new AssertionError(type);
        };
    }

    // The kernels below share one shape: rows A (byte offset o) and B (o + rb) times n tokens
    // (activations at xo + t * cols), outputs out[oo + t * os] for A and out[oo + t * os + rd] for B.
    // They are written out, not built from helpers, because C2 will not inline a vector helper it has
    // already compiled on its own, and would then box every vector (see PanamaMatvec).
    //
    // Block layouts (GGUF, as Quantization): a Q8_0 block is 34 bytes, an F16 scale then 32 int8
    // codes, elements 0-15 at byte 2 and 16-31 at byte 18; a Q4_0 block is 18 bytes, an F16 scale
    // then 16 bytes whose low nibbles are elements 0-15 and high nibbles 16-31, each code minus 8.
    // So a block's first 16 bytes of codes meet activations [c, c + 16) and the next 16 (or the high
    // nibbles) [c + 16, c + 32); PARTS16 vectors of FL floats cover 16 codes.

    /**
     * Two Q8_0 rows times up to 4 tokens: per block, each row's int8 codes converted and
     * scaled once, each token's activations loaded once for both rows; one accumulator per row
     * and token (a: row A, c: row B).
     */
    static void q8x2x4(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        FloatVector c2 = FloatVector.zero(FS);
        FloatVector c3 = FloatVector.zero(FS);
        // Tokens missing from a short group repeat the last real one (computed, not stored).
        int x1 = xo + Math.min(1, n - 1) * cols;
        int x2 = xo + Math.min(2, n - 1) * cols;
        int x3 = xo + Math.min(3, n - 1) * cols;
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            long q0 = o + 34L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector lo0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector hi0 = ByteVector.fromMemorySegment(BS, w, q0 + 18, LE);
            long q1 = o + rb + 34L * b;
            FloatVector d1 = FloatVector.broadcast(FS, scaleAt(w, q1));
            ByteVector lo1 = ByteVector.fromMemorySegment(BS, w, q1 + 2, LE);
            ByteVector hi1 = ByteVector.fromMemorySegment(BS, w, q1 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector wl0 = ((FloatVector) lo0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wh0 = ((FloatVector) hi0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wl1 = ((FloatVector) lo1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                FloatVector wh1 = ((FloatVector) hi1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                int c = b * QK + p * FL;
                FloatVector xl0 = FloatVector.fromArray(FS, x, xo + c);
                FloatVector xh0 = FloatVector.fromArray(FS, x, xo + c + 16);
                a0 = wh0.fma(xh0, wl0.fma(xl0, a0));
                c0 = wh1.fma(xh0, wl1.fma(xl0, c0));
                FloatVector xl1 = FloatVector.fromArray(FS, x, x1 + c);
                FloatVector xh1 = FloatVector.fromArray(FS, x, x1 + c + 16);
                a1 = wh0.fma(xh1, wl0.fma(xl1, a1));
                c1 = wh1.fma(xh1, wl1.fma(xl1, c1));
                FloatVector xl2 = FloatVector.fromArray(FS, x, x2 + c);
                FloatVector xh2 = FloatVector.fromArray(FS, x, x2 + c + 16);
                a2 = wh0.fma(xh2, wl0.fma(xl2, a2));
                c2 = wh1.fma(xh2, wl1.fma(xl2, c2));
                FloatVector xl3 = FloatVector.fromArray(FS, x, x3 + c);
                FloatVector xh3 = FloatVector.fromArray(FS, x, x3 + c + 16);
                a3 = wh0.fma(xh3, wl0.fma(xl3, a3));
                c3 = wh1.fma(xh3, wl1.fma(xl3, c3));
            }
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + rd] = c0.reduceLanes(VectorOperators.ADD);
        if (n > 1) {
            out[oo + os] = a1.reduceLanes(VectorOperators.ADD);
            out[oo + os + rd] = c1.reduceLanes(VectorOperators.ADD);
        }
        if (n > 2) {
            out[oo + 2 * os] = a2.reduceLanes(VectorOperators.ADD);
            out[oo + 2 * os + rd] = c2.reduceLanes(VectorOperators.ADD);
        }
        if (n > 3) {
            out[oo + 3 * os] = a3.reduceLanes(VectorOperators.ADD);
            out[oo + 3 * os + rd] = c3.reduceLanes(VectorOperators.ADD);
        }
    }

    /** Two Q4_0 rows times up to 4 tokens, as {@link #q8x2x4}, the nibbles unpacked as in the matvec. */
    static void q4x2x4(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        FloatVector c2 = FloatVector.zero(FS);
        FloatVector c3 = FloatVector.zero(FS);
        // Tokens missing from a short group repeat the last real one (computed, not stored).
        int x1 = xo + Math.min(1, n - 1) * cols;
        int x2 = xo + Math.min(2, n - 1) * cols;
        int x3 = xo + Math.min(3, n - 1) * cols;
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            long q0 = o + 18L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector n0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector lo0 = n0.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi0 = n0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            long q1 = o + rb + 18L * b;
            FloatVector d1 = FloatVector.broadcast(FS, scaleAt(w, q1));
            ByteVector n1 = ByteVector.fromMemorySegment(BS, w, q1 + 2, LE);
            ByteVector lo1 = n1.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi1 = n1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector wl0 = ((FloatVector) lo0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wh0 = ((FloatVector) hi0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wl1 = ((FloatVector) lo1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                FloatVector wh1 = ((FloatVector) hi1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                int c = b * QK + p * FL;
                FloatVector xl0 = FloatVector.fromArray(FS, x, xo + c);
                FloatVector xh0 = FloatVector.fromArray(FS, x, xo + c + 16);
                a0 = wh0.fma(xh0, wl0.fma(xl0, a0));
                c0 = wh1.fma(xh0, wl1.fma(xl0, c0));
                FloatVector xl1 = FloatVector.fromArray(FS, x, x1 + c);
                FloatVector xh1 = FloatVector.fromArray(FS, x, x1 + c + 16);
                a1 = wh0.fma(xh1, wl0.fma(xl1, a1));
                c1 = wh1.fma(xh1, wl1.fma(xl1, c1));
                FloatVector xl2 = FloatVector.fromArray(FS, x, x2 + c);
                FloatVector xh2 = FloatVector.fromArray(FS, x, x2 + c + 16);
                a2 = wh0.fma(xh2, wl0.fma(xl2, a2));
                c2 = wh1.fma(xh2, wl1.fma(xl2, c2));
                FloatVector xl3 = FloatVector.fromArray(FS, x, x3 + c);
                FloatVector xh3 = FloatVector.fromArray(FS, x, x3 + c + 16);
                a3 = wh0.fma(xh3, wl0.fma(xl3, a3));
                c3 = wh1.fma(xh3, wl1.fma(xl3, c3));
            }
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + rd] = c0.reduceLanes(VectorOperators.ADD);
        if (n > 1) {
            out[oo + os] = a1.reduceLanes(VectorOperators.ADD);
            out[oo + os + rd] = c1.reduceLanes(VectorOperators.ADD);
        }
        if (n > 2) {
            out[oo + 2 * os] = a2.reduceLanes(VectorOperators.ADD);
            out[oo + 2 * os + rd] = c2.reduceLanes(VectorOperators.ADD);
        }
        if (n > 3) {
            out[oo + 3 * os] = a3.reduceLanes(VectorOperators.ADD);
            out[oo + 3 * os + rd] = c3.reduceLanes(VectorOperators.ADD);
        }
    }

    /**
     * Two F16 rows times up to 4 tokens: each vector of halves converted once (the bit manipulation of
     * {@link PanamaMatvec#matvecF16x4}) for all the tokens, each token's activations loaded once
     * for both rows.
     */
    static void f16x2x4(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        FloatVector c2 = FloatVector.zero(FS);
        FloatVector c3 = FloatVector.zero(FS);
        // Tokens missing from a short group repeat the last real one (computed, not stored).
        int x1 = xo + Math.min(1, n - 1) * cols;
        int x2 = xo + Math.min(2, n - 1) * cols;
        int x3 = xo + Math.min(3, n - 1) * cols;
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            IntVector e0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            FloatVector w0 = e0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(e0.or(F16_INF_FIX), e0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats();
            IntVector e1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            FloatVector w1 = e1.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(e1.or(F16_INF_FIX), e1.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats();
            FloatVector x0v = FloatVector.fromArray(FS, x, xo + c);
            a0 = w0.fma(x0v, a0);
            c0 = w1.fma(x0v, c0);
            FloatVector x1v = FloatVector.fromArray(FS, x, x1 + c);
            a1 = w0.fma(x1v, a1);
            c1 = w1.fma(x1v, c1);
            FloatVector x2v = FloatVector.fromArray(FS, x, x2 + c);
            a2 = w0.fma(x2v, a2);
            c2 = w1.fma(x2v, c2);
            FloatVector x3v = FloatVector.fromArray(FS, x, x3 + c);
            a3 = w0.fma(x3v, a3);
            c3 = w1.fma(x3v, c3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float u0 = c0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float u1 = c1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float u2 = c2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float u3 = c3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float w0 = Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + 2L * c));
            float w1 = Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + rb + 2L * c));
            float x0c = x[xo + c];
            s0 += w0 * x0c;
            u0 += w1 * x0c;
            float x1c = x[x1 + c];
            s1 += w0 * x1c;
            u1 += w1 * x1c;
            float x2c = x[x2 + c];
            s2 += w0 * x2c;
            u2 += w1 * x2c;
            float x3c = x[x3 + c];
            s3 += w0 * x3c;
            u3 += w1 * x3c;
        }
        out[oo] = s0;
        out[oo + rd] = u0;
        if (n > 1) {
            out[oo + os] = s1;
            out[oo + os + rd] = u1;
        }
        if (n > 2) {
            out[oo + 2 * os] = s2;
            out[oo + 2 * os + rd] = u2;
        }
        if (n > 3) {
            out[oo + 3 * os] = s3;
            out[oo + 3 * os + rd] = u3;
        }
    }

    /**
     * Two BF16 rows times up to 4 tokens: each vector widened and shifted once for all the tokens,
     * each token's activations loaded once for both rows.
     */
    static void bf16x2x4(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        FloatVector c2 = FloatVector.zero(FS);
        FloatVector c3 = FloatVector.zero(FS);
        // Tokens missing from a short group repeat the last real one (computed, not stored).
        int x1 = xo + Math.min(1, n - 1) * cols;
        int x2 = xo + Math.min(2, n - 1) * cols;
        int x3 = xo + Math.min(3, n - 1) * cols;
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector x0v = FloatVector.fromArray(FS, x, xo + c);
            a0 = w0.fma(x0v, a0);
            c0 = w1.fma(x0v, c0);
            FloatVector x1v = FloatVector.fromArray(FS, x, x1 + c);
            a1 = w0.fma(x1v, a1);
            c1 = w1.fma(x1v, c1);
            FloatVector x2v = FloatVector.fromArray(FS, x, x2 + c);
            a2 = w0.fma(x2v, a2);
            c2 = w1.fma(x2v, c2);
            FloatVector x3v = FloatVector.fromArray(FS, x, x3 + c);
            a3 = w0.fma(x3v, a3);
            c3 = w1.fma(x3v, c3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float u0 = c0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float u1 = c1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float u2 = c2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float u3 = c3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float w0 = Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + 2L * c) & 0xFFFF) << 16);
            float w1 = Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + rb + 2L * c) & 0xFFFF) << 16);
            float x0c = x[xo + c];
            s0 += w0 * x0c;
            u0 += w1 * x0c;
            float x1c = x[x1 + c];
            s1 += w0 * x1c;
            u1 += w1 * x1c;
            float x2c = x[x2 + c];
            s2 += w0 * x2c;
            u2 += w1 * x2c;
            float x3c = x[x3 + c];
            s3 += w0 * x3c;
            u3 += w1 * x3c;
        }
        out[oo] = s0;
        out[oo + rd] = u0;
        if (n > 1) {
            out[oo + os] = s1;
            out[oo + os + rd] = u1;
        }
        if (n > 2) {
            out[oo + 2 * os] = s2;
            out[oo + 2 * os + rd] = u2;
        }
        if (n > 3) {
            out[oo + 3 * os] = s3;
            out[oo + 3 * os + rd] = u3;
        }
    }

    /**
     * Two F32 rows times up to 4 tokens: each weight vector loaded once for all the tokens, each
     * token's activations once for both rows.
     */
    static void f32x2x4(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        FloatVector c2 = FloatVector.zero(FS);
        FloatVector c3 = FloatVector.zero(FS);
        // Tokens missing from a short group repeat the last real one (computed, not stored).
        int x1 = xo + Math.min(1, n - 1) * cols;
        int x2 = xo + Math.min(2, n - 1) * cols;
        int x3 = xo + Math.min(3, n - 1) * cols;
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromMemorySegment(FS, w, o + 4L * c, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(FS, w, o + rb + 4L * c, LE);
            FloatVector x0v = FloatVector.fromArray(FS, x, xo + c);
            a0 = w0.fma(x0v, a0);
            c0 = w1.fma(x0v, c0);
            FloatVector x1v = FloatVector.fromArray(FS, x, x1 + c);
            a1 = w0.fma(x1v, a1);
            c1 = w1.fma(x1v, c1);
            FloatVector x2v = FloatVector.fromArray(FS, x, x2 + c);
            a2 = w0.fma(x2v, a2);
            c2 = w1.fma(x2v, c2);
            FloatVector x3v = FloatVector.fromArray(FS, x, x3 + c);
            a3 = w0.fma(x3v, a3);
            c3 = w1.fma(x3v, c3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float u0 = c0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float u1 = c1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float u2 = c2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float u3 = c3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float w0 = w.get(Quantization.FLOAT_LE, o + 4L * c);
            float w1 = w.get(Quantization.FLOAT_LE, o + rb + 4L * c);
            float x0c = x[xo + c];
            s0 += w0 * x0c;
            u0 += w1 * x0c;
            float x1c = x[x1 + c];
            s1 += w0 * x1c;
            u1 += w1 * x1c;
            float x2c = x[x2 + c];
            s2 += w0 * x2c;
            u2 += w1 * x2c;
            float x3c = x[x3 + c];
            s3 += w0 * x3c;
            u3 += w1 * x3c;
        }
        out[oo] = s0;
        out[oo + rd] = u0;
        if (n > 1) {
            out[oo + os] = s1;
            out[oo + os + rd] = u1;
        }
        if (n > 2) {
            out[oo + 2 * os] = s2;
            out[oo + 2 * os + rd] = u2;
        }
        if (n > 3) {
            out[oo + 3 * os] = s3;
            out[oo + 3 * os + rd] = u3;
        }
    }

    /**
     * Two Q8_0 rows times 2 tokens: per block, each row's int8 codes converted and
     * scaled once, each token's activations loaded once for both rows; one accumulator per row
     * and token (a: row A, c: row B).
     */
    static void q8x2x2(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        int x1 = xo + cols;
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            long q0 = o + 34L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector lo0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector hi0 = ByteVector.fromMemorySegment(BS, w, q0 + 18, LE);
            long q1 = o + rb + 34L * b;
            FloatVector d1 = FloatVector.broadcast(FS, scaleAt(w, q1));
            ByteVector lo1 = ByteVector.fromMemorySegment(BS, w, q1 + 2, LE);
            ByteVector hi1 = ByteVector.fromMemorySegment(BS, w, q1 + 18, LE);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector wl0 = ((FloatVector) lo0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wh0 = ((FloatVector) hi0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wl1 = ((FloatVector) lo1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                FloatVector wh1 = ((FloatVector) hi1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                int c = b * QK + p * FL;
                FloatVector xl0 = FloatVector.fromArray(FS, x, xo + c);
                FloatVector xh0 = FloatVector.fromArray(FS, x, xo + c + 16);
                a0 = wh0.fma(xh0, wl0.fma(xl0, a0));
                c0 = wh1.fma(xh0, wl1.fma(xl0, c0));
                FloatVector xl1 = FloatVector.fromArray(FS, x, x1 + c);
                FloatVector xh1 = FloatVector.fromArray(FS, x, x1 + c + 16);
                a1 = wh0.fma(xh1, wl0.fma(xl1, a1));
                c1 = wh1.fma(xh1, wl1.fma(xl1, c1));
            }
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + rd] = c0.reduceLanes(VectorOperators.ADD);
        out[oo + os] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + os + rd] = c1.reduceLanes(VectorOperators.ADD);
    }

    /** Two Q4_0 rows times 2 tokens, as {@link #q8x2x2}, the nibbles unpacked as in the matvec. */
    static void q4x2x2(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        int x1 = xo + cols;
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            long q0 = o + 18L * b;
            FloatVector d0 = FloatVector.broadcast(FS, scaleAt(w, q0));
            ByteVector n0 = ByteVector.fromMemorySegment(BS, w, q0 + 2, LE);
            ByteVector lo0 = n0.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi0 = n0.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            long q1 = o + rb + 18L * b;
            FloatVector d1 = FloatVector.broadcast(FS, scaleAt(w, q1));
            ByteVector n1 = ByteVector.fromMemorySegment(BS, w, q1 + 2, LE);
            ByteVector lo1 = n1.and((byte) 0x0F).sub((byte) 8);
            ByteVector hi1 = n1.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).sub((byte) 8);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector wl0 = ((FloatVector) lo0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wh0 = ((FloatVector) hi0.convertShape(VectorOperators.B2F, FS, p)).mul(d0);
                FloatVector wl1 = ((FloatVector) lo1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                FloatVector wh1 = ((FloatVector) hi1.convertShape(VectorOperators.B2F, FS, p)).mul(d1);
                int c = b * QK + p * FL;
                FloatVector xl0 = FloatVector.fromArray(FS, x, xo + c);
                FloatVector xh0 = FloatVector.fromArray(FS, x, xo + c + 16);
                a0 = wh0.fma(xh0, wl0.fma(xl0, a0));
                c0 = wh1.fma(xh0, wl1.fma(xl0, c0));
                FloatVector xl1 = FloatVector.fromArray(FS, x, x1 + c);
                FloatVector xh1 = FloatVector.fromArray(FS, x, x1 + c + 16);
                a1 = wh0.fma(xh1, wl0.fma(xl1, a1));
                c1 = wh1.fma(xh1, wl1.fma(xl1, c1));
            }
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + rd] = c0.reduceLanes(VectorOperators.ADD);
        out[oo + os] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + os + rd] = c1.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Two F16 rows times 2 tokens: each vector of halves converted once (the bit manipulation of
     * {@link PanamaMatvec#matvecF16x4}) for all the tokens, each token's activations loaded once
     * for both rows.
     */
    static void f16x2x2(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        int x1 = xo + cols;
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            IntVector e0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            FloatVector w0 = e0.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(e0.or(F16_INF_FIX), e0.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats();
            IntVector e1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 13).and(F16_SIGN_EXP_MANT);
            FloatVector w1 = e1.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(e1.or(F16_INF_FIX), e1.and(F16_EXP_31).compare(VectorOperators.EQ, F16_EXP_31))
                    .reinterpretAsFloats();
            FloatVector x0v = FloatVector.fromArray(FS, x, xo + c);
            a0 = w0.fma(x0v, a0);
            c0 = w1.fma(x0v, c0);
            FloatVector x1v = FloatVector.fromArray(FS, x, x1 + c);
            a1 = w0.fma(x1v, a1);
            c1 = w1.fma(x1v, c1);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float u0 = c0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float u1 = c1.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float w0 = Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + 2L * c));
            float w1 = Float.float16ToFloat(w.get(Quantization.SHORT_LE, o + rb + 2L * c));
            float x0c = x[xo + c];
            s0 += w0 * x0c;
            u0 += w1 * x0c;
            float x1c = x[x1 + c];
            s1 += w0 * x1c;
            u1 += w1 * x1c;
        }
        out[oo] = s0;
        out[oo + rd] = u0;
        out[oo + os] = s1;
        out[oo + os + rd] = u1;
    }

    /**
     * Two BF16 rows times 2 tokens: each vector widened and shifted once for all the tokens,
     * each token's activations loaded once for both rows.
     */
    static void bf16x2x2(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        int x1 = xo + cols;
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(SS, w, o + rb + 2L * c, LE)
                    .convertShape(VectorOperators.S2I, IS, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector x0v = FloatVector.fromArray(FS, x, xo + c);
            a0 = w0.fma(x0v, a0);
            c0 = w1.fma(x0v, c0);
            FloatVector x1v = FloatVector.fromArray(FS, x, x1 + c);
            a1 = w0.fma(x1v, a1);
            c1 = w1.fma(x1v, c1);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float u0 = c0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float u1 = c1.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float w0 = Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + 2L * c) & 0xFFFF) << 16);
            float w1 = Float.intBitsToFloat((w.get(Quantization.SHORT_LE, o + rb + 2L * c) & 0xFFFF) << 16);
            float x0c = x[xo + c];
            s0 += w0 * x0c;
            u0 += w1 * x0c;
            float x1c = x[x1 + c];
            s1 += w0 * x1c;
            u1 += w1 * x1c;
        }
        out[oo] = s0;
        out[oo + rd] = u0;
        out[oo + os] = s1;
        out[oo + os + rd] = u1;
    }

    /**
     * Two F32 rows times 2 tokens: each weight vector loaded once for all the tokens, each
     * token's activations once for both rows.
     */
    static void f32x2x2(MemorySegment w, long o, long rb, int rd, int cols, float[] x, int xo, float[] out, int oo, int os) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = FloatVector.zero(FS);
        int x1 = xo + cols;
        int bound = cols - cols % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromMemorySegment(FS, w, o + 4L * c, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(FS, w, o + rb + 4L * c, LE);
            FloatVector x0v = FloatVector.fromArray(FS, x, xo + c);
            a0 = w0.fma(x0v, a0);
            c0 = w1.fma(x0v, c0);
            FloatVector x1v = FloatVector.fromArray(FS, x, x1 + c);
            a1 = w0.fma(x1v, a1);
            c1 = w1.fma(x1v, c1);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float u0 = c0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float u1 = c1.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float w0 = w.get(Quantization.FLOAT_LE, o + 4L * c);
            float w1 = w.get(Quantization.FLOAT_LE, o + rb + 4L * c);
            float x0c = x[xo + c];
            s0 += w0 * x0c;
            u0 += w1 * x0c;
            float x1c = x[x1 + c];
            s1 += w0 * x1c;
            u1 += w1 * x1c;
        }
        out[oo] = s0;
        out[oo + rd] = u0;
        out[oo + os] = s1;
        out[oo + os + rd] = u1;
    }
}
