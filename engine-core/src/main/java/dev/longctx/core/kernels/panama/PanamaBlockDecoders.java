package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaCodecs.scaleAt;
import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Vectorised decoders of the weight-only block types that {@link PanamaLowBitKernels} does not
 * cover (Q4_1, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS), into float rows: the prefill tile and the
 * scratch row of the matvec's decoded-row path read them. Each is bit for bit the scalar decoder
 * ({@code BlockDecoders}): the same float32 products and sums in the same order, one rounding each.
 *
 * <p>Bits are extracted as in {@link PanamaLowBitKernels}: byte shifts on 16-bit lanes then a mask;
 * single high bits by a lane-bit test into a mask; IQ4 code books by a 16-entry table lookup
 * ({@code selectFrom}, a byte shuffle).
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless, so safe
 * from any thread.
 */
final class PanamaBlockDecoders {
    private PanamaBlockDecoders() {
    }

    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** IQ4_NL's code book (ggml {@code kvalues_iq4nl}), one level per lane. */
    static final ByteVector IQ4_TABLE = ByteVector.fromArray(BS,
            new byte[] {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}, 0);

    static ByteVector highNibbles(ByteVector q) {
        return q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
    }

    /**
     * Q4_1 ({@code fifth} false: d, m, nibbles) or Q5_1 (true: d, m, 4 bytes of fifth bits,
     * nibbles): {@code d * q + m}, q the nibble plus 16 in Q5_1 where the fifth bit is set.
     */
    static void decodeQ4Or5_1(MemorySegment s, long off, float[] dst, int dstOff, int blocks, boolean fifth) {
        long blockBytes = fifth ? 24 : 20;
        long codes = fifth ? 8 : 4;
        for (int b = 0; b < blocks; b++) {
            long q = off + blockBytes * b;
            float d = scaleAt(s, q);
            float m = scaleAt(s, q + 2);
            ByteVector n = ByteVector.fromMemorySegment(BS, s, q + codes, LE);
            ByteVector lo = n.and((byte) 0x0F);
            ByteVector hi = highNibbles(n);
            if (fifth) {
                ByteVector qh = ByteVector.fromMemorySegment(BS, s, q + 4, LE);
                lo = lo.lanewise(VectorOperators.ADD, (byte) 16, qh.rearrange(PanamaLowBitKernels.QH_LOW)
                        .and(PanamaLowBitKernels.LANE_BIT).compare(VectorOperators.NE, 0));
                hi = hi.lanewise(VectorOperators.ADD, (byte) 16, qh.rearrange(PanamaLowBitKernels.QH_HIGH)
                        .and(PanamaLowBitKernels.LANE_BIT).compare(VectorOperators.NE, 0));
            }
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(d).add(m)
                        .intoArray(dst, dstOff + b * QK + p * FL);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(d).add(m)
                        .intoArray(dst, dstOff + b * QK + 16 + p * FL);
            }
        }
    }

    /** IQ4_NL: {@code d * table[q]}. */
    static void decodeIq4Nl(MemorySegment s, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long q = off + 18L * b;
            float d = scaleAt(s, q);
            ByteVector n = ByteVector.fromMemorySegment(BS, s, q + 2, LE);
            ByteVector lo = n.and((byte) 0x0F).selectFrom(IQ4_TABLE);
            ByteVector hi = highNibbles(n).selectFrom(IQ4_TABLE);
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                        .intoArray(dst, dstOff + b * QK + p * FL);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(d)
                        .intoArray(dst, dstOff + b * QK + 16 + p * FL);
            }
        }
    }

    /** IQ4_XS: {@code (d * (sc - 32)) * table[q]} per sub-block of 32. */
    static void decodeIq4Xs(MemorySegment s, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 136L * b;
            float d = scaleAt(s, base);
            int sh = s.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), base + 2)
                    & 0xFFFF;
            for (int ib = 0; ib < 8; ib++) {
                int l = ((s.get(JAVA_BYTE, base + 4 + (ib >>> 1)) & 0xFF) >>> (4 * (ib & 1))) & 0x0F;
                float dl = d * ((l | ((sh >>> (2 * ib)) & 3) << 4) - 32);
                ByteVector n = ByteVector.fromMemorySegment(BS, s, base + 8 + 16L * ib, LE);
                ByteVector lo = n.and((byte) 0x0F).selectFrom(IQ4_TABLE);
                ByteVector hi = highNibbles(n).selectFrom(IQ4_TABLE);
                int o = dstOff + b * 256 + 32 * ib;
                for (int p = 0; p < PARTS16; p++) {
                    ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(dl).intoArray(dst, o + p * FL);
                    ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(dl).intoArray(dst, o + 16 + p * FL);
                }
            }
        }
    }

    /**
     * Q5_K: {@code (d * sc) * q - dmin * m} per sub-block of 32, q the nibble (as Q4_K) plus 16
     * where bit {@code sb} of {@code qh[j]} is set.
     */
    static void decodeQ5K(MemorySegment s, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 176L * b;
            float d = scaleAt(s, base);
            float dmin = scaleAt(s, base + 2);
            for (int c = 0; c < 4; c++) {
                int s0 = 2 * c;
                float d0 = d * PanamaLowBitKernels.scaleMinK4(s, base + 4, s0, 0);
                float m0 = dmin * PanamaLowBitKernels.scaleMinK4(s, base + 4, s0, 1);
                float d1 = d * PanamaLowBitKernels.scaleMinK4(s, base + 4, s0 + 1, 0);
                float m1 = dmin * PanamaLowBitKernels.scaleMinK4(s, base + 4, s0 + 1, 1);
                for (int h = 0; h < 2; h++) {
                    ByteVector qh = ByteVector.fromMemorySegment(BS, s, base + 16 + 16 * h, LE);
                    ByteVector q = ByteVector.fromMemorySegment(BS, s, base + 48 + 32L * c + 16 * h, LE);
                    ByteVector lo = q.and((byte) 0x0F)
                            .lanewise(VectorOperators.ADD, (byte) 16, qh.and((byte) (1 << s0)).compare(VectorOperators.NE, 0));
                    ByteVector hi = highNibbles(q)
                            .lanewise(VectorOperators.ADD, (byte) 16, qh.and((byte) (2 << s0)).compare(VectorOperators.NE, 0));
                    int o = dstOff + b * 256 + 64 * c + 16 * h;
                    for (int p = 0; p < PARTS16; p++) {
                        ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(d0).sub(m0).intoArray(dst, o + p * FL);
                        ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).mul(d1).sub(m1)
                                .intoArray(dst, o + 32 + p * FL);
                    }
                }
            }
        }
    }

    /**
     * Q2_K: element {@code 128 g + 32 t + j} is bits {@code 2t..2t+1} of {@code qs[32 g + j]};
     * {@code (d * (sc & 15)) * q - dmin * (sc >> 4)} with a scale byte per 16 elements.
     */
    static void decodeQ2K(MemorySegment s, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 84L * b;
            float d = scaleAt(s, base + 80);
            float dmin = scaleAt(s, base + 82);
            for (int g = 0; g < 2; g++) {
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, s, base + 16 + 32 * g + 16 * h, LE);
                    for (int t = 0; t < 4; t++) {
                        ByteVector v = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2 * t).reinterpretAsBytes()
                                .and((byte) 3);
                        int sc = s.get(JAVA_BYTE, base + 8 * g + 2 * t + h) & 0xFF;
                        float dl = d * (sc & 0x0F);
                        float ml = dmin * (sc >>> 4);
                        int o = dstOff + b * 256 + 128 * g + 32 * t + 16 * h;
                        for (int p = 0; p < PARTS16; p++) {
                            ((FloatVector) v.convertShape(VectorOperators.B2F, FS, p)).mul(dl).sub(ml).intoArray(dst, o + p * FL);
                        }
                    }
                }
            }
        }
    }

    /**
     * Q3_K: element {@code 128 g + 32 t + j}: bits {@code 2t..2t+1} of {@code qs[32 g + j]}, minus 4
     * where bit {@code 4 g + t} of {@code hmask[j]} is clear; times {@code d * (sc - 32)}, a 6-bit
     * scale per 16 elements (low nibbles in bytes 0-7, top bits in bytes 8-11).
     */
    static void decodeQ3K(MemorySegment s, long off, float[] dst, int dstOff, int blocks) {
        for (int b = 0; b < blocks; b++) {
            long base = off + 110L * b;
            float d = scaleAt(s, base + 108);
            int w0 = s.get(INT_LE, base + 96);
            int w1 = s.get(INT_LE, base + 100);
            int w2 = s.get(INT_LE, base + 104);
            for (int g = 0; g < 2; g++) {
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, s, base + 32 + 32 * g + 16 * h, LE);
                    ByteVector hm = ByteVector.fromMemorySegment(BS, s, base + 16 * h, LE);
                    for (int t = 0; t < 4; t++) {
                        int bit = 4 * g + t;
                        VectorMask<Byte> clear = hm.and((byte) (1 << bit)).compare(VectorOperators.EQ, 0);
                        ByteVector v = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2 * t).reinterpretAsBytes()
                                .and((byte) 3).lanewise(VectorOperators.SUB, (byte) 4, clear);
                        int i = 8 * g + 2 * t + h; // scale index: element / 16
                        int low = (((i < 8 ? (i < 4 ? w0 : w1) : (i < 12 ? w0 : w1)) >>> (8 * (i & 3) + 4 * (i >>> 3))) & 0x0F);
                        int top = (w2 >>> (8 * (i & 3) + 2 * (i >>> 2))) & 3;
                        float dl = d * ((low | top << 4) - 32);
                        int o = dstOff + b * 256 + 128 * g + 32 * t + 16 * h;
                        for (int p = 0; p < PARTS16; p++) {
                            ((FloatVector) v.convertShape(VectorOperators.B2F, FS, p)).mul(dl).intoArray(dst, o + p * FL);
                        }
                    }
                }
            }
        }
    }
}
