package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.spi.SyntheticBlocks;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/**
 * The Panama kernels after C2 has compiled them, against the scalar reference. Most kernel tests
 * run each kernel a few times, in the interpreter or C1 code, where the Vector API falls back to
 * Java loops; this one runs warm loops until C2 has compiled (or inlined into C2 code) every kernel
 * it checks, proves it from the JVM's own compilation events (JFR {@code jdk.Compilation} and
 * {@code jdk.CompilerInlining}), and only then compares. Awkward sizes throughout (odd counts,
 * tails shorter than a vector).
 */
class CompiledKernelsTest {
    private static final int WARM = 20_000;
    /** Most warm passes of {@link #WARM} rounds before a kernel C2 has not compiled fails the test. */
    private static final int WARM_PASSES = 5;
    /** The kernels this test proves compiled, by method name. */
    private static final List<String> CHECKED = List.of("dot", "matvecRows", "expShiftSum", "silu", "gelu", "dequantize",
            "matmulRowsTransposed", "onlineSoftmaxColumns", "sumOfSquares", "axpy", "matmulRowsSmallBatch",
            "q8x2x4", "q4x2x4", "f16x2x4", "bf16x2x4", "f32x2x4", "q8x2x2", "q4x2x2", "f16x2x2", "bf16x2x2", "f32x2x2",
            "q5_0Row", "q4Or5KRow", "q6KRow", "iq4NlRow", "iq4XsRow", "q3KRow", "q4Or5_1Row", "q2KRow", "decodeQ5_0", "decodeQ4K", "decodeQ6K", "decodeQ4Or5_1",
            "decodeIq4Nl", "decodeIq4Xs", "decodeQ5K", "decodeQ2K", "decodeQ3K", "decodePage", "decodeRowsByIndex", "gatherRows", "softmaxRow", "rowMax", "expRow", "expTail");

