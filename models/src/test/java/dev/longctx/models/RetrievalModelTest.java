package dev.longctx.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The committed retrieval model (tools/retrieval-model, trained for 16K contexts): the Hugging
 * Face folder and the GGUF file give transformers' logits and each other's, and the full cache
 * answers seeded task instances as transformers did (eval-sample.json: the model's chat template,
 * greedy decoding, exact match).
 */
class RetrievalModelTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));
    private static final ObjectMapper JSON = new ObjectMapper();

    /** tools/retrieval-model/model, found above the working directory (the repository root). */
    static Path modelDir() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path m = dir.resolve("tools/retrieval-model/model");
            if (Files.isDirectory(m)) {
                return m;
            }
        }
        return fail("tools/retrieval-model/model not found above " + Path.of("").toAbsolutePath());
    }

    private static float[] allLogits(Model m, int[] ids) {
        var c = m.config();
        KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 64L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            return new Decoder(m.weights(), OPS).forward(cache, ids, 0, true);
        }
    }

    @Test
    void bothFormatsGiveTransformersLogits() throws Exception {
        JsonNode ref = JSON.readTree(modelDir().resolve("reference-logits.json").toFile());
        int[] ids = new int[ref.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ref.get("ids").get(i).asInt();
        }
        Model.Options opts = Model.Options.defaults().withOps(OPS);
        try (Model hf = Model.open(modelDir().resolve("hf"), opts);
             Model gguf = Model.open(modelDir().resolve("retrieval-16k.gguf"), opts)) {
            assertEquals(ModelFormat.HUGGING_FACE, hf.format());
            assertEquals(ModelFormat.GGUF, gguf.format());
            float[] a = allLogits(hf, ids);
            float[] b = allLogits(gguf, ids);
            int vocab = hf.config().vocabSize();
            double toRef = 0;
            double between = 0;
            for (int p = 0; p < ids.length; p++) {
                JsonNode row = ref.get("logits").get(p);
                for (int v = 0; v < vocab; v++) {
                    toRef = Math.max(toRef, Math.abs(a[p * vocab + v] - row.get(v).asDouble()));
                    between = Math.max(between, Math.abs(a[p * vocab + v] - b[p * vocab + v]));
                }
            }
            assertTrue(toRef < 1e-3, "HF folder against transformers: " + toRef);
            assertTrue(between < 1e-4, "HF folder against GGUF (same BF16 weights): " + between);
            // the same tokenizer in both files
            String text = "What is the special magic number for crechai?";
            assertArrayEquals(hf.tokenizer().encode(text, false, false), gguf.tokenizer().encode(text, false, false));
        }
    }

    @Test
    void fullCacheAnswersTheSeededInstances() throws Exception {
        JsonNode samples = JSON.readTree(modelDir().resolve("eval-sample.json").toFile()).get("samples");
        int answered = 0;
        try (Model m = Model.open(modelDir().resolve("retrieval-16k.gguf"), Model.Options.defaults().withOps(OPS))) {
            for (int i = 0; i < Math.min(6, samples.size()); i++) { // six keep the test short; check_java.py runs all
                JsonNode s = samples.get(i);
                List<ChatMessage> messages = new ArrayList<>();
                for (JsonNode msg : s.get("messages")) {
                    messages.add(new ChatMessage(msg.get("role").asText(), msg.get("content").asText()));
                }
                int[] expectedIds = JSON.treeToValue(s.get("prompt_ids"), int[].class);
                assertArrayEquals(expectedIds, m.encodeChat(messages), "prompt ids of sample " + i);
                try (Session session = m.session().kvType(DType.F32).budgetTokens(expectedIds.length + 64).build()) {
                    Generation g = session.generate(expectedIds, GenerateOptions.greedy(48), null);
                    assertEquals(s.get("answer").asText(), g.text().strip(), "sample " + i + " (" + s.get("task").asText() + ", "
                            + s.get("length").asInt() + " tokens)");
                    answered++;
                }
            }
        }
        assertEquals(6, answered);
    }

    /**
     * On the trained model, a SnapKV fork of a full-cache prefill (the fork prefills the last 64
     * tokens: its window and the question) keeps what a SnapKV session given the whole prompt in
     * one chunk keeps: the same answer token by token and the same first logits up to rounding, at
     * 128 of ~750 tokens per KV head.
     */
    @Test
    void snapKvForkOfAFullPrefillSelectsAsInOneChunk() throws Exception {
        JsonNode samples = JSON.readTree(modelDir().resolve("eval-sample.json").toFile()).get("samples");
        Strategy snap = new Strategy.SnapKv(128, 0, 0);
        GenerateOptions answer = GenerateOptions.greedy(24);
        try (Model m = Model.open(modelDir().resolve("retrieval-16k.gguf"), Model.Options.defaults().withOps(OPS))) {
            for (int i = 15; i < 20; i++) { // the 768-token samples, one per task
                int[] ids = JSON.treeToValue(samples.get(i).get("prompt_ids"), int[].class);
                int head = ids.length - 64;
                float[] oneChunk;
                int[] oneChunkText;
                try (Session s = m.session().strategy(snap).kvType(DType.F32).budgetTokens(128).chunkSize(ids.length).build()) {
                    oneChunk = s.prefill(ids, null);
                    oneChunkText = s.generate(new int[] {OPS.argmax(oneChunk, 0, oneChunk.length)}, answer, null).outputIds();
                }
                try (Session full = m.session().kvType(DType.F32).budgetTokens(2 * ids.length).build()) {
                    full.prefill(Arrays.copyOf(ids, head), null);
                    try (Session f = full.fork(snap)) {
                        float[] forked = f.prefill(Arrays.copyOfRange(ids, head, ids.length), null);
                        double diff = 0;
                        for (int v = 0; v < forked.length; v++) {
                            diff = Math.max(diff, Math.abs(forked[v] - oneChunk[v]));
                        }
                        assertTrue(diff < 1e-3, "sample " + i + ": logits differ by " + diff);
                        assertTrue(f.kvBytesInUse() * 4 < full.kvBytesInUse(), "the fork keeps 128 of ~750 tokens per head");
                        int first = OPS.argmax(forked, 0, forked.length);
                        assertArrayEquals(oneChunkText, f.generate(new int[] {first}, answer, null).outputIds(), "sample " + i);
                    }
                }
            }
        }
    }
}
