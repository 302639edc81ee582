package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * The fused decode-attention page ({@link PanamaVectorKernels#decodeAttentionPage}): FlashAttention-2's
 * online-softmax step for a decode tile (a few query rows) against one page, in one call.
 *
 * <p>Keys are decoded {@link #CHUNK} rows at a time into a small buffer that stays in L1 and the
 * chunk's logits of every row computed from it at once (the matmul's register-blocked
 * micro-kernels: 4 keys x up to 4 rows per block, each key vector loaded once for the block's rows);
 * then the online-softmax step of each row in vectors with the written-out exponential
 * ({@link PanamaAttentionTile#exp}, inlined: the library exponential is a call per vector) and one
 * rescale of the row's output per page; then the values, decoded chunk by chunk into the same
 * buffer, are summed into every row's output. Nothing page-sized is decoded: at depth 16K the
 * decode step is bound by the memory traffic, and page-sized float buffers cost more than the
 * arithmetic (see {@link #CHUNK}).
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (the
 * caller passes the scratch), so safe from any thread.
 */
final class PanamaDecodeAttention {
    private PanamaDecodeAttention() {
    }

    /**
     * Keys decoded per chunk. Decoded floats take twice the bytes of an F16 page: a whole page of
     * keys and one of values (2 x 16 KiB of floats for 64 x 64) next to the 16 KiB of page being
     * read do not fit a 48 KiB L1 (our reading of the figures below). Split-K at depth 16K on the
     * SmolLM2 shape, one thread, thread CPU time on a loaded 2-core Zen 5 (2026-12-07): decode only,
     * K and V into two page-sized buffers 45 ms, into one 32 ms, into one without the early touches
     * of the next page 24.5 ms (= decoding the pages alone, {@code readPages}); the whole step with
     * chunks of 4 / 8 / 16 / 32 keys 35 / 30-34 / 48-50 / 39 ms (with 16 the logits start exactly
     * 4 KiB after the chunk buffer, a likely cause), against 52 ms for whole-page buffers.
     */
    static final int CHUNK = 8;

    /**
     * The fused step over one page; with {@code logits} non-null, row {@code i}'s logits are also
     * copied to {@code logits[logitsOff + i * logitsStride, + n)} before its softmax step
     * ({@link PanamaVectorKernels#decodeAttentionPageLogits}).
     */
    static void decodePage(DType type, MemorySegment keys, MemorySegment values, long rowBytes, int n, int d,
                           float[] q, int m, float[] max, float[] sum, float[] out, float[] scratch, float[] logits,
                           int logitsOff, int logitsStride) {
        int sOff = Math.min(CHUNK, n) * d; // the logits after the chunk buffer
        for (int j = 0; j < n; j += CHUNK) {
            int keysIn = Math.min(CHUNK, n - j);
            decodeRows(type, keys, rowBytes, d, j, keysIn, scratch);
            logits(scratch, keysIn, d, q, m, scratch, sOff + j, n);
        }
        if (logits != null) {
            for (int i = 0; i < m; i++) {
                System.arraycopy(scratch, sOff + i * n, logits, logitsOff + i * logitsStride, n);
            }
        }
        for (int i = 0; i < m; i++) {
            softmaxRow(scratch, sOff + i * n, n, i, max, sum, out, d);
        }
        for (int j = 0; j < n; j += CHUNK) {
            int keysIn = Math.min(CHUNK, n - j);
            decodeRows(type, values, rowBytes, d, j, keysIn, scratch);
            PanamaAttentionTile.weightedRowSums(scratch, sOff + j, n, 1, m, keysIn, scratch, 0, d, out, 0);
        }
    }

    /**
     * {@link #decodePage} over rows picked by index ({@link PanamaVectorKernels#decodeAttentionRows}):
     * the same chunks, logits, softmax step and weighted sums; only the chunk's decode differs, each
     * run of consecutive slots of one page ({@link #gatherRows}) decoded in one call straight from
     * the cache's page, so no row is copied anywhere but into the L1 chunk buffer. First, one load
     * per cache line of every key and value row ({@link #touchRows}) puts the rows' misses in
     * flight together: scattered rows are latency-bound, not bandwidth-bound, and without the
     * touches the decode step read them a few at a time (a 2,048-of-16,000 selection, 8 layers of
     * PersistentSelectionBench's shape, one thread, A/B in one process: 5.3-5.6 against 7.4-7.6 ms).
     */
    static void decodeRowsByIndex(DType type, MemorySegment[] keyPages, MemorySegment[] valuePages, int[] pageOf,
                                  int[] slotOf, int off, int n, long rowBytes, int d, float[] q, int m, float[] max,
                                  float[] sum, float[] out, float[] scratch) {
        int sOff = Math.min(CHUNK, n) * d; // the logits after the chunk buffer
        // Every row's key and value lines requested up front (touchRows): against touching two
        // chunks ahead of the decode, 0.43-0.48x against 0.47-0.64x of split-K (PersistentSelectionBench's
        // shape, one thread, A/B in one process, 2026-12-07).
        int touched = touchRows(keyPages, pageOf, slotOf, off, n, rowBytes)
                + touchRows(valuePages, pageOf, slotOf, off, n, rowBytes);
        if (touched == TOUCH_NEVER) {
            scratch[0] = 0f; // never true in practice: makes the touches' loads live (see touchRows)
        }
        for (int j = 0; j < n; j += CHUNK) {
            int keysIn = Math.min(CHUNK, n - j);
            gatherRows(type, keyPages, pageOf, slotOf, off + j, keysIn, rowBytes, d, scratch);
            logits(scratch, keysIn, d, q, m, scratch, sOff + j, n);
        }
        for (int i = 0; i < m; i++) {
            softmaxRow(scratch, sOff + i * n, n, i, max, sum, out, d);
        }
        for (int j = 0; j < n; j += CHUNK) {
            int keysIn = Math.min(CHUNK, n - j);
            gatherRows(type, valuePages, pageOf, slotOf, off + j, keysIn, rowBytes, d, scratch);
            PanamaAttentionTile.weightedRowSums(scratch, sOff + j, n, 1, m, keysIn, scratch, 0, d, out, 0);
        }
    }

    /** A sum of touched bytes the kernel tests for, so that the touches are not removed as dead loads. */
    private static final int TOUCH_NEVER = Integer.MIN_VALUE + 0x5a5a;

    /** Bytes between the touches of one row: a cache line. */
    private static final long LINE = 64;

    /**
     * Loads one byte of every cache line of rows {@code pageOf/slotOf[from, from + count)} and
     * returns their sum: ordinary loads (Java has no prefetch) issued back to back, so that the
     * rows' misses are in flight together instead of one or two at a time as the decode and the
     * arithmetic reach them. Scattered rows are each a separate miss; without the touches the
     * out-of-order window holds the decode of a few rows only.
     */
    static int touchRows(MemorySegment[] pages, int[] pageOf, int[] slotOf, int from, int count, long rowBytes) {
        int sum = 0;
        for (int r = from; r < from + count; r++) {
            MemorySegment page = pages[pageOf[r]];
            long start = slotOf[r] * rowBytes;
            for (long b = 0; b < rowBytes; b += LINE) {
                sum += page.get(java.lang.foreign.ValueLayout.JAVA_BYTE, start + b);
            }
            sum += page.get(java.lang.foreign.ValueLayout.JAVA_BYTE, start + rowBytes - 1);
        }
        return sum;
    }

    /**
     * Rows {@code pageOf/slotOf[from, from + count)} decoded to {@code dst[0, count * d)}, in order:
     * a run of consecutive slots of one page in one call when rows are packed ({@link #decodeRows}),
     * else row by row.
     */
    static void gatherRows(DType type, MemorySegment[] pages, int[] pageOf, int[] slotOf, int from, int count,
                           long rowBytes, int d, float[] dst) {
        if (type == DType.BF16 && d % FL == 0) {
            gatherBf16Rows(pages, pageOf, slotOf, from, count, rowBytes, d, dst);
            return;
        }
        int r = 0;
        while (r < count) {
            int page = pageOf[from + r];
            int slot = slotOf[from + r];
            int run = 1;
            while (r + run < count && pageOf[from + r + run] == page && slotOf[from + r + run] == slot + run) {
                run++;
            }
            if (run > 1 && rowBytes == type.bytesFor(d)) {
                PanamaCodecs.dequantize(type, pages[page], slot * rowBytes, dst, r * d, run * d);
            } else {
                for (int i = 0; i < run; i++) {
                    PanamaCodecs.dequantize(type, pages[page], (slot + i) * rowBytes, dst, (r + i) * d, d);
                }
            }
            r += run;
        }
    }

    /**
     * {@link #gatherRows} for BF16 rows of whole vectors, row by row in one small loop: the widening
     * of {@link PanamaCodecs#dequantize} without its call and type switch per row (scattered rows
     * are mostly single: the per-row call cost as much as the arithmetic of the whole step).
     */
    static void gatherBf16Rows(MemorySegment[] pages, int[] pageOf, int[] slotOf, int from, int count, long rowBytes,
                               int d, float[] dst) {
        for (int r = 0; r < count; r++) {
            MemorySegment page = pages[pageOf[from + r]];
            long at = slotOf[from + r] * rowBytes;
            for (int i = 0; i < d; i += FL) {
                // BF16 is the top half of an F32: widen to int lanes, shift into place.
                ((IntVector) ShortVector.fromMemorySegment(SS, page, at + 2L * i, LE).convertShape(VectorOperators.S2I, IS, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, r * d + i);
            }
        }
    }

    /** Rows {@code [from, from + count)} of a page decoded to {@code dst[0, count * d)}: one call when the rows are contiguous. */
    static void decodeRows(DType type, MemorySegment seg, long rowBytes, int d, int from, int count, float[] dst) {
        if (rowBytes == type.bytesFor(d)) {
            PanamaCodecs.dequantize(type, seg, from * rowBytes, dst, 0, count * d);
            return;
        }
        for (int r = 0; r < count; r++) {
            PanamaCodecs.dequantize(type, seg, (from + r) * rowBytes, dst, r * d, d);
        }
    }

    /**
     * {@code s[sOff + i * n + j] = q_i . k_j} for {@code keys} decoded keys ({@code k[j * d]}) and
     * rows {@code i < m}: blocks of 4 keys x 4, 3, 2 or 1 rows (the matmul's register-blocked
     * micro-kernels, each key vector loaded once for the block's rows), single keys left over by
     * dot products. Row counts that are multiples of 3 but not of 4 (the g = 3 heads of 2, 3 or 5
     * tokens) go in blocks of 3: for 6 rows two 4 x 3 blocks took 47-52 ms in four of five runs
     * (62 in one) where 4 x 4 + 4 x 2 took 53-63 ms (split-K at 16K, SmolLM2 shape, one thread,
     * best thread CPU time of 12 calls per run, runs alternating, loaded machine, 2026-12-07).
     * Every dot product is summed in the same order whatever the block.
     */
    static void logits(float[] k, int keys, int d, float[] q, int m, float[] s, int sOff, int n) {
        int j = 0;
        for (; j + 4 <= keys; j += 4) {
            int t = 0;
            if (m % 3 == 0 && m % 4 != 0) {
                for (; t + 3 <= m; t += 3) {
                    PanamaMatmul.micro4x3(k, j * d, q, t * d, d, s, sOff + t * n + j, n);
                }
            }
            for (; t + 4 <= m; t += 4) {
                PanamaMatmul.micro4x4(k, j * d, q, t * d, d, s, sOff + t * n + j, n);
            }
            switch (m - t) {
                case 3 -> PanamaMatmul.micro4x3(k, j * d, q, t * d, d, s, sOff + t * n + j, n);
                case 2 -> PanamaMatmul.micro4x2(k, j * d, q, t * d, d, s, sOff + t * n + j, n);
                case 1 -> PanamaMatmul.micro4x1(k, j * d, q, t * d, d, s, sOff + t * n + j);
                default -> {
                }
            }
        }
        for (; j < keys; j++) {
            for (int t = 0; t < m; t++) {
                s[sOff + t * n + j] = PanamaMatmul.dot1(k, j * d, q, t * d, d);
            }
        }
    }

    /**
     * Row i's online-softmax step on its logits {@code s[off, off + n)}, replaced by the
     * probabilities {@code exp(s - mNew)}: the maximum ({@link #rowMax}) and the exponentials
     * ({@link #expRow}) in vectors, the rescaling factor by one scalar exp, only when the maximum
     * moved (exp(0) = 1 exactly otherwise), and the row's output rescaled once per page.
     */
    static void softmaxRow(float[] s, int off, int n, int i, float[] max, float[] sum, float[] out, int d) {
        float old = max[i];
        float mNew = Math.max(old, rowMax(s, off, n));
        float corr = old == Float.NEGATIVE_INFINITY ? 0f : old == mNew ? 1f : (float) Math.exp(old - mNew);
        float total = expRow(s, off, n, mNew);
        if (corr != 1f) {
            PanamaElementwise.scale(out, i * d, d, corr);
        }
        sum[i] = sum[i] * corr + total;
        max[i] = mNew;
    }

    /**
     * Maximum of {@code s[off, off + n)}, the last partial vector masked. Like {@link #expRow}, its
     * own method with only primitive and array arguments: wherever C2 stops inlining, the call
     * passes no vector (a vector passed to a call that is not inlined is boxed: one softmax step
     * with the exponential inlined into it allocated on every decode step, DecodeAllocationTest).
     */
    static float rowMax(float[] s, int off, int n) {
        FloatVector mx = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        int j = 0;
        int bound = n - n % FL;
        for (; j < bound; j += FL) {
            mx = mx.max(FloatVector.fromArray(FS, s, off + j));
        }
        if (j < n) {
            VectorMask<Float> in = FS.indexInRange(j, n);
            mx = mx.max(FloatVector.fromArray(FS, s, off + j, in).blend(Float.NEGATIVE_INFINITY, in.not()));
        }
        return mx.reduceLanes(VectorOperators.MAX);
    }

    /**
     * {@code s = exp(s - shift)} over {@code s[off, off + n)}, returning the sum: the written-out
     * exponential ({@link PanamaAttentionTile#exp}) over whole vectors, the last partial vector in
     * {@link #expTail}. One copy of the exponential per method: with two copies in one method (or
     * the exponential inlined into the softmax step) C2 left vector operations unintrinsified and
     * the decode step allocated boxed vectors (DecodeAllocationTest). With every vector masked in
     * one loop, six rows at 16K took 60-64 ms against 55-60 ms this way (split-K, one thread,
     * thread CPU time, loaded machine, 2026-12-07).
     */
    static float expRow(float[] s, int off, int n, float shift) {
        FloatVector sh = FloatVector.broadcast(FS, shift);
        FloatVector total = FloatVector.zero(FS);
        int j = 0;
        int bound = n - n % FL;
        for (; j < bound; j += FL) {
            FloatVector e = PanamaAttentionTile.exp(FloatVector.fromArray(FS, s, off + j).sub(sh));
            e.intoArray(s, off + j);
            total = total.add(e);
        }
        float sum = total.reduceLanes(VectorOperators.ADD);
        return j < n ? sum + expTail(s, off, j, n, shift) : sum;
    }

    /** {@link #expRow} on the partial vector {@code s[off + j, off + n)}, masked; returns its sum. */
    static float expTail(float[] s, int off, int j, int n, float shift) {
        VectorMask<Float> in = FS.indexInRange(j, n);
        // Masked-off lanes load 0 and give exp(-shift): zeroed before they reach the sum.
        FloatVector e = PanamaAttentionTile.exp(FloatVector.fromArray(FS, s, off + j, in).sub(shift)).blend(0f, in.not());
        e.intoArray(s, off + j, in);
        return e.reduceLanes(VectorOperators.ADD);
    }
}
