package dev.longctx.bench;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.BlockMask;
import dev.longctx.attention.BlockMaskEstimator;
import dev.longctx.attention.BlockSparseAttention;
import dev.longctx.attention.HipEstimator;
import dev.longctx.attention.HipTokenAttention;
import dev.longctx.attention.HipTokenSelection;
import dev.longctx.attention.HyperAttention;
import dev.longctx.attention.KvView;
import dev.longctx.attention.MInferenceEstimators;
import dev.longctx.attention.SqueezedAttention;
import dev.longctx.attention.SqueezedIndex;
import dev.longctx.attention.TiledAttention;
import dev.longctx.bench.ruler.FillerPool;
import dev.longctx.bench.ruler.RandomSource;
import dev.longctx.bench.ruler.RulerGenerator;
import dev.longctx.bench.ruler.RulerSpec;
import dev.longctx.bench.ruler.TaskInstance;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.models.Model;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Prefill attention time and output error of the sparse prefill kernels against the tiled exact
 * kernel, on queries, keys and values captured from a real model's forward pass
 * ({@link QkvCapture}; by default the retrieval model on a {@code niah_single} instance): for each
 * length, the causal prefill of the first n tokens of one layer is run by tiled exact,
 * MInference's vertical-slash and top-k-blocks estimators with the block-sparse kernel, HiP with
 * the same kernel, HiP at token granularity ({@link HipTokenAttention}), and HyperAttention; Squeezed Attention answers the last {@code --chunk} queries
 * against the n - chunk tokens before them clustered offline, compared with tiled exact on the
 * same chunk problem. Error: relative Frobenius {@code ||o - o_exact|| / ||o_exact||} and the
 * maximum absolute difference, over all rows and heads. Time: the minimum of {@code --reps} runs
 * (estimation included). Wall-clock numbers, so run it on a quiet machine and report the load.
 */
@Command(name = "bench-prefill-kernels", mixinStandardHelpOptions = true,
        description = "Sparse prefill kernels (HiP, HyperAttention, Squeezed, MInference) vs tiled exact on captured Q/K/V")
public final class PrefillKernelsBench implements Callable<Integer> {

    @Option(names = "--model", defaultValue = "tools/retrieval-model/model/retrieval-16k.gguf", description = "model (default ${DEFAULT-VALUE})")
    Path model;

    @Option(names = "--lengths", split = ",", defaultValue = "8192,16384,32768", description = "prefill lengths")
    int[] lengths;

    @Option(names = "--layers", split = ",", defaultValue = "7", description = "layers whose attention is replayed")
    int[] layers;

    @Option(names = "--reps", defaultValue = "3", description = "timed runs per cell; the minimum is reported")
    int reps;

    @Option(names = "--threads", defaultValue = "2", description = "compute threads")
    int threads;

    @Option(names = "--chunk", defaultValue = "512", description = "Squeezed: new queries against the fixed context")
    int chunk;

    @Option(names = "--clusters-per", defaultValue = "32", description = "Squeezed: one cluster per this many fixed keys")
    int clustersPer;

    @Option(names = "--keep", defaultValue = "0.1", description = "Squeezed: fraction of the fixed keys each query attends")
    double keep;

    @Option(names = "--capture-tokens", defaultValue = "16384", description = "tokens of the captured instance(s); longer lengths"
            + " use a second capture of the longest length")
    int captureTokens;

    @Option(names = "--hip-k", split = ",", defaultValue = "512", description = "HiP top-k tokens to run (the paper's 512 first)")
    int[] hipK;

    @Option(names = "--hip-sampled-k", split = ",",
            description = "HiP with sampled representatives (HipEstimator.Representative.SAMPLED, 'hip-max3 k=...'):"
                    + " top-k tokens to run (none unless given)")
    int[] hipSampledK = {};

    @Option(names = "--hip-mean-k", split = ",",
            description = "HiP with mean representatives (HipEstimator.Representative.MEAN, 'hip-mean k=...'): top-k tokens")
    int[] hipMeanK = {};

