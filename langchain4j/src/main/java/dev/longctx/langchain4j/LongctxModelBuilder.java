package dev.longctx.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.longctx.models.Model;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.Strategy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * What {@link LongctxChatModel} and {@link LongctxStreamingChatModel} are built from: either a model
 * path (the chat model then opens the model and a serving engine of its own, and closes them in
 * {@code close()}) or a {@link ServingEngine} the caller owns (shared by any number of chat models,
 * an HTTP server, ...); plus the defaults of every request.
 *
 * <p>Threading: a builder is for one thread.
 *
 * @param <B> the concrete builder
 */
public abstract class LongctxModelBuilder<B extends LongctxModelBuilder<B>> {
    /** Tokens generated when neither the request nor {@link #maxOutputTokens} says (less where the context leaves less). */
    public static final int DEFAULT_MAX_OUTPUT_TOKENS = 512;

    Path modelPath;
    ServingEngine engine;
    long budgetBytes = 1L << 30;
    Integer threads;
    Strategy strategy;
    int budgetTokens;
    Duration timeout;
    String modelName;
    Long seed;
    int maxOutputTokens = DEFAULT_MAX_OUTPUT_TOKENS;
    ChatRequestParameters defaults;

    LongctxModelBuilder() {
    }

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** Opens this model (GGUF file, Hugging Face folder or llama2.c checkpoint) with an engine of its own. */
    public B modelPath(Path path) {
        this.modelPath = Objects.requireNonNull(path, "modelPath");
        return self();
    }

    /** Runs on this engine (its model must have a chat template); the chat model never closes it. */
    public B engine(ServingEngine e) {
        this.engine = Objects.requireNonNull(e, "engine");
        return self();
    }

    /** The KV budget of the engine opened for {@link #modelPath} (default 1 GiB). */
    public B budgetBytes(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("budgetBytes must be positive, got " + bytes);
        }
        this.budgetBytes = bytes;
        return self();
    }

    /** Compute threads of the model opened for {@link #modelPath} (default: the cores). */
    public B threads(int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("threads must be positive, got " + n);
        }
        this.threads = n;
        return self();
    }

    /** The long-context strategy of every request (default: the engine's, {@code full} for one opened here). */
    public B strategy(Strategy s) {
        this.strategy = Objects.requireNonNull(s, "strategy");
        return self();
    }

    /** The KV budget of every request in tokens per KV head (default: the engine's default for the strategy). */
    public B budgetTokens(int tokens) {
        if (tokens <= 0) {
            throw new IllegalArgumentException("budgetTokens must be positive, got " + tokens);
        }
        this.budgetTokens = tokens;
        return self();
    }

    /** The time limit of every request (default: none; the answer then ends with finish reason OTHER). */
    public B timeout(Duration d) {
        Objects.requireNonNull(d, "timeout");
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + d);
        }
        this.timeout = d;
        return self();
    }

    /** The model name reported in responses (default: the model's file or folder name). */
    public B modelName(String name) {
        this.modelName = Objects.requireNonNull(name, "modelName");
        return self();
    }

    /** The sampling seed of every request with a temperature (default: a new random seed per request). */
    public B seed(long s) {
        this.seed = s;
        return self();
    }

    /** Tokens generated when a request sets no maximum (default {@value #DEFAULT_MAX_OUTPUT_TOKENS}). */
    public B maxOutputTokens(int tokens) {
        if (tokens <= 0) {
            throw new IllegalArgumentException("maxOutputTokens must be positive, got " + tokens);
        }
        this.maxOutputTokens = tokens;
        return self();
    }

    /** Parameters every request starts from (temperature, top-p, top-k, max output tokens, stop sequences). */
    public B defaultRequestParameters(ChatRequestParameters p) {
        this.defaults = Objects.requireNonNull(p, "defaultRequestParameters");
        return self();
    }

    /** Opens what the builder names: the engine given, or the model and an engine of its own. */
    EngineBinding bind() {
        if ((modelPath == null) == (engine == null)) {
            throw new IllegalStateException("give exactly one of modelPath(...) and engine(...)");
        }
        if (engine != null) {
            return new EngineBinding(engine, null, this);
        }
        // threads given: the model's own pool, closed with the model (EngineBinding closes it)
        Model model = Model.open(modelPath, threads == null ? Model.Options.defaults() : Model.Options.defaults().withThreads(threads));
        try {
            EngineBinding.checkChatTemplate(model);
            ServingEngine own = ServingEngine.builder(model).budgetBytes(budgetBytes).name("langchain4j").build();
            return new EngineBinding(own, model, this);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }
}
