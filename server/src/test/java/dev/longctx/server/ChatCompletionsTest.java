package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.CompletionUsage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /v1/chat/completions} on the committed retrieval model (it has a chat template) through the
 * official OpenAI Java client and LangChain4j's {@code OpenAiChatModel} / {@code OpenAiStreamingChatModel}:
 * plain and streamed greedy answers equal the model's own greedy chat ({@code ./longctx generate --chat
 * --temperature 0}), the stream opens with the assistant role and ends with {@code [DONE]}, usage counts
 * the rendered prompt and the answer.
 */
class ChatCompletionsTest {
    static final String SYSTEM = "Answer with the number only.";
    static final String QUESTION = "Text: The special magic number for crechai is 5583791. kea mijo woothoslouk. keanbrafle croo "
            + "troohea creaslo.\n\nQuestion: What is the special magic number for crechai?";
    private static final int N = 24;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestServer t;
    private static OpenAIClient client;
    private static Generation ref;

    @BeforeAll
    static void start() {
        t = new TestServer(TestServer.chatModel(), e -> { }, s -> s.modelId("retrieval"));
        client = t.openAi();
        ref = t.model.chat(List.of(ChatMessage.system(SYSTEM), ChatMessage.user(QUESTION)), GenerateOptions.greedy(N));
    }

    @AfterAll
    static void stop() {
        client.close();
        t.close();
    }

    private static ChatCompletionCreateParams.Builder params() {
        return ChatCompletionCreateParams.builder().model("retrieval").addSystemMessage(SYSTEM).addUserMessage(QUESTION)
                .maxCompletionTokens(N).temperature(0.0);
    }

    private static String finish() {
        return ref.finishReason().isStop() ? "stop" : "length";
    }

    @Test
    void plainChatEqualsGreedyChat() {
        ChatCompletion c = client.chat().completions().create(params().build());
        assertEquals(ref.text(), c.choices().get(0).message().content().orElseThrow());
        assertEquals(finish(), c.choices().get(0).finishReason().asString());
        CompletionUsage u = c.usage().orElseThrow();
        assertEquals(ref.promptIds().length, u.promptTokens());
        assertEquals(ref.outputIds().length, u.completionTokens());
        assertTrue(c.id().startsWith("chatcmpl-"), c.id());
    }

    @Test
    void streamedChatEqualsGreedyChat() {
        StringBuilder text = new StringBuilder();
        CompletionUsage usage = null;
        String finish = null;
        boolean first = true;
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(params()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            for (ChatCompletionChunk c : (Iterable<ChatCompletionChunk>) s.stream()::iterator) {
                if (first) {
                    assertEquals("assistant", c.choices().get(0).delta().role().orElseThrow().asString(), "the role comes first");
                    first = false;
                }
                for (ChatCompletionChunk.Choice ch : c.choices()) {
                    ch.delta().content().ifPresent(text::append);
                    if (ch.finishReason().isPresent()) {
                        finish = ch.finishReason().get().asString();
                    }
                }
                if (c.usage().isPresent()) {
                    usage = c.usage().get();
                }
            }
        }
        assertEquals(ref.text(), text.toString());
        assertEquals(finish(), finish);
        assertNotNull(usage);
        assertEquals(ref.promptIds().length, usage.promptTokens());
        assertEquals(ref.outputIds().length, usage.completionTokens());
    }

    @Test
    void wireStreamOpensWithTheRoleAndEndsWithDone() throws Exception {
        String body = "{\"model\": \"retrieval\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": "
                + JSON.writeValueAsString(QUESTION) + "}]}], \"max_tokens\": 6, \"temperature\": 0, \"stream\": true, "
                + "\"stream_options\": {\"include_usage\": true}}";
        Http.Events r = Http.stream(t.url("/v1/chat/completions"), body);
        assertEquals(200, r.status());
        assertEquals("[DONE]", r.data().getLast());
        JsonNode role = JSON.readTree(r.data().getFirst());
        assertEquals("chat.completion.chunk", role.get("object").asText());
        assertEquals("assistant", role.get("choices").get(0).get("delta").get("role").asText());
        JsonNode usage = JSON.readTree(r.data().get(r.data().size() - 2));
        assertEquals(0, usage.get("choices").size());
        int completion = usage.get("usage").get("completion_tokens").asInt();
        assertTrue(completion >= 1 && completion <= 6, "max_tokens 6, got " + completion);
        assertEquals(usage.get("usage").get("prompt_tokens").asInt() + completion, usage.get("usage").get("total_tokens").asInt());
        JsonNode last = JSON.readTree(r.data().get(r.data().size() - 3));
        assertTrue(last.get("choices").get(0).get("finish_reason").isTextual(), last.toString());
    }

    @Test
    void langChain4jOpenAiChatModelAgainstTheServer() {
        OpenAiChatModel lc = OpenAiChatModel.builder().baseUrl(t.server.baseUrl().toString()).apiKey("unused").modelName("retrieval")
                .temperature(0.0).maxTokens(N).maxRetries(0).timeout(Duration.ofMinutes(2)).build();
        ChatResponse r = lc.chat(ChatRequest.builder().messages(SystemMessage.from(SYSTEM), UserMessage.from(QUESTION)).build());
        assertEquals(ref.text(), r.aiMessage().text());
        assertEquals(ref.promptIds().length, r.tokenUsage().inputTokenCount());
        assertEquals(ref.outputIds().length, r.tokenUsage().outputTokenCount());
        assertEquals(finish(), r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
    }

    @Test
    void langChain4jOpenAiStreamingChatModelAgainstTheServer() throws Exception {
        OpenAiStreamingChatModel lc = OpenAiStreamingChatModel.builder().baseUrl(t.server.baseUrl().toString()).apiKey("unused")
                .modelName("retrieval").temperature(0.0).maxTokens(N).timeout(Duration.ofMinutes(2)).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        lc.chat(ChatRequest.builder().messages(SystemMessage.from(SYSTEM), UserMessage.from(QUESTION)).build(),
                new StreamingChatResponseHandler() {
                    @Override
                    public void onPartialResponse(String text) {
                        partial.append(text);
                    }

                    @Override
                    public void onCompleteResponse(ChatResponse r) {
                        done.complete(r);
                    }

                    @Override
                    public void onError(Throwable e) {
                        done.completeExceptionally(e);
                    }
                });
        ChatResponse r = done.get(2, TimeUnit.MINUTES);
        assertEquals(ref.text(), partial.toString());
        assertEquals(ref.text(), r.aiMessage().text());
        assertEquals(ref.outputIds().length, r.tokenUsage().outputTokenCount());
        assertEquals(finish(), r.finishReason().name().toLowerCase(java.util.Locale.ROOT));
    }
}
