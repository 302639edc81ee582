package dev.longctx.core.kernels.spi;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * The single-threaded kernels one implementation provides: a scalar reference
 * ({@link ScalarKernels}) and a Vector API one chosen at start-up by {@link KernelProvider}.
 *
 * <p>These methods trust their arguments (offsets and lengths inside the arrays, whole blocks for
 * quantised types): {@link dev.longctx.core.kernels.TensorOps} validates shapes once and spreads work over threads. Weight
 * rows are read in place from a {@link MemorySegment} in any {@link DType}; activations are
 * {@code float[]}.
 */
public interface VectorKernels {

    /** A short name for logs and benchmark labels ({@code scalar}, {@code panama-512}, ...). */
    String name();

    /** True for the Vector API implementation. */
    boolean isVectorized();

    /** Sum of {@code a[i] * b[i]}. */
    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    /**
     * Paired dot products of {@code rows} coefficient pairs against a run of vector pairs: for
     * every {@code p} in {@code [from, to)} and {@code j < rows},
     * {@code out[j * outStride + p] = a_j . x_p + b_j . y_p}, where {@code a_j} is the n floats
     * at {@code a[aOff + j * n]}, {@code b_j} likewise in {@code b}, and {@code x_p}, {@code y_p}
     * the n floats at {@code xs[p * n]} and {@code ys[p * n]}. Quest's page bounds of a group of
     * query heads over many pages in one call ({@code a = max(q, 0)} against the key maxima,
     * {@code b = min(q, 0)} against the minima): one horizontal sum per bound instead of two, and
     * no call per page.
     */
    void pairedDots(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] xs, float[] ys, int from, int to,
                    float[] out, int outStride);

    /**
     * {@link #pairedDots} with the vector pairs stored as bfloat16 bits ({@code xs[p * n + i]} is
     * the upper half of a float's bits): half the bytes of the F32 run, for Quest's key bounds
     * kept rounded outward. Each product and sum is computed in F32 from the exactly widened values.
     */
    void pairedDotsBf16(float[] a, int aOff, float[] b, int bOff, int rows, int n, short[] xs, short[] ys, int from,
                        int to, float[] out, int outStride);

    /** {@code y[i] += alpha * x[i]}. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);

    /** {@code x[i] *= s}. */
    void scale(float[] x, int off, int n, float s);

    /** {@code out[i] = a[i] + b[i]} (out may alias a or b). */
    void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n);

    /** {@code out[i] = a[i] * b[i]} (out may alias a or b). */
    void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n);

    /**
     * {@code out[outOff + c] += sum_{k < n} w[wOff + k] * rows[rowsOff + k * d + c]} for
     * {@code c < d}: a weighted sum of {@code n} consecutive rows of length {@code d} (attention's
     * P.V for one query row). Each output element accumulates its terms in k order.
     */
    void weightedRowSum(float[] w, int wOff, int n, float[] rows, int rowsOff, int d, float[] out, int outOff);

    /**
     * {@link #weightedRowSum} for {@code m} weight vectors at once (attention's P.V for a tile of
     * query rows): for {@code i < m}, {@code out[outOff + i * d + c] += sum_{k < n}
     * w[wOff + i * wStride + k] * rows[rowsOff + k * d + c]}. Each output element accumulates in k
     * order, so the result equals m separate {@link #weightedRowSum} calls.
     */
    void weightedRowSums(float[] w, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                         float[] out, int outOff);

    /**
     * {@link #weightedRowSums} with the weights stored transposed, one weight vector per column:
     * for {@code i < m}, {@code out[outOff + i * d + c] += sum_{k < n}
     * wT[wOff + k * wStride + i] * rows[rowsOff + k * d + c]} (attention's P.V when the
     * probabilities of a tile are kept key-major, as {@link #matmulRowsTransposedT} leaves them).
     * Each output element accumulates in k order, exactly as {@link #weightedRowSums} on the
     * transposed weights.
     */
    void weightedRowSumsT(float[] wT, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                          float[] out, int outOff);

    /**
     * One step of the online softmax (FlashAttention-2) for {@code m} query rows stored as
     * columns: {@code s[off + j * stride + i]} is row i's logit against key j ({@code j < n},
     * {@code i < m}). Per row i, with {@code mx = max_j s}: when {@code mx} is -infinity (the row
     * sees no key) the row's state is unchanged, {@code corr[i] = 1} and its column of s becomes 0;
     * otherwise {@code mNew = max(max[i], mx)}, {@code corr[i] = exp(max[i] - mNew)} (exactly 1
     * when the maximum is unchanged, 0 when {@code max[i]} was -infinity),
     * {@code s[j][i] = exp(s[j][i] - mNew)}, {@code sum[i] = sum[i] * corr[i] + sum_j s[j][i]} and
     * {@code max[i] = mNew}. The caller rescales its running output rows by {@code corr}.
     *
     * @return whether any row saw a key
     */
    boolean onlineSoftmaxColumns(float[] s, int off, int stride, int n, int m, float[] max, float[] sum, float[] corr);

    /**
     * {@code s[off + j * stride + i] = exp(s[off + j * stride + i] - shift[i])} for {@code j < n},
     * {@code i < m}: the probabilities of a key-major page given each row's final log-sum-exp
     * (an observer's second pass). A row whose shift is -infinity is shifted by 0 instead, so that
     * its -infinity logits give 0. Same exponential as {@link #onlineSoftmaxColumns}.
     */
    void expShiftColumns(float[] s, int off, int stride, int n, int m, float[] shift);

    /**
     * One page of decode attention, fused: FlashAttention-2's online-softmax step (Dao, 2023) for a
     * small tile of query rows against one page of keys and values, in one call (the page's keys and
     * values decoded once, the logits, the softmax step and the weighted value sums of every row).
     *
     * <p>Keys and values are {@code n >= 1} rows of {@code d} elements of {@code type},
     * {@code rowBytes} apart from byte 0 of their segments. For each query row {@code i < m}
     * (pre-scaled: {@code q[i * d, (i + 1) * d)}), with logits {@code s_j = q_i . k_j} and every key
     * visible: {@code mNew = max(max[i], max_j s_j)}; {@code corr = 0} if {@code max[i]} is
     * -infinity, exactly 1 if {@code mNew == max[i]}, else {@code exp(max[i] - mNew)};
     * {@code p_j = exp(s_j - mNew)}; {@code sum[i] = sum[i] * corr + sum_j p_j};
     * {@code out_i = out_i * corr + sum_j p_j v_j} (row i of out at {@code out[i * d]});
     * {@code max[i] = mNew}. {@code scratch} holds at least {@link #decodeAttentionScratch} floats.
     */
    void decodeAttentionPage(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
                             float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch);

    /**
     * {@link #decodeAttentionPage} that also hands out the logits it computes: row {@code i}'s
     * {@code s_j = q_i . k_j} (before the softmax step; the same floats the step uses, and the same
     * as {@link #matmulRows} gives for those queries and keys) written to
     * {@code logits[logitsOff + i * logitsStride + j]}. For a kernel that records which keys a step
     * attended most (TidalDecode, Recycled Attention) without reading the keys a second time.
     */
    void decodeAttentionPageLogits(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
                                   float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch, float[] logits,
                                   int logitsOff, int logitsStride);

    /**
     * {@link #decodeAttentionPage} over {@code n >= 1} key/value rows picked by index from several
     * pages and read in place (no gather into a dense page): row {@code j < n} is row
     * {@code slotOf[off + j]} of page {@code pageOf[off + j]}, its key at byte
     * {@code slotOf[off + j] * rowBytes} of {@code keyPages[pageOf[off + j]]} and its value at the same
     * offset of {@code valuePages[pageOf[off + j]]}. Same step, same contract for {@code q, m, max,
     * sum, out}; {@code scratch} holds at least {@code decodeAttentionScratch(n, d, m)} floats. For
     * token-level selections (TidalDecode, Recycled Attention): the chosen keys stay in the cache's
     * pages and the kernel reads exactly those rows.
     */
    void decodeAttentionRows(DType type, MemorySegment[] keyPages, MemorySegment[] valuePages, int[] pageOf, int[] slotOf,
                             int off, int n, long rowBytes, int d, float[] q, int m, float[] max, float[] sum,
                             float[] out, float[] scratch);

    /** Scratch floats {@link #decodeAttentionPage} needs: room for a page of decoded rows and the logits. */
    static int decodeAttentionScratch(int n, int d, int m) {
        return n * d + m * n;
    }

    /** Sum of {@code x[i]^2}. */
    float sumOfSquares(float[] x, int off, int n);

    /** Maximum of {@code x[off..off+n)}; {@code n >= 1}. */
    float max(float[] x, int off, int n);

    /**
     * {@code x[i] = exp(x[i] - shift)} in place; returns the sum of the new values. The building
     * block of a stable softmax (shift = max).
     */
    float expShiftSum(float[] x, int off, int n, float shift);

    /** SiLU in place: {@code x / (1 + exp(-x))}. */
    void silu(float[] x, int off, int n);

    /** GELU, tanh approximation, in place: {@code 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))}. */
    void gelu(float[] x, int off, int n);

    /** Index of the first maximum; NaN compares below every number. */
    int argmax(float[] x, int off, int n);

    /**
     * Encodes {@code n} floats as {@code type} at byte {@code byteOffset} of {@code dst}, bit-exact
     * with {@code Quantization.quantize} (the KV cache's write path).
     */
    void quantize(DType type, float[] src, int srcOff, int n, MemorySegment dst, long byteOffset);

    /** Decodes {@code n} elements of a weight row (see {@code Quantization.dequantize}). */
    void dequantize(DType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n);

    /**
     * Matrix-vector rows: for {@code r} in {@code [rowFrom, rowTo)},
     * {@code out[outOff + r] = dot(row r of w, x[xOff .. xOff + cols))}, dequantising in registers.
     * Row {@code r} starts at byte {@code r * rowBytes} of {@code w}.
     */
    void matvecRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                    float[] x, int xOff, float[] out, int outOff);

    /**
     * Matrix-matrix rows for prefill: for weight rows {@code r} in {@code [rowFrom, rowTo)} and tokens
     * {@code t} in {@code [0, tokens)}, {@code out[t * outStride + r] = dot(row r of w, x[t * cols ..])}.
     * Each weight row is decoded once per block of tokens, not once per token.
     */
    void matmulRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                    float[] x, int tokens, float[] out, int outStride);

    /**
     * Matrix-matrix rows for a few tokens (a batched decode step: one row of activations per
     * sequence): for weight rows {@code r} in {@code [rowFrom, rowTo)} and tokens {@code t} in
     * {@code [0, tokens)}, {@code out[t * outStride + r] = dot(row r of w, x[t * cols ..])}, the same
     * contract as {@link #matmulRows}. Where {@link #matmulRows} decodes a tile of weight rows into
     * memory and then multiplies, this decodes each weight block in registers, as
     * {@link #matvecRows} does, and multiplies it with every token while it is there: each weight
     * byte is read from memory once per call, whatever the token count. Meant for the token counts
     * below {@code TensorOps}' small-batch cutoff; any count is correct.
     */
    void matmulRowsSmallBatch(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                              float[] x, int tokens, float[] out, int outStride);

    /**
     * {@link #matmulRows} with the activations packed column-major in blocks of
     * {@code B = }{@link #TRANSPOSED_TOKEN_MULTIPLE} tokens: token {@code t}, column {@code c} at
     * {@code xt[(t / B) * B * cols + c * B + t % B]}, padded with zeros to {@code tokenStride}
     * tokens (a multiple of B). A block's columns are then contiguous, which is what the
     * outer-product kernel streams. Every output element is the sum over c in column order,
     * whatever the blocking, so results do not depend on how rows or tokens are split (nor on
     * whether the JIT has compiled the kernel: there is no horizontal sum).
     */
    void matmulRowsTransposed(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                              float[] xt, int tokenStride, int tokens, float[] out, int outStride);

    /**
     * {@link #matmulRowsTransposed} with the output transposed: {@code out[r * outStride + t]} for
     * {@code rowFrom <= r < rowTo} and {@code t < tokens}, the same sums bit for bit. The
     * outer-product kernel accumulates a vector of tokens per weight row, so this layout is stored
     * a vector at a time where {@link #matmulRowsTransposed} scatters single floats; it is what
     * a prefill tile's logits against a KV page need when the softmax runs across query rows
     * ({@link #onlineSoftmaxColumns}).
     */
    void matmulRowsTransposedT(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                               float[] xt, int tokenStride, int tokens, float[] out, int outStride);

    /** Token padding {@link #matmulRowsTransposed} needs: 32 (two 512-bit vectors of floats). */
    int TRANSPOSED_TOKEN_MULTIPLE = 32;
}
