package dev.longctx.attention;

/**
 * Per-page, per-channel key bounds of a {@link KvView} (Quest's page metadata), contiguous:
 * page {@code p}, channel {@code c} at index {@code p * headDim + c} of both arrays. The arrays
 * hold at least {@code pageCount * headDim} floats and belong to the view that returned them.
 *
 * @param min per-channel minimum of each page's stored keys
 * @param max per-channel maximum of each page's stored keys
 */
public record PageKeyBounds(float[] min, float[] max) {
    /** Checks that both arrays are present and of equal length. */
    public PageKeyBounds {
        java.util.Objects.requireNonNull(min, "min");
        java.util.Objects.requireNonNull(max, "max");
        if (min.length != max.length) {
            throw new IllegalArgumentException("PageKeyBounds: min has " + min.length + " floats, max " + max.length);
        }
    }
}