    @Option(names = "--hip-bound-k", split = ",",
            description = "HiP with Quest-bound representatives (HipEstimator.Representative.BOUND, 'hip-bound k=...'): top-k tokens")
    int[] hipBoundK = {};

    @Option(names = "--no-baselines", description = "skip vertical-slash and top-k blocks (tiled exact still runs)")
    boolean noBaselines;

    @Option(names = "--hip-token-k", split = ",", defaultValue = "512",
            description = "HiP at token granularity (HipTokenAttention, b_k = 2, b_q = 32): top-k tokens to run; 0: none")
    int[] hipTokenK;

    @Option(names = "--hip-token-stride", split = ",", defaultValue = "1",
            description = "HiP token-level: query strides b_sq to run for each k (1: every row of a block scores)")
    int[] hipTokenStride;

    @Option(names = "--hip-token-center", description = "HiP token-level: also run the middle-block representative")
    boolean hipTokenCenter;

    @Option(names = "--hip-token-exhaustive", description = "HiP token-level: also run the exhaustive diagnostic (every"
            + " block scored, the k best kept; not HiP, quadratic) at each k")
    boolean hipTokenExhaustive;

    @Option(names = "--no-hyper", description = "skip HyperAttention")
    boolean noHyper;

    @Option(names = "--no-squeezed", description = "skip Squeezed Attention (its offline k-means takes seconds per layer)")
    boolean noSqueezed;

    @Option(names = "--squeezed-only", description = "run only the Squeezed cells (and their tiled reference)")
    boolean squeezedOnly;

