package dev.longctx.core.kernels.spi;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Scalar decoders of the block types that are only ever read (legacy Q4_1/Q5_0/Q5_1, the K-quants,
 * IQ4_NL and IQ4_XS): one block of {@link DType#blockSize()} elements at a time, written to be
 * read against ggml's {@code dequantize_row_*} and gguf-py's {@code quants.py}, whose results they
 * reproduce bit for bit (tested against gguf-py's output in {@code shared/fixtures/gguf-quants}).
 *
 * <p>Every product is a float32 product in gguf-py's order ({@code (d * sc) * q - (dmin * m)}), so
 * the decoded floats are identical, not merely close. Scales are decoded as they are: a NaN or
 * infinite half scale yields NaN or infinite elements, never an exception.
 *
 * <p>Static and stateless: safe from any thread.
 */
final class BlockDecoders {
    private BlockDecoders() {
    }

    /**
     * IQ4_NL's code book (ggml {@code kvalues_iq4nl}): 16 int8 levels spaced for a bell-shaped
     * weight distribution; shared by IQ4_XS.
     */
    static final byte[] IQ4_VALUES = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /** Decodes {@code blocks} consecutive blocks of {@code type} at {@code off} into {@code dst[dstOff..]}. */
    static void decode(DType type, MemorySegment src, long off, float[] dst, int dstOff, int blocks) {
        int bs = type.blockSize();
        long bb = type.blockBytes();
        for (int b = 0; b < blocks; b++) {
            long base = off + b * bb;
            int o = dstOff + b * bs;
            switch (type) {
                case Q4_1 -> q4_1(src, base, dst, o);
                case Q5_0 -> q5_0(src, base, dst, o);
                case Q5_1 -> q5_1(src, base, dst, o);
                case Q2_K -> q2K(src, base, dst, o);
                case Q3_K -> q3K(src, base, dst, o);
                case Q4_K -> q4Or5K(src, base, dst, o, false);
                case Q5_K -> q4Or5K(src, base, dst, o, true);
                case Q6_K -> q6K(src, base, dst, o);
                case IQ4_NL -> iq4nl(src, base, dst, o);
                case IQ4_XS -> iq4xs(src, base, dst, o);
                default -> throw new IllegalArgumentException(type + " is not decoded here");
            }
        }
    }

    static float half(MemorySegment s, long at) {
        return Float.float16ToFloat(s.get(Quantization.SHORT_LE, at));
    }

    static int u8(MemorySegment s, long at) {
        return s.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }

    /** Q4_1: d, m, 16 bytes; element j the low nibble of byte j, element j + 16 its high nibble. */
    private static void q4_1(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base);
        float m = half(s, base + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, base + 4 + j);
            dst[o + j] = d * (q & 0x0F) + m;
            dst[o + j + 16] = d * (q >>> 4) + m;
        }
    }

    /** The 32 fifth bits of a Q5 block, little-endian: bit j belongs to element j. */
    private static int qh32(MemorySegment s, long at) {
        return s.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), at);
    }

    /** Q5_0: d, 4 bytes of fifth bits, 16 nibble bytes; value d * (q - 16). */
    private static void q5_0(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base);
        int qh = qh32(s, base + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, base + 6 + j);
            int lo = (q & 0x0F) | ((qh >>> j) & 1) << 4;
            int hi = (q >>> 4) | ((qh >>> (j + 16)) & 1) << 4;
            dst[o + j] = d * (lo - 16);
            dst[o + j + 16] = d * (hi - 16);
        }
    }

    /** Q5_1: d, m, fifth bits, nibbles; value d * q + m. */
    private static void q5_1(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base);
        float m = half(s, base + 2);
        int qh = qh32(s, base + 4);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, base + 8 + j);
            int lo = (q & 0x0F) | ((qh >>> j) & 1) << 4;
            int hi = (q >>> 4) | ((qh >>> (j + 16)) & 1) << 4;
            dst[o + j] = d * lo + m;
            dst[o + j + 16] = d * hi + m;
        }
    }

    /**
     * Q2_K: scales[16] (low nibble scale, high nibble min, per 16 elements), qs[64], d, dmin.
     * Element {@code 128 g + 32 s + j} is bits {@code 2s..2s+1} of {@code qs[32 g + j]}.
     */
    private static void q2K(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base + 80);
        float dmin = half(s, base + 82);
        for (int e = 0; e < 256; e++) {
            int g = e >>> 7;
            int sh = (e >>> 5) & 3;
            int q = (u8(s, base + 16 + 32 * g + (e & 31)) >>> (2 * sh)) & 3;
            int sc = u8(s, base + (e >>> 4));
            float dl = d * (sc & 0x0F);
            float ml = dmin * (sc >>> 4);
            dst[o + e] = dl * q - ml;
        }
    }

    /**
     * Q3_K: hmask[32], qs[64], scales[12], d. Element {@code e}: low two bits as in Q2_K, high bit
     * {@code e / 32} of {@code hmask[e % 32]}; a clear high bit subtracts 4. Scale {@code i} (per 16
     * elements) is the nibble {@code i / 8} of byte {@code i % 8} plus bits {@code 2 (i / 4)} of byte
     * {@code 8 + i % 4} on top, minus 32.
     */
    private static void q3K(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base + 108);
        for (int e = 0; e < 256; e++) {
            int g = e >>> 7;
            int sh = (e >>> 5) & 3;
            int lo = (u8(s, base + 32 + 32 * g + (e & 31)) >>> (2 * sh)) & 3;
            int hbit = (u8(s, base + (e & 31)) >>> (e >>> 5)) & 1;
            int q = lo - ((hbit ^ 1) << 2);
            int i = e >>> 4;
            int l = (u8(s, base + 96 + (i & 7)) >>> (4 * (i >>> 3))) & 0x0F;
            int h = (u8(s, base + 104 + (i & 3)) >>> (2 * (i >>> 2))) & 3;
            float dl = d * ((byte) (l | h << 4) - 32);
            dst[o + e] = dl * q;
        }
    }

    /**
     * The 6-bit scale (k = 0) or min (k = 1) of sub-block {@code j} of a Q4_K/Q5_K block's 12 scale
     * bytes at {@code at} (ggml {@code get_scale_min_k4}).
     */
    static int scaleMinK4(MemorySegment s, long at, int j, int k) {
        if (j < 4) {
            return u8(s, at + j + 4 * k) & 0x3F;
        }
        int packed = u8(s, at + j + 4);
        int top = u8(s, at + j - 4 + 4 * k) >>> 6;
        return (k == 0 ? packed & 0x0F : packed >>> 4) | top << 4;
    }

    /**
     * Q4_K ({@code fifth} false: d, dmin, scales[12], qs[128]) or Q5_K (true: d, dmin, scales[12],
     * qh[32], qs[128]). Element {@code 64 c + 32 h + j} is nibble {@code h} of {@code qs[32 c + j]},
     * plus 16 in Q5_K where bit {@code e / 32} of {@code qh[j]} is set; sub-block {@code e / 32}
     * has its own 6-bit scale and min.
     */
    private static void q4Or5K(MemorySegment s, long base, float[] dst, int o, boolean fifth) {
        float d = half(s, base);
        float dmin = half(s, base + 2);
        long codes = base + (fifth ? 48 : 16);
        for (int sb = 0; sb < 8; sb++) {
            float dl = d * scaleMinK4(s, base + 4, sb, 0);
            float ml = dmin * scaleMinK4(s, base + 4, sb, 1);
            for (int j = 0; j < 32; j++) {
                int q = (u8(s, codes + 32 * (sb >>> 1) + j) >>> (4 * (sb & 1))) & 0x0F;
                if (fifth) {
                    q |= ((u8(s, base + 16 + j) >>> sb) & 1) << 4;
                }
                dst[o + 32 * sb + j] = dl * q - ml;
            }
        }
    }

    /**
     * Q6_K: ql[128], qh[64], scales[16] (int8), d. Element {@code 128 g + 64 h + j} (j &lt; 64) takes
     * nibble {@code h} of {@code ql[64 g + j]}; element {@code 128 g + 32 t + i} takes bits
     * {@code 2t..2t+1} of {@code qh[32 g + i]} as its top two bits; value {@code d * sc * (q - 32)}.
     */
    private static void q6K(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base + 208);
        for (int e = 0; e < 256; e++) {
            int g = e >>> 7;
            int r = e & 127;
            int lo = (u8(s, base + 64 * g + (r & 63)) >>> (4 * (r >>> 6))) & 0x0F;
            int hi = (u8(s, base + 128 + 32 * g + (r & 31)) >>> (2 * (r >>> 5))) & 3;
            float dl = d * s.get(ValueLayout.JAVA_BYTE, base + 192 + (e >>> 4));
            dst[o + e] = dl * ((lo | hi << 4) - 32);
        }
    }

    /** IQ4_NL: d, 16 nibble bytes laid out as Q4_0's; value {@code d * IQ4_VALUES[q]}. */
    private static void iq4nl(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, base + 2 + j);
            dst[o + j] = d * IQ4_VALUES[q & 0x0F];
            dst[o + j + 16] = d * IQ4_VALUES[q >>> 4];
        }
    }

    /**
     * IQ4_XS: d, scales_h (16 bits, 2 per sub-block), scales_l[4] (a nibble per sub-block), qs[128]
     * (IQ4_NL's layout per 32 elements); sub-block scale {@code (l | h << 4) - 32}.
     */
    private static void iq4xs(MemorySegment s, long base, float[] dst, int o) {
        float d = half(s, base);
        int sh = s.get(Quantization.SHORT_LE, base + 2) & 0xFFFF;
        for (int ib = 0; ib < 8; ib++) {
            int l = (u8(s, base + 4 + (ib >>> 1)) >>> (4 * (ib & 1))) & 0x0F;
            int h = (sh >>> (2 * ib)) & 3;
            float dl = d * ((l | h << 4) - 32);
            for (int j = 0; j < 16; j++) {
                int q = u8(s, base + 8 + 16 * ib + j);
                dst[o + 32 * ib + j] = dl * IQ4_VALUES[q & 0x0F];
                dst[o + 32 * ib + j + 16] = dl * IQ4_VALUES[q >>> 4];
            }
        }
    }
}
