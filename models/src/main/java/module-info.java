/**
 * Model configs, GGUF/safetensors loaders, tokenizers, the decoder, generation and the CLI.
 * Lands with the models issues.
 */
module dev.longctx.models {
    requires transitive dev.longctx.kvcache;
    // Packages are exported when they gain their first public type.
}
