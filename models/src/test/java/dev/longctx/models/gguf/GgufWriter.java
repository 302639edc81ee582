package dev.longctx.models.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal GGUF v3 writer for tests: metadata of the scalar types llama.cpp writes for a model
 * config (uint32, float32, string, bool), F32 tensors and raw tensors of any block type, 32-byte aligned, dimensions innermost
 * first as the format wants. Public for the decoder tests that convert HF fixtures.
 */
public final class GgufWriter {
    private static final int ALIGNMENT = 32; // GGUF's default general.alignment
    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final List<String> names = new ArrayList<>();
    private final List<long[]> shapes = new ArrayList<>();
    private final List<float[]> data = new ArrayList<>();
    /** Per tensor: its encoded bytes and ggml type id for {@link #rawTensor}, null for F32 values. */
    private final List<byte[]> raw = new ArrayList<>();
    private final List<Integer> typeIds = new ArrayList<>();

    public GgufWriter put(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    /** A tensor of {@code shape} (outermost first, as {@code Tensor}) holding {@code values}. */
    public GgufWriter tensor(String name, float[] values, long... shape) {
        names.add(name);
        shapes.add(shape.clone());
        data.add(values);
        raw.add(null);
        typeIds.add(0); // GGML_TYPE_F32
        return this;
    }

    /** A tensor of ggml type {@code typeId} whose data is {@code bytes} as they are (any block type). */
    public GgufWriter rawTensor(String name, int typeId, byte[] bytes, long... shape) {
        names.add(name);
        shapes.add(shape.clone());
        data.add(null);
        raw.add(bytes.clone());
        typeIds.add(typeId);
        return this;
    }

    public void write(Path file) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        putInt(out, 0x46554747); // "GGUF"
        putInt(out, 3);
        putLong(out, names.size());
        putLong(out, metadata.size());
        for (Map.Entry<String, Object> e : metadata.entrySet()) {
            putString(out, e.getKey());
            putValue(out, e.getValue());
        }
        long offset = 0;
        for (int i = 0; i < names.size(); i++) {
            putString(out, names.get(i));
            long[] s = shapes.get(i);
            putInt(out, s.length);
            for (int d = s.length - 1; d >= 0; d--) {
                putLong(out, s[d]);
            }
            putInt(out, typeIds.get(i));
            putLong(out, offset);
            offset = align(offset + (raw.get(i) != null ? raw.get(i).length : 4L * data.get(i).length));
        }
        pad(out);
        for (int i = 0; i < names.size(); i++) {
            if (raw.get(i) != null) {
                out.write(raw.get(i));
            } else {
                ByteBuffer b = ByteBuffer.allocate(4 * data.get(i).length).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(data.get(i));
                out.write(b.array());
            }
            pad(out);
        }
        Files.write(file, out.toByteArray());
    }

    /** Writes a value's type and bytes: Integer/Long as UINT32/UINT64, Float/Double, Boolean, String, List as ARRAY. */
    private static void putValue(ByteArrayOutputStream out, Object value) {
        putInt(out, typeOf(value));
        putPayload(out, value);
    }

    private static int typeOf(Object value) {
        return switch (value) {
            case Integer i -> 4; // UINT32
            case Long l -> 10; // UINT64
            case Float f -> 6; // FLOAT32
            case Double d -> 12; // FLOAT64
            case Boolean b -> 7; // BOOL
            case String s -> 8; // STRING
            case List<?> l -> 9; // ARRAY
            default -> throw new IllegalArgumentException("unsupported metadata value " + value);
        };
    }

    private static void putPayload(ByteArrayOutputStream out, Object value) {
        switch (value) {
            case Integer i -> putInt(out, i);
            case Long l -> putLong(out, l);
            case Float f -> putInt(out, Float.floatToRawIntBits(f));
            case Double d -> putLong(out, Double.doubleToRawLongBits(d));
            case Boolean b -> out.write(b ? 1 : 0);
            case String s -> putString(out, s);
            case List<?> l -> {
                putInt(out, l.isEmpty() ? 4 : typeOf(l.getFirst()));
                putLong(out, l.size());
                l.forEach(v -> putPayload(out, v));
            }
            default -> throw new IllegalArgumentException("unsupported metadata value " + value);
        }
    }

    /**
     * A writer holding {@code source}'s metadata (integers that GgufFile reads as Long written back
     * as UINT64, floats as FLOAT64: same values, wider types) and tensors, which must be F32.
     */
    public static GgufWriter copyOf(GgufFile source) {
        GgufWriter w = new GgufWriter();
        source.metadata().forEach((k, v) -> {
            if (!k.equals("general.alignment")) {
                w.put(k, v);
            }
        });
        source.tensors().values().forEach(t -> {
            if (t.dtype() != dev.longctx.core.tensor.DType.F32) {
                throw new IllegalArgumentException("copyOf copies F32 tensors only, " + t.name() + " is " + t.dtype());
            }
            w.tensor(t.name(), source.tensor(t.name()).toFloatArray(), t.shape());
        });
        return w;
    }

    private static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % ALIGNMENT != 0) {
            out.write(0);
        }
    }

    private static void putInt(ByteArrayOutputStream out, int v) {
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    private static void putLong(ByteArrayOutputStream out, long v) {
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    private static void putString(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        putLong(out, b.length);
        out.writeBytes(b);
    }
}
