package dev.longctx.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.gguf.GgufWriter;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.ChatTemplate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The front door: one call opens any format, and what it hands out matches the lower-level API and llama.cpp. */
class ModelTest {
    private static final Path GGUF = SharedFixtures.locate("fixtures/stories260k/stories260K.gguf");
    private static final Path BIN = SharedFixtures.locate("fixtures/stories260k/stories260K.bin");
    private static final Path TOK = SharedFixtures.locate("fixtures/stories260k/tok512.bin");
    private static final Model.Options TWO_THREADS = Model.Options.defaults().withOps(new TensorOps(KernelProvider.get(),
            ComputePool.create(2)));
    /** llama.cpp ran 64 tokens with no stop id. */
    private static final GenerateOptions SIXTY_FOUR = GenerateOptions.greedy(64).withStopIds(List.of());

    private static JsonNode greedyCases() throws Exception {
        return new ObjectMapper().readTree(Files.readString(SharedFixtures.locate("fixtures/stories260k/reference/greedy.json")))
                .get("cases");
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    /**
     * A model opened with {@code withThreads} owns its pool: it computes on that many threads and
     * closing the model closes the pool; a pool given through {@code withOps} stays the caller's.
     */
    @Test
    void withThreadsPoolIsTheModelsAndClosesWithIt() throws Exception {
        Model m = Model.open(GGUF, Model.Options.defaults().withThreads(3));
        ComputePool own = m.ops().pool();
        assertEquals(3, own.threads());
        assertEquals(64, m.generate("Once upon a time", SIXTY_FOUR).outputIds().length);
        m.close();
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> own.parallelFor(2, i -> { }));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        try (ComputePool mine = ComputePool.create(2)) {
            Model.open(GGUF, Model.Options.defaults().withOps(new TensorOps(KernelProvider.get(), mine))).close();
            mine.parallelFor(2, i -> { }); // still open
        }
        var bad = org.junit.jupiter.api.Assertions.assertThrows(dev.longctx.models.ModelFormatException.class,
                () -> Model.open(GGUF.resolveSibling("missing.gguf"), Model.Options.defaults().withThreads(2)));
        assertTrue(bad.getMessage().contains("missing.gguf"), bad.getMessage());
    }

    /** One call, the tokenizer from the file, text in and text out: llama.cpp's greedy ids and text. */
    @Test
    void generateFromTextMatchesLlamaCpp() throws Exception {
        try (Model m = Model.open(GGUF, TWO_THREADS)) {
            assertEquals(ModelFormat.GGUF, m.format());
            assertEquals(GGUF, m.path());
            assertEquals(5, m.config().layers());
            assertTrue(m.hasTokenizer());
            for (JsonNode c : greedyCases()) {
                StringBuilder streamed = new StringBuilder();
                Generation g = m.generate(c.get("prompt").asText(), SIXTY_FOUR, (id, text) -> streamed.append(text));
                assertArrayEquals(ints(c.get("prompt_ids")), g.promptIds());
                assertArrayEquals(ints(c.get("generated_ids")), g.outputIds());
                assertEquals(c.get("continuation_text").asText(), g.text());
                assertEquals(g.text(), streamed.toString());
                assertEquals(FinishReason.LENGTH, g.finishReason());
            }
        }
    }

    /** A session from the model with a strategy and budget generates from text, BOS only at the start. */
    @Test
    void sessionFromModelTakesText() throws Exception {
        JsonNode c = greedyCases().get(0);
        try (Model m = Model.open(GGUF, TWO_THREADS);
             Session s = m.session().strategy(new Strategy.Streaming(4, 0)).budgetTokens(256).kvType(DType.F32).build()) {
            Generation g = s.generate(c.get("prompt").asText(), SIXTY_FOUR, null);
            assertArrayEquals(ints(c.get("prompt_ids")), g.promptIds());
            assertArrayEquals(ints(c.get("generated_ids")), g.outputIds()); // 64 + prompt fit the window: as full
            Generation more = s.generate(" The end.", GenerateOptions.greedy(4), null);
            assertArrayEquals(m.tokenizer().encode(" The end.", false, false), more.promptIds(), "no BOS mid-session");
        }
    }

    /** llama2.c: tokenizer.bin beside the checkpoint, else the one the options name, else a clear error. */
    @Test
    void llama2cTokenizerBesideOrGivenOrExplained(@TempDir Path dir) throws Exception {
        try (Model m = Model.open(BIN, TWO_THREADS)) {
            assertEquals(ModelFormat.LLAMA2C, m.format());
            assertFalse(m.hasTokenizer());
            IllegalStateException e = assertThrows(IllegalStateException.class, m::tokenizer);
            assertTrue(e.getMessage().contains("tokenizer.bin") && e.getMessage().contains("withTokenizer"), e.getMessage());
            assertTrue(m.chatTemplate().isEmpty());
        }
        JsonNode c = greedyCases().get(1);
        try (Model m = Model.open(BIN, TWO_THREADS.withTokenizer(TOK))) {
            assertArrayEquals(ints(c.get("generated_ids")), m.generate(c.get("prompt").asText(), SIXTY_FOUR).outputIds());
        }
        Files.copy(BIN, dir.resolve("model.bin"));
        Files.copy(TOK, dir.resolve("tokenizer.bin"));
        try (Model m = Model.open(dir.resolve("model.bin"), TWO_THREADS)) {
            assertTrue(m.hasTokenizer());
            assertArrayEquals(ints(c.get("generated_ids")), m.generate(c.get("prompt").asText(), SIXTY_FOUR).outputIds());
        }
    }

