package dev.longctx.models;

import dev.longctx.models.config.GgufConfigReader;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.llama2c.Llama2cCheckpoint;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model opened from any supported format: a Hugging Face folder (config.json + safetensors), a
 * GGUF file or a llama2.c checkpoint. Weights stay memory-mapped until {@link #close()}.
 *
 * @param format "hf", "gguf" or "llama2c"
 * @param config the model config
 * @param weights the decoder's weights
 * @param resource what to close
 */
public record LoadedModel(String format, ModelConfig config, ModelWeights weights, AutoCloseable resource)
        implements AutoCloseable {

    /** Opens {@code path}, choosing the format from what it is. */
    public static LoadedModel open(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            if (!Files.exists(path.resolve("config.json"))) {
                throw new ModelFormatException(path.toString(), -1, "a model folder needs config.json");
            }
            ModelConfig c = HfConfigReader.read(path);
            SafetensorsModel st = SafetensorsModel.open(path);
            try {
                return new LoadedModel("hf", c, ModelWeights.fromHfNames(c, st::tensor, st::has), st);
            } catch (RuntimeException e) {
                st.close();
                throw e;
            }
        }
        if (!Files.isRegularFile(path)) {
            throw new ModelFormatException(path.toString(), -1, "no such model file or folder");
        }
        if (path.getFileName().toString().endsWith(".gguf")) {
            GgufFile g = GgufFile.open(path);
            try {
                ModelConfig c = GgufConfigReader.read(g);
                return new LoadedModel("gguf", c, ModelWeights.fromGgufNames(c, g::tensor, g.tensors()::containsKey), g);
            } catch (RuntimeException e) {
                g.close();
                throw e;
            }
        }
        Llama2cCheckpoint b = Llama2cCheckpoint.open(path);
        try {
            return new LoadedModel("llama2c", b.config(),
                    ModelWeights.fromGgufNames(b.config(), b.tensors()::get, b.tensors()::containsKey), b);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    @Override
    public void close() throws Exception {
        resource.close();
    }
}
