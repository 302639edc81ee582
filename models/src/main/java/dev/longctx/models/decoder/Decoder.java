package dev.longctx.models.decoder;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.spi.MatmulInput;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import java.util.Objects;

/**
 * The forward pass of every supported family (Llama 2/3, Mistral, Qwen2/2.5, Qwen3, Phi-3,
 * Gemma 2), read top to bottom: a chunk of tokens goes through every layer as matrix-matrix
 * products, with keys and values appended to the sequence's paged KV cache and exact tiled
 * attention over it; logits are computed only for the rows asked for. Prefilling in one chunk, in
 * several or token by token gives the same logits up to rounding (dynamic NTK RoPE aside: like
 * transformers it picks its frequencies from the length reached by the chunk).
 *
 * <p>The families differ only in what {@link ModelWeights} holds (fused projections are already
 * cut, Gemma's {@code 1 + w} norms already added) and in {@link ModelConfig.FamilyOptions}: an
 * optional per-head q/k RMSNorm before RoPE (Qwen3), optional norms on the attention and FFN
 * outputs before each residual add (Gemma 2), embeddings scaled by {@code sqrt(hidden)} (Gemma 2),
 * the attention scale, attention and final logit soft-capping, per-layer sliding windows and the
 * FFN activation.
 */
public final class Decoder {
    private final ModelWeights w;
    private final ModelConfig c;
    private final TensorOps ops;
    private final Rope rope;
    private final AttentionPlan exact;
    /** Per layer: its attention mask (causal, or its sliding window). */
    private final AttentionMask[] masks;
    /** Per layer: Q, K and V weights, one matvecs dispatch in decode. */
    private final Tensor[][] qkv;
    /** Per layer: gate and up weights. */
    private final Tensor[][] gateUp;

    /** A decoder over the given weights, kernels and pool. Immutable and thread-safe; the state is per sequence. */
    public Decoder(ModelWeights weights, TensorOps ops) {
        this.w = Objects.requireNonNull(weights, "weights");
        this.c = weights.config();
        this.ops = Objects.requireNonNull(ops, "ops");
        this.rope = new Rope(c.rotaryDim(), c.headDim(), c.ropeTheta(), c.ropeScaling(), c.maxPositions());
        this.exact = AttentionPlan.exact(ops);
        int layers = c.layers();
        masks = new AttentionMask[layers];
        qkv = new Tensor[layers][];
        gateUp = new Tensor[layers][];
        for (int l = 0; l < layers; l++) {
            int window = c.slidingWindow(l);
            masks[l] = window > 0 ? AttentionMask.slidingWindow(window, 0) : AttentionMask.CAUSAL;
            ModelWeights.Layer y = w.layers()[l];
            qkv[l] = new Tensor[] {y.wq(), y.wk(), y.wv()};
            gateUp[l] = new Tensor[] {y.gate(), y.up()};
        }
    }

    /**
     * The buffers of one sequence's forward passes, allocated once for chunks of up to
     * {@link #capacity()} tokens (llama3.java's run state): a decode step through
     * {@link Decoder#forward(State, SequenceKvCache, int[], long, boolean, AttentionPlan, boolean)}
     * allocates nothing in the decoder. Threading: one state per sequence, used by one thread at a
     * time.
     */
    public static final class State {
        private final int capacity;
        private final float[] x;
        private final float[] xn;
        private final float[] q;
        private final float[] k;
        private final float[] v;
        private final float[] att;
        private final float[] o;
        private final float[] gate;
        private final float[] up;
        private final float[] down;
        private final float[] last;
        private final float[] logits;
        /** The decode step's position (attention problems take exactly one position per query row). */
        private final long[] position = new long[1];
        private final float[][] cos;
        private final float[][] sin;
        private final float[][] qkvOut;
        private final float[][] gateUpOut;
        /** Per layer: the decode step's attention problem, kept while its views are the cache's shared ones. */
        private final AttentionProblem[] decodeProblems;

