package dev.longctx.attention;

import java.util.Arrays;

/**
 * InfLLM's context memory for one layer of one sequence (Xiao et al., 2024, "InfLLM: Training-Free
 * Long-Context Extrapolation for LLMs with an Efficient Context Memory"): per KV head, the memory
 * units (blocks of consecutive positions that have left the local window) in position order, each
 * with the positions of its representative tokens and the sum of their keys (as they were when the
 * unit closed: the relevance {@code sum_r q . k_r} is {@code q . sum_r k_r}, one dot product per
 * unit). The keys and values themselves stay where they are, in the cache's pages; the memory only
 * names them. {@link InfLlmAttention} retrieves units
 * from it; whoever feeds the sequence (the strategy plan) closes units as tokens leave the window.
 *
 * <p>Every position after {@link #coveredTo(int)} is still local (attended whatever the retrieval);
 * positions up to it that lie in no unit (the attention sinks) are the caller's to keep.
 *
 * <p>Threading: not thread-safe; it belongs to one sequence, used by one thread at a time. The
 * kernel reads it from the pool's threads after the caller's hand-off, and writes nothing.
 */
public final class InfLlmMemory {
    private final int reps;
    private final int headDim;
    private final float[][] keySums;
    /** Per unit, the per-channel minimum / maximum of its valid keys (NaN: not given), for the key-bound variant. */
    private final float[][] keyMin;
    private final float[][] keyMax;
    private final long[][] first;
    private final long[][] last;
    private final long[][] repPositions;
    private final int[] units;
    private final long[] coveredTo;

    /**
     * An empty memory.
     *
     * @param kvHeads KV heads of the layer
     * @param reps representative tokens per unit (the paper's r_k)
     * @param headDim elements per key
     */
    public InfLlmMemory(int kvHeads, int reps, int headDim) {
        if (kvHeads <= 0 || reps <= 0 || headDim <= 0) {
            throw new IllegalArgumentException("infllm memory: kvHeads, reps and headDim must be positive, got " + kvHeads + ", "
                    + reps + ", " + headDim);
        }
        this.reps = reps;
        this.headDim = headDim;
        this.keySums = new float[kvHeads][8 * headDim];
        this.keyMin = new float[kvHeads][8 * headDim];
        this.keyMax = new float[kvHeads][8 * headDim];
        this.first = new long[kvHeads][8];
        this.last = new long[kvHeads][8];
        this.repPositions = new long[kvHeads][8 * reps];
        this.units = new int[kvHeads];
        this.coveredTo = new long[kvHeads];
        Arrays.fill(coveredTo, -1);
    }

    private InfLlmMemory(InfLlmMemory o) {
        this.reps = o.reps;
        this.headDim = o.headDim;
        this.keySums = new float[o.keySums.length][];
        this.keyMin = new float[o.keyMin.length][];
        this.keyMax = new float[o.keyMax.length][];
        for (int i = 0; i < keySums.length; i++) {
            keySums[i] = o.keySums[i].clone();
            keyMin[i] = o.keyMin[i].clone();
            keyMax[i] = o.keyMax[i].clone();
        }
        this.first = deep(o.first);
        this.last = deep(o.last);
        this.repPositions = deep(o.repPositions);
        this.units = o.units.clone();
        this.coveredTo = o.coveredTo.clone();
    }

