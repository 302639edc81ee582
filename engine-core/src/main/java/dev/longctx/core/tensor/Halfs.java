package dev.longctx.core.tensor;

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
}