    /** A GGUF with a chat template: chat() is the template rendered, encoded with its special tokens, then generated. */
    @Test
    void chatRendersTheFilesTemplate(@TempDir Path dir) throws Exception {
        String template = "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                + "{% if add_generation_prompt %}assistant:{% endif %}";
        Path file = dir.resolve("chat.gguf");
        try (GgufFile g = GgufFile.open(GGUF)) {
            GgufWriter.copyOf(g).put("tokenizer.chat_template", template).write(file);
        }
        List<ChatMessage> messages = List.of(ChatMessage.system("Tell a story."), ChatMessage.user("Once upon a time"));
        try (Model m = Model.open(file, TWO_THREADS)) {
            ChatTemplate t = m.chatTemplate().orElseThrow();
            String rendered = t.render(List.of(new ChatMessage("system", "Tell a story."),
                    new ChatMessage("user", "Once upon a time")), true);
            assertTrue(rendered.startsWith(m.tokenizer().token(m.tokenizer().bosId())) && rendered.endsWith("assistant:"), rendered);
            int[] ids = m.encodeChat(messages);
            assertArrayEquals(m.tokenizer().encode(rendered, false, true), ids);
            assertEquals(m.tokenizer().bosId(), ids[0], "the template's BOS text became the BOS token");
            Generation chat = m.chat(messages, GenerateOptions.greedy(24).withStopIds(List.of()));
            try (Session s = m.session().budgetTokens(ids.length + 24).build()) {
                Generation direct = s.generate(ids, GenerateOptions.greedy(24).withStopIds(List.of()), null);
                assertArrayEquals(direct.outputIds(), chat.outputIds());
                assertEquals(direct.text(), chat.text());
            }
        }
        try (Model plain = Model.open(GGUF, TWO_THREADS)) {
            assertTrue(plain.chatTemplate().isEmpty());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> plain.chat(messages, SIXTY_FOUR));
            assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
        }
    }

    /** Hugging Face folders: format, tensors, and a folder without tokenizer.json explains itself. */
    @Test
    void huggingFaceFolderAndTensors() throws Exception {
        Path folder = SharedFixtures.locate("fixtures/hf/llama-gqa");
        try (Model m = Model.open(folder, TWO_THREADS)) {
            assertEquals(ModelFormat.HUGGING_FACE, m.format());
            assertFalse(m.hasTokenizer());
            assertTrue(assertThrows(IllegalStateException.class, m::tokenizer).getMessage().contains("tokenizer.json"));
            List<Model.TensorEntry> tensors = m.tensors();
            assertTrue(tensors.stream().anyMatch(t -> t.name().equals("model.embed_tokens.weight")
                    && t.elements() == (long) m.config().vocabSize() * m.config().hiddenSize()), tensors.toString());
        }
        try (Model m = Model.open(GGUF, TWO_THREADS)) {
            List<Model.TensorEntry> tensors = m.tensors();
            assertEquals("token_embd.weight", tensors.getFirst().name());
            assertArrayEquals(new long[] {512, 64}, tensors.getFirst().shape());
            assertEquals(DType.F32, tensors.getFirst().dtype());
        }
    }

    /** Missing paths, closed models and over-long requests: typed errors that say what. */
    @Test
    void misuseIsExplained(@TempDir Path dir) throws Exception {
        ModelFormatException missing = assertThrows(ModelFormatException.class, () -> Model.open(dir.resolve("nope.gguf")));
        assertTrue(missing.getMessage().contains("no such model file or folder"), missing.getMessage());
        ModelFormatException noConfig = assertThrows(ModelFormatException.class, () -> Model.open(dir));
        assertTrue(noConfig.getMessage().contains("config.json"), noConfig.getMessage());
        Model m = Model.open(GGUF, TWO_THREADS);
        ContextBudgetException tooLong = assertThrows(ContextBudgetException.class,
                () -> m.generate("Once upon a time", GenerateOptions.greedy(m.config().maxPositions())));
        assertTrue(tooLong.getMessage().contains("context length of " + m.config().maxPositions()), tooLong.getMessage());
        m.close();
        m.close(); // idempotent
        IllegalStateException closed = assertThrows(IllegalStateException.class, m::session);
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
    }
}
