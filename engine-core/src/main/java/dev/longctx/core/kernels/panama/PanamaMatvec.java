package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaElementwise.*;
import static dev.longctx.core.kernels.panama.PanamaAttentionTile.*;
import static dev.longctx.core.kernels.panama.PanamaCodecs.*;
import static dev.longctx.core.kernels.panama.PanamaMatmul.*;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Matrix-vector rows for decode: each weight row decoded in registers (F32, F16, BF16, Q8_0,
 * Q4_0), four rows at a time where the columns allow.
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaMatvec {
    private PanamaMatvec() {
    }

    /** Q8_0, Q4_0 and F16 rows shorter than this use the one-row kernel (see matvecRows). */
    static final int ONE_ROW_MAX_COLS = 4096;

    static void matvecRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int xOff, float[] out, int outOff) {
        // Four rows at a time: four concurrent memory streams per thread (one stream per thread
        // reaches only about half the read bandwidth) and four independent FMA chains. Decodes are
        // written out in each loop body because C2 will not inline a vector helper that it has
        // already compiled on its own, and would then box every vector.
        switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0 -> {
                // the kernels below
            }
            case Q5_0 -> {
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaLowBitKernels.q5_0Row(w, r * rowBytes, cols, x, xOff);
                }
                return;
            }
            case Q4_K -> {
                float[] xsum = PanamaLowBitKernels.subBlockSums(x, xOff, cols);
                float[] ds = PanamaLowBitKernels.scaleScratch();
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaLowBitKernels.q4Or5KRow(w, r * rowBytes, cols, x, xOff, xsum, ds, false);
                }
                return;
            }
            case Q5_K -> {
                float[] xsum = PanamaLowBitKernels.subBlockSums(x, xOff, cols);
                float[] ds = PanamaLowBitKernels.scaleScratch();
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaLowBitKernels.q4Or5KRow(w, r * rowBytes, cols, x, xOff, xsum, ds, true);
                }
                return;
            }
            case Q4_1, Q5_1 -> {
                boolean fifth = type == DType.Q5_1;
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaIq4Q3Kernels.q4Or5_1Row(w, r * rowBytes, cols, x, xOff, fifth);
                }
                return;
            }
            case IQ4_NL -> {
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaIq4Q3Kernels.iq4NlRow(w, r * rowBytes, cols, x, xOff);
                }
                return;
            }
            case IQ4_XS -> {
                float[] ds = PanamaLowBitKernels.scaleScratch();
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaIq4Q3Kernels.iq4XsRow(w, r * rowBytes, cols, x, xOff, ds);
                }
                return;
            }
            case Q2_K -> {
                float[] ds = PanamaLowBitKernels.scaleScratch();
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaIq4Q3Kernels.q2KRow(w, r * rowBytes, cols, x, xOff, ds);
                }
                return;
            }
            case Q3_K -> {
                float[] ds = PanamaLowBitKernels.scaleScratch();
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaIq4Q3Kernels.q3KRow(w, r * rowBytes, cols, x, xOff, ds);
                }
                return;
            }
            case Q6_K -> {
                float[] ds = PanamaLowBitKernels.scaleScratch();
                for (int r = rowFrom; r < rowTo; r++) {
                    out[outOff + r] = PanamaLowBitKernels.q6KRow(w, r * rowBytes, cols, x, xOff, ds);
                }
                return;
            }
            default -> {
                matvecDecodedRows(type, w, rowBytes, cols, rowFrom, rowTo, x, xOff, out, outOff);
                return;
            }
        }
        int r = rowFrom;
        // Q8_0 and F16 on short rows run one row at a time: C2 keeps those four-row bodies' vectors in
        // registers badly there. Measured side by side (MatvecBench, 2 threads, 2026-11-26): Q8_0
        // 576x1536 77 -> 50 us and 49152x576 3170 -> 2260 us, F16 576x1536 84 -> 68 us; on 8192-long
        // rows four rows stay ahead (2048x8192: Q8_0 865 vs 880-1040 us, F16 1280 vs 1640 us).
        // Q4_0 likewise (MatvecBench, 1 thread, minimum of 10 iterations, 2026-12-06): 576x1536
        // 163.6 -> 36.5 us.
        boolean fourRows = !((type == DType.Q8_0 || type == DType.F16 || type == DType.Q4_0) && cols < ONE_ROW_MAX_COLS);
        for (; fourRows && r + 4 <= rowTo; r += 4) {
            long o = r * rowBytes;
            switch (type) {
                case F32 -> matvecF32x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case F16 -> matvecF16x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case BF16 -> matvecBf16x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case Q8_0 -> matvecQ8x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                case Q4_0 -> matvecQ4x4(w, o, rowBytes, cols, x, xOff, out, outOff + r);
                default -> throw new AssertionError(type);
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
                default -> throw new AssertionError(type);
            };
        }
    }


    private static final ThreadLocal<float[]> ROW_SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    /** This thread's scratch row of at least {@code cols} floats. */
    static float[] rowScratch(int cols) {
        float[] row = ROW_SCRATCH.get();
        if (row.length < cols) {
            row = new float[cols];
            ROW_SCRATCH.set(row);
        }
        return row;
    }

    /**
     * Rows of a type without a fused kernel: each row decoded into this thread's scratch row (it
     * stays in L1), then one dot product. The order of operations depends only on the row, so
     * results do not depend on how rows are split between threads.
     */
    static void matvecDecodedRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                  float[] x, int xOff, float[] out, int outOff) {
        float[] row = rowScratch(cols);
        for (int r = rowFrom; r < rowTo; r++) {
            PanamaCodecs.dequantize(type, w, r * rowBytes, row, 0, cols);
            out[outOff + r] = PanamaElementwise.dot(row, 0, x, xOff, cols);
        }
    }

    /** Sign (bit 31) and exponent+mantissa (bits 13..27) of a sign-extended half shifted left by 13. */
    static final int F16_SIGN_EXP_MANT = 0x8FFFE000;

    /** The half exponent field (31 = inf/NaN) after the shift by 13. */
    static final int F16_EXP_31 = 0x0F800000;

    /** ORed onto a shifted half with exponent 31, it gives the float inf/NaN exponent (255). */
    static final int F16_INF_FIX = 0x70000000;

    /** Four F16 rows: four memory streams, a cache line per row per step, the conversion written out. */
    static void matvecF16x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
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
    static float matvecF16x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
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
    static void matvecBf16x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
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
    static float matvecBf16x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
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
    static void matvecQ8x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
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
    static float matvecQ8x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
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
    static void matvecQ4x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
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
    static float matvecQ4x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
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

    static void matvecF32x4(MemorySegment w, long o, long rb, int cols, float[] x, int xOff, float[] out, int oi) {
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

    static float matvecF32x1(MemorySegment w, long o, int cols, float[] x, int xOff) {
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
}
