package dev.longctx.models.llama2c;

import dev.longctx.core.rope.RopeScaling;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.MappedFile;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.ModelConfig;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A llama2.c legacy ("version 0") checkpoint: seven int32 header fields (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means a separate
 * classifier) followed by F32 tensors in llama2.c's export order. Memory-mapped; every size is
 * checked against the file before a tensor is cut. Tensor names follow GGUF's
 * ({@code token_embd.weight}, {@code blk.N.attn_q.weight}, ...), shapes are {@code [out, in]}.
 */
public final class Llama2cCheckpoint implements AutoCloseable {
    private static final int HEADER_BYTES = 7 * 4;

    private final MappedFile file;
    private final ModelConfig config;
    private final Map<String, Tensor> tensors;

    private Llama2cCheckpoint(MappedFile file, ModelConfig config, Map<String, Tensor> tensors) {
        this.file = file;
        this.config = config;
        this.tensors = tensors;
    }

    /** Maps and validates a checkpoint. */
    public static Llama2cCheckpoint open(Path path) throws IOException {
        MappedFile mf = MappedFile.open(path);
        try {
            return parse(mf.segment(), path.toString(), mf);
        } catch (RuntimeException e) {
            mf.close();
            throw e;
        }
    }

    /**
     * Validates a checkpoint held in memory ({@code source} names it in errors); the tensors are
     * views of {@code file}, which the caller keeps alive. Closing the result closes nothing.
     */
    public static Llama2cCheckpoint parse(MemorySegment file, String source) {
        return parse(file, source, null);
    }

    private static Llama2cCheckpoint parse(MemorySegment seg, String source, MappedFile mf) {
        long size = seg.byteSize();
        if (size < HEADER_BYTES) {
            throw new ModelFormatException(source, 0, "too small for a llama2.c header (" + size + " bytes)");
        }
        var le = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        int[] h = new int[7];
        for (int i = 0; i < 7; i++) {
            h[i] = seg.get(le, 4L * i);
        }
        boolean shared = h[5] > 0;
        int vocab = Math.abs(h[5]);
        for (int i = 0; i < 7; i++) {
            int v = i == 5 ? vocab : h[i];
            // Bounds far above any llama2.c model, so products below cannot overflow a long.
            if (v <= 0 || v > (1 << 24)) {
                throw new ModelFormatException(source, 4L * i, "header field " + names[i] + " = " + h[i]
                        + " is outside 1.." + (1 << 24));
            }
        }
        int dim = h[0];
        int hidden = h[1];
        int layers = h[2];
        int heads = h[3];
        int kvHeads = h[4];
        int seqLen = h[6];
        if (dim % heads != 0 || heads % kvHeads != 0) {
            throw new ModelFormatException(source, 12, "dim " + dim + " / n_heads " + heads + " / n_kv_heads " + kvHeads
                    + " do not divide");
        }
        int headSize = dim / heads;
        int kvDim = kvHeads * headSize;
        Map<String, Tensor> t = new LinkedHashMap<>();
        long[] pos = {HEADER_BYTES};
        Cutter cut = (name, rows, cols) -> {
            long bytes = 4L * rows * cols;
            if (bytes > size - pos[0]) {
                throw new ModelFormatException(source, pos[0], "tensor '" + name + "' [" + rows + ", " + cols + "] needs "
                        + bytes + " bytes but the file has " + (size - pos[0]) + " left");
            }
            t.put(name, Tensor.wrap(DType.F32, seg.asSlice(pos[0], bytes), rows, cols));
            pos[0] += bytes;
        };
        cut.take("token_embd.weight", vocab, dim);
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".attn_norm.weight", 1, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".attn_q.weight", dim, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".attn_k.weight", kvDim, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".attn_v.weight", kvDim, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".attn_output.weight", dim, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".ffn_norm.weight", 1, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".ffn_gate.weight", hidden, dim);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".ffn_down.weight", dim, hidden);
        }
        for (int l = 0; l < layers; l++) {
            cut.take("blk." + l + ".ffn_up.weight", hidden, dim);
        }
        cut.take("output_norm.weight", 1, dim);
        // Two RoPE tables llama2.c writes and never reads (seq_len x head_size / 2 each).
        cut.take("freq_cis_real", seqLen, headSize / 2);
        cut.take("freq_cis_imag", seqLen, headSize / 2);
        if (!shared) {
            cut.take("output.weight", vocab, dim);
        }
        ModelConfig config;
        try {
            config = new ModelConfig(ModelConfig.Architecture.LLAMA, vocab, dim, hidden, layers, heads, kvHeads,
                    headSize, seqLen, 1e-5, 10000.0, RopeScaling.none(), 1.0, shared, false, 0, 1, List.of(2));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source, 0, "header: " + e.getMessage());
        }
        return new Llama2cCheckpoint(mf, config, t);
    }

    @FunctionalInterface
    private interface Cutter {
        void take(String name, long rows, long cols);
    }

    /**
     * The model config: llama2.c's fixed choices (RMSNorm epsilon 1e-5, RoPE theta 10000,
     * BOS 1, EOS 2) with the header's sizes.
     */
    public ModelConfig config() {
        return config;
    }

    /** Tensors by GGUF-style name (norms are [1, dim]). */
    public Map<String, Tensor> tensors() {
        return java.util.Collections.unmodifiableMap(tensors);
    }

    @Override
    public void close() {
        if (file != null) {
            file.close();
        }
    }
}