        private State(ModelConfig c, int capacity) {
            if (capacity <= 0) {
                throw new IllegalArgumentException("decoder state capacity must be positive, got " + capacity);
            }
            this.capacity = capacity;
            int h = c.hiddenSize();
            int qDim = c.heads() * c.headDim();
            int kvDim = c.kvHeads() * c.headDim();
            int ffn = c.intermediateSize();
            x = new float[capacity * h];
            xn = new float[capacity * h];
            q = new float[capacity * qDim];
            k = new float[capacity * kvDim];
            v = new float[capacity * kvDim];
            att = new float[capacity * qDim];
            o = new float[capacity * h];
            gate = new float[capacity * ffn];
            up = new float[capacity * ffn];
            down = new float[capacity * h];
            last = new float[h];
            logits = new float[c.vocabSize()];
            cos = new float[capacity][c.rotaryDim() / 2];
            sin = new float[capacity][c.rotaryDim() / 2];
            qkvOut = new float[][] {q, k, v};
            gateUpOut = new float[][] {gate, up};
            decodeProblems = new AttentionProblem[c.layers()];
        }

        /** The most tokens one forward call with this state may take. */
        public int capacity() {
            return capacity;
        }
    }

    /** A state for chunks of up to {@code capacity} tokens. */
    public State newState(int capacity) {
        return new State(c, capacity);
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
        return forward(cache, tokens, firstPosition, allLogits, exact, true);
    }

    /** The model's RoPE (for strategies that re-rotate cached keys). */
    public Rope rope() {
        return rope;
    }

    /**
     * As {@link #forward(SequenceKvCache, int[], long, boolean)}, with a long-context strategy's
     * {@code plan} choosing kernels, observers and evictions.
     *
     * @param endsPrompt whether this chunk holds the last prompt tokens (SnapKV observes them)
     */
    public float[] forward(SequenceKvCache cache, int[] tokens, long firstPosition, boolean allLogits, AttentionPlan plan,
                           boolean endsPrompt) {
        return forward(new State(c, Math.max(1, tokens.length)), cache, tokens, firstPosition, allLogits, plan, endsPrompt).clone();
    }

