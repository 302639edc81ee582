package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.CompletionCreateParams;
import dev.longctx.models.serving.EngineStats;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Requests no well-behaved client sends: each gets its documented status and an OpenAI-shaped error
 * naming what was wrong, nothing is left allocated, and the server answers the next request as if
 * nothing had happened (checked after every test).
 */
class HostileRequestsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestServer t;
    private static OpenAIClient client;
    private static String model;

    @BeforeAll
    static void start() {
        t = TestServer.stories();
        client = t.openAi();
        model = t.server.modelId();
    }

    @AfterAll
    static void stop() {
        client.close();
        t.close();
    }

    /** After each hostile request: a normal one still works, and no KV page is held but the prefix cache's. */
    @AfterEach
    void serverStillServes() throws Exception {
        Http.Reply r = Http.post(t.url("/v1/completions"), "{\"model\": \"" + model + "\", \"prompt\": \"Once\", \"max_tokens\": 4, "
                + "\"temperature\": 0}");
        assertEquals(200, r.status(), r.body());
        assertEquals(4, JSON.readTree(r.body()).get("usage").get("completion_tokens").asInt(), r.body());
        EngineStats s = t.engine.stats();
        assertEquals(s.pagesCached(), s.pagesUsed(), "pages held by no request or cache: " + s);
        assertEquals(0, s.running());
        assertEquals(0, s.waiting());
    }

    private static JsonNode error(Http.Reply r, int status, String param, String code) throws Exception {
        assertEquals(status, r.status(), r.body());
        assertTrue(r.contentType().startsWith("application/json"), r.contentType());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertTrue(e != null && e.get("message").isTextual() && !e.get("message").asText().isBlank(), r.body());
        assertTrue(e.has("type") && e.has("param") && e.has("code"), r.body());
        if (param != null) {
            assertEquals(param, e.get("param").asText(), r.body());
        }
        if (code != null) {
            assertEquals(code, e.get("code").asText(), r.body());
        }
        return e;
    }

    private static Http.Reply completions(String json) throws Exception {
        return Http.post(t.url("/v1/completions"), json);
    }

    private static String with(String fields) {
        return "{\"model\": \"" + model + "\", \"prompt\": \"Once upon a time\", " + fields + "}";
    }

    @Test
    void malformedJson() throws Exception {
        error(completions("{\"model\": \"" + model + "\", \"prompt\": "), 400, null, "invalid_json");
        error(completions("{\"model\": 1,}"), 400, null, "invalid_json");
        error(completions("[1, 2, 3]"), 400, null, "invalid_json");
        error(completions(""), 400, null, "invalid_json");
        error(completions(with("\"max_tokens\": 4") + " trailing"), 400, null, "invalid_json");
        error(completions("{\"model\": \"a\", \"model\": \"b\"}"), 400, null, "invalid_json");
        error(completions("[".repeat(100_000)), 400, null, "invalid_json");
    }

    @Test
    void invalidUtf8() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(("{\"model\": \"" + model + "\", \"prompt\": \"Once ").getBytes(StandardCharsets.US_ASCII));
        b.writeBytes(new byte[] {(byte) 0xC3, (byte) 0x28, (byte) 0xFF, (byte) 0xFE});
        b.writeBytes("\", \"max_tokens\": 4}".getBytes(StandardCharsets.US_ASCII));
        error(Http.post(t.url("/v1/completions"), b.toByteArray()), 400, null, "invalid_json");
    }

    @Test
    void wrongTypes() throws Exception {
        error(completions(with("\"max_tokens\": \"ten\"")), 400, "max_tokens", "invalid_type");
        error(completions(with("\"max_tokens\": 1.5")), 400, "max_tokens", "invalid_type");
        error(completions(with("\"temperature\": \"hot\"")), 400, "temperature", "invalid_type");
        error(completions(with("\"stream\": \"yes\"")), 400, "stream", "invalid_type");
        error(completions(with("\"stop\": 5")), 400, "stop", "invalid_type");
        error(completions(with("\"seed\": {}")), 400, "seed", "invalid_type");
        error(completions("{\"model\": \"" + model + "\", \"prompt\": {\"text\": \"hi\"}}"), 400, "prompt", "invalid_type");
        error(completions("{\"model\": [\"" + model + "\"], \"prompt\": \"hi\"}"), 400, "model", "invalid_type");
        error(Http.post(t.url("/v1/chat/completions"), "{\"model\": \"" + model + "\", \"messages\": \"hi\"}"), 400, "messages",
                "invalid_type");
        error(Http.post(t.url("/v1/chat/completions"), "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", "
                + "\"content\": 42}]}"), 400, "messages[0].content", "invalid_type");
    }

    @Test
    void outOfRangeValues() throws Exception {
        error(completions(with("\"max_tokens\": 1000000000000")), 400, "max_tokens", "invalid_value");
        error(completions(with("\"max_tokens\": 1e300")), 400, "max_tokens", "invalid_value");
        error(completions(with("\"max_tokens\": 99999999999999999999999999")), 400, "max_tokens", "invalid_value");
        error(completions(with("\"max_tokens\": 0")), 400, "max_tokens", "invalid_value");
        error(completions(with("\"max_tokens\": " + (ServerLimits.DEFAULT_MAX_TOKENS + 1))), 400, "max_tokens", "invalid_value");
        error(completions(with("\"temperature\": -1")), 400, "temperature", "invalid_value");
        error(completions(with("\"top_p\": 0")), 400, "top_p", "invalid_value");
        error(completions(with("\"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]")), 400, "stop", "invalid_value");
        error(completions("{\"model\": \"" + model + "\", \"prompt\": [1, 2, 100000]}"), 400, null, null);
        error(completions("{\"model\": \"" + model + "\", \"prompt\": \"\"}"), 400, "prompt", "invalid_value");
    }

    @Test
    void unsupportedParameters() throws Exception {
        error(completions(with("\"n\": 2")), 400, "n", "unsupported_parameter");
        error(completions(with("\"echo\": true")), 400, "echo", "unsupported_parameter");
        error(completions(with("\"presence_penalty\": 0.5")), 400, "presence_penalty", "unsupported_parameter");
        error(completions(with("\"longctx\": {\"strategy\": \"duo\"}")), 400, "longctx.strategy", "invalid_value");
        error(completions(with("\"longctx\": {\"strategy\": \"moa\", \"budget_tokens\": 64}")), 400, "longctx.strategy", "invalid_value");
        error(completions(with("\"longctx\": {\"strategy\": \"nonsense\"}")), 400, "longctx.strategy", "invalid_value");
        error(completions(with("\"longctx\": {\"stratgey\": \"h2o\"}")), 400, "longctx.stratgey", "unknown_parameter");
        String chat = "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], ";
        error(Http.post(t.url("/v1/chat/completions"), chat + "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}"),
                400, "tools", "unsupported_parameter");
        error(Http.post(t.url("/v1/chat/completions"), chat + "\"response_format\": {\"type\": \"json_object\"}}"), 400,
                "response_format", "unsupported_parameter");
        error(Http.post(t.url("/v1/chat/completions"), "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"tool\", "
                + "\"content\": \"42\", \"tool_call_id\": \"x\"}]}"), 400, "messages[0].role", "unsupported_parameter");
        // stories260K has no chat template
        error(Http.post(t.url("/v1/chat/completions"), chat + "\"max_tokens\": 4}"), 400, "messages", "no_chat_template");
    }

    @Test
    void unknownFieldsAreIgnored() throws Exception {
        Http.Reply r = completions(with("\"max_tokens\": 3, \"temperature\": 0, \"frobnicate\": {\"x\": [1, 2]}, \"user\": \"u1\", "
                + "\"store\": false, \"metadata\": {\"k\": \"v\"}"));
        assertEquals(200, r.status(), r.body());
        assertEquals(3, JSON.readTree(r.body()).get("usage").get("completion_tokens").asInt());
    }

    @Test
    void tenMegabyteBody() throws Exception {
        String prompt = "once upon a time ".repeat(10 * 1024 * 1024 / 17 + 1);
        error(completions("{\"model\": \"" + model + "\", \"prompt\": \"" + prompt + "\"}"), 413, null, "request_too_large");
    }

    @Test
    void promptOverTheContext() throws Exception {
        int context = t.engine.config().maxPositions();
        String prompt = "the cat sat on the mat. ".repeat(context);
        error(completions("{\"model\": \"" + model + "\", \"prompt\": \"" + prompt + "\", \"max_tokens\": 4}"), 413, "prompt",
                "context_length_exceeded");
        // a prompt that fits, but not with what it asks to generate
        error(completions(with("\"max_tokens\": " + context)), 413, null, "context_length_exceeded");
    }

    @Test
    void unknownModelAndRoute() throws Exception {
        NotFoundException e = assertThrows(NotFoundException.class, () -> client.completions().create(CompletionCreateParams
                .builder().model("gpt-4o").prompt("hi").maxTokens(2).build()));
        assertEquals("model_not_found", e.code().orElseThrow());
        assertTrue(e.getMessage().contains(model), e.getMessage());
        error(completions("{\"prompt\": \"hi\"}"), 400, "model", "missing_required_parameter");
        error(Http.get(t.url("/v1/engines")), 404, null, "unknown_url");
        error(Http.get(t.url("/v1/models/gpt-4o")), 404, "model", "model_not_found");
    }

    @Test
    void theOpenAiClientSeesTypedErrors() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.chat().completions().create(
                ChatCompletionCreateParams.builder().model(model).addUserMessage("hi").n(3).build()));
        assertEquals("n", e.param().orElseThrow());
        assertEquals("unsupported_parameter", e.code().orElseThrow());
        OpenAIServiceException tooLong = assertThrows(OpenAIServiceException.class, () -> client.completions().create(
                CompletionCreateParams.builder().model(model).prompt("hi").maxTokens(2)
                        .putAdditionalBodyProperty("longctx", JsonValue.from(Map.of("budget_tokens", 0))).build()));
        assertEquals(400, tooLong.statusCode());
    }

    @Test
    void apiKeyIsRequiredWhenConfigured() throws Exception {
        try (TestServer keyed = new TestServer(TestServer.stories260k(), e -> { }, s -> s.apiKey("s3cret"))) {
            OpenAIClient wrong = keyed.openAi("wrong");
            OpenAIClient right = keyed.openAi("s3cret");
            try {
                UnauthorizedException e = assertThrows(UnauthorizedException.class, () -> wrong.models().list());
                assertEquals("invalid_api_key", e.code().orElseThrow());
                assertEquals(keyed.server.modelId(), right.models().list().data().getFirst().id());
            } finally {
                wrong.close();
                right.close();
            }
            error(Http.get(keyed.url("/v1/models")), 401, null, "invalid_api_key");
            assertEquals(200, Http.get(keyed.url("/health")).status());
        }
    }
}
