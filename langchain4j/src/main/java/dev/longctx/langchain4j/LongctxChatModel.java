package dev.longctx.langchain4j;

import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.session.Generation;
import java.util.concurrent.ExecutionException;

/**
 * A LangChain4j {@link ChatModel} over a longctx serving engine, in process: the conversation is
 * rendered with the model's chat template and generated on the engine (continuous batching with
 * every other request on it, the engine's KV budget, a long-context strategy per model).
 *
 * <pre>{@code
 * try (LongctxChatModel model = LongctxChatModel.builder().modelPath(Path.of("model.gguf")).build()) {
 *     String answer = model.chat("Why is the sky blue?");
 * }
 * }</pre>
 *
 * <p>Parameters: temperature (none: greedy), top-p, top-k, max output tokens, stop sequences.
 * Tools, JSON response formats and penalties throw {@link dev.langchain4j.exception.UnsupportedFeatureException}.
 * The response carries {@link dev.langchain4j.model.output.TokenUsage} (the rendered prompt's tokens
 * and the generated ones) and the finish reason ({@code STOP} when the model ended, {@code LENGTH}
 * at the token limit, {@code OTHER} for a timeout).
 *
 * <p>Threading: thread-safe; {@link #chat} blocks the calling thread until the answer is complete
 * (interrupting it cancels the request).
 */
public final class LongctxChatModel implements ChatModel, AutoCloseable {
    private final EngineBinding binding;

    private LongctxChatModel(EngineBinding binding) {
        this.binding = binding;
    }

    /** A builder: give {@code modelPath(...)} or {@code engine(...)}. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        RequestHandle h = binding.submit(request, null);
        try {
            Generation g = h.result().get();
            return binding.response(h, g);
        } catch (InterruptedException e) {
            h.cancel();
            Thread.currentThread().interrupt();
            throw new LangChain4jException("interrupted while generating; the request was cancelled", e);
        } catch (ExecutionException e) {
            throw EngineBinding.failure(e.getCause());
        }
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return binding.defaults();
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The model name responses report. */
    public String modelName() {
        return binding.modelName();
    }

    /** Closes the model and engine this chat model opened from a path; an engine given to the builder stays open. */
    @Override
    public void close() {
        binding.close();
    }

    /** Options of a new {@link LongctxChatModel}. Threading: for one thread. */
    public static final class Builder extends LongctxModelBuilder<Builder> {
        private Builder() {
        }

        /**
         * Opens the model (for a path) and returns the chat model.
         *
         * @throws IllegalStateException unless exactly one of a path and an engine was given
         * @throws IllegalArgumentException when the model has no chat template
         */
        public LongctxChatModel build() {
            return new LongctxChatModel(bind());
        }
    }
}
