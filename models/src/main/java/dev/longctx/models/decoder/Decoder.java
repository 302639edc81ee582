package dev.longctx.models.decoder;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.KvView;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.MatmulInput;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.rope.Rope;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import java.util.Objects;

/**
 * The Llama-family forward pass (Llama 2/3, Mistral, Qwen2 with q/k/v bias), read top to bottom:
 * a chunk of tokens goes through every layer as matrix-matrix products, with keys and values
 * appended to the sequence's paged KV cache and exact tiled attention over it; logits are computed
 * only for the rows asked for. Prefilling in one chunk, in several or token by token gives the
 * same logits up to rounding.
 *
 * <p>Not yet: Qwen3 q/k norms, Phi-3 fused projections, Gemma 2 extras (see docs/models.md).
 */
public final class Decoder {
    private final ModelWeights w;
    private final ModelConfig c;
    private final TensorOps ops;
    private final Rope rope;
    private final TiledAttention attention;

    /** A decoder over the given weights, kernels and pool. */
    public Decoder(ModelWeights weights, TensorOps ops) {
        this.w = Objects.requireNonNull(weights, "weights");
        this.c = weights.config();
        this.ops = Objects.requireNonNull(ops, "ops");
        this.rope = new Rope(c.rotaryDim(), c.headDim(), c.ropeTheta(), c.ropeScaling(), c.maxPositions());
        this.attention = new TiledAttention(ops);
    }

    public ModelConfig config() {
        return c;
    }

    /**
     * Runs {@code tokens} (at positions {@code firstPosition ...}) through the model, appending their
     * keys and values to {@code cache}, and returns the logits of every token
     * ({@code [tokens][vocab]}) when {@code allLogits}, else of the last one only.
     */
    public float[] forward(SequenceKvCache cache, int[] tokens, long firstPosition, boolean allLogits) {
        int t = tokens.length;
        int h = c.hiddenSize();
        int hd = c.headDim();
        int qDim = c.heads() * hd;
        int kvDim = c.kvHeads() * hd;
        int ffn = c.intermediateSize();
        float[] x = new float[t * h];
        for (int i = 0; i < t; i++) {
            if (tokens[i] < 0 || tokens[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[i] + " outside the vocabulary of " + c.vocabSize());
            }
            ops.kernels().dequantize(w.tokenEmbedding().dtype(), w.tokenEmbedding().segment(),
                    tokens[i] * w.tokenEmbedding().rowBytes(), x, i * h, h);
        }
        float[] xn = new float[t * h];
        float[] q = new float[t * qDim];
        float[] k = new float[t * kvDim];
        float[] v = new float[t * kvDim];
        float[] att = new float[t * qDim];
        float[] o = new float[t * h];
        float[] gate = new float[t * ffn];
        float[] up = new float[t * ffn];
        float[] down = new float[t * h];
        long[] positions = new long[t];
        for (int i = 0; i < t; i++) {
            positions[i] = firstPosition + i;
        }
        float scale = (float) (1 / Math.sqrt(hd));
        AttentionMask mask = c.slidingWindow() > 0 ? AttentionMask.slidingWindow(c.slidingWindow(), 0) : AttentionMask.CAUSAL;
        float[] cos = new float[c.rotaryDim() / 2];
        float[] sin = new float[c.rotaryDim() / 2];
        for (int l = 0; l < c.layers(); l++) {
            ModelWeights.Layer y = w.layers()[l];
            for (int i = 0; i < t; i++) {
                ops.rmsnorm(x, i * h, y.attnNorm(), 0, (float) c.rmsNormEps(), xn, i * h, h);
            }
            MatmulInput attnIn = ops.matmulInput(xn, t, h); // shared by Q, K and V: transposed once
            project(y.wq(), attnIn, q, y.bq());
            project(y.wk(), attnIn, k, y.bk());
            project(y.wv(), attnIn, v, y.bv());
            for (int i = 0; i < t; i++) {
                rope.cosSin(positions[i], (int) Math.max(positions[i] + 1, 1), cos, sin);
                for (int hh = 0; hh < c.heads(); hh++) {
                    rope.apply(q, i * qDim + hh * hd, cos, sin, w.pairing());
                }
                for (int hh = 0; hh < c.kvHeads(); hh++) {
                    rope.apply(k, i * kvDim + hh * hd, cos, sin, w.pairing());
                }
                float[] ki = java.util.Arrays.copyOfRange(k, i * kvDim, (i + 1) * kvDim);
                float[] vi = java.util.Arrays.copyOfRange(v, i * kvDim, (i + 1) * kvDim);
                cache.append(l, ki, vi, positions[i]);
            }
            KvView[] views = cache.views(l);
            attention.attend(new AttentionProblem(q, 0, t, c.heads(), views, positions, scale, 0f, mask), att, null, null);
            project(y.wo(), att, t, o, null);
            ops.add(x, 0, o, 0, x, 0, t * h);
            for (int i = 0; i < t; i++) {
                ops.rmsnorm(x, i * h, y.ffnNorm(), 0, (float) c.rmsNormEps(), xn, i * h, h);
            }
            MatmulInput ffnIn = ops.matmulInput(xn, t, h); // shared by gate and up
            project(y.gate(), ffnIn, gate, null);
            project(y.up(), ffnIn, up, null);
            ops.silu(gate, 0, t * ffn);
            ops.mul(gate, 0, up, 0, gate, 0, t * ffn);
            project(y.down(), gate, t, down, null);
            ops.add(x, 0, down, 0, x, 0, t * h);
        }
        int from = allLogits ? 0 : t - 1;
        int rows = t - from;
        float[] last = new float[rows * h];
        for (int i = 0; i < rows; i++) {
            ops.rmsnorm(x, (from + i) * h, w.outputNorm(), 0, (float) c.rmsNormEps(), last, i * h, h);
        }
        float[] logits = new float[rows * c.vocabSize()];
        project(w.output(), last, rows, logits, null);
        return logits;
    }

    /** out[t][rows of w] = w . in[t] (+ bias), through matvec for one token and matmul for more. */
    private void project(dev.longctx.core.tensor.Tensor weight, float[] in, int tokens, float[] out, float[] bias) {
        project(weight, ops.matmulInput(in, tokens, (int) weight.columns()), out, bias);
    }

    private void project(dev.longctx.core.tensor.Tensor weight, MatmulInput in, float[] out, float[] bias) {
        int rows = (int) weight.rows();
        int tokens = in.tokens();
        if (tokens == 1) {
            ops.matvec(weight, in.x(), 0, out, 0);
        } else {
            ops.matmul(weight, in, out);
        }
        if (bias != null) {
            for (int t = 0; t < tokens; t++) {
                ops.add(out, t * rows, bias, 0, out, t * rows, rows);
            }
        }
    }
}
