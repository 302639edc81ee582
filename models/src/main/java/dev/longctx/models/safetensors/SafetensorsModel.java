package dev.longctx.models.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.internal.Utf8Text;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights of a Hugging Face model folder: a single {@code model.safetensors}, or shards listed
 * by {@code model.safetensors.index.json} ({@code {"weight_map": {"tensor": "shard file"}}}). Every
 * listed tensor must be in its shard, and shard names must stay inside the folder.
 */
public final class SafetensorsModel implements AutoCloseable {
    /** The index file of a sharded checkpoint. */
    public static final String INDEX = "model.safetensors.index.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byTensor;

    private SafetensorsModel(Path dir, List<SafetensorsFile> files, Map<String, SafetensorsFile> byTensor) {
        this.dir = dir;
        this.files = files;
        this.byTensor = byTensor;
    }

    /** Opens the weights of a model folder. */
    public static SafetensorsModel open(Path dir) throws IOException {
        Path index = dir.resolve(INDEX);
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            if (!Files.exists(index)) {
                SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"));
                files.add(f);
                f.tensors().keySet().forEach(n -> byTensor.put(n, f));
                return new SafetensorsModel(dir, files, Collections.unmodifiableMap(byTensor));
            }
            JsonNode root;
            try {
                root = JSON.readTree(Utf8Text.read(index));
            } catch (JsonProcessingException e) {
                throw new ModelFormatException(index.toString(), -1, "malformed JSON: " + e.getOriginalMessage());
            }
            JsonNode map = root == null ? null : root.get("weight_map");
            if (map == null || !map.isObject()) {
                throw new ModelFormatException(index.toString(), -1, "\"weight_map\" must be an object");
            }
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            Path base = dir.toAbsolutePath().normalize();
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String shard = e.getValue().asText("");
                Path p;
                try {
                    p = base.resolve(shard).normalize();
                } catch (InvalidPathException bad) { // a NUL character, say
                    p = null;
                }
                if (shard.isEmpty() || p == null || !base.equals(p.getParent()) || !Files.isRegularFile(p)) {
                    throw new ModelFormatException(index.toString(), -1, "tensor '" + e.getKey() + "' names shard '" + shard
                            + "', which is not a file in the model folder");
                }
                SafetensorsFile f = shards.get(shard);
                if (f == null) {
                    f = SafetensorsFile.open(p);
                    shards.put(shard, f);
                    files.add(f);
                }
                if (!f.tensors().containsKey(e.getKey())) {
                    throw new ModelFormatException(p.toString(), -1, "tensor '" + e.getKey() + "' listed in " + INDEX
                            + " is not in this shard");
                }
                byTensor.put(e.getKey(), f);
            }
            return new SafetensorsModel(dir, files, Collections.unmodifiableMap(byTensor));
        } catch (IOException | RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** Tensor names. */
    public java.util.Set<String> names() {
        return byTensor.keySet();
    }

    /** Whether the checkpoint has a tensor. */
    public boolean has(String name) {
        return byTensor.containsKey(name);
    }

    /** A tensor by name, mapped in place from its shard. */
    public Tensor tensor(String name) {
        SafetensorsFile f = byTensor.get(name);
        if (f == null) {
            throw new ModelFormatException(dir.toString(), -1, "missing tensor '" + name + "' (not in any safetensors file of the folder)");
        }
        return f.tensor(name);
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
