package dev.longctx.models;

/** The file formats {@link Model#open} reads, each recognised from what the path is. */
public enum ModelFormat {
    /** A GGUF file ({@code .gguf}, v2 or v3): config, weights, vocabulary and chat template in one file. */
    GGUF("gguf"),
    /**
     * A Hugging Face model folder: {@code config.json}, {@code model.safetensors} (or shards with
     * {@code model.safetensors.index.json}), {@code tokenizer.json}, {@code tokenizer_config.json}.
     */
    HUGGING_FACE("hf"),
    /** A llama2.c checkpoint ({@code .bin}); its vocabulary is a separate {@code tokenizer.bin}. */
    LLAMA2C("llama2c");

    private final String label;

    ModelFormat(String label) {
        this.label = label;
    }

    /** The short name the CLI prints ({@code gguf}, {@code hf}, {@code llama2c}). */
    public String label() {
        return label;
    }
}
