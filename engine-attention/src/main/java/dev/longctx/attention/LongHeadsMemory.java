package dev.longctx.attention;

import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.Arrays;

/**
 * LongHeads' chunk representations (Lu et al., 2024, see {@link LongHeadsAttention}) of one layer
 * of one sequence: per KV head, one vector of {@code headDim} floats for each complete chunk of
 * {@code chunkSize} positions ({@code [c * chunkSize, (c + 1) * chunkSize)}), computed from the
 * chunk's cached keys when a query first needs it:
 * <pre>
 *   kbar_c = mean_{j in c} k_j,   a_j = softmax_j(scale * kbar_c . k_j),   r_c = sum_{j in c} a_j k_j
 * </pre>
 * with {@code scale = 1/sqrt(headDim)} and only the chunk's valid slots. A chunk whose keys are all
 * evicted gets the zero vector.
 *
 * <p>The views it reads must hold increasing positions page by page (the paged cache does).
 *
 * <p>Threading: not thread-safe; one sequence's thread updates and reads it (the kernel updates it
 * on the caller's thread before its parallel part).
 */
public final class LongHeadsMemory {
    private final int kvHeads;
    private final int headDim;
    private final int chunkSize;
    private final float[][] reps;
    private final int[] chunks;

    /**
     * @param kvHeads KV heads of the layer
     * @param headDim elements per key
     * @param chunkSize positions per chunk
     */
    public LongHeadsMemory(int kvHeads, int headDim, int chunkSize) {
        if (kvHeads <= 0 || headDim <= 0 || chunkSize <= 0) {
            throw new IllegalArgumentException("longheads memory: kvHeads, headDim and chunkSize must be positive, got " + kvHeads
                    + ", " + headDim + ", " + chunkSize);
        }
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.chunkSize = chunkSize;
        this.reps = new float[kvHeads][0];
        this.chunks = new int[kvHeads];
    }

    /** A deep copy (for a forked sequence). */
    public LongHeadsMemory copy() {
        LongHeadsMemory m = new LongHeadsMemory(kvHeads, headDim, chunkSize);
        for (int h = 0; h < kvHeads; h++) {
            m.reps[h] = reps[h].clone();
            m.chunks[h] = chunks[h];
        }
        return m;
    }

    /** KV heads. */
    public int kvHeads() {
        return kvHeads;
    }

    /** Elements per representation. */
    public int headDim() {
        return headDim;
    }

    /** Positions per chunk. */
    public int chunkSize() {
        return chunkSize;
    }

    /** Chunks {@code 0 .. chunks(kvHead) - 1} of {@code kvHead} have a representation. */
    public int chunks(int kvHead) {
        return chunks[kvHead];
    }

    /** The representations of {@code kvHead}: {@code [chunks(kvHead)][headDim]}, live (do not modify). */
    public float[] representations(int kvHead) {
        return reps[kvHead];
    }

    /**
     * Computes the representations of {@code kvHead}'s chunks up to chunk {@code upTo - 1} from
     * {@code view}'s keys (those already represented are kept).
     */
    public void represent(KvView view, int kvHead, long upTo, VectorKernels k) {
        if (view.headDim() != headDim) {
            throw new IllegalArgumentException("longheads memory: keys of " + view.headDim() + " elements, the memory holds "
                    + headDim);
        }
        if (upTo <= chunks[kvHead]) {
            return;
        }
        int n = (int) upTo;
        if ((long) n * headDim > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("longheads memory: " + upTo + " chunks of " + headDim + " do not fit an array");
        }
        if (reps[kvHead].length < n * headDim) {
            reps[kvHead] = Arrays.copyOf(reps[kvHead], Math.max(n, 2 * chunks[kvHead]) * headDim);
        }
        float[] keys = new float[chunkSize * headDim];
        double scale = 1 / Math.sqrt(headDim);
        double[] mean = new double[headDim];
        double[] w = new double[chunkSize];
        int pg = 0;
        for (int c = chunks[kvHead]; c < n; c++) {
            long first = (long) c * chunkSize;
            long last = first + chunkSize - 1;
            pg = firstPageEndingAtOrAfter(view, first, pg);
            int count = 0;
            for (; pg < view.pageCount(); pg++) {
                int len = view.pageLength(pg);
                if (len == 0) {
                    continue;
                }
                if (view.pageMinPosition(pg) > last) {
                    break;
                }
                for (int s = 0; s < len; s++) {
                    long pos = view.position(pg, s);
                    if (pos >= first && pos <= last && view.isValid(pg, s) && count < chunkSize) {
                        k.dequantize(view.dtype(), view.keys(pg), s * view.rowBytes(), keys, count * headDim, headDim);
                        count++;
                    }
                }
                if (view.pageMaxPosition(pg) > last) {
                    break; // the next chunk starts in this page
                }
            }
            representChunk(keys, count, mean, w, scale, reps[kvHead], c * headDim);
        }
        chunks[kvHead] = n;
    }

    /** {@code r = sum_j softmax_j(scale * kbar . k_j) k_j} over {@code count} keys, into {@code dst[at ..]}. */
    private void representChunk(float[] keys, int count, double[] mean, double[] w, double scale, float[] dst, int at) {
        Arrays.fill(dst, at, at + headDim, 0f);
        if (count == 0) {
            return;
        }
        Arrays.fill(mean, 0);
        for (int j = 0; j < count; j++) {
            for (int c = 0; c < headDim; c++) {
                mean[c] += keys[j * headDim + c];
            }
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < count; j++) {
            double s = 0;
            for (int c = 0; c < headDim; c++) {
                s += mean[c] / count * keys[j * headDim + c];
            }
            w[j] = s * scale;
            max = Math.max(max, w[j]);
        }
        double sum = 0;
        for (int j = 0; j < count; j++) {
            w[j] = Math.exp(w[j] - max);
            sum += w[j];
        }
        for (int c = 0; c < headDim; c++) {
            double r = 0;
            for (int j = 0; j < count; j++) {
                r += w[j] * keys[j * headDim + c];
            }
            dst[at + c] = (float) (r / sum);
        }
    }

    /** The first page at or after {@code from} whose last position is {@code >= position}. */
    private static int firstPageEndingAtOrAfter(KvView view, long position, int from) {
        int lo = from;
        int hi = view.pageCount();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (view.pageLength(mid) == 0 || view.pageMaxPosition(mid) < position) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
