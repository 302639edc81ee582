package dev.longctx.attention;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * An in-memory {@link KvView} built from float keys and values: tests, benchmarks and small
 * one-off uses. Keys and values are encoded once into off-heap pages of the chosen dtype, and
 * per-page key bounds are kept for Quest. Immutable except for {@link #invalidate}.
 */
public final class DenseKvView implements KvView {
    private final int headDim;
    private final DType dtype;
    private final int pageSize;
    private final int length;
    private final MemorySegment[] keys;
    private final MemorySegment[] values;
    private final long[] positions;
    private final boolean[] valid;
    private final PageKeyBounds bounds;
    /** Pages that still have an evicted slot; {@link #allValid} is then false. */
    private final java.util.BitSet pagesWithHoles = new java.util.BitSet();

    private DenseKvView(int headDim, DType dtype, int pageSize, int length, MemorySegment[] keys, MemorySegment[] values,
                        long[] positions, boolean[] valid, PageKeyBounds bounds) {
        this.headDim = headDim;
        this.dtype = dtype;
        this.pageSize = pageSize;
        this.length = length;
        this.keys = keys;
        this.values = values;
        this.positions = positions;
        this.valid = valid;
        this.bounds = bounds;
    }

    /**
     * Builds a view of {@code n = keys.length / headDim} tokens at positions {@code 0..n-1}.
     *
     * @param keys {@code [n][headDim]} floats
     * @param values {@code [n][headDim]} floats
     */
    public static DenseKvView of(float[] keys, float[] values, int headDim, DType dtype, int pageSize) {
        int n = headDim > 0 ? keys.length / headDim : 0;
        long[] pos = new long[n];
        for (int i = 0; i < n; i++) {
            pos[i] = i;
        }
        return of(keys, values, pos, headDim, dtype, pageSize);
    }

    /** Builds a view with explicit, strictly increasing positions. */
    public static DenseKvView of(float[] keys, float[] values, long[] positions, int headDim, DType dtype, int pageSize) {
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(values, "values");
        Objects.requireNonNull(positions, "positions");
        Objects.requireNonNull(dtype, "dtype");
        if (headDim <= 0 || headDim % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("DenseKvView: head dim " + headDim + " must be a positive multiple of "
                    + dtype.blockSize() + " for " + dtype);
        }
        if (pageSize <= 0) {
            throw new IllegalArgumentException("DenseKvView: page size must be positive, got " + pageSize);
        }
        int n = positions.length;
        if (keys.length != (long) n * headDim || values.length != (long) n * headDim) {
            throw new IllegalArgumentException("DenseKvView: " + n + " positions need keys and values of " + ((long) n * headDim)
                    + " floats ([n][headDim]), got " + keys.length + " and " + values.length);
        }
        for (int i = 1; i < n; i++) {
            if (positions[i] <= positions[i - 1]) {
                throw new IllegalArgumentException("DenseKvView: positions must strictly increase; position[" + i + "]="
                        + positions[i] + " after " + positions[i - 1]);
            }
        }
        int pages = (n + pageSize - 1) / pageSize;
        long rowBytes = dtype.bytesFor(headDim);
        Arena arena = Arena.ofAuto(); // freed by the GC with the view
        MemorySegment[] ks = new MemorySegment[pages];
        MemorySegment[] vs = new MemorySegment[pages];
        PageKeyBounds bounds = PageKeyBounds.withPacked(new float[pages * headDim], new float[pages * headDim]);
        bounds.reset(0, pages * headDim);
        for (int p = 0; p < pages; p++) {
            // Off-heap like the real cache: the Vector API only intrinsifies 16-bit loads from
            // native segments (from a byte[]-backed heap segment they ran 50x slower, measured).
            ks[p] = arena.allocate(rowBytes * pageSize, 64);
            vs[p] = arena.allocate(rowBytes * pageSize, 64);
        }
        float[] decoded = new float[headDim];
        for (int i = 0; i < n; i++) {
            int p = i / pageSize;
            int s = i % pageSize;
            Quantization.quantize(dtype, keys, i * headDim, headDim, ks[p], s * rowBytes);
            Quantization.quantize(dtype, values, i * headDim, headDim, vs[p], s * rowBytes);
            // Bounds of the stored (rounded) keys, so Quest's bound holds for what kernels read.
            Quantization.dequantize(dtype, ks[p], s * rowBytes, decoded, 0, headDim);
            bounds.include(p * headDim, decoded, 0, headDim);
        }
        boolean[] valid = new boolean[pages * pageSize];
        Arrays.fill(valid, 0, n, true);
        return new DenseKvView(headDim, dtype, pageSize, n, ks, vs, positions.clone(), valid, bounds);
    }

    /** Marks a token (by index 0..n-1) as evicted; kernels then skip it. Key bounds are not shrunk. */
    public DenseKvView invalidate(int token) {
        if (token < 0 || token >= length) {
            throw new IllegalArgumentException("DenseKvView: token " + token + " outside [0, " + length + ")");
        }
        valid[token] = false;
        pagesWithHoles.set(token / pageSize);
        return this;
    }

    @Override
    public int headDim() {
        return headDim;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public int pageSize() {
        return pageSize;
    }

    @Override
    public int pageCount() {
        return keys.length;
    }

    @Override
    public int pageLength(int page) {
        return Math.min(pageSize, length - page * pageSize);
    }

    @Override
    public MemorySegment keys(int page) {
        return keys[page];
    }

    @Override
    public MemorySegment values(int page) {
        return values[page];
    }

    @Override
    public long position(int page, int slot) {
        return positions[page * pageSize + slot];
    }

    @Override
    public boolean isValid(int page, int slot) {
        return slot < pageLength(page) && valid[page * pageSize + slot];
    }

    @Override
    public boolean allValid(int page) {
        return !pagesWithHoles.get(page);
    }

    @Override
    public PageKeyBounds keyBounds() {
        return bounds;
    }

    @Override
    public int length() {
        return length;
    }
}
