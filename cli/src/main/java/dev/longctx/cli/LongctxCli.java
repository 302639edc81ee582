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
import dev.longctx.models.gguf.GgmlType;
import dev.longctx.models.gguf.GgufFile;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
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

    /**
     * Prints a model's format, architecture, sizes, KV bytes per token, each tensor's type and shape,
     * and the file's bits per weight (bits of tensor data / elements). A GGUF file's tensors are
     * listed from its header, so a file whose types or architecture this engine cannot run is still
     * described (with a line saying why it cannot be loaded; exit status 0).
     */
    @Command(name = "inspect", description = "Describe a model file: format, architecture, KV bytes per token, each tensor's type"
            + " and shape, bits per weight.")
    static final class Inspect implements Callable<Integer> {
        @CommandLine.Parameters(index = "0", arity = "0..1", paramLabel = "FILE",
                description = "GGUF file, llama2.c .bin or Hugging Face folder (or --model)")
        Path file;

        @Option(names = "--model", description = "GGUF file, llama2.c .bin or Hugging Face folder")
        Path model;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        /** One tensor: its type's name, shape, elements and data bytes (-1 when the type is not one ggml has). */
        private record Row(String name, String type, long[] shape, long elements, long bytes) {
        }

        @Override
        public Integer call() throws Exception {
            if ((file == null) == (model == null)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "give the model as FILE or --model, once");
            }
            Path path = file != null ? file : model;
            PrintWriter out = spec.commandLine().getOut();
            List<Row> rows = new ArrayList<>();
            boolean gguf = Files.isRegularFile(path) && path.getFileName().toString().endsWith(".gguf");
            GgufFile.Header header = null;
            if (gguf) {
                header = GgufFile.readHeader(path);
                for (GgufFile.HeaderTensor t : header.tensors()) {
                    Optional<GgmlType> type = GgmlType.fromId(t.ggmlType());
                    rows.add(new Row(t.name(), type.map(Enum::name).orElse("type " + Integer.toUnsignedString(t.ggmlType())),
                            t.shape(), t.elements(), type.map(g -> g.bytesFor(t.elements())).orElse(-1L)));
                }
            }
            try (Model m = Model.open(path)) {
                describe(m, out);
                printLayerTypes(out, m.config());
                if (!gguf) {
                    for (Model.TensorEntry t : m.tensors()) {
                        long n = Arrays.stream(t.shape()).reduce(1, Math::multiplyExact);
                        rows.add(new Row(t.name(), t.dtype().toString(), t.shape(), n, t.dtype().bytesFor(n)));
                    }
                }
            } catch (ModelFormatException e) {
                if (!gguf) {
                    throw e;
                }
                // the header was readable: describe what it says, and why the engine cannot load the file
                out.printf(Locale.ROOT, "format: gguf (version %d)%narchitecture: %s%nnot loadable by this engine: %s%n",
                        header.version(),
                        header.metadata().getOrDefault("general.architecture", "(none)"), e.getMessage());
            }
            printTensors(rows, out);
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

        /** The model's configuration and KV bytes per token. */
        private static void describe(Model m, PrintWriter out) {
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
        }

        /**
         * Each tensor (name, type, shape), then per type and for the file the bits per weight (bits of
         * tensor data / elements); tensors whose size is unknown (a type ggml does not define, or a
         * shape that is not whole blocks) are counted apart.
         */
        private static void printTensors(List<Row> rows, PrintWriter out) {
            out.printf(Locale.ROOT, "tensors: %d%n", rows.size());
            Map<String, long[]> byType = new TreeMap<>(); // type -> {tensors, elements, bytes, tensors of unknown size}
            long elements = 0;
            long bytes = 0;
            int unsized = 0;
            for (Row r : rows) {
                out.printf(Locale.ROOT, "  %-40s %-7s %s%n", r.name(), r.type(), Arrays.toString(r.shape()));
                long[] sum = byType.computeIfAbsent(r.type(), k -> new long[4]);
                sum[0]++;
                sum[1] += r.elements();
                if (r.bytes() < 0) {
                    sum[3]++;
                    unsized++;
                    continue;
                }
                sum[2] += r.bytes();
                elements += r.elements();
                bytes += r.bytes();
            }
            out.printf(Locale.ROOT, "types:%n");
            byType.forEach((type, sum) -> out.printf(Locale.ROOT, "  %-7s %4d tensors, %,d elements, %s%n", type, sum[0], sum[1],
                    sum[3] > 0 ? "size unknown" : String.format(Locale.ROOT, "%.4f bits per weight", sum[2] * 8.0 / sum[1])));
            out.printf(Locale.ROOT, "bits per weight: %.4f (%,d bytes of tensor data / %,d elements%s)%n",
                    elements == 0 ? 0.0 : bytes * 8.0 / elements, bytes, elements,
                    unsized == 0 ? "" : "; leaves out " + unsized + " tensors of unknown size");
        }
    }
}
