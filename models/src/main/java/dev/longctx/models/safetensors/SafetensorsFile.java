package dev.longctx.models.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.MappedFile;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.internal.Utf8Text;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header
 * ({@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}) read
 * with Jackson, then the data. Checked as the format demands: header size limit, offsets inside the
 * data section, no overlaps, byte length equal to shape x dtype size. F32, F16 and BF16 tensors;
 * any other dtype is an error naming the tensor.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The safetensors reference implementation's header limit (100 MB). */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A tensor's entry with its absolute offset in the file. */
    public record TensorInfo(String name, long[] shape, DType dtype, long offset, long bytes) {
    }

    private final MappedFile mapped;
    private final String source;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(MappedFile mapped, String source, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.mapped = mapped;
        this.source = source;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and parses a safetensors file. */
    public static SafetensorsFile open(Path path) throws IOException {
        MappedFile mf = MappedFile.open(path);
        try {
            Parsed p = parse(mf.segment(), path.toString());
            return new SafetensorsFile(mf, path.toString(), p.tensors(), p.metadata());
        } catch (RuntimeException e) {
            mf.close();
            throw e;
        }
    }

    /** Parsed header contents. */
    record Parsed(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
    }

    static Parsed parse(MemorySegment f, String source) {
        long size = f.byteSize();
        if (size < 8) {
            throw new ModelFormatException(source, 0, "too small for a safetensors header (" + size + " bytes)");
        }
        long n = f.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER_BYTES || n > size - 8) {
            throw new ModelFormatException(source, 0, "header length " + Long.toUnsignedString(n)
                    + " is not between 2 and min(100 MB, file size - 8 = " + (size - 8) + ")");
        }
        byte[] header = new byte[(int) n];
        MemorySegment.copy(f, ValueLayout.JAVA_BYTE, 8, header, 0, (int) n);
        JsonNode root;
        try {
            root = JSON.readTree(Utf8Text.decode(header, source, 8));
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(source, 8, "malformed JSON header: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(source, 8, "the header must be a JSON object");
        }
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) {
                    throw new ModelFormatException(source, 8, "__metadata__ must be an object of strings");
                }
                v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String where = "tensor '" + name + "'";
            if (!v.isObject()) {
                throw new ModelFormatException(source, 8, where + " must be an object");
            }
            DType dtype = switch (v.path("dtype").asText("")) {
                case "F32" -> DType.F32;
                case "F16" -> DType.F16;
                case "BF16" -> DType.BF16;
                default -> throw new ModelFormatException(source, 8, where + " has unsupported dtype '"
                        + v.path("dtype").asText("<missing>") + "' (supported: F32, F16, BF16)");
            };
            JsonNode shapeNode = v.get("shape");
            if (shapeNode == null || !shapeNode.isArray() || shapeNode.size() > 8) {
                throw new ModelFormatException(source, 8, where + ": \"shape\" must be an array of at most 8 integers");
            }
            long[] shape = new long[shapeNode.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = shapeNode.get(i);
                if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                    throw new ModelFormatException(source, 8, where + ": shape[" + i + "] = " + d + " is not a non-negative integer");
                }
                shape[i] = d.asLong();
                try {
                    elements = Math.multiplyExact(elements, shape[i]);
                } catch (ArithmeticException ex) {
                    throw new ModelFormatException(source, 8, where + ": element count of shape overflows");
                }
            }
            JsonNode offsets = v.get("data_offsets");
            if (offsets == null || !offsets.isArray() || offsets.size() != 2 || !offsets.get(0).canConvertToLong()
                    || !offsets.get(1).canConvertToLong() || !offsets.get(0).isIntegralNumber()
                    || !offsets.get(1).isIntegralNumber()) {
                throw new ModelFormatException(source, 8, where + ": \"data_offsets\" must be [begin, end]");
            }
            long begin = offsets.get(0).asLong();
            long end = offsets.get(1).asLong();
            if (begin < 0 || end < begin || end > dataSize) {
                throw new ModelFormatException(source, dataStart + Math.max(0, begin), where + ": data_offsets [" + begin + ", "
                        + end + ") are outside the data section of " + dataSize + " bytes");
            }
            long bytes;
            try {
                bytes = Math.multiplyExact(elements, dtype == DType.F32 ? 4L : 2L);
            } catch (ArithmeticException ex) {
                throw new ModelFormatException(source, 8, where + ": byte size overflows");
            }
            if (end - begin != bytes) {
                throw new ModelFormatException(source, dataStart + begin, where + ": " + (end - begin) + " bytes for shape "
                        + java.util.Arrays.toString(shape) + " of " + dtype + ", which needs " + bytes);
            }
            if (shape.length == 0) {
                shape = new long[] {1};
            }
            tensors.put(name, new TensorInfo(name, shape, dtype, dataStart + begin, bytes));
            ranges.add(new long[] {begin, end});
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        for (int i = 1; i < ranges.size(); i++) {
            if (ranges.get(i)[0] < ranges.get(i - 1)[1]) {
                throw new ModelFormatException(source, dataStart + ranges.get(i)[0], "tensor data ranges overlap");
            }
        }
        return new Parsed(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    /** Tensor infos by name, in header order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} strings. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** A tensor by name, mapped in place. */
    public Tensor tensor(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(source, -1, "missing tensor '" + name + "'");
        }
        return mapped.tensor(t.dtype(), t.offset(), t.shape());
    }

    @Override
    public void close() {
        mapped.close();
    }
}
