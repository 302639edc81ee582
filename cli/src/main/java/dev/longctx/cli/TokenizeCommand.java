package dev.longctx.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.tokenizer.Tokenizer;
import dev.longctx.models.tokenizer.Tokenizers;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Prints {"ids": [...]}: the text as the tokenizer encodes it, special tokens added as its post-processor adds them. */
@Command(name = "tokenize", description = "Encode text with a model's tokenizer and print {\"ids\": [...]}.")
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "GGUF file or Hugging Face folder whose tokenizer to use")
    Path model;

    @Option(names = "--tokenizer", description = "tokenizer.json or llama2.c tokenizer.bin (instead of --model)")
    Path tokenizer;

    @Option(names = "--text", required = true, description = "the text to encode")
    String text;

    @Option(names = "--no-special", description = "do not add BOS or the template's special tokens")
    boolean noSpecial;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Tokenizer t = Cli.tokenizer(model, tokenizer, spec);
        ObjectNode root = new ObjectMapper().createObjectNode();
        var ids = root.putArray("ids");
        for (int id : t.encode(text, !noSpecial, false)) {
            ids.add(id);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(root);
        out.flush();
        return 0;
    }

    /** Shared option handling. */
    static final class Cli {
        private Cli() {
        }

        static Tokenizer tokenizer(Path model, Path tokenizer, CommandLine.Model.CommandSpec spec) throws java.io.IOException {
            if (tokenizer != null) {
                return Tokenizers.fromFile(tokenizer);
            }
            if (model == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "give --model or --tokenizer");
            }
            return Tokenizers.forModel(model);
        }
    }
}
