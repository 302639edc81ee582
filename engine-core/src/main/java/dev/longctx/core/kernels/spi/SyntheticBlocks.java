package dev.longctx.core.kernels.spi;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Random but valid data of any {@link DType}, for kernel tests and benchmarks: encodable types
 * quantise uniform values; the weight-only types (which the engine never encodes) get uniformly
 * random code bytes, so every bit pattern of a block occurs, and half scales chosen so decoded
 * values stay within about {@code [-scale, scale]} (model-like magnitudes keep activations finite
 * through many layers).
 *
 * <p>Static and stateless; each call uses only the random generator it is given.
 */
public final class SyntheticBlocks {
    private SyntheticBlocks() {
    }

    /**
     * Writes {@code n} elements of {@code type} (a whole number of blocks) at {@code byteOffset} of
     * {@code dst}, drawing from {@code rnd}.
     */
    public static void fill(DType type, SplittableRandom rnd, MemorySegment dst, long byteOffset, int n, double scale) {
        if (n % type.blockSize() != 0) {
            throw new IllegalArgumentException(type + ": " + n + " elements is not a whole number of blocks");
        }
        switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0 -> {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
                }
                Quantization.quantize(type, v, 0, n, dst, byteOffset);
            }
            default -> {
                int blocks = n / type.blockSize();
                for (int b = 0; b < blocks; b++) {
                    long base = byteOffset + (long) b * type.blockBytes();
                    for (int i = 0; i < type.blockBytes(); i++) {
                        dst.set(ValueLayout.JAVA_BYTE, base + i, (byte) rnd.nextInt(256));
                    }
                    writeScales(type, rnd, dst, base, scale);
                }
            }
        }
    }

    /**
     * The half scales of one block. Each divisor is the largest magnitude the block's codes reach
     * before the scale (e.g. Q4_K: 6-bit scale 63 x nibble 15 = 945), so {@code |value| <= scale}
     * up to the random factor in [0.5, 1.5).
     */
    private static void writeScales(DType type, SplittableRandom rnd, MemorySegment dst, long base, double scale) {
        switch (type) {
            case Q4_1 -> {
                half(dst, base, rnd, 2 * scale / 15);
                half(dst, base + 2, rnd, -scale);
            }
            case Q5_0 -> half(dst, base, rnd, scale / 16);
            case Q5_1 -> {
                half(dst, base, rnd, 2 * scale / 31);
                half(dst, base + 2, rnd, -scale);
            }
            case Q2_K -> {
                half(dst, base + 80, rnd, 2 * scale / (15 * 3));
                half(dst, base + 82, rnd, scale / 15);
            }
            case Q3_K -> half(dst, base + 108, rnd, scale / (32 * 4));
            case Q4_K -> {
                half(dst, base, rnd, 2 * scale / (63 * 15));
                half(dst, base + 2, rnd, scale / 63);
            }
            case Q5_K -> {
                half(dst, base, rnd, 2 * scale / (63 * 31));
                half(dst, base + 2, rnd, scale / 63);
            }
            case Q6_K -> half(dst, base + 208, rnd, scale / (128 * 32));
            case IQ4_NL -> half(dst, base, rnd, scale / 127);
            case IQ4_XS -> half(dst, base, rnd, scale / (32 * 127));
            default -> throw new IllegalArgumentException(type + " has no synthetic block layout");
        }
    }

    private static void half(MemorySegment dst, long at, SplittableRandom rnd, double v) {
        dst.set(Quantization.SHORT_LE, at, Float.floatToFloat16((float) (v * (0.5 + rnd.nextDouble()))));
    }
}
