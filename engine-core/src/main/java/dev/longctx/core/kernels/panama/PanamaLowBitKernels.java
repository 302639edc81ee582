package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaCodecs.scaleAt;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * Matvec rows and block decoders for the block types of the common GGUF mixtures: Q5_0 (what
 * {@code llama-quantize}'s Q4_K_M writes for rows that are not a multiple of 256), Q4_K, Q5_K
 * (Q5_K_M's main type) and Q6_K.
 * Codes are decoded in registers from the mapped weights, converted to floats and multiplied with
 * the float activations; the scale (and, for Q4_K, the minimum) is applied once per sub-block, not
 * per element. Layouts: {@link dev.longctx.core.tensor.DType}.
 *
 * <p>The minimum term of Q4_K and Q5_K {@code -dmin * m * sum(x)} uses per-32-element sums of the activation
 * vector computed once per call ({@link #subBlockSums}), which every row then shares, as llama.cpp's
 * {@code bsums} do.
 *
 * <p>x86 has no byte shift: nibbles and bit pairs are shifted on 16-bit lanes and masked (the mask
 * drops the bits that cross into the neighbouring byte). Loops are written out rather than built
 * from vector helpers because C2 will not inline a vector helper it has already compiled on its
 * own, and would then box every vector (see {@link PanamaMatvec}).
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaLowBitKernels {
    private PanamaLowBitKernels() {
    }

    /** Elements per K-quant super-block (ggml {@code QK_K}). */
    static final int QK_K = 256;

    /** Q5_0 fifth bits for elements 0-15: byte 0 of qh for lanes 0-7, byte 1 for lanes 8-15. */
    static final VectorShuffle<Byte> QH_LOW =
            VectorShuffle.fromValues(BS, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    /** Q5_0 fifth bits for elements 16-31: bytes 2 and 3 of qh. */
    static final VectorShuffle<Byte> QH_HIGH =
            VectorShuffle.fromValues(BS, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    /** The bit of its qh byte that each lane reads. */
    static final ByteVector LANE_BIT = ByteVector.fromArray(BS,
            new byte[] {1, 2, 4, 8, 16, 32, 64, (byte) 128, 1, 2, 4, 8, 16, 32, 64, (byte) 128}, 0);

    // ---------------------------------------------------------------- Q5_0: d, qh[4], qs[16]

    /** One Q5_0 row: per block, the nibbles minus 16 where the fifth bit is clear. */
    static float q5_0Row(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector acc = FloatVector.zero(FS);
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q = o + 22L * b;
            FloatVector d = FloatVector.broadcast(FS, scaleAt(w, q));
            ByteVector qh = ByteVector.fromMemorySegment(BS, w, q + 2, LE);
            VectorMask<Byte> clearLo = qh.rearrange(QH_LOW).and(LANE_BIT).compare(VectorOperators.EQ, 0);
            VectorMask<Byte> clearHi = qh.rearrange(QH_HIGH).and(LANE_BIT).compare(VectorOperators.EQ, 0);
            ByteVector n = ByteVector.fromMemorySegment(BS, w, q + 6, LE);
            ByteVector lo = n.and((byte) 0x0F).lanewise(VectorOperators.SUB, (byte) 16, clearLo);
            ByteVector hi = n.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).lanewise(VectorOperators.SUB, (byte) 16, clearHi);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector t = ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p))
                        .mul(FloatVector.fromArray(FS, x, xi + p * FL));
                t = ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p))
                        .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t);
                acc = t.fma(d, acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Decodes Q5_0 blocks to floats (the prefill tile), bit for bit with the scalar decoder. */
    static void decodeQ5_0(MemorySegment src, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long q = off + 22L * b;
            float d = scaleAt(src, q);
            ByteVector qh = ByteVector.fromMemorySegment(BS, src, q + 2, LE);
            VectorMask<Byte> clearLo = qh.rearrange(QH_LOW).and(LANE_BIT).compare(VectorOperators.EQ, 0);
            VectorMask<Byte> clearHi = qh.rearrange(QH_HIGH).and(LANE_BIT).compare(VectorOperators.EQ, 0);
            ByteVector n = ByteVector.fromMemorySegment(BS, src, q + 6, LE);
            ByteVector lo = n.and((byte) 0x0F).lanewise(VectorOperators.SUB, (byte) 16, clearLo);
            ByteVector hi = n.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).lanewise(VectorOperators.SUB, (byte) 16, clearHi);
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                        .intoArray(dst, dstOff + b * QK + p * FL);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                        .intoArray(dst, dstOff + b * QK + 16 + p * FL);
            }
        }
    }

    // ---------------------------------------------------------------- Q4_K: d, dmin, scales[12], qs[128]

    private static final ThreadLocal<float[]> SUMS = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Per super-block of a row, 16 floats: eight zeros, then the sums of {@code x} over its eight
     * 32-element sub-blocks, in this thread's scratch. Lined up with the 16 decoded scale lanes
     * (eight scales, then eight minima), one FMA gives every minimum times its sum; the scale
     * lanes meet zeros.
     */
    static float[] subBlockSums(float[] x, int xOff, int cols) {
        int n = cols / QK_K * 16;
        float[] s = SUMS.get();
        if (s.length < n) {
            s = new float[n];
            SUMS.set(s);
        }
        for (int b = 0; b < cols / QK_K; b++) {
            for (int j = 0; j < 8; j++) {
                FloatVector v = FloatVector.zero(FS);
                for (int c = 0; c < QK; c += FL) {
                    v = v.add(FloatVector.fromArray(FS, x, xOff + b * QK_K + j * QK + c));
                }
                s[16 * b + j] = 0f;
                s[16 * b + 8 + j] = v.reduceLanes(VectorOperators.ADD);
            }
        }
        return s;
    }

    private static final ThreadLocal<float[]> SCALES = ThreadLocal.withInitial(() -> new float[32]);

    /** This thread's scratch for a super-block's scaled scales and minima (up to 32 floats). */
    static float[] scaleScratch() {
        return SCALES.get();
    }

    /** Scale bytes for lanes 0-3 (sc0-3), 4-7 (low nibbles of sc4-7), 8-11 (m0-3), 12-15 (high nibbles of m4-7). */
    private static final VectorShuffle<Byte> K4_A =
            VectorShuffle.fromValues(BS, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11);
    /** Scale bytes whose top two bits are the top bits of sc4-7 (bytes 0-3) and m4-7 (bytes 4-7). */
    private static final VectorShuffle<Byte> K4_B =
            VectorShuffle.fromValues(BS, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7);
    /** Lanes 4-7: a low nibble plus two top bits. */
    private static final VectorMask<Byte> K4_LOW_NIBBLE = VectorMask.fromLong(BS, 0x00F0L);
    /** Lanes 12-15: a high nibble plus two top bits. */
    private static final VectorMask<Byte> K4_HIGH_NIBBLE = VectorMask.fromLong(BS, 0xF000L);
    /** Lanes 4-7 and 12-15. */
    private static final VectorMask<Byte> K4_TOP = VectorMask.fromLong(BS, 0xF0F0L);

    /** The 6-bit scale ({@code k = 0}) or min ({@code k = 1}) of sub-block j (ggml {@code get_scale_min_k4}). */
    static int scaleMinK4(MemorySegment w, long at, int j, int k) {
        if (j < 4) {
            return w.get(JAVA_BYTE, at + j + 4 * k) & 0x3F;
        }
        int packed = w.get(JAVA_BYTE, at + j + 4) & 0xFF;
        int top = (w.get(JAVA_BYTE, at + j - 4 + 4 * k) & 0xFF) >>> 6;
        return (k == 0 ? packed & 0x0F : packed >>> 4) | top << 4;
    }

    /**
     * One Q4_K row ({@code fifth} false) or Q5_K row (true): per pair of sub-blocks, 32 code bytes
     * whose low nibbles are the first sub-block and high nibbles the second (Q5_K adds bit
     * {@code sb} of {@code qh[j]} to element {@code j} of sub-block {@code sb} as 16, under a lane
     * mask); {@code sum(q x)} per sub-block times {@code d * sc}, and the minimum term
     * {@code dmin * m * sum(x)} from the shared sub-block sums. The twelve scale bytes are unpacked
     * in one byte vector (two shuffles, masks and blends: the packing of {@link #scaleMinK4}), not
     * sixteen scalar extractions: on 576 x 1536, one thread, the scalar unpacking cost 79 us
     * against 36 us for Q4_0's comparable nibble work.
     */
    static float q4Or5KRow(MemorySegment w, long o, int cols, float[] x, int xOff, float[] xsum, float[] ds, boolean fifth) {
        long blockBytes = fifth ? 176 : 144;
        long codes = fifth ? 48 : 16; // Q5_K's 32 bytes of fifth bits sit between the scales and the codes
        FloatVector acc = FloatVector.zero(FS);
        FloatVector mins = FloatVector.zero(FS);
        int blocks = cols / QK_K;
        for (int b = 0; b < blocks; b++) {
            long base = o + blockBytes * b;
            float d = scaleAt(w, base);
            float dmin = scaleAt(w, base + 2);
            // The twelve scale bytes unpacked in one vector (get_scale_min_k4 for all sixteen lanes):
            // eight 6-bit scales then eight minima, times d and dmin, to this thread's scratch; the
            // minima meet the padded activation sums in one FMA.
            ByteVector raw = ByteVector.fromMemorySegment(BS, w, base + 4, LE);
            ByteVector sa = raw.rearrange(K4_A);
            ByteVector top = raw.rearrange(K4_B).reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2)
                    .reinterpretAsBytes().and((byte) 0x30);
            ByteVector sm = sa.and((byte) 0x3F)
                    .blend(sa.and((byte) 0x0F), K4_LOW_NIBBLE)
                    .blend(sa.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F), K4_HIGH_NIBBLE)
                    .lanewise(VectorOperators.OR, top, K4_TOP);
            for (int p = 0; p < PARTS16; p++) {
                FloatVector f = FloatVector.broadcast(FS, d)
                        .blend(FloatVector.broadcast(FS, dmin), VectorMask.fromLong(FS, 0xFF00L >>> (p * FL)));
                FloatVector v = ((FloatVector) sm.convertShape(VectorOperators.B2F, FS, p)).mul(f);
                v.intoArray(ds, p * FL);
                mins = v.fma(FloatVector.fromArray(FS, xsum, 16 * b + p * FL), mins);
            }
            int xb = xOff + b * QK_K;
            // Q4_K reads its first 32 code bytes here; only Q5_K uses them (as fifth bits)
            ByteVector qh0 = ByteVector.fromMemorySegment(BS, w, base + 16, LE);
            ByteVector qh1 = ByteVector.fromMemorySegment(BS, w, base + 32, LE);
            for (int c = 0; c < 4; c++) {
                long qb = base + codes + 32L * c;
                byte bitLo = (byte) (1 << (2 * c));
                byte bitHi = (byte) (2 << (2 * c));
                FloatVector t0 = FloatVector.zero(FS);
                FloatVector t1 = FloatVector.zero(FS);
                for (int h = 0; h < 2; h++) {
                    ByteVector qh = h == 0 ? qh0 : qh1;
                    ByteVector q = ByteVector.fromMemorySegment(BS, w, qb + 16 * h, LE);
                    ByteVector lo = q.and((byte) 0x0F);
                    ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F);
                    if (fifth) {
                        lo = lo.lanewise(VectorOperators.ADD, (byte) 16, qh.and(bitLo).compare(VectorOperators.NE, 0));
                        hi = hi.lanewise(VectorOperators.ADD, (byte) 16, qh.and(bitHi).compare(VectorOperators.NE, 0));
                    }
                    int xl = xb + 64 * c + 16 * h;
                    for (int p = 0; p < PARTS16; p++) {
                        t0 = ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p))
                                .fma(FloatVector.fromArray(FS, x, xl + p * FL), t0);
                        t1 = ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p))
                                .fma(FloatVector.fromArray(FS, x, xl + 32 + p * FL), t1);
                    }
                }
                acc = t0.fma(FloatVector.broadcast(FS, ds[2 * c]), acc);
                acc = t1.fma(FloatVector.broadcast(FS, ds[2 * c + 1]), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins.reduceLanes(VectorOperators.ADD);
    }

    /** Decodes Q4_K blocks to floats, bit for bit with the scalar decoder ({@code (d * sc) * q - dmin * m}). */
    static void decodeQ4K(MemorySegment src, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 144L * b;
            float d = scaleAt(src, base);
            float dmin = scaleAt(src, base + 2);
            for (int c = 0; c < 4; c++) {
                int s0 = 2 * c;
                float d0 = d * scaleMinK4(src, base + 4, s0, 0);
                float m0 = dmin * scaleMinK4(src, base + 4, s0, 1);
                float d1 = d * scaleMinK4(src, base + 4, s0 + 1, 0);
                float m1 = dmin * scaleMinK4(src, base + 4, s0 + 1, 1);
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, src, base + 16 + 32L * c + 16 * h, LE);
                    ByteVector lo = q.and((byte) 0x0F);
                    ByteVector hi = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F);
                    int o = dstOff + b * QK_K + 64 * c + 16 * h;
                    for (int p = 0; p < PARTS16; p++) {
                        ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(d0).sub(m0)
                                .intoArray(dst, o + p * FL);
                        ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(d1).sub(m1)
                                .intoArray(dst, o + 32 + p * FL);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- Q6_K: ql[128], qh[64], scales[16], d

    /**
     * One Q6_K row. For each half {@code g} of the block, 16-byte slices {@code a} of ql[64g..],
     * {@code b} of ql[64g+32..] and {@code h} of qh[32g..] give four runs of 16 codes: low nibbles
     * of a with bits 0-1 of h, low nibbles of b with bits 2-3, high nibbles of a with bits 4-5,
     * high nibbles of b with bits 6-7 (elements 0, 32, 64, 96 of the half, plus 16 for the
     * second slice); each run of 16 has its own int8 scale.
     */
    static float q6KRow(MemorySegment w, long o, int cols, float[] x, int xOff, float[] ds) {
        FloatVector acc = FloatVector.zero(FS);
        int blocks = cols / QK_K;
        for (int b = 0; b < blocks; b++) {
            long base = o + 210L * b;
            float d = scaleAt(w, base + 208);
            // The sixteen int8 scales times d in one vector, to this thread's scratch.
            ByteVector sc16 = ByteVector.fromMemorySegment(BS, w, base + 192, LE);
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) sc16.convertShape(VectorOperators.B2F, FS, p)).mul(d).intoArray(ds, p * FL);
            }
            for (int g = 0; g < 2; g++) {
                for (int s = 0; s < 2; s++) {
                    ByteVector a = ByteVector.fromMemorySegment(BS, w, base + 64 * g + 16 * s, LE);
                    ByteVector bq = ByteVector.fromMemorySegment(BS, w, base + 64 * g + 32 + 16 * s, LE);
                    ByteVector h = ByteVector.fromMemorySegment(BS, w, base + 128 + 32 * g + 16 * s, LE);
                    ByteVector q0 = a.and((byte) 0x0F).or(h.reinterpretAsShorts().lanewise(VectorOperators.LSHL, 4)
                            .reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
                    ByteVector q1 = bq.and((byte) 0x0F).or(h.reinterpretAsShorts().lanewise(VectorOperators.LSHL, 2)
                            .reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
                    ByteVector q2 = a.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F).or(h.and((byte) 0x30)).sub((byte) 32);
                    ByteVector q3 = bq.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F).or(h.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2)
                                    .reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
                    int xe = xOff + b * QK_K + 128 * g + 16 * s;
                    int sc = 8 * g + s;
                    FloatVector t0 = FloatVector.zero(FS);
                    FloatVector t1 = FloatVector.zero(FS);
                    FloatVector t2 = FloatVector.zero(FS);
                    FloatVector t3 = FloatVector.zero(FS);
                    for (int p = 0; p < PARTS16; p++) {
                        t0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, FS, p))
                                .fma(FloatVector.fromArray(FS, x, xe + p * FL), t0);
                        t1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, FS, p))
                                .fma(FloatVector.fromArray(FS, x, xe + 32 + p * FL), t1);
                        t2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, FS, p))
                                .fma(FloatVector.fromArray(FS, x, xe + 64 + p * FL), t2);
                        t3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, FS, p))
                                .fma(FloatVector.fromArray(FS, x, xe + 96 + p * FL), t3);
                    }
                    acc = t0.fma(FloatVector.broadcast(FS, ds[sc]), acc);
                    acc = t1.fma(FloatVector.broadcast(FS, ds[sc + 2]), acc);
                    acc = t2.fma(FloatVector.broadcast(FS, ds[sc + 4]), acc);
                    acc = t3.fma(FloatVector.broadcast(FS, ds[sc + 6]), acc);
                }
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Decodes Q6_K blocks to floats, bit for bit with the scalar decoder ({@code (d * sc) * q}). */
    static void decodeQ6K(MemorySegment src, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 210L * b;
            float d = scaleAt(src, base + 208);
            for (int g = 0; g < 2; g++) {
                for (int s = 0; s < 2; s++) {
                    ByteVector a = ByteVector.fromMemorySegment(BS, src, base + 64 * g + 16 * s, LE);
                    ByteVector bq = ByteVector.fromMemorySegment(BS, src, base + 64 * g + 32 + 16 * s, LE);
                    ByteVector h = ByteVector.fromMemorySegment(BS, src, base + 128 + 32 * g + 16 * s, LE);
                    ByteVector q0 = a.and((byte) 0x0F).or(h.reinterpretAsShorts().lanewise(VectorOperators.LSHL, 4)
                            .reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
                    ByteVector q1 = bq.and((byte) 0x0F).or(h.reinterpretAsShorts().lanewise(VectorOperators.LSHL, 2)
                            .reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
                    ByteVector q2 = a.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F).or(h.and((byte) 0x30)).sub((byte) 32);
                    ByteVector q3 = bq.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                            .and((byte) 0x0F).or(h.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2)
                                    .reinterpretAsBytes().and((byte) 0x30)).sub((byte) 32);
                    int o = dstOff + b * QK_K + 128 * g + 16 * s;
                    long sc = base + 192 + 8 * g + s;
                    float d0 = d * src.get(JAVA_BYTE, sc);
                    float d1 = d * src.get(JAVA_BYTE, sc + 2);
                    float d2 = d * src.get(JAVA_BYTE, sc + 4);
                    float d3 = d * src.get(JAVA_BYTE, sc + 6);
                    for (int p = 0; p < PARTS16; p++) {
                        ((FloatVector) q0.convertShape(VectorOperators.B2F, FS, p)).mul(d0).intoArray(dst, o + p * FL);
                        ((FloatVector) q1.convertShape(VectorOperators.B2F, FS, p)).mul(d1).intoArray(dst, o + 32 + p * FL);
                        ((FloatVector) q2.convertShape(VectorOperators.B2F, FS, p)).mul(d2).intoArray(dst, o + 64 + p * FL);
                        ((FloatVector) q3.convertShape(VectorOperators.B2F, FS, p)).mul(d3).intoArray(dst, o + 96 + p * FL);
                    }
                }
            }
        }
    }
}
