package dev.longctx.core.tensor;

/**
 * Element types with the exact block layouts of GGUF/ggml.
 *
 * <p>Every type is described by a block of {@link #blockSize()} elements stored in
 * {@link #blockBytes()} bytes; plain types have blocks of one element. Block-quantised types
 * (and K-quants, when added, with blocks of 256) follow the same description, so sizes, row
 * strides and bounds checks are computed the same way for all of them.
 *
 * <ul>
 *   <li>{@code Q8_0}: 32 elements as one little-endian IEEE half scale {@code d} followed by
 *       32 signed bytes {@code q}; value = {@code d * q}. 34 bytes.</li>
 *   <li>{@code Q4_0}: 32 elements as a half scale {@code d} followed by 16 bytes; element
 *       {@code j < 16} is the low nibble of byte {@code j}, element {@code j + 16} its high
 *       nibble; value = {@code d * (nibble - 8)}. 18 bytes.</li>
 * </ul>
 */
public enum DType {
    /** IEEE binary32, little-endian. */
    F32(0, 1, 4),
    /** IEEE binary16, little-endian. */
    F16(1, 1, 2),
    /** 4-bit blocks of 32 with one half scale (ggml {@code block_q4_0}). */
    Q4_0(2, 32, 18),
    /** 8-bit blocks of 32 with one half scale (ggml {@code block_q8_0}). */
    Q8_0(8, 32, 34),
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
        throw new IllegalArgumentException("unsupported ggml type id " + id
                + " (supported: F32=0, F16=1, Q4_0=2, Q8_0=8, BF16=30)");
    }
}
