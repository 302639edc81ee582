package dev.longctx.core.kernels.spi;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Scalar quantise / dequantise of runs of elements for every {@link DType}, bit-exact with ggml's
 * reference C code ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref},
 * {@code dequantize_row_*}). These are the references the vectorised paths are tested against.
 * Every type decodes; the weight-only types (Q4_1, Q5_0, Q5_1, the K-quants, IQ4_NL, IQ4_XS) do not
 * encode: they are read from model files, never written by the engine.
 *
 * <p>Expected round-trip error (documented and tested): F32 exact; F16 relative 2^-11;
 * BF16 relative 2^-8; Q8_0 at most {@code amax/127/2} per element plus the half rounding of the
 * scale; Q4_0 at most {@code |d|/2 + |d|} at the clipped top code (ggml clamps code 16 to 15), where
 * {@code d = max/-8}.
 */
public final class Quantization {
    /** Little-endian unaligned layouts: GGUF and safetensors data is little-endian. */
    public static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Little-endian unaligned float layout. */
    public static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Elements per Q8_0 / Q4_0 block (ggml {@code QK8_0}, {@code QK4_0}). */
    public static final int QK = 32;

    private Quantization() {
    }

    /**
     * Decodes {@code n} elements of type {@code type} starting at byte {@code byteOffset} of
     * {@code src} into {@code dst[dstOff..dstOff+n)}. For block types {@code byteOffset} must be the
     * start of a block and {@code n} a multiple of the block size.
     */
    public static void dequantize(DType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n) {
        checkRun(type, n, dst.length, dstOff);
        switch (type) {
            case F32 -> MemorySegment.copy(src, FLOAT_LE, byteOffset, dst, dstOff, n);
            case F16 -> {
                // Bulk copy, then a plain counted loop, which C2 vectorises (vcvtph2ps).
                short[] h = new short[n];
                MemorySegment.copy(src, SHORT_LE, byteOffset, h, 0, n);
                for (int i = 0; i < n; i++) {
                    dst[dstOff + i] = Float.float16ToFloat(h[i]);
                }
            }
            case BF16 -> {
                short[] h = new short[n];
                MemorySegment.copy(src, SHORT_LE, byteOffset, h, 0, n);
                for (int i = 0; i < n; i++) {
                    dst[dstOff + i] = Float.intBitsToFloat((h[i] & 0xFFFF) << 16);
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    long base = byteOffset + (long) b * 34;
                    float d = Float.float16ToFloat(src.get(SHORT_LE, base));
                    for (int j = 0; j < QK; j++) {
                        dst[dstOff + b * QK + j] = d * src.get(ValueLayout.JAVA_BYTE, base + 2 + j);
                    }
                }
            }
            case Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS ->
                    BlockDecoders.decode(type, src, byteOffset, dst, dstOff, n / type.blockSize());
            case Q4_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    long base = byteOffset + (long) b * 18;
                    float d = Float.float16ToFloat(src.get(SHORT_LE, base));
                    for (int j = 0; j < QK / 2; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, base + 2 + j) & 0xFF;
                        dst[dstOff + b * QK + j] = d * ((q & 0x0F) - 8);
                        dst[dstOff + b * QK + j + QK / 2] = d * ((q >>> 4) - 8);
                    }
                }
            }
        }
    }

    /**
     * Encodes {@code src[srcOff..srcOff+n)} as type {@code type} at byte {@code byteOffset} of
     * {@code dst}, writing {@code type.bytesFor(n)} bytes.
     */
    public static void quantize(DType type, float[] src, int srcOff, int n, MemorySegment dst, long byteOffset) {
        checkRun(type, n, src.length, srcOff);
        switch (type) {
            case F32 -> MemorySegment.copy(src, srcOff, dst, FLOAT_LE, byteOffset, n);
            // Element by element, no staging array: the KV cache encodes every appended key and value
            // through here (a head's 64-128 values), and decode must not allocate.
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(SHORT_LE, byteOffset + 2L * i, Float.floatToFloat16(src[srcOff + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(SHORT_LE, byteOffset + 2L * i, Halfs.floatToBf16(src[srcOff + i]));
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    quantizeBlockQ8(src, srcOff + b * QK, dst, byteOffset + (long) b * 34);
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / QK; b++) {
                    quantizeBlockQ4(src, srcOff + b * QK, dst, byteOffset + (long) b * 18);
                }
            }
            // Weight-only types: read from model files, never written by the engine (the KV cache
            // encodes F32, F16, BF16, Q8_0 or Q4_0). SyntheticBlocks makes valid blocks for tests.
            default -> throw new IllegalArgumentException("encoding to " + type
                    + " is not supported: it is a weight type read from model files");
        }
    }

    /** ggml {@code quantize_row_q8_0_ref}: d = amax/127, q = round(x/d) (half away from zero). */
    private static void quantizeBlockQ8(float[] x, int off, MemorySegment dst, long base) {
        float amax = 0f;
        for (int j = 0; j < QK; j++) {
            amax = Math.max(amax, Math.abs(x[off + j]));
        }
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        dst.set(SHORT_LE, base, Float.floatToFloat16(d));
        for (int j = 0; j < QK; j++) {
            dst.set(ValueLayout.JAVA_BYTE, base + 2 + j, (byte) roundHalfAway(x[off + j] * id));
        }
    }

    /** ggml {@code quantize_row_q4_0_ref}: d = max/-8 (max = signed value of largest magnitude). */
    private static void quantizeBlockQ4(float[] x, int off, MemorySegment dst, long base) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < QK; j++) {
            float v = x[off + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        dst.set(SHORT_LE, base, Float.floatToFloat16(d));
        for (int j = 0; j < QK / 2; j++) {
            float x0 = x[off + j] * id;
            float x1 = x[off + QK / 2 + j] * id;
            // ggml: MIN(15, (int8_t)(x + 8.5f)); the cast truncates toward zero.
            int q0 = Math.min(15, (byte) (int) (x0 + 8.5f));
            int q1 = Math.min(15, (byte) (int) (x1 + 8.5f));
            dst.set(ValueLayout.JAVA_BYTE, base + 2 + j, (byte) (q0 | (q1 << 4)));
        }
    }

    /** C {@code roundf}: rounds half away from zero. */
    private static int roundHalfAway(float v) {
        return v >= 0 ? Math.round(v) : -Math.round(-v);
    }

    private static void checkRun(DType type, int n, int arrayLength, int arrayOff) {
        if (n < 0 || n % type.blockSize() != 0) {
            throw new IllegalArgumentException(type + ": run of " + n
                    + " elements is not a whole number of blocks of " + type.blockSize());
        }
        if (arrayOff < 0 || arrayOff > arrayLength - n) {
            throw new IllegalArgumentException(type + ": array range [" + arrayOff + ", " + ((long) arrayOff + n)
                    + ") outside array of length " + arrayLength);
        }
    }
}
