package dev.longctx.attention;

import dev.longctx.core.kernels.spi.Halfs;
import java.util.Arrays;
import java.util.Objects;

/**
 * Per-page, per-channel key bounds of a {@link KvView} (Quest's page metadata), contiguous:
 * page {@code p}, channel {@code c} at index {@code p * headDim + c} of every array. The arrays
 * hold at least {@code pageCount * headDim} entries and belong to the view that returned them.
 *
 * <p>Optionally also packed: the same bounds as bfloat16 bits rounded outward (each minimum down,
 * each maximum up, {@link Halfs#floatToBf16Down}, {@link Halfs#floatToBf16Up}), so that a bound
 * computed from them is still at least {@code q.k} for every key of the page, from half the bytes:
 * Quest reads every page's bounds on every decode step (47 MB per token at 64K tokens of the
 * SmolLM2 shape in F32). They are looser by at most one bfloat16 step (2^-7 relative) per channel.
 *
 * @param min per-channel minimum of each page's stored keys
 * @param max per-channel maximum of each page's stored keys
 * @param packedMin {@code min} rounded down to bfloat16 bits, or null when not kept
 * @param packedMax {@code max} rounded up to bfloat16 bits, or null when not kept
 */
public record PageKeyBounds(float[] min, float[] max, short[] packedMin, short[] packedMax) {
    /** Checks that the float arrays are present and of equal length, and the packed ones match them. */
    public PageKeyBounds {
        Objects.requireNonNull(min, "min");
        Objects.requireNonNull(max, "max");
        if (min.length != max.length) {
            throw new IllegalArgumentException("PageKeyBounds: min has " + min.length + " floats, max " + max.length);
        }
        if ((packedMin == null) != (packedMax == null)) {
            throw new IllegalArgumentException("PageKeyBounds: packed bounds need both packedMin and packedMax");
        }
        if (packedMin != null && (packedMin.length != min.length || packedMax.length != min.length)) {
            throw new IllegalArgumentException("PageKeyBounds: packed bounds have " + packedMin.length + " and "
                    + packedMax.length + " entries, the float bounds " + min.length);
        }
    }

    /** Float bounds only. */
    public PageKeyBounds(float[] min, float[] max) {
        this(min, max, null, null);
    }

    /** Float bounds with packed copies made from them (the arrays are kept, not copied). */
    public static PageKeyBounds withPacked(float[] min, float[] max) {
        PageKeyBounds b = new PageKeyBounds(min, max, new short[min.length], new short[max.length]);
        b.repack(0, min.length);
        return b;
    }

    /** True when the packed bfloat16 copies are kept. */
    public boolean isPacked() {
        return packedMin != null;
    }

    /**
     * Empties entries {@code [from, to)} (minimum +infinity, maximum -infinity, packed copies
     * likewise) before the keys of a page are included again.
     */
    public void reset(int from, int to) {
        Arrays.fill(min, from, to, Float.POSITIVE_INFINITY);
        Arrays.fill(max, from, to, Float.NEGATIVE_INFINITY);
        repack(from, to);
    }

    /**
     * Widens entries {@code [offset, offset + n)} to include the key {@code key[keyOff..keyOff + n)};
     * the packed copy of an entry is rewritten only when that entry changes (after a page's first
     * keys, most channels of an appended key change neither bound).
     */
    public void include(int offset, float[] key, int keyOff, int n) {
        Objects.checkFromIndexSize(offset, n, min.length);
        Objects.checkFromIndexSize(keyOff, n, key.length);
        for (int c = 0; c < n; c++) {
            int i = offset + c;
            float lo = Math.min(min[i], key[keyOff + c]);
            if (Float.floatToRawIntBits(lo) != Float.floatToRawIntBits(min[i])) {
                min[i] = lo;
                if (packedMin != null) {
                    packedMin[i] = Halfs.floatToBf16Down(lo);
                }
            }
            float hi = Math.max(max[i], key[keyOff + c]);
            if (Float.floatToRawIntBits(hi) != Float.floatToRawIntBits(max[i])) {
                max[i] = hi;
                if (packedMax != null) {
                    packedMax[i] = Halfs.floatToBf16Up(hi);
                }
            }
        }
    }

    /**
     * Rewrites the packed copies of entries {@code [from, to)} from the float bounds (after those
     * were written directly); nothing when none are kept.
     */
    public void repack(int from, int to) {
        Objects.checkFromToIndex(from, to, min.length);
        if (packedMin == null) {
            return;
        }
        for (int i = from; i < to; i++) {
            packedMin[i] = Halfs.floatToBf16Down(min[i]);
            packedMax[i] = Halfs.floatToBf16Up(max[i]);
        }
    }
}
