/**
 * Model configs, GGUF/safetensors loaders, tokenizers, the decoder, generation and the CLI.
 * So far: the GGUF reader and the model-format exception.
 */
module dev.longctx.models {
    requires transitive dev.longctx.kvcache;
    exports dev.longctx.models;
    exports dev.longctx.models.gguf;
}
