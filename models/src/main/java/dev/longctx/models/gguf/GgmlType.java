package dev.longctx.models.gguf;

import dev.longctx.core.tensor.DType;
import java.util.Optional;

/**
 * Every tensor type a GGUF file may name (ggml's {@code ggml_type}), with its block layout: the
 * type ids and the (elements per block, bytes per block) pairs are ggml's, as the {@code gguf}
 * Python package lists them ({@code GGMLQuantizationType} and {@code GGML_QUANT_SIZES}, llama.cpp
 * commit 34af94cd). This is a description of files, not of what this engine decodes (that is
 * {@code dev.longctx.core.tensor.DType}): {@code inspect} uses it to list and size the tensors of
 * any file from its header. The types the engine decodes take their id and layout from
 * {@link DType}, so the two cannot disagree. Ids 4 and 5 (Q4_2, Q4_3) and 31 to 33 and 36 to 38 were removed from
 * ggml and are absent here. Immutable and thread-safe.
 */
public enum GgmlType {
    F32(DType.F32),
    F16(DType.F16),
    Q4_0(DType.Q4_0),
    Q4_1(DType.Q4_1),
    Q5_0(DType.Q5_0),
    Q5_1(DType.Q5_1),
    Q8_0(DType.Q8_0),
    Q8_1(9, 32, 40),
    Q2_K(DType.Q2_K),
    Q3_K(DType.Q3_K),
    Q4_K(DType.Q4_K),
    Q5_K(DType.Q5_K),
    Q6_K(DType.Q6_K),
    Q8_K(15, 256, 292),
    IQ2_XXS(16, 256, 66),
    IQ2_XS(17, 256, 74),
    IQ3_XXS(18, 256, 98),
    IQ1_S(19, 256, 50),
    IQ4_NL(DType.IQ4_NL),
    IQ3_S(21, 256, 110),
    IQ2_S(22, 256, 82),
    IQ4_XS(DType.IQ4_XS),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    IQ1_M(29, 256, 56),
    BF16(DType.BF16),
    TQ1_0(34, 256, 54),
    TQ2_0(35, 256, 66),
    MXFP4(39, 32, 17),
    NVFP4(40, 64, 36),
    Q1_0(41, 128, 18),
    Q2_0(42, 64, 18);

    private final int id;
    private final int blockSize;
    private final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** A type the engine decodes: its id and block layout are {@code d}'s, one source for both. */
    GgmlType(DType d) {
        this(d.ggmlType(), d.blockSize(), d.blockBytes());
    }

    /** The id a GGUF tensor info stores. */
    public int id() {
        return id;
    }

    /** Elements per block. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** Bits per element of this type (bytes per block x 8 / elements per block). */
    public double bitsPerWeight() {
        return blockBytes * 8.0 / blockSize;
    }

    /**
     * The bytes {@code elements} take, or -1 when they are not a whole number of blocks or the size
     * overflows.
     */
    public long bytesFor(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            return -1;
        }
        long blocks = elements / blockSize;
        return blocks > Long.MAX_VALUE / blockBytes ? -1 : blocks * blockBytes;
    }

    /** The type with ggml id {@code id}, if ggml has one. */
    public static Optional<GgmlType> fromId(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }
}
