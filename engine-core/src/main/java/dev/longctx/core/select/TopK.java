package dev.longctx.core.select;

import java.util.Arrays;
import java.util.BitSet;
import java.util.function.DoublePredicate;

/**
 * Top-k selection with one rule for every caller (Quest's pages, TokenSelect's tokens,
 * MInference's blocks, SnapKV's prefix, the retrieval-head profile): entries rank by score,
 * highest first; <b>NaN ranks as +infinity</b> (a score that could not be computed is never taken
 * for a negligible one); equal scores (+0 and -0 are equal) rank <b>the lower index first</b>, so
 * the choice is deterministic. Expected O(n): a quickselect finds the k-th score, one pass marks.
 *
 * <p>Stateless; the scratch arrays callers pass are theirs (one per thread).
 */
public final class TopK {
    private TopK() {
    }

    /** The rank key of a score: NaN as +infinity, -0 as +0. */
    static double key(double s) {
        return s != s ? Double.POSITIVE_INFINITY : s + 0.0;
    }

    /** {@code scratch} if it holds {@code 2n} values (what {@link #mark} needs), else a larger array. */
    public static double[] scratch(double[] scratch, int n) {
        int need = 2 * n;
        return scratch != null && scratch.length >= need ? scratch
                : new double[Math.max(need, scratch == null ? 0 : scratch.length * 2)];
    }

    /**
     * Marks in {@code chosen} (cleared first) the {@code min(k, n)} of {@code score[0..n)} that rank
     * highest.
     *
     * @param scratch at least {@code 2n} doubles (see {@link #scratch})
     */
    public static void mark(float[] score, int n, int k, double[] scratch, BitSet chosen) {
        if (0 < k && k < n) {
            for (int i = 0; i < n; i++) {
                scratch[n + i] = key(score[i]);
            }
        }
        markKeys(scratch, n, k, chosen);
    }

    /** As {@link #mark(float[], int, int, double[], BitSet)} for double scores. */
    public static void mark(double[] score, int n, int k, double[] scratch, BitSet chosen) {
        if (0 < k && k < n) {
            for (int i = 0; i < n; i++) {
                scratch[n + i] = key(score[i]);
            }
        }
        markKeys(scratch, n, k, chosen);
    }

    /** The selection itself, on the rank keys in {@code keys[n..2n)}; {@code keys[0..n)} is the quickselect's. */
    private static void markKeys(double[] keys, int n, int k, BitSet chosen) {
        chosen.clear();
        if (k <= 0) {
            return;
        }
        if (k >= n) {
            chosen.set(0, n);
            return;
        }
        System.arraycopy(keys, n, keys, 0, n);
        double t = kthSmallest(keys, n, n - k);
        int above = 0;
        for (int i = 0; i < n; i++) {
            if (keys[n + i] > t) {
                chosen.set(i);
                above++;
            }
        }
        for (int i = 0, ties = k - above; i < n && ties > 0; i++) {
            if (keys[n + i] == t) {
                chosen.set(i);
                ties--;
            }
        }
    }

    /** Histogram buckets of the radix select's widest digit (11 bits). */
    private static final int BUCKETS = 1 << 11;

    /**
     * Histograms the first pass of {@link #markFlags} counts into, entry i into histogram
     * {@code i % HISTOGRAMS}: neighbouring scores mostly fall into one bucket, and one counter
     * incremented back to back waits for its own last store each time.
     */
    private static final int HISTOGRAMS = 4;

    /**
     * The rank key of a float score as an int whose signed order is the scores' rank order: NaN as
     * +infinity, -0 as +0 (as {@link #key}); negative floats have their magnitude bits flipped.
     */
    static int floatKey(float s) {
        int bits = Float.floatToRawIntBits(s != s ? Float.POSITIVE_INFINITY : s + 0f);
        return bits >= 0 ? bits : bits ^ Integer.MAX_VALUE;
    }

    /** {@code scratch} if it holds what {@link #markFlags} needs for {@code n} scores, else a larger array. */
    public static int[] scratch(int[] scratch, int n) {
        int need = 2 * n + HISTOGRAMS * BUCKETS;
        return scratch != null && scratch.length >= need ? scratch
                : new int[Math.max(need, scratch == null ? 0 : scratch.length * 2)];
    }

