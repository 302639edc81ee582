package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaCodecs.scaleAt;
import static dev.longctx.core.kernels.panama.PanamaSpecies.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * In-register matvec rows for Q4_1 and Q5_1 (the fallback of Q5_K rows that are not a multiple of
 * 256), Q2_K, IQ4_NL (the fallback {@code llama-quantize} writes for Q3_K, Q2_K and
 * IQ4_XS rows that are not a multiple of 256), IQ4_XS and Q3_K (Q3_K_M's main type): codes decoded
 * in vector registers from the mapped weights as {@link PanamaLowBitKernels} does, the IQ4 code
 * book by a 16-entry byte table lookup ({@code selectFrom}), scales applied once per sub-block.
 * Layouts: {@link dev.longctx.core.tensor.DType}; the scalar references: {@code BlockDecoders}.
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread and passed in), so safe from any thread.
 */
final class PanamaIq4Q3Kernels {
    private PanamaIq4Q3Kernels() {
    }

    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One IQ4_NL row: per block of 32, the nibbles looked up in the code book, one scale FMA. */
    static float iq4NlRow(MemorySegment w, long o, int cols, float[] x, int xOff) {
        FloatVector acc = FloatVector.zero(FS);
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q = o + 18L * b;
            FloatVector d = FloatVector.broadcast(FS, scaleAt(w, q));
            ByteVector n = ByteVector.fromMemorySegment(BS, w, q + 2, LE);
            ByteVector lo = n.and((byte) 0x0F).selectFrom(PanamaBlockDecoders.IQ4_TABLE);
            ByteVector hi = n.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                    .and((byte) 0x0F).selectFrom(PanamaBlockDecoders.IQ4_TABLE);
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

    /**
     * One Q4_1 row ({@code fifth} false: d, m, 16 nibble bytes) or Q5_1 row (true: d, m, 4 bytes of
     * fifth bits, nibbles): {@code sum((d q + m) x) = d sum(q x) + m sum(x)}, the block's sum of x
     * taken from the activation vectors already loaded.
     */
    static float q4Or5_1Row(MemorySegment w, long o, int cols, float[] x, int xOff, boolean fifth) {
        FloatVector acc = FloatVector.zero(FS);
        FloatVector accMin = FloatVector.zero(FS);
        long blockBytes = fifth ? 24 : 20;
        long codes = fifth ? 8 : 4;
        int blocks = cols / QK;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * QK;
            long q = o + blockBytes * b;
            FloatVector d = FloatVector.broadcast(FS, scaleAt(w, q));
            FloatVector m = FloatVector.broadcast(FS, scaleAt(w, q + 2));
            ByteVector n = ByteVector.fromMemorySegment(BS, w, q + codes, LE);
            ByteVector lo = n.and((byte) 0x0F);
            ByteVector hi = n.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
            if (fifth) {
                // qh precedes the nibbles; a 16-byte load from it stays inside the block
                ByteVector qh = ByteVector.fromMemorySegment(BS, w, q + 4, LE);
                lo = lo.lanewise(VectorOperators.ADD, (byte) 16, qh.rearrange(PanamaLowBitKernels.QH_LOW)
                        .and(PanamaLowBitKernels.LANE_BIT).compare(VectorOperators.NE, 0));
                hi = hi.lanewise(VectorOperators.ADD, (byte) 16, qh.rearrange(PanamaLowBitKernels.QH_HIGH)
                        .and(PanamaLowBitKernels.LANE_BIT).compare(VectorOperators.NE, 0));
            }
            for (int p = 0; p < PARTS16; p++) {
                FloatVector xl = FloatVector.fromArray(FS, x, xi + p * FL);
                FloatVector xh = FloatVector.fromArray(FS, x, xi + 16 + p * FL);
                FloatVector t = ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p)).mul(xl);
                t = ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p)).fma(xh, t);
                acc = t.fma(d, acc);
                accMin = xl.add(xh).fma(m, accMin);
            }
        }
        return acc.add(accMin).reduceLanes(VectorOperators.ADD);
    }

    /**
     * One IQ4_XS row: per super-block the eight sub-block scales {@code d * (sc - 32)} into
     * {@code ds} (scalar: eight of them per 256 weights), then per sub-block IQ4_NL's lookup.
     */
    static float iq4XsRow(MemorySegment w, long o, int cols, float[] x, int xOff, float[] ds) {
        FloatVector acc = FloatVector.zero(FS);
        int blocks = cols / PanamaLowBitKernels.QK_K;
        for (int b = 0; b < blocks; b++) {
            long base = o + 136L * b;
            float d = scaleAt(w, base);
            int sh = w.get(SHORT_LE, base + 2) & 0xFFFF;
            int sl = w.get(INT_LE, base + 4);
            for (int ib = 0; ib < 8; ib++) {
                ds[ib] = d * ((((sl >>> (4 * ib)) & 0x0F) | ((sh >>> (2 * ib)) & 3) << 4) - 32);
            }
            for (int ib = 0; ib < 8; ib++) {
                int xi = xOff + b * PanamaLowBitKernels.QK_K + 32 * ib;
                ByteVector n = ByteVector.fromMemorySegment(BS, w, base + 8 + 16L * ib, LE);
                ByteVector lo = n.and((byte) 0x0F).selectFrom(PanamaBlockDecoders.IQ4_TABLE);
                ByteVector hi = n.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes()
                        .and((byte) 0x0F).selectFrom(PanamaBlockDecoders.IQ4_TABLE);
                FloatVector t = FloatVector.zero(FS);
                for (int p = 0; p < PARTS16; p++) {
                    t = ((FloatVector) lo.convertShape(VectorOperators.B2F, FS, p))
                            .fma(FloatVector.fromArray(FS, x, xi + p * FL), t);
                    t = ((FloatVector) hi.convertShape(VectorOperators.B2F, FS, p))
                            .fma(FloatVector.fromArray(FS, x, xi + 16 + p * FL), t);
                }
                acc = t.fma(FloatVector.broadcast(FS, ds[ib]), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * One Q2_K row (scales[16]: a 4-bit scale and a 4-bit minimum per 16 elements; qs[64]; d; dmin):
     * per super-block the sixteen {@code d * scale} and {@code dmin * min} into {@code ds[0..16)}
     * and {@code ds[16..32)} in two vector conversions; then per run of 16 codes (bits
     * {@code 2t..2t+1} of {@code qs[32 g + 16 h ..]}, elements {@code 128 g + 32 t + 16 h}) one
     * scale FMA on {@code sum(q x)} and one minimum FMA on the same activations.
     */
    static float q2KRow(MemorySegment w, long o, int cols, float[] x, int xOff, float[] ds) {
        FloatVector acc = FloatVector.zero(FS);
        FloatVector accMin = FloatVector.zero(FS);
        int blocks = cols / PanamaLowBitKernels.QK_K;
        for (int b = 0; b < blocks; b++) {
            long base = o + 84L * b;
            float d = scaleAt(w, base + 80);
            float dmin = scaleAt(w, base + 82);
            ByteVector sm = ByteVector.fromMemorySegment(BS, w, base, LE);
            ByteVector sc = sm.and((byte) 0x0F);
            ByteVector mn = sm.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F);
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) sc.convertShape(VectorOperators.B2F, FS, p)).mul(d).intoArray(ds, p * FL);
                ((FloatVector) mn.convertShape(VectorOperators.B2F, FS, p)).mul(dmin).intoArray(ds, 16 + p * FL);
            }
            int xb = xOff + b * PanamaLowBitKernels.QK_K;
            for (int g = 0; g < 2; g++) {
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, w, base + 16 + 32 * g + 16 * h, LE);
                    for (int t = 0; t < 4; t++) {
                        ByteVector v = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2 * t).reinterpretAsBytes()
                                .and((byte) 3);
                        int xi = xb + 128 * g + 32 * t + 16 * h;
                        int i = 8 * g + 2 * t + h;
                        FloatVector s = FloatVector.zero(FS);
                        FloatVector u = FloatVector.zero(FS);
                        for (int p = 0; p < PARTS16; p++) {
                            FloatVector xv = FloatVector.fromArray(FS, x, xi + p * FL);
                            s = ((FloatVector) v.convertShape(VectorOperators.B2F, FS, p)).fma(xv, s);
                            u = u.add(xv);
                        }
                        acc = s.fma(FloatVector.broadcast(FS, ds[i]), acc);
                        accMin = u.fma(FloatVector.broadcast(FS, ds[16 + i]), accMin);
                    }
                }
            }
        }
        return acc.reduceLanes(VectorOperators.ADD) - accMin.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Q3_K scale bytes (loaded from two bytes before the twelve scale bytes, so the load stays inside
     * the block): lanes 0-7 and 8-15 read bytes 0-7 (their low and high nibbles).
     */
    private static final VectorShuffle<Byte> Q3_LOW =
            VectorShuffle.fromValues(BS, 2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5, 6, 7, 8, 9);
    /** Lane i reads byte 8 + i % 4, whose bits 2 (i / 4) and up are scale i's top two bits. */
    private static final VectorShuffle<Byte> Q3_TOP =
            VectorShuffle.fromValues(BS, 10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12, 13);
    private static final VectorMask<Byte> LANES_8_15 = VectorMask.fromLong(BS, 0xFF00L);
    private static final VectorMask<Byte> LANES_4_7 = VectorMask.fromLong(BS, 0x00F0L);
    private static final VectorMask<Byte> LANES_8_11 = VectorMask.fromLong(BS, 0x0F00L);
    private static final VectorMask<Byte> LANES_12_15 = VectorMask.fromLong(BS, 0xF000L);

    /**
     * One Q3_K row. The sixteen 6-bit scales are unpacked in one byte vector (low nibbles of bytes
     * 0-7, top bits from bytes 8-11) and times d into {@code ds}; then per half {@code g} and 16-byte
     * slice {@code h}, for each bit pair {@code t}: the 2-bit codes, minus 4 where bit {@code 4g + t}
     * of the high-bit mask is clear, against activations {@code 128 g + 32 t + 16 h}, scale
     * {@code 8 g + 2 t + h}.
     */
    static float q3KRow(MemorySegment w, long o, int cols, float[] x, int xOff, float[] ds) {
        FloatVector acc = FloatVector.zero(FS);
        int blocks = cols / PanamaLowBitKernels.QK_K;
        for (int b = 0; b < blocks; b++) {
            long base = o + 110L * b;
            float d = scaleAt(w, base + 108);
            ByteVector raw = ByteVector.fromMemorySegment(BS, w, base + 94, LE);
            ByteVector low = raw.rearrange(Q3_LOW);
            low = low.and((byte) 0x0F).blend(low.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4)
                    .reinterpretAsBytes().and((byte) 0x0F), LANES_8_15);
            ByteVector top = raw.rearrange(Q3_TOP);
            ByteVector topBits = top.and((byte) 3)
                    .blend(top.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2).reinterpretAsBytes().and((byte) 3), LANES_4_7)
                    .blend(top.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 3), LANES_8_11)
                    .blend(top.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 6).reinterpretAsBytes().and((byte) 3), LANES_12_15);
            ByteVector sc = low.or(topBits.reinterpretAsShorts().lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes()
                    .and((byte) 0x30)).sub((byte) 32);
            for (int p = 0; p < PARTS16; p++) {
                ((FloatVector) sc.convertShape(VectorOperators.B2F, FS, p)).mul(d).intoArray(ds, p * FL);
            }
            int xb = xOff + b * PanamaLowBitKernels.QK_K;
            for (int g = 0; g < 2; g++) {
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, w, base + 32 + 32 * g + 16 * h, LE);
                    ByteVector hm = ByteVector.fromMemorySegment(BS, w, base + 16 * h, LE);
                    for (int t = 0; t < 4; t++) {
                        VectorMask<Byte> clear = hm.and((byte) (1 << (4 * g + t))).compare(VectorOperators.EQ, 0);
                        ByteVector v = q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 2 * t).reinterpretAsBytes()
                                .and((byte) 3).lanewise(VectorOperators.SUB, (byte) 4, clear);
                        int xi = xb + 128 * g + 32 * t + 16 * h;
                        FloatVector s = FloatVector.zero(FS);
                        for (int p = 0; p < PARTS16; p++) {
                            s = ((FloatVector) v.convertShape(VectorOperators.B2F, FS, p))
                                    .fma(FloatVector.fromArray(FS, x, xi + p * FL), s);
                        }
                        acc = s.fma(FloatVector.broadcast(FS, ds[8 * g + 2 * t + h]), acc);
                    }
                }
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}
