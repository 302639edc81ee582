package dev.longctx.core.kernels.spi;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Halfs;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.MemorySegment;

/**
 * Plain Java loops: the reference every vectorised kernel is tested against, and the fallback when
 * the Vector API is not available. Obviously right first, reasonably fast second.
 */
public final class ScalarKernels implements VectorKernels {

    /** Creates the scalar kernels (stateless; one instance may be shared). */
    public ScalarKernels() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public boolean isVectorized() {
        return false;
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public void pairedDots(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] xs, float[] ys, int from,
                           int to, float[] out, int outStride) {
        for (int p = from; p < to; p++) {
            for (int j = 0; j < rows; j++) {
                float s = 0f;
                for (int i = 0; i < n; i++) {
                    s += a[aOff + j * n + i] * xs[p * n + i] + b[bOff + j * n + i] * ys[p * n + i];
                }
                out[j * outStride + p] = s;
            }
        }
    }

    @Override
    public void pairedDotsBf16(float[] a, int aOff, float[] b, int bOff, int rows, int n, short[] xs, short[] ys,
                               int from, int to, float[] out, int outStride) {
        for (int p = from; p < to; p++) {
            for (int j = 0; j < rows; j++) {
                float s = 0f;
                for (int i = 0; i < n; i++) {
                    s += a[aOff + j * n + i] * Halfs.bf16ToFloat(xs[p * n + i])
                            + b[bOff + j * n + i] * Halfs.bf16ToFloat(ys[p * n + i]);
                }
                out[j * outStride + p] = s;
            }
        }
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public void scale(float[] x, int off, int n, float s) {
        for (int i = 0; i < n; i++) {
            x[off + i] *= s;
        }
    }

    @Override
    public void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        for (int i = 0; i < n; i++) {
            out[outOff + i] = a[aOff + i] + b[bOff + i];
        }
    }

