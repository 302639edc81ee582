package dev.longctx.core.tensor;

import dev.longctx.core.kernels.spi.Halfs;

import dev.longctx.core.kernels.spi.Quantization;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Round trips with their expected error, and the exact GGUF block layouts. */
class QuantizationTest {
    static final int[] SIZES = {32, 64, 96, 1024, 4128};

    static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    static float[] roundTrip(DType t, float[] v) {
        MemorySegment seg = MemorySegment.ofArray(new byte[(int) t.bytesFor(v.length)]);
        Quantization.quantize(t, v, 0, v.length, seg, 0);
        float[] back = new float[v.length];
        Quantization.dequantize(t, seg, 0, back, 0, v.length);
        return back;
    }

    @Test
    void f32IsExactAndHalfTypesHaveTheirPrecision() {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : new int[] {1, 7, 31, 4099}) {
            float[] v = random(r, n, 3);
            float[] f32 = roundTrip(DType.F32, v);
            float[] f16 = roundTrip(DType.F16, v);
            float[] bf16 = roundTrip(DType.BF16, v);
            for (int i = 0; i < n; i++) {
                assertEquals(v[i], f32[i]);
                // Round to nearest: half an ulp, 2^-11 relative for F16 (10-bit mantissa), 2^-8 for BF16.
                assertTrue(Math.abs(v[i] - f16[i]) <= Math.abs(v[i]) * 0x1p-11 + 0x1p-25, "F16 " + v[i] + " -> " + f16[i]);
                assertTrue(Math.abs(v[i] - bf16[i]) <= Math.abs(v[i]) * 0x1p-8, "BF16 " + v[i] + " -> " + bf16[i]);
            }
        }
    }

    @Test
    void bf16RoundsToNearestEvenAndKeepsNaN() {
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0).
        assertEquals(1.0f, Halfs.bf16ToFloat(Halfs.floatToBf16(1f + 0x1p-8f)));
        assertEquals(1f + 0x1p-6f, Halfs.bf16ToFloat(Halfs.floatToBf16(1f + 0x1p-7f + 0x1p-8f)));
        assertTrue(Float.isNaN(Halfs.bf16ToFloat(Halfs.floatToBf16(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Halfs.bf16ToFloat(Halfs.floatToBf16(Float.POSITIVE_INFINITY)));
    }

    @Test
    void bf16DirectedRoundingBracketsTheValueWithinOneStep() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-30, 30)));
            float up = Halfs.bf16ToFloat(Halfs.floatToBf16Up(x));
            float down = Halfs.bf16ToFloat(Halfs.floatToBf16Down(x));
            assertTrue(down <= x && x <= up, x + " not within [" + down + ", " + up + "]");
            // Adjacent bf16 values (or equal when x is one): at most 2^-7 of x apart.
            assertTrue(up - down <= Math.abs(x) * 0x1p-7, x + ": [" + down + ", " + up + "] wider than one bf16 step");
            assertEquals(x == up, x == down, x + ": exact in one direction only");
        }
        for (float exact : new float[] {0f, -0f, 1f, -1.5f, 0x1p-126f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            assertEquals(Float.floatToRawIntBits(exact), Float.floatToRawIntBits(Halfs.bf16ToFloat(Halfs.floatToBf16Up(exact))));
            assertEquals(Float.floatToRawIntBits(exact), Float.floatToRawIntBits(Halfs.bf16ToFloat(Halfs.floatToBf16Down(exact))));
        }
        // Beyond the largest finite bf16 the outward direction is infinite; the inward one is finite.
        assertEquals(Float.POSITIVE_INFINITY, Halfs.bf16ToFloat(Halfs.floatToBf16Up(Float.MAX_VALUE)));
        assertEquals(Float.NEGATIVE_INFINITY, Halfs.bf16ToFloat(Halfs.floatToBf16Down(-Float.MAX_VALUE)));
        assertTrue(Float.isFinite(Halfs.bf16ToFloat(Halfs.floatToBf16Down(Float.MAX_VALUE))));
        assertTrue(Float.isNaN(Halfs.bf16ToFloat(Halfs.floatToBf16Up(Float.NaN))));
        assertTrue(Float.isNaN(Halfs.bf16ToFloat(Halfs.floatToBf16Down(Float.NaN))));
    }

    @Test
    void q8_0ErrorIsWithinHalfAStepPerBlock() {
        SplittableRandom r = new SplittableRandom(2);
        for (int n : SIZES) {
            float[] v = random(r, n, 2);
            float[] back = roundTrip(DType.Q8_0, v);
            for (int b = 0; b < n / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(v[b * 32 + j]));
                }
                float d = amax / 127;
                // Half a quantisation step, plus the F16 rounding of d scaled by the largest code (127).
                double bound = d / 2 + 127 * d * 0x1p-11 + 1e-7;
                for (int j = 0; j < 32; j++) {
                    int i = b * 32 + j;
                    assertTrue(Math.abs(v[i] - back[i]) <= bound, "Q8_0 n=" + n + " i=" + i + ": " + v[i] + " -> " + back[i]);
                }
            }
        }
    }

    @Test
    void q4_0ErrorIsWithinOneStepPerBlock() {
        SplittableRandom r = new SplittableRandom(3);
        for (int n : SIZES) {
            float[] v = random(r, n, 2);
            float[] back = roundTrip(DType.Q4_0, v);
            for (int b = 0; b < n / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(v[b * 32 + j]));
                }
                float d = amax / 8;
                // Half a step inside the range; the value at +max (code 16) is clamped to 15: one step.
                double bound = d + 8 * d * 0x1p-11 + 1e-7;
                for (int j = 0; j < 32; j++) {
                    int i = b * 32 + j;
                    assertTrue(Math.abs(v[i] - back[i]) <= bound, "Q4_0 n=" + n + " i=" + i + ": " + v[i] + " -> " + back[i]);
                }
            }
        }
    }

    @Test
    void q8_0LayoutIsScaleThenSignedBytes() {
        float[] v = new float[32];
        for (int j = 0; j < 32; j++) {
            v[j] = j - 16; // amax 16 -> d = 16/127, codes round(x * 127 / 16)
        }
        MemorySegment seg = MemorySegment.ofArray(new byte[34]);
        Quantization.quantize(DType.Q8_0, v, 0, 32, seg, 0);
        assertEquals(Float.floatToFloat16(16f / 127f), seg.get(Quantization.SHORT_LE, 0));
        assertEquals(-127, seg.get(ValueLayout.JAVA_BYTE, 2)); // x = -16
        assertEquals(0, seg.get(ValueLayout.JAVA_BYTE, 2 + 16)); // x = 0
        assertEquals(8, seg.get(ValueLayout.JAVA_BYTE, 2 + 17)); // x = 1: 7.9375 rounds to 8
        assertEquals(-8, seg.get(ValueLayout.JAVA_BYTE, 2 + 15)); // x = -1: -7.9375 rounds to -8
    }

    @Test
    void q4_0LayoutPutsTheSecondHalfInHighNibbles() {
        float[] v = new float[32];
        v[0] = -8f; // the largest magnitude, negative: d = -8 / -8 = 1, code = -8/1 + 8 = 0
        v[16] = 7f; // code 15 in the high nibble of byte 0
        v[1] = 3f; // code 11 in the low nibble of byte 1
        MemorySegment seg = MemorySegment.ofArray(new byte[18]);
        Quantization.quantize(DType.Q4_0, v, 0, 32, seg, 0);
        assertEquals(Float.floatToFloat16(1f), seg.get(Quantization.SHORT_LE, 0));
        assertEquals((byte) 0xF0, seg.get(ValueLayout.JAVA_BYTE, 2));
        assertEquals(11, seg.get(ValueLayout.JAVA_BYTE, 3) & 0x0F);
        assertEquals(8, (seg.get(ValueLayout.JAVA_BYTE, 3) >>> 4) & 0x0F); // v[17] = 0 -> code 8
        float[] back = new float[32];
        Quantization.dequantize(DType.Q4_0, seg, 0, back, 0, 32);
        assertEquals(-8f, back[0]);
        assertEquals(7f, back[16]);
        assertEquals(3f, back[1]);
    }

    @Test
    void weightOnlyTypesDecodeZeroBlocksAndRefuseToEncode() {
        for (DType t : DType.values()) {
            if (encodes(t)) {
                continue;
            }
            int n = t.blockSize() * 2;
            float[] back = new float[n];
            java.util.Arrays.fill(back, 1f);
            Quantization.dequantize(t, MemorySegment.ofArray(new byte[(int) t.bytesFor(n)]), 0, back, 0, n);
            for (float f : back) {
                assertTrue(f == 0f, t + " gave " + f);
            }
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Quantization.quantize(t, new float[n], 0, n, MemorySegment.ofArray(new byte[(int) t.bytesFor(n)]), 0));
            assertTrue(e.getMessage().contains(t.toString()) && e.getMessage().contains("weight type"), e.getMessage());
        }
    }

    static boolean encodes(DType t) {
        return switch (t) {
            case F32, F16, BF16, Q8_0, Q4_0 -> true;
            default -> false;
        };
    }

    @Test
    void zeroBlocksStayZero() {
        for (DType t : DType.values()) {
            if (!encodes(t)) {
                continue;
            }
            float[] back = roundTrip(t, new float[64]);
            for (float f : back) {
                assertTrue(f == 0f, t + " gave " + f); // Q4_0 keeps ggml's -0 scale: -0.0 is fine
            }
        }
    }

    @Test
    void partialBlocksAreRejected() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Quantization.quantize(DType.Q8_0, new float[40], 0, 40, MemorySegment.ofArray(new byte[100]), 0));
        assertTrue(e.getMessage().contains("Q8_0") && e.getMessage().contains("32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DType.Q4_0.bytesFor(33));
        assertTrue(e.getMessage().contains("block"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DType.F32.bytesFor(Long.MAX_VALUE / 2));
        assertTrue(e.getMessage().contains("overflow"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DType.Q4_K.bytesFor(576));
        assertTrue(e.getMessage().contains("Q4_K") && e.getMessage().contains("256"), e.getMessage());
        // IQ2_XXS (16) is a real ggml type we do not read: the error names it and lists what we do.
        e = assertThrows(IllegalArgumentException.class, () -> DType.fromGgmlType(16));
        assertTrue(e.getMessage().contains("16") && e.getMessage().contains("Q6_K=14"), e.getMessage());
        assertEquals(DType.Q8_0, DType.fromGgmlType(8));
        assertEquals(DType.Q4_K, DType.fromGgmlType(12));
        assertEquals(DType.IQ4_XS, DType.fromGgmlType(23));
        assertEquals(144, DType.Q4_K.blockBytes());
    }
}