    /**
     * As {@link #forward(SequenceKvCache, int[], long, boolean, AttentionPlan, boolean)} with a
     * sequence's preallocated {@code state}. The logits of one row (the last token's, or a single
     * token's) are returned in the state's own buffer, valid until its next forward call; more rows
     * come in a new array.
     *
     * @throws IllegalArgumentException when {@code tokens} is empty or longer than the state's capacity
     */
    public float[] forward(State state, SequenceKvCache cache, int[] tokens, long firstPosition, boolean allLogits,
                           AttentionPlan plan, boolean endsPrompt) {
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(plan, "plan");
        int t = tokens.length;
        if (t == 0) {
            throw new IllegalArgumentException("forward: no tokens");
        }
        if (t > state.capacity) {
            throw new IllegalArgumentException("forward: " + t + " tokens exceed the state's capacity of " + state.capacity);
        }
        int h = c.hiddenSize();
        int ffn = c.intermediateSize();
        float[] x = state.x;
        float[] xn = state.xn;
        float[] q = state.q;
        float[] k = state.k;
        float[] v = state.v;
        float[] att = state.att;
        float[] o = state.o;
        float[] gate = state.gate;
        float[] up = state.up;
        float[] down = state.down;
        long[] positions = t == 1 ? state.position : new long[t];
        float[][] cos = state.cos;
        float[][] sin = state.sin;
        embed(tokens, x);
        // Dynamic NTK RoPE depends on the sequence length; transformers takes the length reached by
        // the whole forward call for every token in it, and so does this chunk.
        int seqLen = (int) Math.min(Integer.MAX_VALUE, firstPosition + t);
        for (int i = 0; i < t; i++) {
            positions[i] = firstPosition + i;
            rope.cosSin(positions[i], seqLen, cos[i], sin[i]);
        }
        float scale = (float) c.attentionScale();
        float softCap = (float) c.options().attnLogitSoftcap();
        for (int l = 0; l < c.layers(); l++) {
            ModelWeights.Layer y = w.layers()[l];
            normRows(x, 0, t, y.attnNorm(), xn);
            if (t == 1) { // decode: one pool dispatch for Q, K and V
                ops.matvecs(qkv[l], xn, 0, state.qkvOut);
                addBias(q, y.bq(), 1);
                addBias(k, y.bk(), 1);
                addBias(v, y.bv(), 1);
            } else {
                MatmulInput attnIn = ops.matmulInput(xn, t, h); // shared by Q, K and V: transposed once
                project(y.wq(), attnIn, q, y.bq());
                project(y.wk(), attnIn, k, y.bk());
                project(y.wv(), attnIn, v, y.bv());
            }
            rotateAndAppend(cache, l, y, q, k, v, t, cos, sin, positions);
            plan.kernel(l, t).attend(problem(state, cache, l, positions, scale, softCap, plan.mask(l, masks[l])), att, null,
                    plan.observer(cache, l, t, endsPrompt));
            plan.afterAttention(cache, l, t, endsPrompt);
            project(y.wo(), att, t, o, null);
            normRows(o, t, y.postAttnNorm());
            ops.add(x, 0, o, 0, x, 0, t * h);
            normRows(x, 0, t, y.ffnNorm(), xn);
            if (t == 1) {
                ops.matvecs(gateUp[l], xn, 0, state.gateUpOut);
            } else {
                MatmulInput ffnIn = ops.matmulInput(xn, t, h); // shared by gate and up
                project(y.gate(), ffnIn, gate, null);
                project(y.up(), ffnIn, up, null);
            }
            switch (c.options().activation()) {
                case SILU -> ops.silu(gate, 0, t * ffn);
                case GELU_TANH -> ops.gelu(gate, 0, t * ffn);
            }
            ops.mul(gate, 0, up, 0, gate, 0, t * ffn);
            project(y.down(), gate, t, down, null);
            normRows(down, t, y.postFfnNorm());
            ops.add(x, 0, down, 0, x, 0, t * h);
        }
        int from = allLogits ? 0 : t - 1;
        int rows = t - from;
        float[] last = rows == 1 ? state.last : new float[rows * h];
        normRows(x, from, rows, w.outputNorm(), last);
        float[] logits = rows == 1 ? state.logits : new float[rows * c.vocabSize()];
        project(w.output(), last, rows, logits, null);
        float cap = (float) c.options().finalLogitSoftcap();
        if (cap > 0) {
            for (int i = 0; i < logits.length; i++) { // as transformers: (logits / cap).tanh() * cap, in float32
                logits[i] = (float) Math.tanh(logits[i] / cap) * cap;
            }
        }
        return logits;
    }

    /**
     * The attention problem of layer {@code l}: a decode step's is made once per state and layer and
     * kept (its arrays are the state's, its views the cache's shared ones); a chunk's is new.
     */
    private AttentionProblem problem(State state, SequenceKvCache cache, int l, long[] positions, float scale, float softCap,
                                     AttentionMask mask) {
        KvView[] views = cache.sharedViews(l);
        if (positions.length != 1) {
            return new AttentionProblem(state.q, 0, positions.length, c.heads(), views, positions, scale, softCap, mask);
        }
        AttentionProblem p = state.decodeProblems[l];
        if (p == null || p.kv() != views || p.mask() != mask) {
            p = new AttentionProblem(state.q, 0, 1, c.heads(), views, positions, scale, softCap, mask);
            state.decodeProblems[l] = p;
        }
        return p;
    }

