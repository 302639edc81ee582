package dev.longctx.bench;

import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import dev.longctx.models.decoder.ModelWeights;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The model a bench or demo command runs: a synthetic-weight preset ({@link SyntheticModel#PRESETS})
 * or a model file. Owns what it opened; close it after the run.
 */
final class BenchModel implements AutoCloseable {
    private final ModelWeights weights;
    private final String description;
    private final boolean synthetic;
    private final AutoCloseable owner;

    private BenchModel(ModelWeights weights, String description, boolean synthetic, AutoCloseable owner) {
        this.weights = weights;
        this.description = description;
        this.synthetic = synthetic;
        this.owner = owner;
    }

    /** A preset by name with {@code weightType} weights from {@code seed}, or else the model at path {@code model}. */
    static BenchModel open(String model, DType weightType, long seed) throws IOException {
        if (SyntheticModel.PRESETS.contains(model)) {
            SyntheticModel m = SyntheticModel.preset(model, weightType, seed);
            return new BenchModel(m.weights(), "synthetic " + weightType + " weights: speed and memory only, not text quality", true,
                    m);
        }
        Model m = Model.open(Path.of(model));
        return new BenchModel(m.weights(), m.format().label() + " " + m.config().architecture(), false, m);
    }

    ModelWeights weights() {
        return weights;
    }

    String description() {
        return description;
    }

    boolean synthetic() {
        return synthetic;
    }

    @Override
    public void close() throws Exception {
        owner.close();
    }
}
