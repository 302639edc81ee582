package dev.longctx.core.tensor;

/**
 * Element types with the exact block layouts of GGUF/ggml.
 *
 * <p>Every type is described by a block of {@link #blockSize()} elements stored in
 * {@link #blockBytes()} bytes; plain types have blocks of one element. Block-quantised types
 * (K-quants with blocks of 256 too) follow the same description, so sizes, row
 * strides and bounds checks are computed the same way for all of them.
 *
 * <p>The layouts below are ggml's ({@code ggml-common.h}); gguf-py's {@code quants.py} decodes the
 * same bytes, and {@code Quantization} is the reference decoder tested bit for bit against it.
 * "half" is a little-endian IEEE binary16; K-quant blocks hold 256 elements in sub-blocks of 16 or 32.
 *
 * <ul>
 *   <li>{@code Q8_0}: 32 elements as one little-endian IEEE half scale {@code d} followed by
 *       32 signed bytes {@code q}; value = {@code d * q}. 34 bytes.</li>
 *   <li>{@code Q4_0}: 32 elements as a half scale {@code d} followed by 16 bytes; element
 *       {@code j < 16} is the low nibble of byte {@code j}, element {@code j + 16} its high
 *       nibble; value = {@code d * (nibble - 8)}. 18 bytes.</li>
 *   <li>{@code Q4_1}: half {@code d}, half {@code m}, 16 nibble bytes as Q4_0; value = {@code d * q + m}. 20 bytes.</li>
 *   <li>{@code Q5_0}: half {@code d}, 4 bytes {@code qh} (bit j = fifth bit of element j), 16 nibble
 *       bytes as Q4_0; value = {@code d * (q - 16)}. 22 bytes.</li>
 *   <li>{@code Q5_1}: half {@code d}, half {@code m}, {@code qh}, nibbles; value = {@code d * q + m}. 24 bytes.</li>
 *   <li>{@code Q2_K}: 16 scale bytes (low nibble scale, high nibble min, one per 16 elements), 64
 *       bytes of 2-bit codes, half {@code d}, half {@code dmin}; value =
 *       {@code d * sc * q - dmin * m}. 84 bytes.</li>
 *   <li>{@code Q3_K}: 32 bytes high-bit mask, 64 bytes of 2-bit codes, 12 bytes of 6-bit signed
 *       scales (one per 16 elements), half {@code d}; value = {@code d * (sc - 32) * (q - 4 * !hbit)}. 110 bytes.</li>
 *   <li>{@code Q4_K}: half {@code d}, half {@code dmin}, 12 bytes of 6-bit scales and mins (one pair
 *       per 32 elements), 128 nibble bytes; value = {@code d * sc * q - dmin * m}. 144 bytes.</li>
 *   <li>{@code Q5_K}: as Q4_K plus 32 bytes of fifth bits before the nibbles. 176 bytes.</li>
 *   <li>{@code Q6_K}: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 signed scale bytes (one
 *       per 16 elements), half {@code d}; value = {@code d * sc * (q - 32)}. 210 bytes.</li>
 *   <li>{@code IQ4_NL}: half {@code d}, 16 nibble bytes as Q4_0, each nibble an index into a fixed
 *       non-linear table of 16 int8 values; value = {@code d * table[q]}. 18 bytes.</li>
 *   <li>{@code IQ4_XS}: half {@code d}, a 16-bit word and 4 bytes of 6-bit scales (one per 32
 *       elements), 128 bytes of IQ4_NL nibbles; value = {@code d * (sc - 32) * table[q]}. 136 bytes.</li>
 * </ul>
 */
public enum DType {
    /** IEEE binary32, little-endian. */
    F32(0, 1, 4),
    /** IEEE binary16, little-endian. */
    F16(1, 1, 2),
    /** 4-bit blocks of 32 with one half scale (ggml {@code block_q4_0}). */
    Q4_0(2, 32, 18),
    /** 4-bit blocks of 32 with a half scale and a half minimum (ggml {@code block_q4_1}). */
    Q4_1(3, 32, 20),
    /** 5-bit blocks of 32 with one half scale (ggml {@code block_q5_0}). */
    Q5_0(6, 32, 22),
    /** 5-bit blocks of 32 with a half scale and a half minimum (ggml {@code block_q5_1}). */
    Q5_1(7, 32, 24),
    /** 8-bit blocks of 32 with one half scale (ggml {@code block_q8_0}). */
    Q8_0(8, 32, 34),
    /** K-quant: 2-bit codes, 256 per block (ggml {@code block_q2_K}). */
    Q2_K(10, 256, 84),
    /** K-quant: 3-bit codes, 256 per block (ggml {@code block_q3_K}). */
    Q3_K(11, 256, 110),
    /** K-quant: 4-bit codes, 256 per block (ggml {@code block_q4_K}). */
    Q4_K(12, 256, 144),
    /** K-quant: 5-bit codes, 256 per block (ggml {@code block_q5_K}). */
    Q5_K(13, 256, 176),
    /** K-quant: 6-bit codes, 256 per block (ggml {@code block_q6_K}). */
    Q6_K(14, 256, 210),
    /** Non-linear 4-bit codes, 32 per block (ggml {@code block_iq4_nl}). */
    IQ4_NL(20, 32, 18),
    /** Non-linear 4-bit codes with 6-bit sub-block scales, 256 per block (ggml {@code block_iq4_xs}). */
    IQ4_XS(23, 256, 136),
    /** bfloat16: the upper 16 bits of a binary32, little-endian. */
    BF16(30, 1, 2);

    private final int ggmlType;
    private final int blockSize;
    private final int blockBytes;

    DType(int ggmlType, int blockSize, int blockBytes) {
        this.ggmlType = ggmlType;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** The {@code ggml_type} id used in GGUF tensor infos. */
    public int ggmlType() {
        return ggmlType;
    }

    /** Elements per block (1 for plain types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** Whether this is a block-quantised type. */
    public boolean isQuantized() {
        return blockSize > 1;
    }

    /**
     * Bytes needed for {@code elements} elements.
     *
     * @throws IllegalArgumentException if {@code elements} is negative, not a whole number of
     *     blocks, or the byte count overflows a {@code long}
     */
    public long bytesFor(long elements) {
        if (elements < 0) {
            throw new IllegalArgumentException(this + ": negative element count " + elements);
        }
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(this + ": " + elements
                    + " elements is not a whole number of blocks of " + blockSize);
        }
        try {
            return Math.multiplyExact(elements / blockSize, (long) blockBytes);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(this + ": byte size of " + elements + " elements overflows", e);
        }
    }

    /** Finds the type for a ggml type id, or throws naming the id. */
    public static DType fromGgmlType(int id) {
        for (DType t : values()) {
            if (t.ggmlType == id) {
                return t;
            }
        }
        throw new IllegalArgumentException("unsupported ggml type id " + id + " (supported: " + supportedList() + ")");
    }

    /** The supported types with their ids, e.g. {@code F32=0, F16=1, ...}, for error messages. */
    public static String supportedList() {
        StringBuilder sb = new StringBuilder();
        for (DType t : values()) {
            if (!sb.isEmpty()) {
                sb.append(", ");
            }
            sb.append(t).append('=').append(t.ggmlType);
        }
        return sb.toString();
    }
}
