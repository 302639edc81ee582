package dev.longctx.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link LongctxChatModel} on the retrieval model (it has a chat template), through LangChain4j's
 * {@code ChatModel.chat}: answers equal the model's own chat, parameters map to the engine's
 * options, usage and finish reasons are right, and what is not supported is refused clearly.
 */
class LongctxChatModelTest {
    static final String SYSTEM = "Answer with the number only.";
    static final String QUESTION = "Text: The special magic number for crechai is 5583791. kea mijo woothoslouk. keanbrafle croo "
            + "troohea creaslo.\n\nQuestion: What is the special magic number for crechai?";
    private static Model model;
    private static ServingEngine engine;
    private static LongctxChatModel chat;

    @BeforeAll
    static void open() {
        model = Model.open(TestModels.chatModel(), Model.Options.defaults().withOps(TensorOps.withThreads(2)));
        engine = ServingEngine.builder(model).budgetBytes(64L << 20).build();
        chat = LongctxChatModel.builder().engine(engine).build();
    }

    @AfterAll
    static void close() {
        chat.close();
        engine.close();
        model.close();
    }

    private static ChatRequest.Builder ask() {
        return ChatRequest.builder().messages(SystemMessage.from(SYSTEM), UserMessage.from(QUESTION));
    }

    private static Generation reference(GenerateOptions o) {
        return model.chat(List.of(ChatMessage.system(SYSTEM), ChatMessage.user(QUESTION)), o);
    }

    @Test
    void greedyAnswerEqualsTheModelsOwnChat() {
        Generation ref = reference(GenerateOptions.greedy(24));
        ChatResponse r = chat.chat(ask().maxOutputTokens(24).build());
        assertEquals(ref.text(), r.aiMessage().text());
        assertEquals(ref.promptIds().length, r.tokenUsage().inputTokenCount());
        assertEquals(ref.outputIds().length, r.tokenUsage().outputTokenCount());
        assertEquals(ref.finishReason().isStop() ? FinishReason.STOP : FinishReason.LENGTH, r.finishReason());
        assertTrue(r.id().startsWith("longctx-"), r.id());
        assertEquals("hf", r.modelName());
    }

    @Test
    void maxOutputTokensEndsWithLength() {
        ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from("Tell me a long story about crechai."))
                .maxOutputTokens(3).build());
        assertEquals(3, r.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void stopSequencesCutTheAnswer() {
        Generation ref = reference(GenerateOptions.greedy(24));
        assertTrue(ref.text().length() >= 3, ref.text());
        String stop = ref.text().substring(2, 3);
        ChatResponse r = chat.chat(ask().maxOutputTokens(24).stopSequences(List.of(stop)).build());
        assertEquals(ref.text().substring(0, ref.text().indexOf(stop)), r.aiMessage().text());
        assertEquals(FinishReason.STOP, r.finishReason());
    }

    @Test
    void samplingParametersReachTheSampler() {
        SamplerConfig s = SamplerConfig.sampling(7).withTemperature(0.9f).withTopP(0.8f).withTopK(20);
        Generation ref = reference(new GenerateOptions(16, s, null, List.of()));
        try (LongctxChatModel seeded = LongctxChatModel.builder().engine(engine).seed(7).build()) {
            ChatResponse r = seeded.chat(ask().maxOutputTokens(16).temperature(0.9).topP(0.8).topK(20).build());
            assertEquals(ref.text(), r.aiMessage().text());
            assertEquals(ref.outputIds().length, r.tokenUsage().outputTokenCount());
        }
    }

    @Test
    void defaultRequestParametersApply() {
        try (LongctxChatModel capped = LongctxChatModel.builder().engine(engine)
                .defaultRequestParameters(ChatRequestParameters.builder().maxOutputTokens(2).build()).build()) {
            assertEquals(2, capped.chat(ask().build()).tokenUsage().outputTokenCount());
            assertEquals(2, capped.defaultRequestParameters().maxOutputTokens());
        }
    }

    @Test
    void unsupportedFeaturesAreRefusedClearly() {
        ToolSpecification tool = ToolSpecification.builder().name("weather").description("the weather").build();
        UnsupportedFeatureException tools = assertThrows(UnsupportedFeatureException.class,
                () -> chat.chat(ask().toolSpecifications(tool).build()));
        assertTrue(tools.getMessage().contains("tools"), tools.getMessage());
        UnsupportedFeatureException json = assertThrows(UnsupportedFeatureException.class,
                () -> chat.chat(ask().responseFormat(ResponseFormat.JSON).build()));
        assertTrue(json.getMessage().contains("JSON"), json.getMessage());
        assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ask().frequencyPenalty(0.5).build()));
        assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ChatRequest.builder().messages(UserMessage.from(
                TextContent.from("look:"), ImageContent.from("https://example.invalid/cat.png"))).build()));
        assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("hi"),
                ToolExecutionResultMessage.from("id", "weather", "sunny")).build()));
        assertEquals(0, engine.stats().running());
    }

    @Test
    void aContextTooLongIsAnInvalidRequest() {
        String huge = "kea mijo woothoslouk. ".repeat(engine.config().maxPositions());
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> chat.chat(ChatRequest.builder()
                .messages(UserMessage.from(huge)).maxOutputTokens(8).build()));
        assertTrue(e.getMessage().contains("context"), e.getMessage());
    }

    @Test
    void aModelWithoutAChatTemplateIsRefusedAtBuild() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LongctxChatModel.builder().modelPath(TestModels.stories260k()).build());
        assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> LongctxChatModel.builder().build());
    }

    @Test
    void builtFromAPathItOwnsAndClosesItsEngine() {
        String answer;
        try (LongctxChatModel own = LongctxChatModel.builder().modelPath(TestModels.chatModel()).threads(2).budgetBytes(16L << 20)
                .modelName("retrieval").maxOutputTokens(8).build()) {
            ChatResponse r = own.chat(ask().build());
            answer = r.aiMessage().text();
            assertEquals("retrieval", r.modelName());
            assertTrue(r.tokenUsage().outputTokenCount() <= 8);
        }
        assertEquals(reference(GenerateOptions.greedy(8)).text(), answer);
    }
}
