package dev.longctx.models.decoder;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.spi.MatmulInput;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopeScaling;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import java.util.Objects;

/**
 * The forward pass of every supported family (Llama 2/3, Mistral, Qwen2/2.5, Qwen3, Phi-3,
 * Gemma 2 and 3, SmolLM3, Granite, OLMo 2), read top to bottom: a chunk of tokens goes through
 * every layer as matrix-matrix products, with keys and values appended to the sequence's paged KV
 * cache and exact tiled attention over it (a sliding layer's pages that fall out of its window
 * return to the pool when the plan allows it); logits are computed only for the rows asked for.
 * Prefilling in one chunk, in several or token by token gives the same logits up to rounding
 * (dynamic NTK RoPE aside: like transformers it picks its frequencies from the length reached by
 * the chunk).
 *
 * <p>The families differ only in what {@link ModelWeights} holds (fused projections are already
 * cut, Gemma's {@code 1 + w} norms already added) and in {@link ModelConfig.FamilyOptions}:
 * pre-norms of attention and FFN (all but OLMo 2), an optional q/k RMSNorm before RoPE (per head:
 * Qwen3, Gemma 3; over the whole projection: OLMo 2), optional norms on the attention and FFN
 * outputs before each residual add (Gemma 2 and 3, OLMo 2), the embedding scale ({@code sqrt(hidden)}
 * for Gemma, Granite's multiplier), the attention scale, Granite's residual multiplier and logits
 * divisor, attention and final logit soft-capping, per-layer sliding windows, per-layer RoPE (a
 * base of its own for Gemma 3's sliding layers, none on SmolLM3's no-RoPE layers) and the FFN
 * activation.
 */
public final class Decoder {
    private final ModelWeights w;
    private final ModelConfig c;
    private final TensorOps ops;
    /** The global RoPE, then (Gemma 3) the sliding layers' own; {@link #ropeOfLayer} indexes it. */
    private final Rope[] ropes;
    /** Per layer: its index in {@link #ropes}, or -1 for a layer without RoPE (SmolLM3). */
    private final int[] ropeOfLayer;
    private final AttentionPlan exact;
    /** Per layer: its attention mask (causal, or its sliding window). */
    private final AttentionMask[] masks;
    /** Per layer: Q, K and V weights, one matvecs (or small-batch matmuls) dispatch in decode. */
    private final Tensor[][] qkv;
    /** Per layer: gate and up weights. */
    private final Tensor[][] gateUp;

    /** A decoder over the given weights, kernels and pool. Immutable and thread-safe; the state is per sequence. */
    public Decoder(ModelWeights weights, TensorOps ops) {
        this.w = Objects.requireNonNull(weights, "weights");
        this.c = weights.config();
        this.ops = Objects.requireNonNull(ops, "ops");
        this.ropes = ropes(c);
        this.exact = AttentionPlan.exact(ops);
        int layers = c.layers();
        ropeOfLayer = new int[layers];
        masks = new AttentionMask[layers];
        qkv = new Tensor[layers][];
        gateUp = new Tensor[layers][];
        for (int l = 0; l < layers; l++) {
            ropeOfLayer[l] = !c.usesRope(l) ? -1 : c.usesSlidingRope(l) ? 1 : 0;
            int window = c.slidingWindow(l);
            masks[l] = window > 0 ? AttentionMask.slidingWindow(window, 0) : AttentionMask.CAUSAL;
            ModelWeights.Layer y = w.layers()[l];
            qkv[l] = new Tensor[] {y.wq(), y.wk(), y.wv()};
            gateUp[l] = new Tensor[] {y.gate(), y.up()};
        }
    }

