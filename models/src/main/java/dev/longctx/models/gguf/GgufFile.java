package dev.longctx.models.gguf;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.MappedFile;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A GGUF file (versions 2 and 3): metadata, tensor infos and the tensors themselves, memory-mapped
 * and never copied. Every count, length, dimension and offset is checked against the file before
 * it is used: a malformed or hostile file gives a {@link ModelFormatException} naming the field or
 * tensor and the offset, never an OutOfMemoryError or an index error.
 *
 * <p>Layout (little-endian): magic {@code GGUF}, version, tensor count (u64), metadata count
 * (u64), metadata key/value pairs, tensor infos (name, dims innermost first, ggml type, offset
 * relative to the data section), padding to {@code general.alignment} (default 32), data.
 */
public final class GgufFile implements AutoCloseable {
    /** "GGUF" read as a little-endian u32. */
    static final int MAGIC = 0x46554747;
    /** ggml's GGML_MAX_DIMS. */
    static final int MAX_DIMS = 4;
    /** Default data alignment when {@code general.alignment} is absent (GGUF spec). */
    static final int DEFAULT_ALIGNMENT = 32;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A tensor's entry: name, shape (outermost first, as {@link Tensor} wants), type, absolute offset. */
    public record TensorInfo(String name, long[] shape, DType dtype, long offset, long bytes) {
    }

    private final String source;
    private final MappedFile mapped;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;