    /** The token embeddings of a chunk into {@code x} ({@code [tokens][hidden]}), scaled by sqrt(hidden) for Gemma 2. */
    private void embed(int[] tokens, float[] x) {
        int h = c.hiddenSize();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[i] + " outside the vocabulary of " + c.vocabSize());
            }
            ops.kernels().dequantize(w.tokenEmbedding().dtype(), w.tokenEmbedding().segment(),
                    tokens[i] * w.tokenEmbedding().rowBytes(), x, i * h, h);
        }
        if (c.architecture() == ModelConfig.Architecture.GEMMA2) {
            // transformers' Gemma2Model: the normaliser sqrt(hidden) is a tensor of the hidden dtype (float32)
            ops.scale(x, 0, tokens.length * h, (float) Math.sqrt(h));
        }
    }

    /** RMSNorm of each of {@code tokens} rows of {@code [tokens][hidden]} in place, when {@code weight} is present. */
    private void normRows(float[] rows, int tokens, float[] weight) {
        if (weight == null) {
            return;
        }
        normRows(rows, 0, tokens, weight, rows);
    }

    /**
     * RMSNorm of {@code tokens} hidden-size rows of {@code in}, from row {@code first}, into rows
     * {@code 0..tokens} of {@code out}.
     */
    private void normRows(float[] in, int first, int tokens, float[] weight, float[] out) {
        int h = c.hiddenSize();
        float eps = (float) c.rmsNormEps();
        for (int i = 0; i < tokens; i++) {
            ops.rmsnorm(in, (first + i) * h, weight, 0, eps, out, i * h, h);
        }
    }

    /**
     * Per token of a chunk: Q/K norms where the model has them (Qwen3), RoPE on every query and key
     * head, and the token's keys and values appended to layer {@code l}'s cache. Its own method,
     * not a loop inside {@link #forward}: there the loop ran long enough for C2 to compile forward
     * on stack (OSR), and that code deoptimised again and again at the attention call (a type
     * check), each time falling back to the interpreter for the rest of the chunk.
     */
    private void rotateAndAppend(SequenceKvCache cache, int l, ModelWeights.Layer y, float[] q, float[] k, float[] v,
                                 int t, float[][] cos, float[][] sin, long[] positions) {
        int hd = c.headDim();
        int qDim = c.heads() * hd;
        int kvDim = c.kvHeads() * hd;
        float eps = (float) c.rmsNormEps();
        for (int i = 0; i < t; i++) {
            for (int hh = 0; hh < c.heads(); hh++) {
                int off = i * qDim + hh * hd;
                if (y.qNorm() != null) {
                    ops.rmsnorm(q, off, y.qNorm(), 0, eps, q, off, hd);
                }
                rope.apply(q, off, cos[i], sin[i], w.pairing());
            }
            for (int hh = 0; hh < c.kvHeads(); hh++) {
                int off = i * kvDim + hh * hd;
                if (y.kNorm() != null) {
                    ops.rmsnorm(k, off, y.kNorm(), 0, eps, k, off, hd);
                }
                rope.apply(k, off, cos[i], sin[i], w.pairing());
            }
            cache.append(l, k, i * kvDim, v, i * kvDim, positions[i]);
        }
    }

    /** out[t][rows of w] = w . in[t] (+ bias), through matvec for one token and matmul for more. */
    private void project(Tensor weight, float[] in, int tokens, float[] out, float[] bias) {
        if (tokens == 1) {
            ops.matvec(weight, in, 0, out, 0);
            addBias(out, bias, 1);
            return;
        }
        project(weight, ops.matmulInput(in, tokens, (int) weight.columns()), out, bias);
    }

    private void project(Tensor weight, MatmulInput in, float[] out, float[] bias) {
        int rows = (int) weight.rows();
        int tokens = in.tokens();
        if (tokens == 1) {
            ops.matvec(weight, in.x(), 0, out, 0);
        } else {
            ops.matmul(weight, in, out);
        }
        addBias(out, bias, tokens);
    }

    private void addBias(float[] out, float[] bias, int tokens) {
        if (bias != null) {
            for (int t = 0; t < tokens; t++) {
                ops.add(out, t * bias.length, bias, 0, out, t * bias.length, bias.length);
            }
        }
    }
}
