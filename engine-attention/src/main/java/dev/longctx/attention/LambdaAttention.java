package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.kernels.spi.Quantization;
import java.util.Objects;

/**
 * LM-Infinite (Han et al., 2024, "LM-Infinite: Zero-Shot Extreme Length Generalization"): a
 * Lambda-shaped mask (the first {@code globalTokens} positions plus the last {@code localWindow})
 * with the distance cap of the paper: inside the local branch a key is attended at its true
 * distance; a global key further away than {@code localWindow} is attended as if it were exactly
 * {@code localWindow} away.
 *
 * <p>Keys are cached after RoPE at their own positions, so the capped logit is computed by rotating
 * the query instead: {@code q} rotated at {@code qPos} is rotated further by
 * {@code kPos + localWindow - qPos} (a pure rotation, {@link Rope#rotateBy}), which makes
 * {@code q'.k} depend on the capped distance only. The local branch runs on
 * {@link TiledAttention} with a sliding-window mask (masked pages skipped); the far global keys are
 * few and scored directly; the two partial states merge exactly ({@link PartialState}).
 *
 * <p>Complexity O(Lq * Hq * (localWindow + globalTokens) * D). The problem's mask must be
 * {@link AttentionMask#CAUSAL}; the kernel supplies the window. It does not report probabilities
 * to an observer (the policies that need them use the exact kernels).
 */
public final class LambdaAttention implements AttentionKernel {

    /**
     * @param globalTokens positions {@code 0..globalTokens-1} stay visible (paper default 10)
     * @param localWindow the local branch and the distance cap (paper default 4096, the
     *     pre-training length of the models it was shown on)
     */
    public record Config(int globalTokens, long localWindow) {
        /** The paper's defaults: 10 global tokens, a 4096-token local branch. */
        public static final Config DEFAULT = new Config(10, 4096);

        public Config {
            if (globalTokens < 0) {
                throw new IllegalArgumentException("LM-Infinite: globalTokens must be >= 0, got " + globalTokens);
            }
            if (localWindow < 1) {
                throw new IllegalArgumentException("LM-Infinite: localWindow must be >= 1, got " + localWindow);
            }
        }
    }

    private final TensorOps ops;
    private final TiledAttention local;
    private final Rope rope;
    private final RopePairing pairing;
    private final Config config;

    /**
     * @param ops kernels and pool
     * @param rope the model's RoPE (its inverse frequencies rotate the queries)
     * @param pairing how the model's heads pair dimensions
     * @param config the Lambda shape
     */
    public LambdaAttention(TensorOps ops, Rope rope, RopePairing pairing, Config config) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.local = new TiledAttention(ops);
        this.rope = Objects.requireNonNull(rope, "rope");
        this.pairing = Objects.requireNonNull(pairing, "pairing");
        this.config = Objects.requireNonNull(config, "config");
    }

    @Override
    public String name() {
        return "lm-infinite";
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        if (observer != null) {
            throw new UnsupportedOperationException("LM-Infinite does not report attention probabilities");
        }
        if (!p.mask().equals(AttentionMask.CAUSAL)) {
            throw new IllegalArgumentException("LM-Infinite: the problem's mask must be CAUSAL (the kernel applies the "
                    + "Lambda shape itself), got " + p.mask());
        }
        if (rope.headDim() != p.headDim()) {
            throw new IllegalArgumentException("LM-Infinite: RoPE head dim " + rope.headDim() + " != attention head dim "
                    + p.headDim());
        }
        int rows = p.queryRows() * p.queryHeads();
        float[] localLse = new float[rows];
        AttentionProblem localProblem = new AttentionProblem(p.queries(), p.queryOffset(), p.queryRows(), p.queryHeads(),
                p.kv(), p.queryPositions(), p.scale(), p.softCap(), AttentionMask.slidingWindow(config.localWindow(), 0));
        local.attend(localProblem, out, localLse, null);
        int d = p.headDim();
        int g = p.groupSize();
        ops.pool().parallelFor(p.queryHeads(), h -> {
            KvView view = p.kv()[h / g];
            float[] qr = new float[d];
            float[] key = new float[d];
            float[] val = new float[d];
            float[] acc = new float[d];
            for (int i = 0; i < p.queryRows(); i++) {
                long qPos = p.queryPositions()[i];
                float max = Float.NEGATIVE_INFINITY;
                float sum = 0f;
                java.util.Arrays.fill(acc, 0f);
                // The global keys sit at the start of the view (positions increase along it).
                scan:
                for (int page = 0; page < view.pageCount(); page++) {
                    for (int slot = 0; slot < view.pageLength(page); slot++) {
                        long kPos = view.position(page, slot);
                        if (kPos >= config.globalTokens()) {
                            break scan;
                        }
                        if (!view.isValid(page, slot) || kPos > qPos || qPos - kPos < config.localWindow()) {
                            continue; // masked, or already attended at its true distance by the local branch
                        }
                        System.arraycopy(p.queries(), p.queryIndex(i, h), qr, 0, d);
                        rope.rotateBy(qr, 0, 1, kPos + config.localWindow() - qPos, pairing);
                        Quantization.dequantize(view.dtype(), view.keys(page), slot * view.rowBytes(), key, 0, d);
                        float logit = p.scale() * ops.kernels().dot(qr, 0, key, 0, d);
                        if (p.softCap() > 0) {
                            logit = p.softCap() * (float) Math.tanh(logit / p.softCap());
                        }
                        // Online softmax over the few far global keys.
                        float mNew = Math.max(max, logit);
                        float corr = max == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(max - mNew);
                        float e = (float) Math.exp(logit - mNew);
                        ops.kernels().scale(acc, 0, d, corr);
                        Quantization.dequantize(view.dtype(), view.values(page), slot * view.rowBytes(), val, 0, d);
                        ops.kernels().axpy(e, val, 0, acc, 0, d);
                        sum = sum * corr + e;
                        max = mNew;
                    }
                }
                if (sum == 0f) {
                    continue;
                }
                ops.kernels().scale(acc, 0, d, 1f / sum);
                int r = i * p.queryHeads() + h;
                localLse[r] = PartialState.merge(out, r * d, localLse[r], acc, 0, max + (float) Math.log(sum), d);
            }
        });
        if (lse != null) {
            System.arraycopy(localLse, 0, lse, 0, rows);
        }
    }
}
