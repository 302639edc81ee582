/**
 * Model configs, GGUF/safetensors loaders, tokenizers, the decoder, generation and the CLI.
 * Lands with the models issues.
 */
module dev.longctx.models {
    requires transitive dev.longctx.kvcache;
    exports dev.longctx.models;
}
