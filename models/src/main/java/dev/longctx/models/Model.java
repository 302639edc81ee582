package dev.longctx.models;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.config.GgufConfigReader;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.llama2c.Llama2cCheckpoint;
import dev.longctx.models.safetensors.SafetensorsModel;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.tokenizer.ChatTemplate;
import dev.longctx.models.tokenizer.Tokenizer;
import dev.longctx.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A model opened from a file or folder in one call: its config, memory-mapped weights, tokenizer
 * and chat template. From it come {@linkplain #session() sessions} (a long-context strategy and a
 * KV budget each), one-shot {@linkplain #generate generation} and {@linkplain #chat chat}.
 *
 * <pre>{@code
 * try (Model model = Model.open(Path.of("model.gguf"))) {
 *     System.out.println(model.chat(List.of(ChatMessage.user("Hello")), GenerateOptions.greedy(64)).text());
 * }
 * }</pre>
 *
 * <p>The format is recognised from the path ({@link ModelFormat}): a folder is a Hugging Face
 * model, a {@code .gguf} file is GGUF, any other file a llama2.c checkpoint (whose vocabulary,
 * {@code tokenizer.bin}, is looked for beside it unless {@link Options#tokenizer} names one).
 *
 * <p>Threading: a model is immutable once open and may be shared by any number of threads; each
 * session is used by one thread at a time. {@link #close()} unmaps the weights, so close every
 * session first; it is idempotent.
 */
public final class Model implements AutoCloseable {
    private final ModelFormat format;
    private final Path path;
    private final ModelConfig config;
    private final ModelWeights weights;
    private final Tokenizer tokenizer;
    private final String tokenizerAbsence;
    private final TensorOps ops;
    private final AutoCloseable resource;
    private final Object templateLock = new Object();
    private Optional<ChatTemplate> template;
    private volatile boolean closed;
    /** The pool {@link Options#withThreads} made for this model (closed with it), or null. */
    private volatile ComputePool ownedPool;

    /**
     * How to open a model.
     *
     * @param tokenizer a tokenizer file ({@code tokenizer.json} or llama2.c {@code tokenizer.bin})
     *     used instead of the model's own, or null
     * @param ops kernels and thread pool for the sessions, or null for {@link TensorOps#defaults()}
     * @param threads when positive, the model gets its own pool of this many threads, which
     *     {@link Model#close()} closes ({@code ops} is then ignored); 0 for {@code ops}
     */
    public record Options(Path tokenizer, TensorOps ops, int threads) {
        /** Checks {@code threads}. */
        public Options {
            if (threads < 0) {
                throw new IllegalArgumentException("threads must be positive (or 0 for ops), got " + threads);
            }
        }

        /** Options without a pool of the model's own: {@code ops}, or the defaults when null. */
        public Options(Path tokenizer, TensorOps ops) {
            this(tokenizer, ops, 0);
        }

        /** The model's own tokenizer, the default kernels and the shared thread pool. */
        public static Options defaults() {
            return new Options(null, null, 0);
        }

        /** The same options with a tokenizer file instead of the model's own. */
        public Options withTokenizer(Path file) {
            return new Options(Objects.requireNonNull(file, "file"), ops, threads);
        }

        /**
         * The same options with a pool of {@code threads} compute threads owned by the model: each
         * {@link Model#open} creates one and the model's {@link Model#close()} closes it.
         */
        public Options withThreads(int threads) {
            if (threads <= 0) {
                throw new IllegalArgumentException("threads must be positive, got " + threads);
            }
            return new Options(tokenizer, null, threads);
        }

        /** The same options with these kernels and thread pool (the caller keeps the pool and closes it). */
        public Options withOps(TensorOps o) {
            return new Options(tokenizer, Objects.requireNonNull(o, "ops"), 0);
        }
    }

    private Model(ModelFormat format, Path path, ModelConfig config, ModelWeights weights, Tokenizer tokenizer,
                  String tokenizerAbsence, TensorOps ops, AutoCloseable resource) {
        this.format = format;
        this.path = path;
        this.config = config;
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.tokenizerAbsence = tokenizerAbsence;
        this.ops = ops;
        this.resource = resource;
    }

    /** {@code open(path, Options.defaults())}. */
    public static Model open(Path path) {
        return open(path, Options.defaults());
    }

    /**
     * Opens the model at {@code path}, choosing the format from what it is.
     *
     * @throws ModelFormatException when the file is malformed, truncated or unsupported (the message
     *     names the file, the field or tensor, and the offset)
     * @throws UncheckedIOException when it cannot be read
     */
    public static Model open(Path path, Options options) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        boolean ownPool = options.threads() > 0;
        TensorOps ops = ownPool ? TensorOps.withThreads(options.threads())
                : options.ops() != null ? options.ops() : TensorOps.defaults();
        try {
            Model m;
            if (Files.isDirectory(path)) {
                m = openFolder(path, options, ops);
            } else if (!Files.isRegularFile(path)) {
                throw new ModelFormatException(path.toString(), -1, "no such model file or folder");
            } else if (path.getFileName().toString().endsWith(".gguf")) {
                m = openGguf(path, options, ops);
            } else {
                m = openLlama2c(path, options, ops);
            }
            m.ownedPool = ownPool ? ops.pool() : null;
            return m;
        } catch (IOException e) {
            if (ownPool) {
                ops.pool().close();
            }
            throw new UncheckedIOException("cannot read model " + path + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            if (ownPool) {
                ops.pool().close();
            }
            throw e;
        }
    }

    private static Model openFolder(Path dir, Options options, TensorOps ops) throws IOException {
        if (!Files.exists(dir.resolve("config.json"))) {
            throw new ModelFormatException(dir.toString(), -1, "a model folder needs config.json");
        }
        ModelConfig c = HfConfigReader.read(dir);
        SafetensorsModel st = SafetensorsModel.open(dir);
        try {
            ModelWeights w = ModelWeights.fromHfNames(c, st::tensor, st::has);
            Path json = dir.resolve("tokenizer.json");
            Tokenizer tok = options.tokenizer() != null ? Tokenizers.fromFile(options.tokenizer())
                    : Files.exists(json) ? Tokenizers.fromFile(json) : null;
            return new Model(ModelFormat.HUGGING_FACE, dir, c, w, tok, "no tokenizer.json in " + dir, ops, st);
        } catch (IOException | RuntimeException e) {
            st.close();
            throw e;
        }
    }

    private static Model openGguf(Path file, Options options, TensorOps ops) throws IOException {
        GgufFile g = GgufFile.open(file);
        try {
            ModelConfig c = GgufConfigReader.read(g);
            requirePlainVectors(g, file);
            ModelWeights w = ModelWeights.fromGgufNames(c, g::tensor, g.tensors()::containsKey);
            Tokenizer tok = options.tokenizer() != null ? Tokenizers.fromFile(options.tokenizer())
                    : g.metadata().containsKey("tokenizer.ggml.model") ? Tokenizers.fromGguf(g) : null;
            return new Model(ModelFormat.GGUF, file, c, w, tok, file + " has no tokenizer.ggml.model (no vocabulary)", ops, g);
        } catch (IOException | RuntimeException e) {
            g.close();
            throw e;
        }
    }

    /**
     * One-dimensional tensors (norms, biases) must be F32, F16 or BF16: llama.cpp never quantises
     * them, and its graphs multiply them as floats; a block type there means a broken or hostile
     * file, reported with the tensor, its type and its offset.
     */
    private static void requirePlainVectors(GgufFile g, Path file) {
        for (GgufFile.TensorInfo t : g.tensors().values()) {
            if (t.shape().length == 1 && t.dtype().isQuantized()) {
                throw new ModelFormatException(file.toString(), t.offset(), "tensor '" + t.name() + "' is " + t.dtype()
                        + ": one-dimensional tensors (norms, biases) must be F32, F16 or BF16");
            }
        }
    }

    private static Model openLlama2c(Path file, Options options, TensorOps ops) throws IOException {
        Llama2cCheckpoint b = Llama2cCheckpoint.open(file);
        try {
            ModelWeights w = ModelWeights.fromGgufNames(b.config(), b.tensors()::get, b.tensors()::containsKey);
            Path sibling = file.toAbsolutePath().resolveSibling("tokenizer.bin");
            Path tokFile = options.tokenizer() != null ? options.tokenizer() : Files.isRegularFile(sibling) ? sibling : null;
            Tokenizer tok = tokFile != null ? Tokenizers.fromFile(tokFile) : null;
            return new Model(ModelFormat.LLAMA2C, file, b.config(), w, tok, "a llama2.c checkpoint carries no vocabulary and "
                    + "there is no tokenizer.bin beside " + file + ": give one with Model.Options.withTokenizer", ops, b);
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** The file format. */
    public ModelFormat format() {
        return format;
    }

    /** The file or folder this model was opened from. */
    public Path path() {
        return path;
    }

    /** The model's configuration. */
    public ModelConfig config() {
        return config;
    }

    /** The decoder's weights (memory-mapped until {@link #close()}), for the lower-level API. */
    public ModelWeights weights() {
        return weights;
    }

    /** Kernels and thread pool the model's sessions use. */
    public TensorOps ops() {
        return ops;
    }

    /**
     * One tensor of the model file as stored.
     *
     * @param name the name in the file
     * @param dtype the stored type
     * @param shape the shape, outermost dimension first (rows, columns for a matrix)
     */
    public record TensorEntry(String name, DType dtype, long[] shape) {
        /** Elements in the tensor. */
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** The tensors of the file, in the file's order (GGUF) or by name (safetensors, llama2.c). */
    public List<TensorEntry> tensors() {
        checkOpen();
        List<TensorEntry> out = new ArrayList<>();
        switch (resource) {
            case GgufFile g -> g.tensors().values().forEach(t -> out.add(new TensorEntry(t.name(), t.dtype(), t.shape().clone())));
            case SafetensorsModel st -> new TreeSet<>(st.names()).forEach(n -> {
                Tensor t = st.tensor(n);
                out.add(new TensorEntry(n, t.dtype(), t.shape()));
            });
            case Llama2cCheckpoint b -> new TreeMap<>(b.tensors()).forEach((n, t) -> out.add(new TensorEntry(n, t.dtype(), t.shape())));
            default -> throw new IllegalStateException("unknown resource " + resource.getClass());
        }
        return List.copyOf(out);
    }

    /** Whether the model came with a tokenizer (or {@link Options#tokenizer} gave one). */
    public boolean hasTokenizer() {
        return tokenizer != null;
    }

    /**
     * The tokenizer.
     *
     * @throws IllegalStateException when the model has none, saying why
     */
    public Tokenizer tokenizer() {
        if (tokenizer == null) {
            throw new IllegalStateException(tokenizerAbsence);
        }
        return tokenizer;
    }

    /**
     * The model's chat template (GGUF {@code tokenizer.chat_template}; a Hugging Face folder's
     * {@code tokenizer_config.json} or {@code chat_template.jinja}), parsed on first use; empty when
     * the model has none.
     *
     * @throws ChatTemplate.TemplateException when the template does not parse
     */
    public Optional<ChatTemplate> chatTemplate() {
        synchronized (templateLock) {
            if (template == null) {
                template = loadTemplate();
            }
            return template;
        }
    }

    private Optional<ChatTemplate> loadTemplate() {
        return switch (format) {
            case GGUF -> {
                GgufFile g = (GgufFile) resource;
                yield g.metadata().get("tokenizer.chat_template") instanceof String && tokenizer != null
                        ? Optional.of(ChatTemplate.fromGguf(g, tokenizer)) : Optional.empty();
            }
            case HUGGING_FACE -> {
                try {
                    yield ChatTemplate.findInHfFolder(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
            case LLAMA2C -> Optional.empty();
        };
    }

    /**
     * A builder for a session over this model: its weights, tokenizer (if any) and kernels, the
     * full cache and the model's context length until the builder says otherwise.
     */
    public Session.Builder session() {
        checkOpen();
        Session.Builder b = Session.builder(weights).ops(ops);
        return tokenizer != null ? b.tokenizer(tokenizer) : b;
    }

    /**
     * Encodes a conversation for generation: the chat template rendered with an opening assistant
     * turn, then tokenized with the special tokens the template wrote (as transformers'
     * {@code apply_chat_template} does).
     *
     * @throws IllegalStateException when the model has no chat template or no tokenizer
     * @throws ChatTemplate.TemplateException when the template rejects the conversation
     */
    public int[] encodeChat(List<ChatMessage> messages) {
        Objects.requireNonNull(messages, "messages");
        ChatTemplate t = chatTemplate().orElseThrow(() -> new IllegalStateException(path + " has no chat template"));
        return tokenizer().encode(t.render(messages, true), false, true);
    }

    /**
     * Answers a conversation: renders it with the chat template and generates with the full cache
     * in a session of its own, sized to the prompt and {@code options.maxTokens()}.
     *
     * @param listener receives each token and its text as it comes (whole characters), or null
     */
    public Generation chat(List<ChatMessage> messages, GenerateOptions options, Session.TokenListener listener) {
        return oneShot(encodeChat(messages), options, listener);
    }

    /** {@code chat(messages, options, null)}. */
    public Generation chat(List<ChatMessage> messages, GenerateOptions options) {
        return chat(messages, options, null);
    }

    /**
     * Continues {@code prompt} (encoded with the tokenizer's defaults, e.g. a BOS token) with the
     * full cache in a session of its own.
     */
    public Generation generate(String prompt, GenerateOptions options, Session.TokenListener listener) {
        Objects.requireNonNull(prompt, "prompt");
        return oneShot(tokenizer().encode(prompt), options, listener);
    }

    /** {@code generate(prompt, options, null)}. */
    public Generation generate(String prompt, GenerateOptions options) {
        return generate(prompt, options, null);
    }

    private Generation oneShot(int[] ids, GenerateOptions options, Session.TokenListener listener) {
        Objects.requireNonNull(options, "options");
        long context = (long) ids.length + options.maxTokens();
        // The full cache sized to this request, never past the model's length: Session refuses a
        // longer context with a ContextBudgetException that says so.
        int budget = (int) Math.min(config.maxPositions(), Math.max(1, context));
        try (Session s = session().budgetTokens(budget).build()) {
            return s.generate(ids, options, listener);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("model " + path + " is closed");
        }
    }

    /**
     * Unmaps the weights and closes the thread pool the model owns ({@link Options#withThreads}).
     * Sessions of this model must be closed first. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            resource.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing " + path + ": " + e.getMessage(), e);
        } finally {
            if (ownedPool != null) {
                ownedPool.close();
            }
        }
    }

    @Override
    public String toString() {
        return "Model[" + format.label() + " " + path + ", " + config.architecture() + ", " + config.layers() + " layers]";
    }
}
