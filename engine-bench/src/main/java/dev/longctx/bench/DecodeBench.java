package dev.longctx.bench;

import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.SequenceKvCache;
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
 * One decode step (a token through every layer, logits of the full vocabulary) at a context of
 * {@code depth} tokens, on the synthetic SmolLM2-135M-shaped model: the Models II target is 57
 * tokens/s with F32 weights (0.95x llama.cpp's 60.2 with flash attention; 43.6 without) and 129.5
 * with Q8_0 (llama.cpp). Each iteration starts from a fresh cache prefilled to {@code depth}; its
 * steps then append, so the context grows by the steps of one iteration (about a hundred).
 * Score: ms per token; tokens/s = 1000 / score.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 6, time = 2)
public class DecodeBench {
    /** Weight dtype. */
    @Param({"F32", "Q8_0"})
    public String dtype;

    /** Context before the first measured step. */
    @Param({"512"})
    public int depth;

    /** Threads of the compute pool. */
    @Param({"2"})
    public int threads;

    /** KV page dtype. */
    @Param({"F16"})
    public String kvType;

    private SyntheticDecoder synthetic;
    private Decoder decoder;
    private SequenceKvCache cache;
    private int[] prompt;
    private long position;
    private int next;

    /** Builds the synthetic model. */
    @Setup(Level.Trial)
    public void setup() {
        synthetic = new SyntheticDecoder(DType.valueOf(dtype), DType.valueOf(kvType), threads);
        decoder = synthetic.decoder;
        prompt = synthetic.randomPrompt(depth);
    }

    /** A fresh sequence prefilled to {@code depth}. */
    @Setup(Level.Iteration)
    public void prefill() {
        cache = SequenceKvCache.create(synthetic.blocks);
        decoder.forward(cache, prompt, 0, false);
        position = depth;
        next = prompt[depth - 1];
    }

    /** Frees the iteration's sequence. */
    @TearDown(Level.Iteration)
    public void release() {
        cache.close();
    }

    /** Frees everything. */
    @TearDown(Level.Trial)
    public void tearDown() {
        synthetic.close();
    }

    /** One decode step; the argmax becomes the next input, as in greedy generation. */
    @Benchmark
    public int step() {
        float[] logits = decoder.forward(cache, new int[] {next}, position++, false);
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        next = best;
        return best;
    }
}
