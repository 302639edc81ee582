package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.completions.CompletionUsage;
import com.openai.models.models.Model;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /v1/completions}, {@code /v1/models}, {@code /health} and {@code /metrics} on stories260K
 * through the official OpenAI Java client: plain and streamed greedy completions equal the model's
 * own greedy generation ({@code ./longctx generate --temperature 0}), usage counts are the prompt's
 * and the output's tokens, and the wire stream ends with {@code [DONE]}.
 */
class CompletionsTest {
    private static final String PROMPT = "Once upon a time";
    private static final int N = 48;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestServer t;
    private static OpenAIClient client;

    @BeforeAll
    static void start() {
        t = TestServer.stories();
        client = t.openAi();
    }

    @AfterAll
    static void stop() {
        client.close();
        t.close();
    }

    private static CompletionCreateParams.Builder greedy(String prompt, int n) {
        return CompletionCreateParams.builder().model(t.server.modelId()).prompt(prompt).maxTokens(n).temperature(0.0);
    }

    private static CompletionChoice.FinishReason expected(Generation g) {
        return g.finishReason().isStop() ? CompletionChoice.FinishReason.STOP : CompletionChoice.FinishReason.LENGTH;
    }

    @Test
    void plainCompletionEqualsGreedyGenerate() {
        Generation ref = t.model.generate(PROMPT, GenerateOptions.greedy(N));
        Completion c = client.completions().create(greedy(PROMPT, N).build());
        assertEquals(1, c.choices().size());
        assertEquals(ref.text(), c.choices().get(0).text());
        assertEquals(expected(ref), c.choices().get(0).finishReason());
        CompletionUsage u = c.usage().orElseThrow();
        assertEquals(ref.promptIds().length, u.promptTokens());
        assertEquals(ref.outputIds().length, u.completionTokens());
        assertEquals(u.promptTokens() + u.completionTokens(), u.totalTokens());
        assertEquals(t.server.modelId(), c.model());
        assertTrue(c.id().startsWith("cmpl-"), c.id());
    }

    @Test
    void streamedCompletionEqualsGreedyGenerate() {
        Generation ref = t.model.generate(PROMPT, GenerateOptions.greedy(N));
        StringBuilder text = new StringBuilder();
        CompletionUsage usage = null;
        CompletionChoice.FinishReason finish = null;
        int chunks = 0;
        try (StreamResponse<Completion> s = client.completions().createStreaming(greedy(PROMPT, N)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            for (Completion c : (Iterable<Completion>) s.stream()::iterator) {
                chunks++;
                for (CompletionChoice ch : c.choices()) {
                    text.append(ch.text());
                    if (ch._finishReason().asKnown().isPresent()) {
                        assertEquals(null, finish, "one chunk carries the finish reason");
                        finish = ch.finishReason();
                    }
                }
                if (c.usage().isPresent()) {
                    assertTrue(c.choices().isEmpty(), "the usage chunk has no choices");
                    usage = c.usage().get();
                }
            }
        }
        assertEquals(ref.text(), text.toString());
        assertEquals(expected(ref), finish);
        assertNotNull(usage, "include_usage asks for a usage chunk");
        assertEquals(ref.promptIds().length, usage.promptTokens());
        assertEquals(ref.outputIds().length, usage.completionTokens());
        assertTrue(chunks > 2, "streamed in pieces, got " + chunks + " chunks");
    }

    @Test
    void tokenIdPromptEqualsTextPrompt() {
        Generation ref = t.model.generate(PROMPT, GenerateOptions.greedy(16));
        List<Long> ids = Arrays.stream(ref.promptIds()).mapToObj(i -> (long) i).toList();
        Completion c = client.completions().create(CompletionCreateParams.builder().model(t.server.modelId())
                .prompt(CompletionCreateParams.Prompt.ofArrayOfTokens(ids)).maxTokens(16).temperature(0.0).build());
        assertEquals(ref.text(), c.choices().get(0).text());
    }

    @Test
    void stopStringCutsTheTextAndStops() {
        Generation ref = t.model.generate(PROMPT, GenerateOptions.greedy(N));
        String words = ref.text().strip();
        int space = words.indexOf(' ', words.indexOf(' ') + 1);
        assertTrue(space > 0, "the reference has three words: " + ref.text());
        String stop = words.substring(space, space + 3);
        Completion c = client.completions().create(greedy(PROMPT, N).stop(stop).build());
        String expected = ref.text().substring(0, ref.text().indexOf(stop));
        assertEquals(expected, c.choices().get(0).text());
        assertEquals(CompletionChoice.FinishReason.STOP, c.choices().get(0).finishReason());
    }

    @Test
    void wireStreamIsDataEventsEndingWithDone() throws Exception {
        Http.Events r = Http.stream(t.url("/v1/completions"), "{\"model\": \"" + t.server.modelId() + "\", \"prompt\": \""
                + PROMPT + "\", \"max_tokens\": 8, \"temperature\": 0, \"stream\": true}");
        assertEquals(200, r.status());
        assertTrue(r.contentType().startsWith("text/event-stream"), r.contentType());
        assertEquals("[DONE]", r.data().getLast());
        List<String> json = r.data().subList(0, r.data().size() - 1);
        assertFalse(json.isEmpty());
        for (int i = 0; i < json.size(); i++) {
            JsonNode chunk = JSON.readTree(json.get(i));
            assertEquals("text_completion", chunk.get("object").asText());
            JsonNode finish = chunk.get("choices").get(0).get("finish_reason");
            assertEquals(i == json.size() - 1, !finish.isNull(), "only the last chunk has a finish reason: " + json.get(i));
        }
    }

    @Test
    void modelsListsTheOneModel() {
        List<Model> models = client.models().list().data();
        assertEquals(List.of(t.server.modelId()), models.stream().map(Model::id).toList());
        assertEquals(t.server.modelId(), client.models().retrieve(t.server.modelId()).id());
    }

    @Test
    void healthAndMetricsAnswer() throws Exception {
        client.completions().create(greedy(PROMPT, 4).build());
        Http.Reply health = Http.get(t.url("/health"));
        assertEquals(200, health.status());
        assertEquals("ok", JSON.readTree(health.body()).get("status").asText());
        Http.Reply metrics = Http.get(t.url("/metrics"));
        assertEquals(200, metrics.status());
        assertTrue(metrics.contentType().startsWith("text/plain"), metrics.contentType());
        String body = metrics.body();
        assertTrue(body.contains("longctx_tokens_total{engine=\"test\",phase=\"decode\"}"), body);
        assertTrue(body.contains("longctx_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"), body);
        assertTrue(body.contains("longctx_kv_pages{engine=\"test\",state=\"free\"}"), body);
    }
}