    /** The block types the engine reads but never writes. */
    private static final DType[] WEIGHT_ONLY = {DType.Q5_0, DType.Q4_K, DType.Q6_K, DType.Q4_1, DType.Q5_1, DType.IQ4_NL,
        DType.IQ4_XS, DType.Q5_K, DType.Q2_K, DType.Q3_K};

    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return a;
    }

    /** One round of every checked kernel on {@code k}; returns a digest of outputs to compare with the reference's. */
    private static float[] round(VectorKernels k, Inputs in) {
        float[] out = new float[80];
        int o = 0;
        out[o++] = k.dot(in.a, 1, in.b, 3, 77);
        out[o++] = k.sumOfSquares(in.a, 2, 45);
        out[o++] = k.expShiftSum(in.a.clone(), 0, 61, 0.5f);
        float[] y = in.b.clone();
        k.axpy(0.25f, in.a, 0, y, 0, 53);
        out[o++] = y[52] + y[17];
        float[] s = in.a.clone();
        k.silu(s, 0, 39);
        out[o++] = s[38] + s[5];
        float[] g = in.a.clone();
        k.gelu(g, 0, 41);
        out[o++] = g[40] + g[7];
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0}) {
            MemorySegment w = in.weights.get(t);
            float[] mv = new float[in.rows];
            k.matvecRows(t, w, t.bytesFor(in.cols), in.cols, 0, in.rows, in.x, 0, mv, 0);
            for (float v : mv) {
                out[o] += v;
            }
            o++;
            float[] dq = new float[in.cols];
            k.dequantize(t, w, t.bytesFor(in.cols) * 2, dq, 0, in.cols);
            out[o++] = dq[0] + dq[in.cols - 1];
            // 5, 6 and 7 tokens (a group of four and then one, a pair, a padded group of four) times 7
            // rows (three pairs and one alone)
            for (int tokens = 5; tokens <= 7; tokens++) {
                float[] sb = new float[tokens * in.rows];
                k.matmulRowsSmallBatch(t, w, t.bytesFor(in.cols), in.cols, 0, in.rows, in.xs, tokens, sb, in.rows);
                for (float v : sb) {
                    out[o] += v;
                }
                o++;
            }
        }
        // The weight-only types on 768 columns (three super-blocks): in-register kernels of the K-quant
        // mixtures (Q5_0, Q4_K, Q6_K), the others through their vector decoders.
        for (DType t : WEIGHT_ONLY) {
            MemorySegment w = in.weights.get(t);
            float[] mv = new float[in.rows];
            k.matvecRows(t, w, t.bytesFor(in.kCols), in.kCols, 0, in.rows, in.xk, 0, mv, 0);
            for (float v : mv) {
                out[o] += v;
            }
            o++;
            float[] dq = new float[in.kCols];
            k.dequantize(t, w, t.bytesFor(in.kCols) * 2, dq, 0, in.kCols);
            out[o++] = dq[0] + dq[in.kCols - 1] + dq[300];
        }
        float[] mm = new float[in.tokens * in.rows];
        k.matmulRowsTransposed(DType.F32, in.weights.get(DType.F32), DType.F32.bytesFor(in.cols), in.cols, 0, in.rows, in.xt,
                in.tokenStride, in.tokens, mm, in.rows);
        for (float v : mm) {
            out[o] += v;
        }
        o++;
        // A softmax step across 35 rows of 9 keys (key-major logits), from a fresh state.
        int m = 35;
        float[] logits = random(new SplittableRandom(7), 9 * 40);
        float[] max = new float[m];
        float[] sum = new float[m];
        float[] corr = new float[m];
        java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
        k.onlineSoftmaxColumns(logits, 0, 40, 9, m, max, sum, corr);
        for (int i = 0; i < m; i++) {
            out[o] += sum[i] + max[i];
        }
        o++;
        // The fused decode page: 5 query rows against the 7 F16 rows of 96 as keys and as values
        // (a chunk and a remainder of 3 keys, 96 = 6 vectors at 128 bits, 1.5 at 512).
        int rowsQ = 5;
        float[] pmax = new float[rowsQ];
        float[] psum = new float[rowsQ];
        float[] pout = new float[rowsQ * in.cols];
        java.util.Arrays.fill(pmax, Float.NEGATIVE_INFINITY);
        MemorySegment kv16 = in.weights.get(DType.F16);
        k.decodeAttentionPage(DType.F16, kv16, kv16, DType.F16.bytesFor(in.cols), in.rows, in.cols, in.xs, rowsQ, pmax,
                psum, pout, new float[VectorKernels.decodeAttentionScratch(in.rows, in.cols, rowsQ)]);
        for (int i = 0; i < rowsQ; i++) {
            out[o] += pmax[i] + pout[i * in.cols + 7] / psum[i];
        }
        o++;
        // The same page's rows picked by index (reversed pairs, so runs and single rows both occur).
        java.util.Arrays.fill(pmax, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(psum, 0f);
        java.util.Arrays.fill(pout, 0f);
        int[] pageOf = new int[in.rows];
        int[] slotOf = new int[in.rows];
        for (int j = 0; j < in.rows; j++) {
            slotOf[j] = j % 2 == 0 ? in.rows - 1 - j / 2 : j / 2;
        }
        k.decodeAttentionRows(DType.F16, new MemorySegment[] {kv16}, new MemorySegment[] {kv16}, pageOf, slotOf, 0, in.rows,
                DType.F16.bytesFor(in.cols), in.cols, in.xs, rowsQ, pmax, psum, pout,
                new float[VectorKernels.decodeAttentionScratch(in.rows, in.cols, rowsQ)]);
        for (int i = 0; i < rowsQ; i++) {
            out[o] += pmax[i] + pout[i * in.cols + 7] / psum[i];
        }
        o++;
        return out;
    }

    /** Inputs of awkward sizes, and the weights in every dtype the matvec checks. */
    private static final class Inputs {
        final float[] a;
        final float[] b;
        final float[] x;
        /** {@code tokens} rows of activations, row-major (the small-batch matmul's input). */
        final float[] xs;
        final float[] xt;
        final int rows = 7;
        final int cols = 96; // three Q8_0/Q4_0 blocks
        final int kCols = 768; // three K-quant super-blocks
        final float[] xk;
        final int tokens = 7;
        final int tokenStride = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
        final Map<DType, MemorySegment> weights = new HashMap<>();

        Inputs(Arena arena) {
            SplittableRandom r = new SplittableRandom(42);
            a = random(r, 200);
            b = random(r, 200);
            x = random(r, cols);
            xs = random(r, tokens * cols);
            xt = new float[tokenStride * cols];
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < cols; c++) {
                    xt[c * tokenStride + t] = (float) (r.nextDouble() - 0.5);
                }
            }
            float[] w = random(r, rows * cols);
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16, DType.Q8_0, DType.Q4_0}) {
                long rowBytes = t.bytesFor(cols);
                MemorySegment seg = arena.allocate(rowBytes * rows, 64);
                for (int row = 0; row < rows; row++) {
                    Quantization.quantize(t, w, row * cols, cols, seg, row * rowBytes);
                }
                weights.put(t, seg);
            }
            xk = random(r, kCols);
            for (DType t : WEIGHT_ONLY) {
                MemorySegment seg = arena.allocate(t.bytesFor(kCols) * rows, 64);
                SyntheticBlocks.fill(t, r, seg, 0, kCols * rows, 1.0);
                weights.put(t, seg);
            }
        }
    }

    @Test
    void panamaKernelsEqualTheReferenceOnceC2CompiledThem(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        VectorKernels panama = KernelProvider.panama();
        assertTrue(panama.isVectorized() && panama.name().startsWith("panama"), panama.name());
        VectorKernels scalar = KernelProvider.scalar();
        try (Arena arena = Arena.ofConfined()) {
            Inputs in = new Inputs(arena);
            Path jfr = dir.resolve("compilations.jfr");
            Set<String> compiled = Set.of();
            int rounds = 0;
            try (Recording rec = new Recording()) {
                rec.enable("jdk.Compilation").withThreshold(java.time.Duration.ZERO);
                rec.enable("jdk.CompilerInlining");
                rec.start();
                float sink = 0;
                // C2 compiles in background threads: on a busy machine its queue can still hold a kernel
                // when a pass ends, so warm further (a bounded number of passes, no clock) until every
                // checked kernel shows up
                for (int pass = 0; pass < WARM_PASSES && !compiled.containsAll(CHECKED); pass++) {
                    for (int i = 0; i < WARM; i++) {
                        sink += round(panama, in)[0];
                    }
                    rounds += WARM;
                    rec.dump(jfr);
                    compiled = c2Compiled(jfr);
                }
                rec.stop();
                assertTrue(Float.isFinite(sink));
            }
            for (String name : CHECKED) {
                assertTrue(compiled.contains(name), name + " was not compiled by C2 after " + rounds + " rounds; C2 saw: " + compiled);
            }
            float[] fast = round(panama, in);
            float[] ref = round(scalar, in);
            assertEquals(ref.length, fast.length);
            for (int i = 0; i < ref.length; i++) {
                assertEquals(ref[i], fast[i], 2e-3f * Math.max(1, Math.abs(ref[i])), "digest entry " + i);
            }
            // and a compiled kernel gives the same bits run after run (no dependence on JIT state)
            assertArrayEquals(fast, round(panama, in));
        }
    }

    /**
     * Names of PanamaVectorKernels methods that C2 compiled: a level-4 compilation of the method,
     * or a successful inlining into a level-4 compilation.
     */
    private static Set<String> c2Compiled(Path jfr) throws Exception {
        Map<Long, Integer> levelById = new HashMap<>();
        List<RecordedEvent> events = RecordingFile.readAllEvents(jfr);
        Set<String> out = new HashSet<>();
        for (RecordedEvent e : events) {
            if (e.getEventType().getName().equals("jdk.Compilation")) {
                levelById.put(e.getLong("compileId"), (int) e.getShort("compileLevel"));
                RecordedMethod m = e.getValue("method");
                if (e.getShort("compileLevel") == 4 && e.getBoolean("succeded") && isPanama(m)) {
                    out.add(m.getName());
                }
            }
        }
        for (RecordedEvent e : events) {
            if (e.getEventType().getName().equals("jdk.CompilerInlining") && e.getBoolean("succeeded")) {
                jdk.jfr.consumer.RecordedObject callee = e.getValue("callee"); // a CalleeMethod: type, name, descriptor
                Integer level = levelById.get(e.getLong("compileId"));
                if (level != null && level == 4 && callee != null
                        && callee.getString("type").replace('/', '.').startsWith("dev.longctx.core.kernels.panama.")) {
                    out.add(callee.getString("name"));
                }
            }
        }
        return out;
    }

    private static boolean isPanama(RecordedMethod m) {
        return m != null && m.getType().getName().startsWith("dev.longctx.core.kernels.panama.");
    }
}