    private GgufFile(String source, MappedFile mapped, int version, Map<String, Object> metadata,
                     Map<String, TensorInfo> tensors) {
        this.source = source;
        this.mapped = mapped;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** Maps and parses a GGUF file. */
    public static GgufFile open(Path path) throws IOException {
        MappedFile mf = MappedFile.open(path);
        try {
            Parsed p = parse(mf.segment(), path.toString());
            return new GgufFile(path.toString(), mf, p.version, p.metadata, p.tensors);
        } catch (RuntimeException e) {
            mf.close();
            throw e;
        }
    }

    /** The parsed header of an in-memory GGUF image (tests, fuzzing); tensors are not mapped. */
    static Parsed parse(MemorySegment file, String source) {
        return new Reader(file, source).read();
    }

    /** Header contents. */
    record Parsed(int version, Map<String, Object> metadata, Map<String, TensorInfo> tensors) {
    }

    /**
     * A tensor as the header states it, whatever its type: name, shape (outermost first), ggml type
     * id (see {@link GgmlType#fromId}; it may be one this engine cannot decode, or none ggml has) and
     * offset relative to the data section.
     */
    public record HeaderTensor(String name, long[] shape, int ggmlType, long relativeOffset) {
        /** The number of elements. */
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d; // the reader checked that the product does not overflow
            }
            return n;
        }
    }

    /** A file's header read without decoding tensor types: version, metadata and tensor entries in file order. */
    public record Header(int version, Map<String, Object> metadata, List<HeaderTensor> tensors) {
    }

    /**
     * Reads the header of a GGUF file (metadata and tensor entries, every count, length and dimension
     * checked as {@link #open} checks them) without requiring its tensor types to be ones this engine
     * decodes, nor checking where the tensor data lies: for describing files ({@code longctx inspect})
     * that {@link #open} refuses. The file is closed before this returns.
     */
    public static Header readHeader(Path path) throws IOException {
        try (MappedFile mf = MappedFile.open(path)) {
            return parseHeader(mf.segment(), path.toString());
        }
    }

    /** {@link #readHeader} of an in-memory GGUF image (tests, fuzzing). */
    static Header parseHeader(MemorySegment file, String source) {
        List<HeaderTensor> entries = new ArrayList<>();
        Parsed p = new Reader(file, source, entries).read();
        return new Header(p.version(), p.metadata(), List.copyOf(entries));
    }

    public int version() {
        return version;
    }

    /** Metadata values: Long (all integer types), Double (floats), Boolean, String, or List of those. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** Tensor infos by name, in file order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** A tensor by name, mapped in place. */
    public Tensor tensor(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(source, -1, "missing tensor '" + name + "'");
        }
        return mapped.tensor(t.dtype(), t.offset(), t.shape());
    }

    /** A string metadata value, or a clear error. */
    public String string(String key) {
        Object v = metadata.get(key);
        if (!(v instanceof String s)) {
            throw new ModelFormatException(source, -1, "metadata '" + key + "' is " + describe(v) + ", expected a string");
        }
        return s;
    }

    /** An integer metadata value, or a clear error. */
    public long integer(String key) {
        Object v = metadata.get(key);
        if (!(v instanceof Long l)) {
            throw new ModelFormatException(source, -1, "metadata '" + key + "' is " + describe(v) + ", expected an integer");
        }
        return l;
    }

    private static String describe(Object v) {
        return v == null ? "missing" : "a " + v.getClass().getSimpleName();
    }

    @Override
    public void close() {
        mapped.close();
    }

    /** Bounds-checked little-endian reader over the file image. */
    private static final class Reader {
        private final MemorySegment f;
        private final String source;
        private final long size;
        private long pos;

        /** Where {@link #readHeader} collects tensor entries; null for a full parse. */
        private final List<HeaderTensor> headerOnly;

        Reader(MemorySegment f, String source) {
            this(f, source, null);
        }

        Reader(MemorySegment f, String source, List<HeaderTensor> headerOnly) {
            this.f = f;
            this.source = source;
            this.size = f.byteSize();
            this.headerOnly = headerOnly;
        }

        private ModelFormatException error(long at, String message) {
            return new ModelFormatException(source, at, message);
        }

        private void need(long bytes, String what) {
            if (bytes < 0 || bytes > size - pos) {
                throw error(pos, what + " needs " + bytes + " bytes but only " + (size - pos) + " remain (file is " + size
                        + " bytes)");
            }
        }

        int u32(String what) {
            need(4, what);
            int v = f.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = f.get(U64, pos);
            pos += 8;
            return v;
        }

        String string(String what) {
            long at = pos;
            long len = u64(what + " length");
            if (len < 0 || len > size - pos) {
                throw error(at, what + ": string length " + Long.toUnsignedString(len) + " exceeds the " + (size - pos)
                        + " bytes left");
            }
            if (len > Integer.MAX_VALUE - 8) {
                throw error(at, what + ": string length " + len + " is too large");
            }
            byte[] b = new byte[(int) len];
            MemorySegment.copy(f, ValueLayout.JAVA_BYTE, pos, b, 0, (int) len);
            pos += len;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw error(at, what + ": string is not valid UTF-8");
            }
        }

        Parsed read() {
            if (size < 24) {
                throw error(0, "too small for a GGUF header (" + size + " bytes)");
            }
            int magic = u32("magic");
            if (magic != MAGIC) {
                throw error(0, String.format("wrong magic 0x%08x (expected 'GGUF')", magic));
            }
            int version = u32("version");
            if (version != 2 && version != 3) {
                throw error(4, "unsupported GGUF version " + version + " (supported: 2, 3)");
            }
            long tensorCount = u64("tensor count");
            long kvCount = u64("metadata count");
            // Each metadata pair takes at least 12 bytes, each tensor info at least 24: a count the
            // file cannot hold is rejected before anything is allocated.
            if (kvCount < 0 || kvCount > (size - pos) / 12) {
                throw error(16, "metadata count " + Long.toUnsignedString(kvCount) + " cannot fit in the file");
            }
            if (tensorCount < 0 || tensorCount > (size - pos) / 24) {
                throw error(8, "tensor count " + Long.toUnsignedString(tensorCount) + " cannot fit in the file");
            }
            Map<String, Object> meta = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                long at = pos;
                String key = string("metadata key " + i);
                int type = u32("type of metadata '" + key + "'");
                Object value = value(type, "metadata '" + key + "'", 0);
                if (meta.put(key, value) != null) {
                    throw error(at, "duplicate metadata key '" + key + "'");
                }
            }
            long alignment = DEFAULT_ALIGNMENT;
            Object a = meta.get("general.alignment");
            if (a != null) {
                if (!(a instanceof Long l) || l <= 0 || Long.bitCount(l) != 1 || l > 1 << 20) {
                    throw error(-1, "general.alignment " + a + " is not a power of two up to 1 MiB");
                }
                alignment = l;
            }
            List<long[]> raw = new ArrayList<>();
            List<String> names = new ArrayList<>();
            List<Integer> types = new ArrayList<>();
            List<long[]> shapes = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                long at = pos;
                String name = string("tensor " + i + " name");
                int nDims = u32("tensor '" + name + "' dimension count");
                if (nDims < 1 || nDims > MAX_DIMS) {
                    throw error(at, "tensor '" + name + "' has " + Integer.toUnsignedString(nDims) + " dimensions (1.."
                            + MAX_DIMS + ")");
                }
                long[] dims = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    dims[d] = u64("tensor '" + name + "' dimension " + d);
                    if (dims[d] <= 0) {
                        throw error(at, "tensor '" + name + "' dimension " + d + " is " + Long.toUnsignedString(dims[d]));
                    }
                    try {
                        elements = Math.multiplyExact(elements, dims[d]);
                    } catch (ArithmeticException e) {
                        throw error(at, "tensor '" + name + "' element count overflows");
                    }
                }
                int type = u32("tensor '" + name + "' type");
                long offset = u64("tensor '" + name + "' offset");
                if (headerOnly != null) {
                    long[] outerFirst = new long[nDims];
                    for (int d = 0; d < nDims; d++) {
                        outerFirst[d] = dims[nDims - 1 - d];
                    }
                    headerOnly.add(new HeaderTensor(name, outerFirst, type, offset));
                    continue;
                }
                DType dtype;
                try {
                    dtype = DType.fromGgmlType(type);
                } catch (IllegalArgumentException e) {
                    throw error(at, "tensor '" + name + "' has unsupported type " + Integer.toUnsignedString(type)
                            + " (supported: " + DType.supportedList() + ")");
                }
                if (dims[0] % dtype.blockSize() != 0) {
                    throw error(at, "tensor '" + name + "' row of " + dims[0] + " elements is not a whole number of "
                            + dtype + " blocks of " + dtype.blockSize());
                }
                long bytes;
                try {
                    bytes = dtype.bytesFor(elements);
                } catch (IllegalArgumentException e) {
                    throw error(at, "tensor '" + name + "': " + e.getMessage());
                }
                if (offset < 0 || offset % alignment != 0) {
                    throw error(at, "tensor '" + name + "' offset " + Long.toUnsignedString(offset)
                            + " is not a multiple of the alignment " + alignment);
                }
                long[] shape = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    shape[d] = dims[nDims - 1 - d]; // GGUF lists the innermost dimension first
                }
                names.add(name);
                types.add(type);
                shapes.add(shape);
                raw.add(new long[] {offset, bytes, at});
            }
            if (headerOnly != null) {
                return new Parsed(version, Collections.unmodifiableMap(meta), Map.of());
            }
            long dataStart = (pos + alignment - 1) / alignment * alignment;
            // a file without tensors has no data section, and llama.cpp writes such files (its
            // vocabulary-only ggml-vocab-*.gguf) without the padding before it
            if (dataStart > size && !names.isEmpty()) {
                throw error(pos, "data section would start at " + dataStart + ", past the end of the file");
            }
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            List<TensorInfo> byOffset = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                long[] r = raw.get(i);
                long abs = dataStart + r[0];
                if (r[0] > size - dataStart || r[1] > size - abs) {
                    throw error(r[2], "tensor '" + names.get(i) + "' [" + abs + ", " + (abs + r[1]) + ") lies past the end of the file ("
                            + size + " bytes)");
                }
                TensorInfo info = new TensorInfo(names.get(i), shapes.get(i), DType.fromGgmlType(types.get(i)), abs, r[1]);
                if (tensors.put(info.name(), info) != null) {
                    throw error(r[2], "duplicate tensor name '" + info.name() + "'");
                }
                byOffset.add(info);
            }
            byOffset.sort(Comparator.comparingLong(TensorInfo::offset));
            for (int i = 1; i < byOffset.size(); i++) {
                TensorInfo prev = byOffset.get(i - 1);
                TensorInfo cur = byOffset.get(i);
                if (prev.offset() + prev.bytes() > cur.offset()) {
                    throw error(cur.offset(), "tensors '" + prev.name() + "' and '" + cur.name() + "' overlap");
                }
            }
            return new Parsed(version, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(tensors));
        }

        private Object value(int type, String what, int depth) {
            return switch (type) {
                case 0 -> { need(1, what); yield (long) (f.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF); }
                case 1 -> { need(1, what); yield (long) f.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2 -> { need(2, what); long v = f.get(U16, pos) & 0xFFFF; pos += 2; yield v; }
                case 3 -> { need(2, what); long v = f.get(U16, pos); pos += 2; yield v; }
                case 4 -> (long) u32(what) & 0xFFFFFFFFL;
                case 5 -> (long) u32(what);
                case 6 -> (double) Float.intBitsToFloat(u32(what));
                case 7 -> {
                    need(1, what);
                    byte b = f.get(ValueLayout.JAVA_BYTE, pos++);
                    if (b != 0 && b != 1) {
                        throw error(pos - 1, what + ": boolean byte " + b + " is not 0 or 1");
                    }
                    yield b == 1;
                }
                case 8 -> string(what);
                case 9 -> array(what, depth);
                case 10, 11 -> u64(what);
                case 12 -> Double.longBitsToDouble(u64(what));
                default -> throw error(pos - 4, what + ": unknown value type " + Integer.toUnsignedString(type));
            };
        }

        private List<Object> array(String what, int depth) {
            long at = pos;
            if (depth > 0) {
                throw error(at, what + ": nested arrays are not supported");
            }
            int elementType = u32(what + " element type");
            long count = u64(what + " element count");
            long minSize = switch (elementType) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 8, 10, 11, 12 -> 8;
                default -> throw error(at, what + ": unknown array element type " + Integer.toUnsignedString(elementType));
            };
            if (count < 0 || count > (size - pos) / minSize) {
                throw error(at, what + ": array of " + Long.toUnsignedString(count) + " elements cannot fit in the file");
            }
            List<Object> out = new ArrayList<>((int) Math.min(count, 1 << 16));
            for (long i = 0; i < count; i++) {
                out.add(value(elementType, what + "[" + i + "]", depth + 1));
            }
            return Collections.unmodifiableList(out);
        }
    }

    @Override
    public String toString() {
        return "GgufFile[" + source + ", v" + version + ", " + tensors.size() + " tensors, " + metadata.size() + " metadata]";
    }

    /** Used by tests: the source name. */
    String source() {
        return Objects.requireNonNull(source);
    }
}
