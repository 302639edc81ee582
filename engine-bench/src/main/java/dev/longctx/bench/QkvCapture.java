package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.decoder.ModelWeights;
import java.util.Arrays;

/**
 * The post-RoPE queries, keys and values one layer of a real model computes on a prompt: the
 * prompt is prefilled in chunks with exact attention (tiled), a spy kernel copies each chunk's
 * queries of the chosen layers by position, and the F32 cache then holds the keys and values.
 * For the prefill-kernel benchmark ({@link PrefillKernelsBench}), which replays the captured
 * attention problem with every kernel. Not thread-safe (one capture at a time).
 *
 * @param q {@code [layer index][n][Hq][D]}
 * @param k {@code [layer index][Hkv][n][D]}
 * @param v {@code [layer index][Hkv][n][D]}
 */
public record QkvCapture(int[] layers, int n, int queryHeads, int kvHeads, int headDim, float[][] q, float[][][] k,
                         float[][][] v) {

    /** Tokens per prefill chunk of the capture (the session's default order of magnitude). */
    static final int CHUNK = 512;

    /** Prefills {@code prompt} through the model in chunks of 512 and returns the chosen layers' Q, K and V. */
    public static QkvCapture run(ModelWeights weights, TensorOps ops, int[] prompt, int[] layers) {
        return run(weights, ops, prompt, layers, CHUNK);
    }

    /** As {@link #run(ModelWeights, TensorOps, int[], int[])} with chunks of {@code chunk} tokens. */
    public static QkvCapture run(ModelWeights weights, TensorOps ops, int[] prompt, int[] layers, int chunk) {
        if (chunk < 1 || prompt.length == 0) {
            throw new IllegalArgumentException("capture: need a non-empty prompt and chunk >= 1, got " + prompt.length
                    + " tokens, chunk " + chunk);
        }
        ModelConfig c = weights.config();
        for (int l : layers) {
            if (l < 0 || l >= c.layers()) {
                throw new IllegalArgumentException("capture: layer " + l + " outside [0, " + c.layers() + ")");
            }
        }
        int n = prompt.length;
        int hq = c.heads();
        int hkv = c.kvHeads();
        int d = c.headDim();
        KvLayout layout = new KvLayout(c.layers(), hkv, d, KvLayout.DEFAULT_PAGE_SIZE, DType.F32);
        long pagesPerHead = (n + layout.pageSize() - 1) / layout.pageSize() + 1;
        float[][] q = new float[layers.length][];
        for (int i = 0; i < layers.length; i++) {
            q[i] = new float[Math.multiplyExact(n, hq * d)];
        }
        AttentionPlan exact = AttentionPlan.exact(ops);
        AttentionPlan spy = (layer, rows) -> {
            AttentionKernel inner = exact.kernel(layer, rows);
            int li = indexOf(layers, layer);
            if (li < 0) {
                return inner;
            }
            return new AttentionKernel() {
                @Override
                public String name() {
                    return "capture(" + inner.name() + ")";
                }

                @Override
                public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
                    for (int r = 0; r < p.queryRows(); r++) {
                        int pos = (int) p.queryPositions()[r];
                        System.arraycopy(p.queries(), p.queryIndex(r, 0), q[li], pos * hq * d, hq * d);
                    }
                    inner.attend(p, out, lse, observer);
                }
            };
        };
        float[][][] k = new float[layers.length][hkv][];
        float[][][] v = new float[layers.length][hkv][];
        Decoder decoder = new Decoder(weights, ops);
        try (BlockPool pool = new BlockPool(layout, pagesPerHead * c.layers() * hkv * BlockPool.pageBytes(layout));
                SequenceKvCache cache = SequenceKvCache.create(pool)) {
            for (int at = 0; at < n; at += chunk) {
                int[] part = Arrays.copyOfRange(prompt, at, Math.min(n, at + chunk));
                decoder.forward(cache, part, at, false, spy, at + part.length == n);
            }
            for (int i = 0; i < layers.length; i++) {
                KvView[] views = cache.views(layers[i]);
                for (int h = 0; h < hkv; h++) {
                    k[i][h] = dense(views[h], n, true);
                    v[i][h] = dense(views[h], n, false);
                }
            }
        }
        return new QkvCapture(layers.clone(), n, hq, hkv, d, q, k, v);
    }

    private static int indexOf(int[] a, int x) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == x) {
                return i;
            }
        }
        return -1;
    }

    /** A view's F32 keys or values placed by position ({@code [n][D]}). */
    private static float[] dense(KvView view, int n, boolean keys) {
        int d = view.headDim();
        float[] out = new float[n * d];
        for (int p = 0; p < view.pageCount(); p++) {
            for (int s = 0; s < view.pageLength(p); s++) {
                int pos = (int) view.position(p, s);
                java.lang.foreign.MemorySegment seg = keys ? view.keys(p) : view.values(p);
                java.lang.foreign.MemorySegment.copy(seg, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
                        s * view.rowBytes(), out, pos * d, d);
            }
        }
        return out;
    }

    /** The first {@code m} tokens of layer index {@code li} as a causal problem over F32 pages of {@code pageSize}. */
    public AttentionProblem prefix(int li, int m, int pageSize) {
        if (m > n) {
            throw new IllegalArgumentException("capture: " + m + " tokens asked, " + n + " captured");
        }
        KvView[] views = new KvView[kvHeads];
        int d = headDim;
        for (int h = 0; h < kvHeads; h++) {
            views[h] = dev.longctx.attention.DenseKvView.of(Arrays.copyOf(k[li][h], m * d), Arrays.copyOf(v[li][h], m * d),
                    d, DType.F32, pageSize);
        }
        return AttentionProblem.causal(Arrays.copyOf(q[li], m * queryHeads * d), m, queryHeads, views);
    }
}
