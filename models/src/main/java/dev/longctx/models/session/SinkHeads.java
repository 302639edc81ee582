package dev.longctx.models.session;

import java.util.Arrays;
import java.util.StringJoiner;

/**
 * The query heads attention-sink calibration ({@link Strategy.SinkCalibration}) applies to: every
 * head, or a set of (layer, query head) pairs, usually found by a calibration pass on the model's
 * own task instances. Text form: {@code all}, or {@code LAYER.HEAD} pairs joined by {@code /}
 * (e.g. {@code 3.1/7.0}; {@code none} for the empty set).
 *
 * <p>Threading: an immutable value.
 */
public final class SinkHeads {
    private static final SinkHeads ALL = new SinkHeads(true, new long[0]);

    private final boolean all;
    /** {@code layer << 32 | head}, sorted, distinct. */
    private final long[] pairs;

    private SinkHeads(boolean all, long[] pairs) {
        this.all = all;
        this.pairs = pairs;
    }

    /** Every query head of every layer. */
    public static SinkHeads all() {
        return ALL;
    }

    /**
     * The given heads.
     *
     * @param layerHeadPairs {@code {layer, queryHead}} pairs, both {@code >= 0}
     */
    public static SinkHeads of(int[]... layerHeadPairs) {
        long[] p = new long[layerHeadPairs.length];
        for (int i = 0; i < p.length; i++) {
            int[] lh = layerHeadPairs[i];
            if (lh.length != 2 || lh[0] < 0 || lh[1] < 0) {
                throw new IllegalArgumentException("sink heads: expected {layer, head} pairs >= 0, got " + Arrays.toString(lh));
            }
            p[i] = (long) lh[0] << 32 | lh[1];
        }
        return new SinkHeads(false, Arrays.stream(p).sorted().distinct().toArray());
    }

    /**
     * Parses the text form ({@code all}, {@code none} or {@code LAYER.HEAD/LAYER.HEAD...}).
     *
     * @throws IllegalArgumentException naming the bad part
     */
    public static SinkHeads parse(String text) {
        String t = text.trim();
        if (t.equalsIgnoreCase("all")) {
            return ALL;
        }
        if (t.equalsIgnoreCase("none") || t.isEmpty()) {
            return of();
        }
        String[] parts = t.split("/");
        int[][] lh = new int[parts.length][];
        for (int i = 0; i < parts.length; i++) {
            String[] x = parts[i].split("\\.");
            try {
                if (x.length != 2) {
                    throw new NumberFormatException("not LAYER.HEAD");
                }
                lh[i] = new int[] {Integer.parseInt(x[0].trim()), Integer.parseInt(x[1].trim())};
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("sink heads: bad pair '" + parts[i] + "' in '" + text
                        + "' (expected all, none or LAYER.HEAD/LAYER.HEAD...)", e);
            }
        }
        return of(lh);
    }

    /** Whether every head is calibrated. */
    public boolean isAll() {
        return all;
    }

    /** Whether query head {@code head} of layer {@code layer} is calibrated. */
    public boolean contains(int layer, int head) {
        return all || Arrays.binarySearch(pairs, (long) layer << 32 | head) >= 0;
    }

    /** Per query head of {@code layer} ({@code queryHeads} of them), whether it is calibrated. */
    public boolean[] ofLayer(int layer, int queryHeads) {
        boolean[] out = new boolean[queryHeads];
        for (int h = 0; h < queryHeads; h++) {
            out[h] = contains(layer, h);
        }
        return out;
    }

    /** Number of listed heads (0 for {@link #all()}). */
    public int size() {
        return pairs.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SinkHeads s && s.all == all && Arrays.equals(s.pairs, pairs);
    }

    @Override
    public int hashCode() {
        return Boolean.hashCode(all) * 31 + Arrays.hashCode(pairs);
    }

    /** The text form {@link #parse} reads. */
    @Override
    public String toString() {
        if (all) {
            return "all";
        }
        if (pairs.length == 0) {
            return "none";
        }
        StringJoiner j = new StringJoiner("/");
        for (long p : pairs) {
            j.add((p >>> 32) + "." + (int) p);
        }
        return j.toString();
    }
}
