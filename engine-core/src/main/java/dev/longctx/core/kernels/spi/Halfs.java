package dev.longctx.core.kernels.spi;

/** Scalar conversions between binary32 and the 16-bit float formats, with ggml's rounding. */
public final class Halfs {
    private Halfs() {
    }

    /** IEEE half bits to float (exact). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** Float to IEEE half bits, round to nearest even (as ggml's {@code GGML_FP32_TO_FP16}). */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /** bfloat16 bits to float (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Float to bfloat16 bits, round to nearest even; NaN stays a quiet NaN
     * (as ggml's {@code ggml_compute_fp32_to_bf16}).
     */
    public static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 64);
        }
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    /** The quiet NaN these conversions return for a NaN input (as {@link #floatToBf16} keeps it quiet). */
    private static final short BF16_NAN = (short) 0x7fc0;

    /**
     * Float to the smallest bfloat16 at least {@code f} (rounded toward positive infinity); exact
     * values, infinities and zeros unchanged; beyond the largest finite bfloat16, infinity. For
     * bounds that must stay bounds after rounding (a maximum rounded up).
     */
    public static short floatToBf16Up(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return BF16_NAN;
        }
        boolean inexact = (u & 0xffff) != 0;
        // Truncation rounds toward zero: up for negatives; positives need the next magnitude.
        return (short) ((u >>> 16) + (inexact && u > 0 ? 1 : 0));
    }

    /**
     * Float to the largest bfloat16 at most {@code f} (rounded toward negative infinity); the
     * mirror of {@link #floatToBf16Up}, for a minimum rounded down.
     */
    public static short floatToBf16Down(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return BF16_NAN;
        }
        boolean inexact = (u & 0xffff) != 0;
        return (short) ((u >>> 16) + (inexact && u < 0 ? 1 : 0));
    }
}
