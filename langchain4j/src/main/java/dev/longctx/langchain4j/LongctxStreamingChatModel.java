package dev.longctx.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.longctx.models.serving.RequestHandle;

/**
 * A LangChain4j {@link StreamingChatModel} over a longctx serving engine, in process. Text reaches
 * the handler as the engine generates it, in whole characters, never part of a stop sequence. The
 * handler runs on a virtual thread of the request (never on the engine's thread, so a slow handler
 * delays only its own request); {@code PartialResponseContext.streamingHandle().cancel()} ends the
 * request and returns its KV pages. Parameters, usage and finish reasons as {@link LongctxChatModel}.
 *
 * <pre>{@code
 * LongctxStreamingChatModel model = LongctxStreamingChatModel.builder().engine(engine).build();
 * model.chat("Tell me a story", handler);
 * }</pre>
 *
 * <p>Threading: thread-safe; {@link #chat} returns at once. Errors (unsupported parameters, a context
 * that does not fit, a full queue) go to {@code handler.onError}.
 */
public final class LongctxStreamingChatModel implements StreamingChatModel, AutoCloseable {
    private final EngineBinding binding;

    private LongctxStreamingChatModel(EngineBinding binding) {
        this.binding = binding;
    }

    /** A builder: give {@code modelPath(...)} or {@code engine(...)}. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        StreamRelay relay = new StreamRelay(binding, handler);
        RequestHandle h;
        try {
            h = binding.submit(request, relay);
        } catch (RuntimeException e) {
            relay.failBeforeStart(e);
            return;
        }
        relay.start(h);
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

    /** Options of a new {@link LongctxStreamingChatModel}. Threading: for one thread. */
    public static final class Builder extends LongctxModelBuilder<Builder> {
        private Builder() {
        }

        /**
         * Opens the model (for a path) and returns the chat model.
         *
         * @throws IllegalStateException unless exactly one of a path and an engine was given
         * @throws IllegalArgumentException when the model has no chat template
         */
        public LongctxStreamingChatModel build() {
            return new LongctxStreamingChatModel(bind());
        }
    }
}