    @Override
    public void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        for (int i = 0; i < n; i++) {
            out[outOff + i] = a[aOff + i] * b[bOff + i];
        }
    }

    @Override
    public void weightedRowSum(float[] w, int wOff, int n, float[] rows, int rowsOff, int d, float[] out, int outOff) {
        for (int k = 0; k < n; k++) {
            float wk = w[wOff + k];
            for (int c = 0; c < d; c++) {
                out[outOff + c] += wk * rows[rowsOff + k * d + c];
            }
        }
    }

    private static final int B = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;

    @Override
    public void matmulRowsTransposed(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                     float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        packedProducts(type, w, rowBytes, cols, rowFrom, rowTo, xt, tokens, out, outStride, 1);
    }

    @Override
    public void matmulRowsTransposedT(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                      float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        packedProducts(type, w, rowBytes, cols, rowFrom, rowTo, xt, tokens, out, 1, outStride);
    }

    /** Row r of w times packed token t, written to {@code out[t * tokenStep + r * rowStep]}. */
    private static void packedProducts(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                       float[] xt, int tokens, float[] out, int tokenStep, int rowStep) {
        float[] row = new float[cols];
        for (int r = rowFrom; r < rowTo; r++) {
            Quantization.dequantize(type, w, r * rowBytes, row, 0, cols);
            for (int t = 0; t < tokens; t++) {
                float s = 0f;
                for (int c = 0; c < cols; c++) {
                    s += row[c] * xt[(t / B) * B * cols + c * B + t % B];
                }
                out[t * tokenStep + r * rowStep] = s;
            }
        }
    }

    @Override
    public void weightedRowSums(float[] w, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                                float[] out, int outOff) {
        for (int i = 0; i < m; i++) {
            weightedRowSum(w, wOff + i * wStride, n, rows, rowsOff, d, out, outOff + i * d);
        }
    }

    @Override
    public void weightedRowSumsT(float[] wT, int wOff, int wStride, int m, int n, float[] rows, int rowsOff, int d,
                                 float[] out, int outOff) {
        for (int i = 0; i < m; i++) {
            for (int k = 0; k < n; k++) {
                float wk = wT[wOff + k * wStride + i];
                for (int c = 0; c < d; c++) {
                    out[outOff + i * d + c] += wk * rows[rowsOff + k * d + c];
                }
            }
        }
    }

    @Override
    public void expShiftColumns(float[] s, int off, int stride, int n, int m, float[] shift) {
        for (int i = 0; i < m; i++) {
            expColumn(s, off + i, stride, n, shift[i] == Float.NEGATIVE_INFINITY ? 0f : shift[i]);
        }
    }

    /** {@code x = exp(x - shift)} for the n entries {@code s[at + j * stride]}; returns their new sum. */
    private static float expColumn(float[] s, int at, int stride, int n, float shift) {
        float total = 0f;
        for (int j = 0; j < n; j++) {
            float e = (float) Math.exp(s[at + j * stride] - shift);
            s[at + j * stride] = e;
            total += e;
        }
        return total;
    }

    @Override
    public boolean onlineSoftmaxColumns(float[] s, int off, int stride, int n, int m, float[] max, float[] sum,
                                        float[] corr) {
        boolean any = false;
        for (int i = 0; i < m; i++) {
            float mx = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                mx = Math.max(mx, s[off + j * stride + i]);
            }
            if (mx == Float.NEGATIVE_INFINITY) {
                corr[i] = 1f;
                for (int j = 0; j < n; j++) {
                    s[off + j * stride + i] = 0f;
                }
                continue;
            }
            any = true;
            float old = max[i];
            float mNew = Math.max(old, mx);
            corr[i] = old == Float.NEGATIVE_INFINITY ? 0f : old == mNew ? 1f : (float) Math.exp(old - mNew);
            sum[i] = sum[i] * corr[i] + expColumn(s, off + i, stride, n, mNew);
            max[i] = mNew;
        }
        return any;
    }

    /** The definition, row by row: logits, the softmax step, then P.V in key order, each key and value row decoded when used. */
    @Override
    public void decodeAttentionPage(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
                                    float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch) {
        decodeAttentionPageLogits(type, keys, values, rowBytes, n, d, q, m, max, sum, out, scratch, null, 0, 0);
    }

    /** {@link #decodeAttentionPage}, each row's logits copied out before its softmax step (none when {@code logits} is null). */
    @Override
    public void decodeAttentionPageLogits(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
                                          float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch,
                                          float[] logits, int logitsOff, int logitsStride) {
        decodeRows((j, key, dst) -> Quantization.dequantize(type, key ? keys : values, j * rowBytes, dst, 0, d),
                n, d, q, m, max, sum, out, scratch, logits, logitsOff, logitsStride);
    }

    /** The definition, row by row, as {@link #decodeAttentionPage} with each row located through the index lists. */
    @Override
    public void decodeAttentionRows(DType type, MemorySegment[] keyPages, MemorySegment[] valuePages, int[] pageOf,
                                    int[] slotOf, int off, int n, long rowBytes, int d, float[] q, int m, float[] max,
                                    float[] sum, float[] out, float[] scratch) {
        decodeRows((j, key, dst) -> Quantization.dequantize(type, (key ? keyPages : valuePages)[pageOf[off + j]],
                slotOf[off + j] * rowBytes, dst, 0, d), n, d, q, m, max, sum, out, scratch, null, 0, 0);
    }

    /** Decodes row {@code j} of the step's keys ({@code key}) or values into {@code dst[0, d)}. */
    @FunctionalInterface
    private interface RowReader {
        void read(int j, boolean key, float[] dst);
    }

    /**
     * The decode step's definition over {@code n} rows read by {@code rows}, for {@code m} query rows: logits, the
     * online-softmax update of {@code max}, {@code sum} and {@code out}, and (when {@code logits} is not null) each
     * row's logits copied out before its softmax step.
     */
    private void decodeRows(RowReader rows, int n, int d, float[] q, int m, float[] max, float[] sum, float[] out,
                            float[] scratch, float[] logits, int logitsOff, int logitsStride) {
        int sOff = n * d; // logits of the row after the room for a page of decoded rows; row decoded at 0
        for (int i = 0; i < m; i++) {
            float mx = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                rows.read(j, true, scratch);
                scratch[sOff + j] = dot(q, i * d, scratch, 0, d);
                mx = Math.max(mx, scratch[sOff + j]);
            }
            if (logits != null) {
                System.arraycopy(scratch, sOff, logits, logitsOff + i * logitsStride, n);
            }
            float mNew = Math.max(max[i], mx);
            float corr = max[i] == Float.NEGATIVE_INFINITY ? 0f : max[i] == mNew ? 1f : (float) Math.exp(max[i] - mNew);
            for (int c = 0; c < d; c++) {
                out[i * d + c] *= corr;
            }
            float total = 0f;
            for (int j = 0; j < n; j++) {
                float pj = (float) Math.exp(scratch[sOff + j] - mNew);
                total += pj;
                rows.read(j, false, scratch);
                for (int c = 0; c < d; c++) {
                    out[i * d + c] += pj * scratch[c];
                }
            }
            sum[i] = sum[i] * corr + total;
            max[i] = mNew;
        }
    }

    @Override
    public float sumOfSquares(float[] x, int off, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) {
            s += x[off + i] * x[off + i];
        }
        return s;
    }

    @Override
    public float max(float[] x, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, x[off + i]);
        }
        return m;
    }

    @Override
    public float expShiftSum(float[] x, int off, int n, float shift) {
        float s = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - shift);
            x[off + i] = e;
            s += e;
        }
        return s;
    }

    @Override
    public void silu(float[] x, int off, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            x[off + i] = (float) (v / (1.0 + Math.exp(-v)));
        }
    }

    @Override
    public void gelu(float[] x, int off, int n) {
        for (int i = 0; i < n; i++) {
            x[off + i] = geluTanh(x[off + i]);
        }
    }

    /** sqrt(2/pi), the constant of the tanh approximation (Hendrycks and Gimpel, 2016). */
    static final float SQRT_2_OVER_PI = 0.7978845608028654f;
    /** The cubic coefficient of the tanh approximation. */
    static final float GELU_COEF_A = 0.044715f;

    static float geluTanh(float v) {
        return (float) (0.5 * v * (1.0 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_COEF_A * v * v * v))));
    }

    @Override
    public int argmax(float[] x, int off, int n) {
        int best = 0;
        float bv = Float.NEGATIVE_INFINITY;
        boolean any = false;
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            if (!Float.isNaN(v) && (!any || v > bv)) {
                bv = v;
                best = i;
                any = true;
            }
        }
        return best;
    }

    @Override
    public void quantize(DType type, float[] src, int srcOff, int n, MemorySegment dst, long byteOffset) {
        Quantization.quantize(type, src, srcOff, n, dst, byteOffset);
    }

    @Override
    public void dequantize(DType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n) {
        Quantization.dequantize(type, src, byteOffset, dst, dstOff, n);
    }

    @Override
    public void matvecRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int xOff, float[] out, int outOff) {
        float[] row = new float[cols];
        for (int r = rowFrom; r < rowTo; r++) {
            Quantization.dequantize(type, w, r * rowBytes, row, 0, cols);
            out[outOff + r] = dot(row, 0, x, xOff, cols);
        }
    }

    /** The definition: each row decoded, then one plain dot product per token. */
    @Override
    public void matmulRowsSmallBatch(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                     float[] x, int tokens, float[] out, int outStride) {
        float[] row = new float[cols];
        for (int r = rowFrom; r < rowTo; r++) {
            Quantization.dequantize(type, w, r * rowBytes, row, 0, cols);
            for (int t = 0; t < tokens; t++) {
                out[t * outStride + r] = dot(row, 0, x, t * cols, cols);
            }
        }
    }

    @Override
    public void matmulRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int tokens, float[] out, int outStride) {
        float[] row = new float[cols];
        for (int r = rowFrom; r < rowTo; r++) {
            Quantization.dequantize(type, w, r * rowBytes, row, 0, cols);
            for (int t = 0; t < tokens; t++) {
                out[t * outStride + r] = dot(row, 0, x, t * cols, cols);
            }
        }
    }
}
