/**
 * Model configs, GGUF/safetensors loaders, tokenizers, the decoder, generation and the CLI.
 * So far: the GGUF and safetensors readers and the model-format exception.
 */
module dev.longctx.models {
    requires transitive dev.longctx.kvcache;
    requires com.fasterxml.jackson.databind;
    requires info.picocli;
    requires org.slf4j;
    exports dev.longctx.models;
    exports dev.longctx.models.gguf;
    exports dev.longctx.models.safetensors;
    exports dev.longctx.models.config;
    exports dev.longctx.models.llama2c;
    exports dev.longctx.models.decoder;
    exports dev.longctx.models.tokenizer;
    exports dev.longctx.models.session;
    exports dev.longctx.models.cli;
    opens dev.longctx.models.cli to info.picocli;
}
