package dev.longctx.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.Model;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.Request;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Strategy;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * MoA through the server ({@code --moa-profile}): a request naming {@code moa} with a budget gets the
 * profile's windows fitted to its budget over its prompt plus {@code max_tokens}, exactly what the
 * library's own fit gives (its greedy text equals the engine running that fitted strategy); a budget
 * holding every token gives the full cache's text; a missing budget or an unfittable one is a 400
 * naming {@code longctx.budget_tokens}, with nothing left allocated.
 */
class MoaRequestsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMPT = "Once upon a time, there was a little girl named Lily. She liked to play outside with her"
            + " friends in the park near her house. One day";
    private static final int N = 40;
    private static TestServer t;
    private static OpenAIClient client;
    private static MoaProfile profile;

    @BeforeAll
    static void start() {
        // a profile over stories260K's heads: every head's loss falls with its window's share (beta) and
        // differs by head, so a tight budget gives the heads different windows (which the fit must choose)
        ModelConfig c;
        try (Model m = Model.open(TestServer.stories260k())) {
            c = m.config();
        }
        // candidate windows alpha + beta * N (the profile's rules, one pair each)
        long[] alpha = {8, 8, 8, 16, 16, 16};
        double[] beta = {0, 0.25, 1, 0, 0.5, 1};
        double[][][] losses = new double[c.layers()][c.kvHeads()][alpha.length];
        for (int l = 0; l < c.layers(); l++) {
            for (int h = 0; h < c.kvHeads(); h++) {
                for (int k = 0; k < alpha.length; k++) {
                    losses[l][h][k] = (1 + (l * 3 + h) % 5) * (1.2 - beta[k]) * (alpha[k] == 8 ? 1.1 : 1.0);
                }
            }
        }
        profile = new MoaProfile(2, alpha, beta, losses);
        t = new TestServer(TestServer.stories260k(), e -> { }, s -> s.moaProfile(profile));
        client = t.openAi();
    }

    @AfterAll
    static void stop() {
        client.close();
        t.close();
    }

    @AfterEach
    void nothingLeftAllocated() {
        EngineStats s = t.engine.stats();
        assertEquals(s.pagesCached(), s.pagesUsed(), "pages held by no request or cache: " + s);
        assertEquals(0, s.running());
    }

    private static String complete(Map<String, Object> longctx) {
        CompletionCreateParams.Builder b = CompletionCreateParams.builder().model(t.server.modelId())
                .prompt(PROMPT).maxTokens(N).temperature(0.0);
        if (longctx != null) {
            b.putAdditionalBodyProperty("longctx", JsonValue.from(longctx));
        }
        Completion c = client.completions().create(b.build());
        return c.choices().get(0).text();
    }

    private static String engine(Strategy s) {
        int[] ids = t.model.tokenizer().encode(PROMPT);
        Generation g = t.engine.submit(Request.tokens(ids).strategy(s).options(GenerateOptions.greedy(N))
                .build()).join();
        return g.text();
    }

    @Test
    void moaRequestGetsTheProfileFittedToItsBudget() {
        int budget = 24;
        int prompt = t.model.tokenizer().encode(PROMPT).length;
        long context = prompt + N;
        Strategy fitted = new Strategy.Moa(profile.fit(budget / (double) context, context));
        String viaServer = complete(Map.of("strategy", "moa", "budget_tokens", budget));
        assertEquals(engine(fitted), viaServer);
        // the windows matter at this budget: the full cache writes something else
        assertNotEquals(complete(null), viaServer, "a 24-token MoA budget should change stories260K's greedy text");
    }

    @Test
    void budgetHoldingEveryTokenEqualsTheFullCache() {
        assertEquals(complete(null), complete(Map.of("strategy", "moa", "budget_tokens", 4096)));
    }

    @Test
    void moaWithoutBudgetIsRefused() throws Exception {
        Http.Reply r = Http.post(t.url("/v1/completions"), "{\"model\": \"" + t.server.modelId() + "\", \"prompt\": \"Once\", "
                + "\"max_tokens\": 4, \"longctx\": {\"strategy\": \"moa\"}}");
        assertEquals(400, r.status(), r.body());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertEquals("longctx.budget_tokens", e.get("param").asText(), r.body());
        assertTrue(e.get("message").asText().contains("moa"), r.body());
    }

    @Test
    void budgetBelowTheCheapestWindowsIsRefused() throws Exception {
        Http.Reply r = Http.post(t.url("/v1/completions"), "{\"model\": \"" + t.server.modelId() + "\", \"prompt\": \"Once\", "
                + "\"max_tokens\": 4, \"longctx\": {\"strategy\": \"moa\", \"budget_tokens\": 1}}");
        assertEquals(400, r.status(), r.body());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertEquals("longctx.budget_tokens", e.get("param").asText(), r.body());
    }
}
