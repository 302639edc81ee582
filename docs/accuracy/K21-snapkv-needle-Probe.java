import dev.longctx.attention.KvView;
import dev.longctx.bench.ruler.*;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.internal.StrategyPlan;
import dev.longctx.models.session.Strategy;
import java.nio.file.Path;
import java.util.*;

/**
 * Session 21: which tokens of the asked needle SnapKV keeps, per layer and KV head, at pooling kernels 1, 5, 7 and 9
 * (1/8 of 16K: 2,048 tokens per KV head), and the greedy answer under each. One full-cache prefill of the document
 * per instance (the prompt less its last 64 tokens), then per kernel a fork of that cache prefills the last 64 tokens
 * under SnapKV's plan (the selection of a one-chunk SnapKV prefill, see Session.fork(Strategy)).
 * From the repository root: javac --add-modules jdk.incubator.vector -cp BENCHMARKS_JAR -d OUT
 * docs/accuracy/K21-snapkv-needle-Probe.java, then java --add-modules jdk.incubator.vector -cp BENCHMARKS_JAR:OUT
 * SnapKvNeedleProbe TASK SEED N DEPTH... (N instances of TASK at each DEPTH; a record of one check, not library code).
 */
final class SnapKvNeedleProbe {  // not public: the file is named for the check it belongs to
    private static final int CONTEXT = 16384;
    private static final int TAIL = 64;
    private static final int BUDGET = 2048;
    private static final int[] KERNELS = {1, 5, 7, 9};

    public static void main(String[] a) throws Exception {
        String task = a[0];
        long seed = Long.parseLong(a[1]);
        int n = Integer.parseInt(a[2]);
        Path model = Path.of("tools/retrieval-model/model/retrieval-16k.gguf");
        TensorOps ops = TensorOps.withThreads(null);
        try (Model m = Model.open(model)) {
            var c = m.config();
            var tok = m.tokenizer();
            RulerSpec rs = RulerSpec.load(Path.of("tools/retrieval-model/model/tasks.json"), tok);
            RandomSource rnd = RandomSource.seeded(seed);
            RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, 3 * CONTEXT + 40_000, rnd));
            KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 64, DType.F32);
            Decoder dec = new Decoder(m.weights(), ops);
            for (int di = 3; di < a.length; di++) {
                double depth = Double.parseDouble(a[di]);
                for (int i = 0; i < n; i++) {
                    TaskInstance inst = gen.instance(task, CONTEXT, depth, rnd);
                    int[] prompt = inst.prompt();
                    int head = prompt.length - TAIL;
                    int ns = inst.neededStarts()[0];
                    int ne = inst.neededEnds()[0];
                    StringBuilder needle = new StringBuilder();
                    for (int p = ns; p < ne; p++) {
                        needle.append('[').append(tok.decode(new int[] {prompt[p]})).append(']');
                    }
                    System.out.printf("%n== %s depth %.2f #%d: answer '%s', needle at %d..%d of %d: %s%n", task, depth, i, inst.answer(), ns,
                            ne, prompt.length, needle);
                    long bytes = 3L * layout.layers() * layout.kvHeads() * ((prompt.length + 63) / 64 + 8) * BlockPool.pageBytes(layout);
                    try (BlockPool pool = new BlockPool(layout, bytes); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                        for (int from = 0; from < head; from += 1024) {
                            dec.forward(cache, Arrays.copyOfRange(prompt, from, Math.min(head, from + 1024)), from, false);
                        }
                        for (int k : KERNELS) {
                            try (SequenceKvCache f = cache.fork()) {
                                StrategyPlan plan = StrategyPlan.resolve(new Strategy.SnapKv(BUDGET, 0, k), BUDGET, layout, TAIL, ops);
                                float[] logits = dec.forward(f, Arrays.copyOfRange(prompt, head, prompt.length), head, false, plan, true);
                                StringBuilder kept = new StringBuilder();
                                for (int l = 0; l < c.layers(); l++) {
                                    for (int h = 0; h < c.kvHeads(); h++) {
                                        kept.append(" L").append(l).append("kv").append(h).append('=').append(mask(f.view(l, h), ns, ne));
                                    }
                                }
                                String out = answer(dec, f, plan, logits, prompt.length, inst.answerIds().length + 3, tok);
                                System.out.printf("kernel %d: %s '%s'%s%n", k, out.strip().equals(inst.answer()) ? "RIGHT" : "wrong", out.strip(),
                                        kept);
                            }
                        }
                    }
                }
            }
        }
    }

    /** '#' where the needle's token is kept in this head, '.' where it was evicted. */
    private static String mask(KvView v, int from, int to) {
        boolean[] kept = new boolean[to - from];
        for (int p = 0; p < v.pageCount(); p++) {
            for (int s = 0; s < v.pageLength(p); s++) {
                long pos = v.position(p, s);
                if (v.isValid(p, s) && pos >= from && pos < to) {
                    kept[(int) (pos - from)] = true;
                }
            }
        }
        StringBuilder b = new StringBuilder();
        for (boolean k : kept) {
            b.append(k ? '#' : '.');
        }
        return b.toString();
    }

    private static String answer(Decoder dec, SequenceKvCache f, StrategyPlan plan, float[] logits, int pos, int maxNew,
                                 dev.longctx.models.tokenizer.Tokenizer tok) {
        List<Integer> ids = new ArrayList<>();
        float[] l = logits;
        for (int i = 0; i < maxNew; i++) {
            int best = 0;
            for (int v = 1; v < l.length; v++) {
                if (l[v] > l[best]) {
                    best = v;
                }
            }
            if (best == RulerSpec.EOS) {
                break;
            }
            ids.add(best);
            l = dec.forward(f, new int[] {best}, pos + i, false, plan, false);
        }
        return tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
    }
}
