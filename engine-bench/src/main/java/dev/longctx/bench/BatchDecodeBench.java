package dev.longctx.bench;

import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.decoder.Decoder;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One batched decode step of {@code sequences} sequences through {@link Decoder#forwardBatch}
 * (their rows through one matrix product per weight, attention per sequence against its own
 * cache) on the synthetic SmolLM2-135M-shaped model, at a context of {@code depth} tokens each:
 * the serving engine's step. {@code sequences=1} is the single-sequence decode step of
 * {@link DecodeBench} (a batch of one runs the same code as {@code Decoder.forward}).
 *
 * <p>Each sequence is prefilled once per trial with its own random prompt, so every sequence reads
 * its own KV pages; each iteration then decodes from copy-on-write forks of those caches, so the
 * context starts at {@code depth} every iteration and grows by that iteration's steps only. Greedy:
 * each sequence's argmax is its next token.
 *
 * <p>Score: ms per step. Tokens/s = {@code sequences * 1000 / score}; the batching gain is that
 * figure against the one of {@code sequences=1} at the same thread count.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 6, time = 2)
public class BatchDecodeBench {
    /** Weight dtype. */
    @Param({"Q8_0"})
    public String dtype;

    /** Sequences decoding together. */
    @Param({"1", "8"})
    public int sequences;

    /** Context of every sequence before the iteration's first step. */
    @Param({"1024"})
    public int depth;

    /** Threads of the compute pool. */
    @Param({"2"})
    public int threads;

    /** KV page dtype. */
    @Param({"F16"})
    public String kvType;

    private SyntheticDecoder synthetic;
    private Decoder decoder;
    private AttentionPlan plan;
    /** Per sequence: the prefilled cache each iteration forks. */
    private SequenceKvCache[] prefilled;
    private int[] lastPromptToken;
    private SequenceKvCache[] caches;
    private Decoder.State[] states;
    private Decoder.State batch;
    private Decoder.Step[] steps;
    private int[][] next;
    private long[] positions;

    /** Builds the model and prefills every sequence with its own prompt. */
    @Setup(Level.Trial)
    public void setup() {
        synthetic = new SyntheticDecoder(DType.valueOf(dtype), DType.valueOf(kvType), threads);
        decoder = synthetic.decoder;
        plan = AttentionPlan.exact(synthetic.ops);
        prefilled = new SequenceKvCache[sequences];
        lastPromptToken = new int[sequences];
        int vocab = synthetic.model.config().vocabSize();
        for (int i = 0; i < sequences; i++) {
            int[] prompt = BenchData.randomTokens(depth, vocab, BenchData.SEED + 1 + i);
            prefilled[i] = SequenceKvCache.create(synthetic.blocks);
            decoder.forward(prefilled[i], prompt, 0, false);
            lastPromptToken[i] = prompt[depth - 1];
        }
        caches = new SequenceKvCache[sequences];
        states = new Decoder.State[sequences];
        steps = new Decoder.Step[sequences];
        next = new int[sequences][1];
        positions = new long[sequences];
        for (int i = 0; i < sequences; i++) {
            states[i] = decoder.newState(1);
            steps[i] = new Decoder.Step();
        }
        batch = sequences == 1 ? states[0] : decoder.newState(sequences);
    }

    /** Fresh forks of the prefilled caches: every iteration decodes from {@code depth}. */
    @Setup(Level.Iteration)
    public void fork() {
        for (int i = 0; i < sequences; i++) {
            caches[i] = prefilled[i].fork();
            next[i][0] = lastPromptToken[i];
            positions[i] = depth;
        }
    }

    /** Frees the iteration's forks. */
    @TearDown(Level.Iteration)
    public void release() {
        for (SequenceKvCache c : caches) {
            c.close();
        }
    }

    /** Frees everything. */
    @TearDown(Level.Trial)
    public void tearDown() {
        for (SequenceKvCache c : prefilled) {
            if (c != null) {
                c.close();
            }
        }
        synthetic.close();
    }

    /** One batched decode step of every sequence; each argmax becomes that sequence's next input. */
    @Benchmark
    public int step() {
        for (int i = 0; i < sequences; i++) {
            steps[i].set(states[i], caches[i], next[i], positions[i]++, plan, false, false);
        }
        decoder.forwardBatch(batch, steps, sequences);
        int sum = 0;
        for (int i = 0; i < sequences; i++) {
            float[] logits = steps[i].logits();
            int best = 0;
            for (int v = 1; v < logits.length; v++) {
                if (logits[v] > logits[best]) {
                    best = v;
                }
            }
            next[i][0] = best;
            sum += best;
        }
        return sum;
    }
}
