package dev.longctx.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.Decoder;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code longctx} command line: {@code generate}, {@code tokenize}, {@code serve}, {@code logits}, {@code inspect}, {@code profile-heads}. */
@Command(name = "longctx", mixinStandardHelpOptions = true, version = "longctx 0.1.0-SNAPSHOT",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, ServeCommand.class, LongctxCli.Logits.class, LongctxCli.Inspect.class},
        description = "Long-context inference engine for the JVM.")
public final class LongctxCli implements Runnable {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point; exits with picocli's status (2 for bad usage, 1 for a model error). */
    public static void main(String[] args) {
        CommandLine cl = new CommandLine(new LongctxCli());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("longctx: " + e.getMessage());
            return e instanceof ModelFormatException || e instanceof IllegalArgumentException
                    || e instanceof java.io.IOException || e instanceof IllegalStateException ? 1 : 3;
        });
        System.exit(cl.execute(args));
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Prints {"logits": [[...], ...]}: the logits after every position of the given ids. */
    @Command(name = "logits", description = "Print the logits after every position of the given token ids as JSON.")
    static final class Logits implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "GGUF file, llama2.c .bin or Hugging Face folder")
        Path model;

        @Option(names = "--ids", required = true, split = ",", description = "token ids, comma-separated")
        int[] ids;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            try (Model m = Model.open(model)) {
                ModelConfig c = m.config();
                KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 64, DType.F32);
                long budget = Math.max(BlockPool.pageBytes(layout) * (long) c.layers() * c.kvHeads() * 2,
                        layout.bytesPerToken() * (ids.length + 64L) * 2);
                try (BlockPool pool = new BlockPool(layout, budget); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                    float[] logits = new Decoder(m.weights(), TensorOps.defaults()).forward(cache, ids, 0, true);
                    ObjectNode root = JSON.createObjectNode();
                    ArrayNode rows = root.putArray("logits");
                    for (int p = 0; p < ids.length; p++) {
                        ArrayNode row = rows.addArray();
                        for (int v = 0; v < c.vocabSize(); v++) {
                            row.add(logits[p * c.vocabSize() + v]);
                        }
                    }
                    PrintWriter out = spec.commandLine().getOut();
                    out.println(JSON.writeValueAsString(root));
                    out.flush();
                }
            }
            return 0;
        }
    }

    /** Prints a model's format, architecture, sizes, tensors and KV bytes per token. */
    @Command(name = "inspect", description = "Describe a model file: format, architecture, tensors, KV bytes per token.")
    static final class Inspect implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "GGUF file, llama2.c .bin or Hugging Face folder")
        Path model;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            try (Model m = Model.open(model)) {
                ModelConfig c = m.config();
                out.printf("format: %s%narchitecture: %s%nlayers: %d, hidden: %d, heads: %d, KV heads: %d, head dim: %d, FFN: %d,"
                        + " vocab: %d%ncontext length: %d, rope theta: %.0f, rope scaling: %s%n", m.format().label(), c.architecture(),
                        c.layers(), c.hiddenSize(), c.heads(), c.kvHeads(), c.headDim(), c.intermediateSize(), c.vocabSize(),
                        c.maxPositions(), c.ropeTheta(), c.ropeScaling());
                for (DType t : new DType[] {DType.F32, DType.F16, DType.Q8_0}) {
                    if (c.headDim() % t.blockSize() == 0) {
                        out.printf("KV bytes per token (%s pages): %d%n", t,
                                new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 64, t).bytesPerToken());
                    }
                }
                printLayerTypes(out, c);
                m.tensors().forEach(t -> out.printf("  %-40s %-5s %s%n", t.name(), t.dtype(), java.util.Arrays.toString(t.shape())));
            }
            out.flush();
            return 0;
        }

        /**
         * KV bytes per layer type, for a model with sliding-window layers: a session keeps every
         * token in the full-attention layers (under the Full strategy) but at most the window (and a
         * prefill chunk) in each sliding layer, whose older pages return to the pool.
         */
        private static void printLayerTypes(PrintWriter out, ModelConfig c) {
            int sliding = 0;
            int window = 0;
            for (int l = 0; l < c.layers(); l++) {
                if (c.slidingWindow(l) > 0) {
                    sliding++;
                    window = Math.max(window, c.slidingWindow(l));
                }
            }
            if (sliding == 0) {
                return;
            }
            int full = c.layers() - sliding;
            out.printf("layer types: %d full attention, %d sliding (window %d)%n", full, sliding, window);
            for (DType t : new DType[] {DType.F32, DType.F16, DType.Q8_0}) {
                if (c.headDim() % t.blockSize() == 0) {
                    long perLayer = new KvLayout(1, c.kvHeads(), c.headDim(), 64, t).bytesPerToken();
                    out.printf("KV bytes per token by layer type (%s pages): full attention %d, sliding %d up to %d tokens"
                            + " (at most %d bytes per sequence)%n", t, full * perLayer, sliding * perLayer, window,
                            sliding * perLayer * window);
                }
            }
        }
    }
}