    /**
     * The RoPE tables: the global one (the config's base and scaling), and for a model whose sliding
     * layers have a base of their own (Gemma 3: {@code rope_local_base_freq}), theirs, unscaled as
     * transformers' Gemma3RotaryEmbedding builds the local table ({@code rope_type} default).
     */
    private static Rope[] ropes(ModelConfig c) {
        Rope global = new Rope(c.rotaryDim(), c.headDim(), c.ropeTheta(), c.ropeScaling(), c.maxPositions());
        if (c.options().slidingRopeTheta() <= 0) {
            return new Rope[] {global};
        }
        return new Rope[] {global, new Rope(c.rotaryDim(), c.headDim(), c.options().slidingRopeTheta(),
                RopeScaling.none(), c.maxPositions())};
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
        private final float[] logits;
        /** The decode step's position (attention problems take exactly one position per query row). */
        private final long[] position = new long[1];
        /** Per RoPE table of the model, per row of the chunk: cos and sin of each rotated pair. */
        private final float[][][] cos;
        private final float[][][] sin;
        private final float[][] qkvOut;
        private final float[][] gateUpOut;
        /** Per layer: the decode step's attention problem, kept while its views are the cache's shared ones. */
        private final AttentionProblem[] decodeProblems;
        /** This state's own one-sequence step (a single-sequence forward is a batch of one). */
        private final Step self = new Step();
        private final Step[] selfBatch = {self};
        /** A batched step's logits, {@code [sequences][vocab]}, grown to the most sequences seen. */
        private float[] batchLogits = new float[0];

        /** Whether this state has the stacked-row buffers (x ... down) a step runs in. */
        private final boolean rows;

        private State(ModelConfig c, int capacity, boolean rows) {
            if (capacity <= 0) {
                throw new IllegalArgumentException("decoder state capacity must be positive, got " + capacity);
            }
            this.capacity = capacity;
            this.rows = rows;
            int h = c.hiddenSize();
            int qDim = c.heads() * c.headDim();
            int kvDim = c.kvHeads() * c.headDim();
            int ffn = c.intermediateSize();
            int n = rows ? capacity : 0;
            x = new float[n * h];
            xn = new float[n * h];
            q = new float[n * qDim];
            k = new float[n * kvDim];
            v = new float[n * kvDim];
            att = new float[capacity * qDim];
            o = new float[n * h];
            gate = new float[n * ffn];
            up = new float[n * ffn];
            down = new float[n * h];
            logits = new float[c.vocabSize()];
            int tables = c.options().slidingRopeTheta() > 0 ? 2 : 1;
            cos = new float[tables][capacity][c.rotaryDim() / 2];
            sin = new float[tables][capacity][c.rotaryDim() / 2];
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
        return new State(c, capacity, true);
    }

    /**
     * A sequence's state for {@link #forwardBatch} only: its RoPE rows, attention output, decode
     * problems and logits for chunks of up to {@code capacity} tokens, without the stacked-row
     * buffers the batch state holds (a scheduler keeps one batch state and one of these per
     * sequence: for a SmolLM2-135M shape and 256-token chunks, about 0.8 MB against 7 MB).
     */
    public State newSequenceState(int capacity) {
        return new State(c, capacity, false);
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

    /** The model's global RoPE (for strategies that re-rotate cached keys); {@link #rope(int)} for one layer's. */
    public Rope rope() {
        return ropes[0];
    }

    /** The RoPE of layer {@code layer}, or null where the layer applies none (SmolLM3's no-RoPE layers). */
    public Rope rope(int layer) {
        int r = ropeOfLayer[layer];
        return r < 0 ? null : ropes[r];
    }

    /**
     * As {@link #forward(SequenceKvCache, int[], long, boolean)}, with a long-context strategy's
     * {@code plan} choosing kernels, observers and evictions.
     *
     * @param endsPrompt whether this chunk holds the last prompt tokens (SnapKV observes them)
     */
    public float[] forward(SequenceKvCache cache, int[] tokens, long firstPosition, boolean allLogits, AttentionPlan plan,
                           boolean endsPrompt) {
        return forward(newState(Math.max(1, tokens.length)), cache, tokens, firstPosition, allLogits, plan, endsPrompt).clone();
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
        Step step = state.self.set(state, cache, tokens, firstPosition, plan, endsPrompt, allLogits);
        forwardBatch(state, state.selfBatch, 1);
        float[] logits = step.logits;
        step.clear();
        return logits;
    }

    /**
     * One sequence's part of a batched forward step ({@link #forwardBatch}): its own state (its
     * RoPE rows, decode problems and logits), cache, tokens, first position and plan. Mutable and
     * reusable, so a scheduler allocates none per step; {@link #logits()} holds the result after the
     * step. Threading: owned by the thread that runs the step.
     */
    public static final class Step {
        private State state;
        private SequenceKvCache cache;
        private int[] tokens;
        private long firstPosition;
        private AttentionPlan plan;
        private boolean endsPrompt;
        private boolean allLogits;
        private float[] logits;
        private int rowStart;
        private long[] positions;

        /**
         * Describes this sequence's part of the next step.
         *
         * @param state the sequence's own state (capacity at least {@code tokens.length})
         * @param allLogits every row's logits (else the last row's only)
         * @return this
         */
        public Step set(State state, SequenceKvCache cache, int[] tokens, long firstPosition, AttentionPlan plan,
                        boolean endsPrompt, boolean allLogits) {
            this.state = Objects.requireNonNull(state, "state");
            this.cache = Objects.requireNonNull(cache, "cache");
            this.tokens = Objects.requireNonNull(tokens, "tokens");
            this.plan = Objects.requireNonNull(plan, "plan");
            this.firstPosition = firstPosition;
            this.endsPrompt = endsPrompt;
            this.allLogits = allLogits;
            this.logits = null;
            if (tokens.length == 0) {
                throw new IllegalArgumentException("forward: no tokens");
            }
            if (tokens.length > state.capacity) {
                throw new IllegalArgumentException("forward: " + tokens.length + " tokens exceed the state's capacity of "
                        + state.capacity);
            }
            return this;
        }

        /**
         * The logits the last step produced for this sequence: {@code [rows][vocab]}, every row or
         * the last; one row lives in the sequence state's buffer, valid until its next step.
         */
        public float[] logits() {
            return logits;
        }

        private void clear() {
            cache = null;
            tokens = null;
            plan = null;
            positions = null;
        }
    }

    /**
     * One forward step over several sequences at once (continuous batching): the rows of all
     * {@code steps[0..count)} go through the projections and the FFN as one matrix-matrix product
     * (each weight read once per step, not once per sequence), while RoPE, the KV append and
     * attention run per sequence against its own cache with its own plan. A sequence may bring one
     * decode token or a prefill chunk. Results equal running each sequence alone up to rounding
     * (matmul and matvec sum in different orders). {@code batch} holds the stacked rows and must
     * have capacity for all of them; it may be one of the sequences' own states only when
     * {@code count == 1}.
     *
     * @throws IllegalArgumentException when the rows exceed the batch's capacity
     */
    public void forwardBatch(State batch, Step[] steps, int count) {
        Objects.requireNonNull(batch, "batch");
        if (!batch.rows) {
            throw new IllegalArgumentException("forward: a sequence state (newSequenceState) cannot hold a step's rows; "
                    + "pass a state from newState as the batch");
        }
        int rows = 0;
        for (int i = 0; i < count; i++) {
            Step st = steps[i];
            st.rowStart = rows;
            rows += st.tokens.length;
        }
        if (rows > batch.capacity) {
            throw new IllegalArgumentException("forward: " + rows + " rows exceed the batch state's capacity of " + batch.capacity);
        }
        int h = c.hiddenSize();
        int qDim = c.heads() * c.headDim();
        int ffn = c.intermediateSize();
        for (int i = 0; i < count; i++) {
            prepare(steps[i], batch.x);
        }
        float scale = (float) c.attentionScale();
        float softCap = (float) c.options().attnLogitSoftcap();
        for (int l = 0; l < c.layers(); l++) {
            ModelWeights.Layer y = w.layers()[l];
            normRows(batch.x, 0, rows, y.attnNorm(), batch.xn);
            // Q, K and V in one pool dispatch for a decode step or a small batch of them
            if (rows == 1) {
                ops.matvecs(qkv[l], batch.xn, 0, batch.qkvOut);
            } else {
                ops.matmuls(qkv[l], ops.matmulInput(batch.xn, rows, h), batch.qkvOut); // a prefill transposes once
            }
            addBias(batch.q, y.bq(), rows);
            addBias(batch.k, y.bk(), rows);
            addBias(batch.v, y.bv(), rows);
            int decodes = 0;
            for (int i = 0; i < count; i++) {
                decodes += steps[i].tokens.length == 1 ? 1 : 0;
            }
            if (decodes > 1 && ops.pool().threads() > 1) {
                // Several decode steps: one task per sequence in a single dispatch. Each sequence's
                // attention then runs on one thread (its kernel's own parallelFor runs inline inside
                // a job), with the same task boundaries and so the same bits as alone; at many
                // threads this beats one split-K dispatch per sequence over a few KV heads.
                // Prefill chunks follow with the whole pool. Sequences share only the thread-safe
                // block pool (SequenceKvCache's contract).
                int layer = l;
                ops.pool().parallelFor(count, i -> {
                    if (steps[i].tokens.length == 1) {
                        attendStep(steps[i], layer, y, batch, scale, softCap);
                    }
                });
                for (int i = 0; i < count; i++) {
                    if (steps[i].tokens.length > 1) {
                        attendStep(steps[i], l, y, batch, scale, softCap);
                    }
                }
            } else {
                for (int i = 0; i < count; i++) {
                    attendStep(steps[i], l, y, batch, scale, softCap);
                }
            }
            project(y.wo(), batch.att, rows, batch.o, null);
            normRows(batch.o, rows, y.postAttnNorm());
            residualScale(batch.o, rows * h);
            ops.add(batch.x, 0, batch.o, 0, batch.x, 0, rows * h);
            normRows(batch.x, 0, rows, y.ffnNorm(), batch.xn);
            if (rows == 1) {
                ops.matvecs(gateUp[l], batch.xn, 0, batch.gateUpOut);
            } else {
                ops.matmuls(gateUp[l], ops.matmulInput(batch.xn, rows, h), batch.gateUpOut); // shared by gate and up
            }
            switch (c.options().activation()) {
                case SILU -> ops.silu(batch.gate, 0, rows * ffn);
                case GELU_TANH -> ops.gelu(batch.gate, 0, rows * ffn);
            }
            ops.mul(batch.gate, 0, batch.up, 0, batch.gate, 0, rows * ffn);
            project(y.down(), batch.gate, rows, batch.down, null);
            normRows(batch.down, rows, y.postFfnNorm());
            residualScale(batch.down, rows * h);
            ops.add(batch.x, 0, batch.down, 0, batch.x, 0, rows * h);
        }
        logits(batch, steps, count);
        for (int i = 0; i < count; i++) {
            steps[i].positions = null;
        }
    }

    /**
     * One step's part of a layer's attention: RoPE and the append of its keys and values, its
     * strategy's kernel over its own cache, its rows of the batch's attention output, then the
     * strategy's eviction and the release of out-of-window pages. Touches only the step's own
     * sequence state and cache (and the batch's rows of that step), so steps may run concurrently.
     */
    private void attendStep(Step st, int l, ModelWeights.Layer y, State batch, float scale, float softCap) {
        int qDim = c.heads() * c.headDim();
        int t = st.tokens.length;
        int r = ropeOfLayer[l];
        rotateAndAppend(st.cache, l, y, batch.q, batch.k, batch.v, st.rowStart, t, r < 0 ? null : ropes[r],
                r < 0 ? null : st.state.cos[r], r < 0 ? null : st.state.sin[r], st.positions);
        // The kernel writes its rows from index 0: into the batch directly for a batch of one,
        // else into the sequence's own buffer, then copied to its rows of the batch.
        float[] out = st.state == batch ? batch.att : st.state.att;
        st.plan.kernel(st.cache, l, t).attend(problem(st, batch.q, l, scale, softCap), out, null,
                st.plan.observer(st.cache, l, t, st.endsPrompt));
        if (out != batch.att) {
            System.arraycopy(out, 0, batch.att, st.rowStart * qDim, t * qDim);
        }
        st.plan.afterAttention(st.cache, l, t, st.endsPrompt);
        releaseOutOfWindow(st, l, t);
    }

    /**
     * Returns the pages of a sliding layer that its next query can no longer see to the pool, when
     * the plan allows it and the layer attends through its own window: the next query, at position
     * {@code first + t}, sees positions above {@code first + t - window}.
     */
    private void releaseOutOfWindow(Step st, int l, int t) {
        int window = c.slidingWindow(l);
        if (window > 0 && st.plan.releasesOutOfWindowPages() && st.plan.mask(l, masks[l]) == masks[l]) {
            st.cache.releaseBefore(l, st.firstPosition + t + 1 - window);
        }
    }

    /** A step's embeddings into its rows of {@code x}, its positions and RoPE rows. */
    private void prepare(Step st, float[] x) {
        int t = st.tokens.length;
        embed(st.tokens, x, st.rowStart);
        st.positions = t == 1 ? st.state.position : new long[t];
        // Dynamic NTK RoPE depends on the sequence length; transformers takes the length reached by
        // the whole forward call for every token in it, and so does this chunk.
        int seqLen = (int) Math.min(Integer.MAX_VALUE, st.firstPosition + t);
        for (int i = 0; i < t; i++) {
            st.positions[i] = st.firstPosition + i;
            for (int r = 0; r < ropes.length; r++) {
                ropes[r].cosSin(st.positions[i], seqLen, st.state.cos[r][i], st.state.sin[r][i]);
            }
        }
    }

    /**
     * Every step's logits: the steps that want only their last row share one output projection
     * (one read of the largest matrix for the whole batch); a step that wants every row gets its
     * own array.
     */
    private void logits(State batch, Step[] steps, int count) {
        int h = c.hiddenSize();
        int vocab = c.vocabSize();
        int lastRows = 0;
        for (int i = 0; i < count; i++) {
            Step st = steps[i];
            int t = st.tokens.length;
            if (st.allLogits && t > 1) {
                float[] rowsIn = new float[t * h];
                normRows(batch.x, st.rowStart, t, w.outputNorm(), rowsIn);
                st.logits = new float[t * vocab];
                project(w.output(), rowsIn, t, st.logits, null);
                softCap(st.logits, st.logits.length);
            } else {
                // gather the last rows, normalised, into xn (free after the last layer)
                normRows(batch.x, st.rowStart + t - 1, 1, w.outputNorm(), batch.xn, lastRows);
                lastRows++;
            }
        }
        if (lastRows == 0) {
            return;
        }
        float[] out;
        if (lastRows == 1) {
            out = null;
        } else {
            if (batch.batchLogits.length < lastRows * vocab) {
                batch.batchLogits = new float[lastRows * vocab];
            }
            out = batch.batchLogits;
            project(w.output(), batch.xn, lastRows, out, null);
        }
        int r = 0;
        for (int i = 0; i < count; i++) {
            Step st = steps[i];
            if (st.allLogits && st.tokens.length > 1) {
                continue;
            }
            float[] row = st.state.logits;
            if (out == null) {
                ops.matvec(w.output(), batch.xn, 0, row, 0);
            } else {
                System.arraycopy(out, r * vocab, row, 0, vocab);
            }
            softCap(row, vocab);
            st.logits = row;
            r++;
        }
    }

    /**
     * The last touches to output logits: Granite's division by {@code logits_scaling}, then final
     * soft-capping where the model has it (Gemma 2): as transformers, (logits / cap).tanh() * cap in
     * float32.
     */
    private void softCap(float[] logits, int n) {
        float divisor = (float) c.options().multipliers().logitsDivisor();
        if (divisor != 1f) {
            for (int i = 0; i < n; i++) {
                logits[i] = logits[i] / divisor;
            }
        }
        float cap = (float) c.options().finalLogitSoftcap();
        if (cap > 0) {
            for (int i = 0; i < n; i++) {
                logits[i] = (float) Math.tanh(logits[i] / cap) * cap;
            }
        }
    }

    /**
     * The attention problem of a step's rows at layer {@code l}: a decode row's is made once per
     * sequence state and layer and kept while its queries (array and offset), views and mask stay
     * the same (a steady batch); a chunk's is new.
     */
    private AttentionProblem problem(Step st, float[] q, int l, float scale, float softCap) {
        KvView[] views = st.cache.sharedViews(l);
        AttentionMask mask = st.plan.mask(l, masks[l]);
        int t = st.tokens.length;
        int offset = st.rowStart * c.heads() * c.headDim();
        if (t != 1) {
            return new AttentionProblem(q, offset, t, c.heads(), views, st.positions, scale, softCap, mask);
        }
        AttentionProblem p = st.state.decodeProblems[l];
        if (p == null || p.kv() != views || p.mask() != mask || p.queries() != q || p.queryOffset() != offset) {
            p = new AttentionProblem(q, offset, 1, c.heads(), views, st.positions, scale, softCap, mask);
            st.state.decodeProblems[l] = p;
        }
        return p;
    }

    /**
     * The token embeddings of a chunk into rows {@code row0...} of {@code x}, scaled by
     * {@link ModelConfig#embeddingScale()} (Gemma's sqrt(hidden), Granite's multiplier).
     */
    private void embed(int[] tokens, float[] x, int row0) {
        int h = c.hiddenSize();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[i] + " outside the vocabulary of " + c.vocabSize());
            }
            ops.kernels().dequantize(w.tokenEmbedding().dtype(), w.tokenEmbedding().segment(),
                    tokens[i] * w.tokenEmbedding().rowBytes(), x, (row0 + i) * h, h);
        }
        double scale = c.embeddingScale();
        if (scale != 1) {
            // transformers' Gemma2Model / Gemma3TextScaledWordEmbedding: the normaliser sqrt(hidden) is
            // a tensor of the hidden dtype (float32); GraniteModel multiplies by its float multiplier
            ops.scale(x, row0 * h, tokens.length * h, (float) scale);
        }
    }

    /** Granite's {@code residual_multiplier} on an attention or FFN output before its residual add. */
    private void residualScale(float[] out, int n) {
        float m = (float) c.options().multipliers().residual();
        if (m != 1f) {
            ops.scale(out, 0, n, m);
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
        normRows(in, first, tokens, weight, out, 0);
    }

    /**
     * As {@link #normRows(float[], int, int, float[], float[])}, into rows {@code outRow...} of
     * {@code out}; without a {@code weight} (OLMo 2 has no pre-norms) the rows are copied as they are.
     */
    private void normRows(float[] in, int first, int tokens, float[] weight, float[] out, int outRow) {
        int h = c.hiddenSize();
        if (weight == null) {
            System.arraycopy(in, first * h, out, outRow * h, tokens * h);
            return;
        }
        float eps = (float) c.rmsNormEps();
        for (int i = 0; i < tokens; i++) {
            ops.rmsnorm(in, (first + i) * h, weight, 0, eps, out, (outRow + i) * h, h);
        }
    }

    /**
     * Per token of a chunk: Q/K norms where the model has them (per head: Qwen3, Gemma 3; over the
     * whole projection: OLMo 2), RoPE on every query and key head where the layer has it
     * ({@code rope} null: none), and the token's keys and values appended to layer {@code l}'s
     * cache. Its own method, not a loop inside {@link #forward}: there the loop ran long enough for
     * C2 to compile forward on stack (OSR), and that code deoptimised again and again at the
     * attention call (a type check), each time falling back to the interpreter for the rest of the
     * chunk.
     */
    private void rotateAndAppend(SequenceKvCache cache, int l, ModelWeights.Layer y, float[] q, float[] k, float[] v,
                                 int row0, int t, Rope rope, float[][] cos, float[][] sin, long[] positions) {
        int hd = c.headDim();
        int qDim = c.heads() * hd;
        int kvDim = c.kvHeads() * hd;
        float eps = (float) c.rmsNormEps();
        // OLMo 2's norms span the whole projection (ModelWeights checked their lengths)
        boolean wholeQ = y.qNorm() != null && y.qNorm().length == qDim && qDim != hd;
        boolean wholeK = y.kNorm() != null && y.kNorm().length == kvDim && kvDim != hd;
        for (int i = 0; i < t; i++) {
            int qRow = (row0 + i) * qDim;
            int kRow = (row0 + i) * kvDim;
            if (wholeQ) {
                ops.rmsnorm(q, qRow, y.qNorm(), 0, eps, q, qRow, qDim);
            }
            if (wholeK) {
                ops.rmsnorm(k, kRow, y.kNorm(), 0, eps, k, kRow, kvDim);
            }
            for (int hh = 0; hh < c.heads(); hh++) {
                int off = qRow + hh * hd;
                if (y.qNorm() != null && !wholeQ) {
                    ops.rmsnorm(q, off, y.qNorm(), 0, eps, q, off, hd);
                }
                if (rope != null) {
                    rope.apply(q, off, cos[i], sin[i], w.pairing());
                }
            }
            for (int hh = 0; hh < c.kvHeads(); hh++) {
                int off = kRow + hh * hd;
                if (y.kNorm() != null && !wholeK) {
                    ops.rmsnorm(k, off, y.kNorm(), 0, eps, k, off, hd);
                }
                if (rope != null) {
                    rope.apply(k, off, cos[i], sin[i], w.pairing());
                }
            }
            cache.append(l, k, kRow, v, kRow, positions[i]);
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