    @Option(names = "--seed", defaultValue = "7", description = "task instance seed")
    long seed;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new PrefillKernelsBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        try (ComputePool pool = ComputePool.create(threads); Model m = Model.open(model)) {
            TensorOps ops = new TensorOps(KernelProvider.get(), pool);
            int longest = Arrays.stream(lengths).max().orElse(0);
            RulerSpec rs = RulerSpec.load(model.toAbsolutePath().resolveSibling("tasks.json"), m.tokenizer());
            RandomSource rnd = RandomSource.seeded(seed);
            RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, 3 * Math.max(longest, captureTokens) + 40_000, rnd));
            List<QkvCapture> captures = new ArrayList<>();
            for (int len : new int[] {captureTokens, longest}) {
                if (len > captureTokens || captures.isEmpty()) {
                    TaskInstance inst = gen.instance("niah_single", len, 0.5, rnd);
                    int[] prompt = Arrays.copyOf(inst.ids(), Math.min(len, inst.promptLength()));
                    long t0 = System.nanoTime();
                    captures.add(QkvCapture.run(m.weights(), ops, prompt, layers));
                    w.printf("captured niah_single at depth 0.5: %d prompt tokens (model trained to %d), layers %s, %.1f s%n",
                            prompt.length, m.config().maxPositions(), Arrays.toString(layers), (System.nanoTime() - t0) / 1e9);
                    w.flush();
                }
            }
            w.println("length,layer,kernel,ms,rel_frobenius,max_abs,density_or_note");
            for (int n : lengths) {
                QkvCapture cap = null;
                for (QkvCapture c : captures) {
                    // an instance of L tokens has a prompt a little shorter than L (the answer follows it)
                    if (c.n() >= 0.95 * n && (cap == null || c.n() < cap.n())) {
                        cap = c;
                    }
                }
                if (cap == null) {
                    w.printf("%d: no capture of that length (the instance's prompt is %d tokens)%n", n,
                            captures.stream().mapToInt(QkvCapture::n).max().orElse(0));
                    continue;
                }
                int use = Math.min(n, cap.n());
                for (int li = 0; li < layers.length; li++) {
                    measure(w, ops, cap.prefix(li, use, 64), use, layers[li], cap.n());
                }
            }
        }
        return 0;
    }

    private void measure(PrintWriter w, TensorOps ops, AttentionProblem p, int n, int layer, int capturedOf) {
        if (squeezedOnly) {
            squeezed(w, ops, p, n, layer);
            return;
        }
        String from = capturedOf == n ? "" : " (first " + n + " of " + capturedOf + ")";
        float[] exact = new float[p.outputLength()];
        TiledAttention tiled = new TiledAttention(ops);
        double tTiled = time(() -> tiled.attend(p, exact, null, null));
        row(w, n, layer, "tiled exact", tTiled, exact, exact, "1.0" + from);
        List<Object[]> kernels = new ArrayList<>();
        if (!noBaselines) {
            kernels.add(new Object[] {"vertical-slash", MInferenceEstimators.verticalSlash()});
            kernels.add(new Object[] {"top-k blocks", MInferenceEstimators.topKBlocks()});
        }
        // HiP by representative, as the rows are labelled: the paper's first key, then the variants
        Object[][] hips = {
            {"hip", hipK, HipEstimator.Representative.FIRST_KEY},
            {"hip-max3", hipSampledK, HipEstimator.Representative.SAMPLED},
            {"hip-mean", hipMeanK, HipEstimator.Representative.MEAN},
            {"hip-bound", hipBoundK, HipEstimator.Representative.BOUND},
        };
        for (Object[] hip : hips) {
            for (int k : (int[]) hip[1]) {
                kernels.add(new Object[] {hip[0] + " k=" + k, new HipEstimator(k, (HipEstimator.Representative) hip[2])});
            }
        }
        for (Object[] k : kernels) {
            BlockMaskEstimator est = (BlockMaskEstimator) k[1];
            BlockSparseAttention bs = new BlockSparseAttention(ops, est);
            float[] out = new float[p.outputLength()];
            double t = time(() -> bs.attend(p, out, null, null));
            BlockMask[] mask = new BlockMask[1];
            double tEstimate = time(() -> mask[0] = est.estimate(p, ops)); // the estimator's share of t
            row(w, n, layer, (String) k[0], t, out, exact, String.format(Locale.ROOT, "density %.4f (causal blocks %.4f); estimate %.1f ms",
                    mask[0].density(), mask[0].keptBlocks() / (double) SparseAttentionBench.causalBlocks(p, mask[0]), tEstimate));
        }
        for (int k : hipTokenK) {
            if (k <= 0) {
                continue; // --hip-token-k 0: no token-level HiP rows (picocli refuses an empty int list)
            }
            for (int stride : hipTokenStride) {
                List<HipTokenSelection> rules = new ArrayList<>(List.of(HipTokenSelection.withTopK(k).withQueryStride(stride)));
                if (hipTokenCenter) {
                    rules.add(rules.get(0).withRepresentative(HipTokenSelection.Representative.CENTER));
                }
                if (hipTokenExhaustive) {
                    rules.add(rules.get(0).exhaustive());
                }
                for (HipTokenSelection rule : rules) {
                    HipTokenAttention hip = new HipTokenAttention(ops, rule);
                    float[] out = new float[p.outputLength()];
                    double t = time(() -> hip.attend(p, out, null, null));
                    row(w, n, layer, rule.name(), t, out, exact, keptShare(ops, p, rule));
                }
            }
        }
        if (!noHyper) {
            HyperAttention hyper = new HyperAttention(ops);
            float[] hout = new float[p.outputLength()];
            double tHyper = time(() -> hyper.attend(p, hout, null, null));
            row(w, n, layer, "hyper-attention", tHyper, hout, exact, hyper.name());
        }
        if (!noSqueezed) {
            squeezed(w, ops, p, n, layer);
        }
        w.flush();
    }

    /**
     * The share of the causal keys a token-level HiP rule attends, from every 16th query block of
     * KV head 0 (a sample: each selection is recomputed here, outside the timed runs).
     */
    private static String keptShare(TensorOps ops, AttentionProblem p, HipTokenSelection rule) {
        long kept = 0;
        long causal = 0;
        for (int b = 0; b < rule.queryBlocks(p); b += 16) {
            kept += rule.selectedKeys(p, ops.kernels(), 0, b).cardinality();
            int last = Math.min(p.queryRows(), (b + 1) * rule.blockQ()) - 1;
            causal += p.queryPositions()[last] + 1; // dense views from position 0: keys up to the block's last query
        }
        return String.format("kept share of causal keys %.4f (sampled)", kept / (double) Math.max(1, causal));
    }

    /** The last {@code chunk} queries against the rest, clustered offline; tiled exact on the same chunk for reference. */
    private void squeezed(PrintWriter w, TensorOps ops, AttentionProblem p, int n, int layer) {
        int fixed = n - chunk;
        KvView[] ctx = new KvView[p.kvHeads()];
        for (int h = 0; h < ctx.length; h++) {
            ctx[h] = slice(p.kv()[h], fixed);
        }
        int d = p.headDim();
        float[] q = Arrays.copyOfRange(p.queries(), fixed * p.queryHeads() * d, n * p.queryHeads() * d);
        AttentionProblem chunkProblem = AttentionProblem.causal(q, chunk, p.queryHeads(), p.kv());
        float[] exact = new float[chunkProblem.outputLength()];
        TiledAttention tiled = new TiledAttention(ops);
        double tTiled = time(() -> tiled.attend(chunkProblem, exact, null, null));
        row(w, n, layer, "tiled exact, last " + chunk + " queries", tTiled, exact, exact, "1.0");
        long t0 = System.nanoTime();
        int clusters = Math.max(1, fixed / clustersPer);
        SqueezedIndex index = SqueezedIndex.build(ctx, clusters, SqueezedIndex.DEFAULT_ITERATIONS, 1, ops);
        double build = (System.nanoTime() - t0) / 1e6;
        SqueezedAttention sq = new SqueezedAttention(ops, index, keep);
        float[] out = new float[chunkProblem.outputLength()];
        double t = time(() -> sq.attend(chunkProblem, out, null, null));
        row(w, n, layer, "squeezed, last " + chunk + " queries", t, out, exact,
                String.format("%d clusters, keep %.3f; offline k-means %.0f ms", clusters, keep, build));
    }

    /** The first {@code m} tokens of a dense view, as its own view. */
    private static KvView slice(KvView v, int m) {
        int d = v.headDim();
        float[] k = new float[m * d];
        float[] val = new float[m * d];
        float[] buf = new float[v.pageSize() * d];
        int at = 0;
        for (int p = 0; p < v.pageCount() && at < m; p++) {
            int len = Math.min(v.pageLength(p), m - at);
            dev.longctx.core.kernels.spi.Quantization.dequantize(v.dtype(), v.keys(p), 0, buf, 0, len * d);
            System.arraycopy(buf, 0, k, at * d, len * d);
            dev.longctx.core.kernels.spi.Quantization.dequantize(v.dtype(), v.values(p), 0, buf, 0, len * d);
            System.arraycopy(buf, 0, val, at * d, len * d);
            at += len;
        }
        return dev.longctx.attention.DenseKvView.of(k, val, d, v.dtype(), v.pageSize());
    }

    private double time(Runnable r) {
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e6);
        }
        return best;
    }

    private static void row(PrintWriter w, int n, int layer, String kernel, double ms, float[] out, float[] exact, String note) {
        double num = 0;
        double den = 0;
        double max = 0;
        for (int i = 0; i < exact.length; i++) {
            double diff = (double) out[i] - exact[i];
            num += diff * diff;
            den += (double) exact[i] * exact[i];
            max = Math.max(max, Math.abs(diff));
        }
        w.printf("%d,%d,%s,%.1f,%.5f,%.5f,%s%n", n, layer, kernel, ms, den == 0 ? 0 : Math.sqrt(num / den), max, note);
        w.flush();
    }
}