    /**
     * Sets {@code chosen[i]} for the {@code min(k, n)} of {@code score[0..n)} that rank highest and
     * clears it for the others: the choice of {@link #mark(float[], int, int, double[], BitSet)}
     * (same rule, same ties), without a quickselect or a set. A radix select on the scores' rank
     * keys ({@link #floatKey}): the top 11 bits, then the next 11 among the keys that share the
     * threshold's, then the last 10 give the k-th key exactly; one more pass marks. O(n), no
     * data-dependent swaps or branches in the passes over all n (the quickselect over doubles was
     * the largest part of recording a 2,048-of-16,000 selection after the exact pass).
     *
     * @param scratch at least {@code 2n + 8192} ints (see {@link #scratch(int[], int)})
     */
    public static void markFlags(float[] score, int n, int k, int[] scratch, boolean[] chosen) {
        if (k <= 0 || k >= n) {
            Arrays.fill(chosen, 0, n, k > 0);
            return;
        }
        int hist = 2 * n;
        // Pass 0 over every key: the top digit into HISTOGRAMS interleaved histograms, then summed.
        Arrays.fill(scratch, hist, hist + HISTOGRAMS * BUCKETS, 0);
        int i = 0;
        for (; i + HISTOGRAMS <= n; i += HISTOGRAMS) {
            for (int h = 0; h < HISTOGRAMS; h++) {
                int key = floatKey(score[i + h]);
                scratch[i + h] = key;
                scratch[hist + h * BUCKETS + ((key ^ Integer.MIN_VALUE) >>> 21)]++;
            }
        }
        for (; i < n; i++) {
            int key = floatKey(score[i]);
            scratch[i] = key;
            scratch[hist + ((key ^ Integer.MIN_VALUE) >>> 21)]++;
        }
        for (int h = 1; h < HISTOGRAMS; h++) {
            for (int b = 0; b < BUCKETS; b++) {
                scratch[hist + b] += scratch[hist + h * BUCKETS + b];
            }
        }
        // The k-th highest key, digit by digit (as unsigned: key ^ MIN_VALUE orders like the key).
        int need = k;
        int prefix = 0;
        int m = n;
        int from = 0; // the keys still in play: scratch[from, from + m)
        for (int pass = 0; pass < 3; pass++) {
            int shift = pass == 0 ? 21 : pass == 1 ? 10 : 0; // digits of 11, 11 and 10 bits
            int mask = (1 << (pass == 2 ? 10 : 11)) - 1;
            if (pass > 0) {
                Arrays.fill(scratch, hist, hist + mask + 1, 0);
                for (int j = from; j < from + m; j++) {
                    scratch[hist + (((scratch[j] ^ Integer.MIN_VALUE) >>> shift) & mask)]++;
                }
            }
            int b = mask;
            while (scratch[hist + b] < need) {
                need -= scratch[hist + b];
                b--;
            }
            prefix |= b << shift;
            if (pass == 2) {
                break;
            }
            // Keep the keys of bucket b, packed at scratch[n, ...): written always, kept by the count.
            int kept = 0;
            for (int j = from; j < from + m; j++) {
                int key = scratch[j];
                scratch[n + kept] = key;
                kept += (((key ^ Integer.MIN_VALUE) >>> shift) & mask) == b ? 1 : 0;
            }
            from = n;
            m = kept;
        }
        int t = prefix ^ Integer.MIN_VALUE; // the k-th highest key; need = how many of its ties to take
        for (int j = 0; j < n; j++) {
            chosen[j] = scratch[j] > t;
        }
        // Then the first `need` keys equal to the threshold, in index order (usually one).
        for (int j = 0; need > 0; j++) {
            if (scratch[j] == t) {
                chosen[j] = true;
                need--;
            }
        }
    }

    /**
     * The indices, increasing, of the {@code k} highest-ranking scores among those {@code eligible}
     * accepts (all of them when fewer are eligible). Eligibility is the caller's domain rule
     * (e.g. MInference picks only positive block scores); the ranking is this class's.
     */
    public static int[] indices(double[] score, int k, DoublePredicate eligible) {
        int[] index = new int[score.length];
        double[] candidates = new double[score.length];
        int m = 0;
        for (int i = 0; i < score.length; i++) {
            if (eligible.test(score[i])) {
                index[m] = i;
                candidates[m++] = score[i];
            }
        }
        BitSet chosen = new BitSet(m);
        mark(candidates, m, k, new double[2 * m], chosen);
        int[] out = new int[chosen.cardinality()];
        int o = 0;
        for (int j = chosen.nextSetBit(0); j >= 0; j = chosen.nextSetBit(j + 1)) {
            out[o++] = index[j];
        }
        return out; // increasing: candidates kept the scores' order
    }

    /** A boolean per entry: true for the {@code min(k, n)} of {@code score[0..n)} that rank highest. */
    public static boolean[] flags(float[] score, int n, int k) {
        BitSet chosen = new BitSet(n);
        mark(score, n, k, new double[2 * n], chosen);
        boolean[] out = new boolean[n];
        for (int j = chosen.nextSetBit(0); j >= 0; j = chosen.nextSetBit(j + 1)) {
            out[j] = true;
        }
        return out;
    }

    /**
     * Hoare's selection: the value of rank {@code target} (0-based, ascending) among
     * {@code a[0..n)}, which it reorders. The keys hold no NaN ({@link #key} maps it).
     */
    static double kthSmallest(double[] a, int n, int target) {
        int lo = 0;
        int hi = n - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            // Median of three keeps sorted and reverse-sorted inputs (scores by position) linear.
            double x = a[lo];
            double y = a[mid];
            double z = a[hi];
            double pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] < pivot) {
                    i++;
                }
                while (a[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    double tmp = a[i];
                    a[i] = a[j];
                    a[j] = tmp;
                    i++;
                    j--;
                }
            }
            if (target <= j) {
                hi = j;
            } else if (target >= i) {
                lo = i;
            } else {
                return a[target]; // between the two halves: equal to the pivot
            }
        }
        return a[target];
    }

    /** The naive reference: sort indices by (key descending, index ascending), take the first k. For tests. */
    static boolean[] reference(double[] score, int n, int k) {
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int c = Double.compare(key(score[b]), key(score[a]));
            return c != 0 ? c : Integer.compare(a, b);
        });
        boolean[] out = new boolean[n];
        for (int i = 0; i < Math.min(k, n); i++) {
            out[order[i]] = true;
        }
        return out;
    }
}
