package dev.longctx.langchain4j;

import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import java.util.concurrent.LinkedBlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Carries one streaming request's text from the engine's thread to the LangChain4j handler: the
 * engine's listener only queues, and a virtual thread of this request calls the handler
 * ({@code onPartialResponse} per piece, then {@code onCompleteResponse} or {@code onError}). A
 * handler that throws, or cancels through the {@link StreamingHandle}, ends the request.
 *
 * <p>Threading: {@link #onToken} on the engine's thread; the handler on the relay's virtual thread.
 */
final class StreamRelay implements Session.TokenListener, StreamingHandle {
    private static final Logger LOG = LoggerFactory.getLogger(StreamRelay.class);

    private record End(Generation generation, Throwable error) {
    }

    private final EngineBinding binding;
    private final StreamingChatResponseHandler handler;
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private volatile RequestHandle request;
    private volatile boolean cancelled;

    StreamRelay(EngineBinding binding, StreamingChatResponseHandler handler) {
        this.binding = binding;
        this.handler = handler;
    }

    @Override
    public void onToken(int id, String text) {
        if (!text.isEmpty()) {
            queue.add(text);
        }
    }

    void start(RequestHandle h) {
        this.request = h;
        h.result().whenComplete((g, e) -> queue.add(new End(g, e)));
        Thread.ofVirtual().name("longctx-langchain4j-" + h.id()).start(this::relay);
    }

    void failBeforeStart(RuntimeException e) {
        try {
            handler.onError(e);
        } catch (RuntimeException inHandler) {
            LOG.warn("the streaming handler's onError threw", inHandler);
        }
    }

    private void relay() {
        RequestHandle h = request;
        PartialResponseContext context = new PartialResponseContext(this);
        try {
            while (true) {
                Object item = queue.take();
                if (item instanceof String text) {
                    if (!cancelled) {
                        handler.onPartialResponse(new PartialResponse(text), context);
                    }
                } else if (item instanceof End end) {
                    if (end.error() != null) {
                        handler.onError(EngineBinding.failure(end.error()));
                    } else if (!cancelled) {
                        handler.onCompleteResponse(binding.response(h, end.generation()));
                    }
                    return;
                }
            }
        } catch (InterruptedException e) {
            h.cancel();
        } catch (RuntimeException e) {
            h.cancel();
            try {
                handler.onError(e);
            } catch (RuntimeException inHandler) {
                LOG.warn("the streaming handler's onError threw", inHandler);
            }
        }
    }

    @Override
    public void cancel() {
        cancelled = true;
        RequestHandle h = request;
        if (h != null) {
            h.cancel();
        }
    }

    @Override
    public boolean isCancelled() {
        return cancelled;
    }
}
