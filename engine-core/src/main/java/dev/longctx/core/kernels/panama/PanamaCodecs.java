package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaElementwise.*;
import static dev.longctx.core.kernels.panama.PanamaAttentionTile.*;
import static dev.longctx.core.kernels.panama.PanamaMatvec.*;
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
 * Block codecs: encoding and decoding F16, BF16, Q8_0 and Q4_0 runs between float arrays and
 * memory segments, and decoding every other block type ({@link PanamaLowBitKernels},
 * {@link PanamaBlockDecoders}).
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaCodecs {
    private PanamaCodecs() {
    }

    static float scaleAt(MemorySegment seg, long off) {
        return Float.float16ToFloat(seg.get(Quantization.SHORT_LE, off));
    }

    /**
     * F16 encoding in vectors (JDK 25's Vector API has no float-to-half conversion), bit-exact with
     * {@link Float#floatToFloat16}: round to nearest even, subnormals through a float addition of a
     * magic constant, overflow to infinity, NaN to a quiet NaN (after F. Giesen's
     * "float_to_half_fast3_rtne"). Other dtypes use the scalar reference.
     */
    static void quantize(DType type, float[] src, int srcOff, int n, MemorySegment dst, long byteOffset) {
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
    static final int F2H_REBIAS = (15 - 127) << 23;

    /** Floats below 2^-14 (exponent 113) become half subnormals. */
    static final int F2H_MIN_NORMAL = 113 << 23;

    /** Floats at or above 65520 (2^16 with the rounding bit set) overflow to infinity. */
    static final int F2H_OVERFLOW = (127 + 16) << 23;

    /** 0.5f: adding it aligns a subnormal half's mantissa at the float's last bits. */
    static final int F2H_DENORM_MAGIC_BITS = ((127 - 15) + (23 - 10) + 1) << 23;

    static final float F2H_DENORM_MAGIC = Float.intBitsToFloat(F2H_DENORM_MAGIC_BITS);

    static void dequantize(DType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n) {
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
            case Q5_0 -> PanamaLowBitKernels.decodeQ5_0(src, byteOffset, dst, dstOff, n / QK);
            case Q4_K -> PanamaLowBitKernels.decodeQ4K(src, byteOffset, dst, dstOff, n / PanamaLowBitKernels.QK_K);
            case Q6_K -> PanamaLowBitKernels.decodeQ6K(src, byteOffset, dst, dstOff, n / PanamaLowBitKernels.QK_K);
            case Q4_1 -> PanamaBlockDecoders.decodeQ4Or5_1(src, byteOffset, dst, dstOff, n / QK, false);
            case Q5_1 -> PanamaBlockDecoders.decodeQ4Or5_1(src, byteOffset, dst, dstOff, n / QK, true);
            case IQ4_NL -> PanamaBlockDecoders.decodeIq4Nl(src, byteOffset, dst, dstOff, n / QK);
            case IQ4_XS -> PanamaBlockDecoders.decodeIq4Xs(src, byteOffset, dst, dstOff, n / PanamaLowBitKernels.QK_K);
            case Q5_K -> PanamaBlockDecoders.decodeQ5K(src, byteOffset, dst, dstOff, n / PanamaLowBitKernels.QK_K);
            case Q2_K -> PanamaBlockDecoders.decodeQ2K(src, byteOffset, dst, dstOff, n / PanamaLowBitKernels.QK_K);
            case Q3_K -> PanamaBlockDecoders.decodeQ3K(src, byteOffset, dst, dstOff, n / PanamaLowBitKernels.QK_K);
        }
    }

    /**
     * Decodes n half floats with a plain loop on purpose: C2's auto-vectorizer turns
     * {@code Float.float16ToFloat} over consecutive elements into the hardware conversion
     * ({@code vcvtph2ps}), which the Vector API of JDK 25 cannot express. Measured on one core
     * (8192 halves from L1): 0.20 us against 0.48 us for the bit-manipulation decode in vectors.
     */
    static void decodeF16(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src.get(Quantization.SHORT_LE, off + 2L * i));
        }
    }

    /**
     * Decodes Q4_0 blocks. The nibble shift runs on 16-bit lanes (x86 has no byte shift; the
     * mask drops the bits that cross into the neighbouring byte).
     */
    static void decodeQ4(MemorySegment src, long off, float[] dst, int dstOff, int blocks) {
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

    static float bf16(MemorySegment w, long b) {
        return Float.intBitsToFloat((w.get(Quantization.SHORT_LE, b) & 0xFFFF) << 16);
    }
}
