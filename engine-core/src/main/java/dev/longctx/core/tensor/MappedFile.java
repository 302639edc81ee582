package dev.longctx.core.tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A read-only memory-mapped file (any size; files over 2 GiB work) from which tensors are cut
 * without copying. Closing unmaps the file; tensors cut from it then throw on access.
 */
public final class MappedFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;

    private MappedFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    /** Maps the whole file read-only. */
    public static MappedFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return new MappedFile(path, arena, seg);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** File size in bytes. */
    public long size() {
        return segment.byteSize();
    }

    /** The whole mapping. */
    public MemorySegment segment() {
        return segment;
    }

    /**
     * A tensor over {@code [offset, offset + bytes)} of the file, where bytes follows from dtype and
     * shape.
     *
     * @throws IllegalArgumentException naming the file, the offset and the size when the region
     *     does not lie inside the file
     */
    public Tensor tensor(DType dtype, long offset, long... shape) {
        long bytes = dtype.bytesFor(Tensor.elementCount(shape));
        if (offset < 0 || bytes > segment.byteSize() - offset) {
            throw new IllegalArgumentException(path + ": " + dtype + " tensor " + Arrays.toString(shape) + " at offset "
                    + offset + " needs " + bytes + " bytes, past the end of the file (" + segment.byteSize() + " bytes)");
        }
        return Tensor.wrap(dtype, segment.asSlice(offset, bytes), shape);
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
