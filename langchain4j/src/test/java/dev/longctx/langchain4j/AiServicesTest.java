package dev.longctx.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.service.AiServices;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import dev.longctx.models.session.GenerateOptions;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LangChain4j's AiServices over the in-process chat model: an interface answered by the retrieval model. */
class AiServicesTest {
    /** The question alone, as the retrieval model was trained (a user turn; a system turn changes its answers). */
    interface Assistant {
        String answer(String question);
    }

    /**
     * The committed model's first evaluation sample (eval-sample.json: a 256-token single needle, the shortest trained
     * length); the hand-shortened {@link LongctxChatModelTest#QUESTION} is far below the trained lengths, where the model
     * owes no particular answer.
     */
    @Test
    void anAiServiceAnswersThroughTheInProcessModel() throws IOException {
        JsonNode sample = new ObjectMapper().readTree(TestModels.chatModel().resolveSibling("eval-sample.json").toFile())
                .get("samples").get(0);
        String question = sample.get("messages").get(0).get("content").asText();
        try (LongctxChatModel chat = LongctxChatModel.builder().modelPath(TestModels.chatModel()).threads(2).budgetBytes(32L << 20)
                .maxOutputTokens(24).build()) {
            Assistant assistant = AiServices.create(Assistant.class, chat);
            String answer = assistant.answer(question);
            String expected;
            try (Model m = Model.open(TestModels.chatModel())) {
                expected = m.chat(List.of(ChatMessage.user(question)), GenerateOptions.greedy(24)).text();
            }
            assertEquals(expected, answer);
            assertEquals(sample.get("answer").asText(), answer.strip(), "the retrieval model finds the needle");
        }
    }
}
