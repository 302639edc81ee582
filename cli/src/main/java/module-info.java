/**
 * The {@code longctx} command line: {@code generate}, {@code tokenize}, {@code logits} and
 * {@code inspect} over the models module's front door, and {@code serve} over the server module.
 * Kept out of the library so that picocli is not in every user's module graph; nothing is exported.
 */
module dev.longctx.cli {
    requires dev.longctx.models;
    requires dev.longctx.server;
    requires com.fasterxml.jackson.databind;
    requires info.picocli;
    requires org.slf4j;

    exports dev.longctx.cli to dev.longctx.bench;
    opens dev.longctx.cli to info.picocli;
}
