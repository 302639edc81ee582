/**
 * Models: the front door ({@link dev.longctx.models.Model#open}: any supported file or folder in
 * one call, with its tokenizer and chat template), configs, GGUF/safetensors/llama2.c readers,
 * tokenizers, chat templates, the decoder, sessions with long-context strategies, and the serving
 * engine (many sequences on one KV pool, continuously batched).
 */
module dev.longctx.models {
    requires transitive dev.longctx.kvcache;
    requires com.fasterxml.jackson.databind;
    requires org.slf4j;
    requires transitive micrometer.core;
    exports dev.longctx.models;
    exports dev.longctx.models.gguf;
    exports dev.longctx.models.safetensors;
    exports dev.longctx.models.config;
    exports dev.longctx.models.llama2c;
    exports dev.longctx.models.decoder;
    exports dev.longctx.models.tokenizer;
    exports dev.longctx.models.session;
    exports dev.longctx.models.serving;
    exports dev.longctx.models.internal to dev.longctx.bench;
}