    private static long[][] deep(long[][] a) {
        long[][] c = new long[a.length][];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i].clone();
        }
        return c;
    }

    /** An independent copy (for a fork of the sequence). */
    public InfLlmMemory copy() {
        return new InfLlmMemory(this);
    }

    /** KV heads. */
    public int kvHeads() {
        return units.length;
    }

    /** Representative tokens per unit. */
    public int reps() {
        return reps;
    }

    /** Elements per key. */
    public int headDim() {
        return headDim;
    }

    /**
     * Appends a unit of {@code kvHead}: positions {@code first..last} (after every earlier unit),
     * represented by {@code count <= reps()} positions of {@code representatives} whose keys sum to
     * {@code keySum[keySumOff .. keySumOff + headDim)}. Positions up to {@code last} are no longer local.
     */
    public void addUnit(int kvHead, long first, long last, long[] representatives, int count, float[] keySum, int keySumOff) {
        addUnit(kvHead, first, last, representatives, count, keySum, keySumOff, null, null, 0);
    }

    /**
     * As {@link #addUnit(int, long, long, long[], int, float[], int)}, with the per-channel minimum
     * and maximum of the unit's valid keys ({@code keyMin/keyMax[boundsOff .. boundsOff + headDim)}),
     * which {@link InfLlmAttention.Relevance#KEY_BOUND} ranks units by; null for none.
     */
    public void addUnit(int kvHead, long first, long last, long[] representatives, int count, float[] keySum, int keySumOff,
                        float[] keyMin, float[] keyMax, int boundsOff) {
        if ((keyMin == null) != (keyMax == null)) {
            throw new IllegalArgumentException("infllm unit " + first + ".." + last + ": give both key bounds or neither");
        }
        if (first > last || first <= coveredTo[kvHead] || count < 0 || count > reps) {
            throw new IllegalArgumentException("infllm unit " + first + ".." + last + " with " + count + " representatives after "
                    + coveredTo[kvHead]);
        }
        int u = units[kvHead];
        if (u == this.first[kvHead].length) {
            this.first[kvHead] = Arrays.copyOf(this.first[kvHead], 2 * u);
            this.last[kvHead] = Arrays.copyOf(this.last[kvHead], 2 * u);
            repPositions[kvHead] = Arrays.copyOf(repPositions[kvHead], 2 * u * reps);
            keySums[kvHead] = Arrays.copyOf(keySums[kvHead], 2 * u * headDim);
            this.keyMin[kvHead] = Arrays.copyOf(this.keyMin[kvHead], 2 * u * headDim);
            this.keyMax[kvHead] = Arrays.copyOf(this.keyMax[kvHead], 2 * u * headDim);
        }
        System.arraycopy(keySum, keySumOff, keySums[kvHead], u * headDim, headDim);
        if (keyMin != null) {
            System.arraycopy(keyMin, boundsOff, this.keyMin[kvHead], u * headDim, headDim);
            System.arraycopy(keyMax, boundsOff, this.keyMax[kvHead], u * headDim, headDim);
        } else {
            Arrays.fill(this.keyMin[kvHead], u * headDim, (u + 1) * headDim, Float.NaN);
            Arrays.fill(this.keyMax[kvHead], u * headDim, (u + 1) * headDim, Float.NaN);
        }
        this.first[kvHead][u] = first;
        this.last[kvHead][u] = last;
        for (int r = 0; r < reps; r++) {
            repPositions[kvHead][u * reps + r] = r < count ? representatives[r] : -1;
        }
        units[kvHead] = u + 1;
        coveredTo[kvHead] = last;
    }

    /** Units of {@code kvHead}. */
    public int units(int kvHead) {
        return units[kvHead];
    }

    /** First position of unit {@code u}. */
    public long first(int kvHead, int u) {
        return first[kvHead][u];
    }

    /** Last position of unit {@code u}. */
    public long last(int kvHead, int u) {
        return last[kvHead][u];
    }

    /** Representative {@code r} of unit {@code u}, or -1 (a unit with fewer valid tokens than {@link #reps()}). */
    public long representative(int kvHead, int u, int r) {
        return repPositions[kvHead][u * reps + r];
    }

    /** The summed representative keys of {@code kvHead}'s units, unit {@code u} at {@code [u * headDim, (u + 1) * headDim)}. */
    float[] keySums(int kvHead) {
        return keySums[kvHead];
    }

    /** Channel {@code c} of unit {@code u}'s key minimum (NaN: the unit was added without bounds). */
    public float keyMin(int kvHead, int u, int c) {
        return keyMin[kvHead][u * headDim + c];
    }

    /** Channel {@code c} of unit {@code u}'s key maximum (NaN: the unit was added without bounds). */
    public float keyMax(int kvHead, int u, int c) {
        return keyMax[kvHead][u * headDim + c];
    }

    /** Per-channel minimum of {@code kvHead}'s units' keys, unit {@code u} at {@code [u * headDim, (u + 1) * headDim)} (NaN: not given). */
    float[] keyMins(int kvHead) {
        return keyMin[kvHead];
    }

    /** Per-channel maximum, as {@link #keyMins}. */
    float[] keyMaxs(int kvHead) {
        return keyMax[kvHead];
    }

    /** The last position held in a unit (-1: none); later positions are local. */
    public long coveredTo(int kvHead) {
        return coveredTo[kvHead];
    }

    /** Index of the unit holding {@code position}, or -1. */
    int unitOf(int kvHead, long position) {
        long[] f = first[kvHead];
        int lo = 0;
        int hi = units[kvHead] - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (f[mid] > position) {
                hi = mid - 1;
            } else if (last[kvHead][mid] < position) {
                lo = mid + 1;
            } else {
                return mid;
            }
        }
        return -1;
    }
}
