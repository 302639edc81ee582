package dev.longctx.bench;

import dev.longctx.core.parallel.ComputePool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
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
 * This machine's limits measured from Java, split over a {@link ComputePool} exactly as the kernels
 * split their work, with the Vector API's preferred species:
 * <ul>
 *   <li>{@link #read}: read bandwidth, the sum of a 1 GiB off-heap float array; each pool task
 *       sums a contiguous 4 MiB chunk. By default ({@code streams=4}) the task reads its chunk as 4
 *       concurrent sequential streams, one per quarter, the access pattern of the matvec kernels
 *       (4 weight rows at a time): on the reference machine that reaches ~45 GB/s where one
 *       stream per thread ({@code -p streams=1}, classic STREAM) stops at ~31 GB/s, matching
 *       llama.cpp's ~40 GB/s "practical" roofline in {@code shared/notes/llamacpp-baseline.md}.</li>
 *   <li>{@link #triad}: STREAM triad {@code a[i] = b[i] + s * c[i]} over three 256 MiB arrays,
 *       counted as 3 arrays of bytes (2 read + 1 written; the write-allocate read of {@code a}
 *       that plain stores cause is not counted, as in STREAM).</li>
 *   <li>{@link #fma}: FMA throughput, every pool thread running {@link Throughput#FMA_ACCUMULATORS}
 *       independent {@link FloatVector#fma} chains (2 flops per lane per FMA).</li>
 * </ul>
 * Sizes and flop counts live in {@link Throughput}, which turns the times into GB/s and GFLOP/s.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RooflineBench {
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /**
     * Bytes per pool task of the streaming probes: 4 MiB, so a 1 GiB array splits into 256 tasks
     * (ample balance for any thread count here) while each task streams long contiguous runs.
     */
    static final long CHUNK_BYTES = 4L << 20;
    /**
     * Independent accumulators of the read loop: 4 vector adds in flight cover the 3-4 cycle add
     * latency, so the loop is limited by loads, not by the dependency chain.
     */
    private static final int READ_UNROLL = 4;
    /** Streams per task of the multi-stream read (the 4 rows matvec reads at once). */
    static final int MULTI_STREAMS = 4;
    /**
     * Short FMA-loop calls made before measuring: above C2's invocation threshold (5,000 with
     * tiered compilation, 10,000 without), so the method is compiled whatever the flags.
     */
    private static final int WARM_CALLS = 20_000;
    /** Loop trips per warm-up call: a few, so the warm-up takes well under a second. */
    private static final int WARM_ITERATIONS = 8;

    /** The compute pool shared by the three probes. */
    @State(Scope.Benchmark)
    public static class Pool {
        /** Threads of the compute pool, the caller included. */
        @Param({"2"})
        public int threads;

        ComputePool pool;

        /** Starts the pool. */
        @Setup(Level.Trial)
        public void setup() {
            pool = ComputePool.create(threads);
        }

        /** Stops the pool. */
        @TearDown(Level.Trial)
        public void tearDown() {
            pool.close();
        }
    }

    /** The 1 GiB array of the read probe and one partial sum per task. */
    @State(Scope.Benchmark)
    public static class ReadData {
        /** Concurrent sequential streams per task: 1 (STREAM-like) or 4 (as matvec reads rows). */
        @Param({"4"})
        public int streams;

        Arena arena;
        MemorySegment data;
        float[] partial;

        /** Allocates (and so touches) the array; fills it with a small non-zero pattern. */
        @Setup(Level.Trial)
        public void setup() {
            if (streams != 1 && streams != MULTI_STREAMS) {
                throw new IllegalArgumentException("streams must be 1 or " + MULTI_STREAMS + ", got " + streams);
            }
            arena = Arena.ofShared();
            data = arena.allocate(Throughput.READ_BYTES, CHUNK_BYTES);
            // Byte 0x3c repeated is the float ~0.0115: finite sums, no denormals.
            data.fill((byte) 0x3c);
            partial = new float[(int) (Throughput.READ_BYTES / CHUNK_BYTES)];
        }

        /** Frees the array. */
        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** The triad's three 256 MiB arrays. */
    @State(Scope.Benchmark)
    public static class TriadData {
        Arena arena;
        MemorySegment a;
        MemorySegment b;
        MemorySegment c;
        /** The triad's scalar, read from a field so the JIT cannot fold it. */
        float s = 3f;

        /** Allocates and fills the arrays. */
        @Setup(Level.Trial)
        public void setup() {
            arena = Arena.ofShared();
            a = arena.allocate(Throughput.TRIAD_ARRAY_BYTES, CHUNK_BYTES);
            b = arena.allocate(Throughput.TRIAD_ARRAY_BYTES, CHUNK_BYTES);
            c = arena.allocate(Throughput.TRIAD_ARRAY_BYTES, CHUNK_BYTES);
            b.fill((byte) 0x3c);
            c.fill((byte) 0x3d);
        }

        /** Frees the arrays. */
        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** Operands of the FMA probe, in fields so the JIT cannot fold the chains. */
    @State(Scope.Benchmark)
    public static class FmaData {
        /** Multiplier below 1 and addend: each chain converges to {@code c / (1 - b)}, never overflows. */
        float b = 0.999f;
        float c = 1e-3f;
        float[] partial;
        /** Keeps the warm-up results alive so the warm-up calls are not eliminated. */
        float warmSink;

        /**
         * Sizes the per-thread results and has C2 compile the FMA loop before the first timed
         * operation: interpreted Vector API code boxes every vector and runs about 1000x slower, so
         * a 1 s warmup iteration (quick mode) would hold only a couple of interpreted operations
         * and the measurement could start before the compiled code is ready.
         */
        @Setup(Level.Trial)
        public void setup(Pool p) {
            partial = new float[p.threads];
            float sink = 0;
            for (int i = 0; i < WARM_CALLS; i++) {
                sink += fmaChains(b, c, i, WARM_ITERATIONS);
            }
            warmSink = sink;
        }
    }

    /** Sums the 1 GiB array over the pool; returns the sum so the loads are not eliminated. */
    @Benchmark
    public float read(Pool p, ReadData d) {
        MemorySegment seg = d.data;
        float[] partial = d.partial;
        if (d.streams == 1) {
            p.pool.parallelFor(partial.length, t -> partial[t] = sumChunk(seg, t * CHUNK_BYTES, (t + 1) * CHUNK_BYTES));
        } else {
            p.pool.parallelFor(partial.length,
                    t -> partial[t] = sumChunkStreams(seg, t * CHUNK_BYTES, (t + 1) * CHUNK_BYTES));
        }
        float s = 0;
        for (float v : partial) {
            s += v;
        }
        return s;
    }

    /** {@code a = b + s * c} over 256 MiB arrays, split over the pool. */
    @Benchmark
    public MemorySegment triad(Pool p, TriadData d) {
        MemorySegment a = d.a;
        MemorySegment b = d.b;
        MemorySegment c = d.c;
        float s = d.s;
        int tasks = (int) (Throughput.TRIAD_ARRAY_BYTES / CHUNK_BYTES);
        p.pool.parallelFor(tasks, t -> triadChunk(a, b, c, s, t * CHUNK_BYTES, (t + 1) * CHUNK_BYTES));
        return a;
    }

    /** One task per pool thread, each running the independent FMA chains. */
    @Benchmark
    public float fma(Pool p, FmaData d) {
        float[] partial = d.partial;
        float b = d.b;
        float c = d.c;
        int iterations = (int) (Throughput.FMA_LANE_OPS_PER_ACCUMULATOR / FS.length());
        p.pool.parallelFor(partial.length, t -> partial[t] = fmaChains(b, c, t, iterations));
        float s = 0;
        for (float v : partial) {
            s += v;
        }
        return s;
    }

    private static float sumChunk(MemorySegment seg, long from, long to) {
        long step = FS.vectorByteSize();
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        // CHUNK_BYTES is a multiple of READ_UNROLL vectors of any species up to 2048 bits: no tail.
        for (long o = from; o < to; o += READ_UNROLL * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(FS, seg, o, LE));
            a1 = a1.add(FloatVector.fromMemorySegment(FS, seg, o + step, LE));
            a2 = a2.add(FloatVector.fromMemorySegment(FS, seg, o + 2 * step, LE));
            a3 = a3.add(FloatVector.fromMemorySegment(FS, seg, o + 3 * step, LE));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    /** Sums {@code [from, to)} as {@link #MULTI_STREAMS} sequential streams, one per quarter. */
    private static float sumChunkStreams(MemorySegment seg, long from, long to) {
        long step = FS.vectorByteSize();
        long quarter = (to - from) / MULTI_STREAMS;
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        FloatVector a2 = FloatVector.zero(FS);
        FloatVector a3 = FloatVector.zero(FS);
        // CHUNK_BYTES / 4 is a whole number of vectors of any species: no tail.
        for (long o = from; o < from + quarter; o += step) {
            a0 = a0.add(FloatVector.fromMemorySegment(FS, seg, o, LE));
            a1 = a1.add(FloatVector.fromMemorySegment(FS, seg, o + quarter, LE));
            a2 = a2.add(FloatVector.fromMemorySegment(FS, seg, o + 2 * quarter, LE));
            a3 = a3.add(FloatVector.fromMemorySegment(FS, seg, o + 3 * quarter, LE));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    private static void triadChunk(MemorySegment a, MemorySegment b, MemorySegment c, float s, long from, long to) {
        long step = FS.vectorByteSize();
        FloatVector vs = FloatVector.broadcast(FS, s);
        for (long o = from; o < to; o += step) {
            FloatVector vb = FloatVector.fromMemorySegment(FS, b, o, LE);
            FloatVector vc = FloatVector.fromMemorySegment(FS, c, o, LE);
            vc.fma(vs, vb).intoMemorySegment(a, o, LE);
        }
    }

    /**
     * {@link Throughput#FMA_ACCUMULATORS} (12) independent chains {@code acc = acc * b + c}, each
     * {@code iterations} long (an int counter keeps it a simple counted loop for C2).
     */
    private static float fmaChains(float b, float c, int thread, int iterations) {
        FloatVector vb = FloatVector.broadcast(FS, b);
        FloatVector vc = FloatVector.broadcast(FS, c);
        // Different starting values per chain and thread: nothing for the JIT to merge.
        float s = thread;
        FloatVector a0 = FloatVector.broadcast(FS, s);
        FloatVector a1 = FloatVector.broadcast(FS, s + 1);
        FloatVector a2 = FloatVector.broadcast(FS, s + 2);
        FloatVector a3 = FloatVector.broadcast(FS, s + 3);
        FloatVector a4 = FloatVector.broadcast(FS, s + 4);
        FloatVector a5 = FloatVector.broadcast(FS, s + 5);
        FloatVector a6 = FloatVector.broadcast(FS, s + 6);
        FloatVector a7 = FloatVector.broadcast(FS, s + 7);
        FloatVector a8 = FloatVector.broadcast(FS, s + 8);
        FloatVector a9 = FloatVector.broadcast(FS, s + 9);
        FloatVector a10 = FloatVector.broadcast(FS, s + 10);
        FloatVector a11 = FloatVector.broadcast(FS, s + 11);
        for (int i = 0; i < iterations; i++) {
            a0 = a0.fma(vb, vc);
            a1 = a1.fma(vb, vc);
            a2 = a2.fma(vb, vc);
            a3 = a3.fma(vb, vc);
            a4 = a4.fma(vb, vc);
            a5 = a5.fma(vb, vc);
            a6 = a6.fma(vb, vc);
            a7 = a7.fma(vb, vc);
            a8 = a8.fma(vb, vc);
            a9 = a9.fma(vb, vc);
            a10 = a10.fma(vb, vc);
            a11 = a11.fma(vb, vc);
        }
        FloatVector sum = a0.add(a1).add(a2).add(a3).add(a4).add(a5)
                .add(a6).add(a7).add(a8).add(a9).add(a10).add(a11);
        return sum.reduceLanes(VectorOperators.ADD);
    }
}
