package dev.longctx.core.tensor;

import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * A shape, a {@link DType} and {@link MemorySegment} storage: on the heap, off-heap in an
 * {@link Arena}, or a region of a memory-mapped file ({@link MappedFile}).
 *
 * <p>Shapes are row-major: the last dimension is contiguous. For block-quantised types the last
 * dimension must be a whole number of blocks, so each row starts on a block boundary.
 *
 * <p>Views ({@link #reshape}, {@link #slice}, {@link #row}) share the storage and never copy.
 * Closing the tensor that owns an arena frees its memory; any later access through it or its
 * views throws {@link IllegalStateException} (the FFM runtime guarantees this for off-heap and
 * mapped storage; heap tensors check a flag). Tensors are safe to read from many threads.
 */
public final class Tensor implements AutoCloseable {
    private final DType dtype;
    private final long[] shape;
    private final MemorySegment segment;
    /** The arena this tensor owns and frees on close, or null for views and borrowed storage. */
    private final Arena ownedArena;
    private final Tensor owner;
    private volatile boolean closed;

    private Tensor(DType dtype, long[] shape, MemorySegment segment, Arena ownedArena, Tensor owner) {
        this.dtype = dtype;
        this.shape = shape;
        this.segment = segment;
        this.ownedArena = ownedArena;
        this.owner = owner;
    }

    /** Allocates a zeroed off-heap tensor that owns its memory; free it with {@link #close()}. */
    public static Tensor allocate(DType dtype, long... shape) {
        long[] s = checkShape(dtype, shape);
        long bytes = dtype.bytesFor(elementCount(s));
        Arena arena = Arena.ofShared();
        try {
            // 64-byte alignment: one cache line, the widest vector register.
            MemorySegment seg = arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
            return new Tensor(dtype, s, seg, arena, null);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
            throw new IllegalArgumentException("cannot allocate " + bytes + " bytes for " + dtype + " tensor "
                    + Arrays.toString(s), e);
        }
    }

    /** Wraps a float array (no copy); the tensor's dtype is F32. */
    public static Tensor ofFloats(float[] data, long... shape) {
        long[] s = checkShape(DType.F32, shape);
        if (elementCount(s) != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(s) + " has " + elementCount(s)
                    + " elements but the array has " + data.length);
        }
        return new Tensor(DType.F32, s, MemorySegment.ofArray(data), null, null);
    }

    /**
     * Wraps existing storage (no copy). The segment must hold exactly the bytes of the shape;
     * the caller keeps ownership of its memory.
     */
    public static Tensor wrap(DType dtype, MemorySegment segment, long... shape) {
        Objects.requireNonNull(segment, "segment");
        long[] s = checkShape(dtype, shape);
        long bytes = dtype.bytesFor(elementCount(s));
        if (segment.byteSize() != bytes) {
            throw new IllegalArgumentException(dtype + " tensor " + Arrays.toString(s) + " needs " + bytes
                    + " bytes but the segment has " + segment.byteSize());
        }
        return new Tensor(dtype, s, segment, null, null);
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code d}; negative {@code d} counts from the end. */
    public long dim(int d) {
        int i = d < 0 ? shape.length + d : d;
        if (i < 0 || i >= shape.length) {
            throw new IllegalArgumentException("dimension " + d + " out of range for rank " + shape.length);
        }
        return shape[i];
    }

    /** Total number of elements. */
    public long elementCount() {
        return elementCount(shape);
    }

    /** Bytes of storage. */
    public long byteSize() {
        return segment.byteSize();
    }

    /** Number of rows when viewed as a matrix [elements / lastDim, lastDim]. */
    public long rows() {
        return shape.length == 0 ? 1 : elementCount() / Math.max(1, shape[shape.length - 1]);
    }

    /** The last dimension (row length in elements). */
    public long columns() {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    /** Bytes of one row (last dimension). */
    public long rowBytes() {
        return dtype.bytesFor(columns());
    }

    /**
     * The storage. Throws {@link IllegalStateException} once this tensor (or the tensor it is a view
     * of) is closed.
     */
    public MemorySegment segment() {
        if (closed || (owner != null && owner.closed)) {
            throw new IllegalStateException("tensor " + Arrays.toString(shape) + " " + dtype + " is closed");
        }
        return segment;
    }

    /** A view with another shape of the same element count (no copy). */
    public Tensor reshape(long... newShape) {
        long[] s = checkShape(dtype, newShape);
        if (elementCount(s) != elementCount()) {
            throw new IllegalArgumentException("reshape " + Arrays.toString(shape) + " -> " + Arrays.toString(s)
                    + ": element counts differ (" + elementCount() + " vs " + elementCount(s) + ")");
        }
        return new Tensor(dtype, s, segment(), null, root());
    }

    /** A view of {@code count} entries of the first dimension starting at {@code start} (no copy). */
    public Tensor slice(long start, long count) {
        if (shape.length == 0) {
            throw new IllegalArgumentException("cannot slice a scalar tensor");
        }
        if (start < 0 || count < 0 || start > shape[0] - count) {
            throw new IllegalArgumentException("slice [" + start + ", " + (start + count) + ") outside dimension 0 of size "
                    + shape[0] + " of tensor " + Arrays.toString(shape));
        }
        long[] s = shape.clone();
        s[0] = count;
        long inner = dtype.bytesFor(elementCount(shape) / Math.max(1, shape[0]));
        if (shape[0] == 0) {
            inner = 0;
        }
        return new Tensor(dtype, s, segment().asSlice(start * inner, count * inner), null, root());
    }

    /** Row {@code i} of the tensor viewed as a matrix, as a rank-1 view. */
    public Tensor row(long i) {
        long rows = rows();
        if (i < 0 || i >= rows) {
            throw new IllegalArgumentException("row " + i + " outside [0, " + rows + ") of tensor " + Arrays.toString(shape));
        }
        long rb = rowBytes();
        return new Tensor(dtype, new long[] {columns()}, segment().asSlice(i * rb, rb), null, root());
    }

    /** Decodes all elements into a new float array (for tests and small tensors such as norms). */
    public float[] toFloatArray() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor of " + n + " elements does not fit a Java array");
        }
        float[] out = new float[(int) n];
        Quantization.dequantize(dtype, segment(), 0, out, 0, (int) n);
        return out;
    }

    /** Frees owned memory; views become unusable. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (ownedArena != null) {
            ownedArena.close();
        }
    }

    /** Whether this tensor (or the tensor it views) has been closed. */
    public boolean isClosed() {
        return closed || (owner != null && owner.closed);
    }

    private Tensor root() {
        return owner != null ? owner : this;
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype;
    }

    static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static long[] checkShape(DType dtype, long[] shape) {
        Objects.requireNonNull(dtype, "dtype");
        long[] s = shape.clone();
        long n = 1;
        for (long d : s) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(s));
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("element count of shape " + Arrays.toString(s) + " overflows", e);
            }
        }
        if (s.length > 0 && s[s.length - 1] % dtype.blockSize() != 0) {
            throw new IllegalArgumentException(dtype + " tensor " + Arrays.toString(s) + ": last dimension "
                    + s[s.length - 1] + " is not a multiple of the block size " + dtype.blockSize());
        }
        dtype.bytesFor(n);
        return s;
    }
}
