package dev.longctx.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link LongctxStreamingChatModel}: the partial texts add up to the model's own greedy chat, the
 * complete response has usage and finish reason, cancelling through the streaming handle frees the
 * request's pages, and refusals reach {@code onError}.
 */
class LongctxStreamingChatModelTest {
    private static Model model;
    private static ServingEngine engine;
    private static LongctxStreamingChatModel chat;

    @BeforeAll
    static void open() {
        model = Model.open(TestModels.chatModel(), Model.Options.defaults().withOps(TensorOps.withThreads(2)));
        engine = ServingEngine.builder(model).budgetBytes(64L << 20).build();
        chat = LongctxStreamingChatModel.builder().engine(engine).build();
    }

    @AfterAll
    static void close() {
        chat.close();
        engine.close();
        model.close();
    }

    /** Collects a stream; cancels after {@code cancelAfter} pieces (0: never). */
    private static final class Collector implements StreamingChatResponseHandler {
        final StringBuilder text = new StringBuilder();
        final CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        final int cancelAfter;
        int pieces;

        Collector(int cancelAfter) {
            this.cancelAfter = cancelAfter;
        }

        @Override
        public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
            text.append(partial.text());
            if (++pieces == cancelAfter) {
                context.streamingHandle().cancel();
                done.complete(null);
            }
        }

        @Override
        public void onCompleteResponse(ChatResponse r) {
            done.complete(r);
        }

        @Override
        public void onError(Throwable e) {
            done.completeExceptionally(e);
        }
    }

    @Test
    void partialsAddUpToTheGreedyChat() throws Exception {
        Generation ref = model.chat(List.of(ChatMessage.system(LongctxChatModelTest.SYSTEM), ChatMessage.user(LongctxChatModelTest.QUESTION)),
                GenerateOptions.greedy(24));
        Collector c = new Collector(0);
        chat.chat(ChatRequest.builder().messages(SystemMessage.from(LongctxChatModelTest.SYSTEM),
                UserMessage.from(LongctxChatModelTest.QUESTION)).maxOutputTokens(24).build(), c);
        ChatResponse r = c.done.get(2, TimeUnit.MINUTES);
        assertEquals(ref.text(), c.text.toString());
        assertEquals(ref.text(), r.aiMessage().text());
        assertEquals(ref.promptIds().length, r.tokenUsage().inputTokenCount());
        assertEquals(ref.outputIds().length, r.tokenUsage().outputTokenCount());
        assertEquals(ref.finishReason().isStop() ? FinishReason.STOP : FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void cancellingThroughTheStreamingHandleFreesThePages() throws Exception {
        Collector c = new Collector(2);
        chat.chat(ChatRequest.builder().messages(UserMessage.from("Tell me a long story about crechai.")).maxOutputTokens(2000)
                .build(), c);
        c.done.get(2, TimeUnit.MINUTES);
        for (int i = 0; i < 10_000 && engine.stats().running() > 0; i++) {
            Thread.sleep(1);
        }
        EngineStats s = engine.stats();
        assertEquals(0, s.running(), s.toString());
        assertEquals(s.pagesCached(), s.pagesUsed(), "no page held but the prefix cache's: " + s);
    }

    @Test
    void refusalsGoToOnError() throws Exception {
        Collector c = new Collector(0);
        chat.chat(ChatRequest.builder().messages(UserMessage.from("hi"))
                .toolSpecifications(ToolSpecification.builder().name("f").build()).build(), c);
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
                () -> c.done.get(1, TimeUnit.MINUTES));
        assertInstanceOf(UnsupportedFeatureException.class, e.getCause());
        assertTrue(c.text.isEmpty());
    }
}
