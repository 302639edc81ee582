package dev.longctx.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.langchain4j.service.AiServices;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import dev.longctx.models.session.GenerateOptions;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LangChain4j's AiServices over the in-process chat model: an interface answered by the retrieval model. */
class AiServicesTest {
    /** The question alone, as the retrieval model was trained (a user turn; a system turn changes its answers). */
    interface Assistant {
        String answer(String question);
    }

    @Test
    void anAiServiceAnswersThroughTheInProcessModel() {
        try (LongctxChatModel chat = LongctxChatModel.builder().modelPath(TestModels.chatModel()).threads(2).budgetBytes(32L << 20)
                .maxOutputTokens(24).build()) {
            Assistant assistant = AiServices.create(Assistant.class, chat);
            String answer = assistant.answer(LongctxChatModelTest.QUESTION);
            String expected;
            try (Model m = Model.open(TestModels.chatModel())) {
                expected = m.chat(List.of(ChatMessage.user(LongctxChatModelTest.QUESTION)), GenerateOptions.greedy(24)).text();
            }
            assertEquals(expected, answer);
            assertEquals("5583791", answer.strip(), "the retrieval model finds the needle");
        }
    }
}
