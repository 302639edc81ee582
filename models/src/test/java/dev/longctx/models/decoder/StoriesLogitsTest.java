package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.GgufConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.llama2c.Llama2cCheckpoint;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * stories260K (a real trained model) against llama.cpp: logits at all 128 positions within 1e-4,
 * from the GGUF and from the llama2.c checkpoint, in one chunk, in chunks and token by token.
 */
class StoriesLogitsTest {
    static final JsonNode REF;
    static {
        try {
            REF = new ObjectMapper().readTree(Files.readString(
                    SharedFixtures.locate("fixtures/stories260k/reference/logits_llamacpp.json")));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static double maxDiff(Decoder d, int chunk) {
        JsonNode ids = REF.get("token_ids");
        int n = ids.size();
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = ids.get(i).asInt();
        }
        ModelConfig c = d.config();
        KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
        double max = 0;
        try (BlockPool pool = new BlockPool(layout, 16L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            for (int start = 0; start < n; start += chunk) {
                int len = Math.min(chunk, n - start);
                float[] logits = d.forward(cache, java.util.Arrays.copyOfRange(tokens, start, start + len), start, true);
                for (int p = 0; p < len; p++) {
                    JsonNode row = REF.get("logits").get(start + p);
                    for (int v = 0; v < c.vocabSize(); v++) {
                        max = Math.max(max, Math.abs(logits[p * c.vocabSize() + v] - row.get(v).asDouble()));
                    }
                }
            }
        }
        return max;
    }

    @Test
    void ggufAndLlama2cMatchLlamaCppInAnyChunking() throws Exception {
        TensorOps ops = new TensorOps(KernelProvider.get(), ComputePool.create(2));
        try (GgufFile g = GgufFile.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"));
             Llama2cCheckpoint b = Llama2cCheckpoint.open(SharedFixtures.locate("fixtures/stories260k/stories260K.bin"))) {
            ModelConfig config = GgufConfigReader.read(g);
            Decoder fromGguf = new Decoder(ModelWeights.fromGgufNames(config, g::tensor, g.tensors()::containsKey), ops);
            Decoder fromBin = new Decoder(ModelWeights.fromGgufNames(b.config(), b.tensors()::get, b.tensors()::containsKey), ops);
            for (int chunk : new int[] {128, 37, 1}) {
                double a = maxDiff(fromGguf, chunk);
                double c = maxDiff(fromBin, chunk);
                System.out.printf("stories260K chunk %d: GGUF %.2e, llama2.c %.2e%n", chunk, a, c);
                assertTrue(a <= 1e-4, "GGUF, chunks of " + chunk + ": max |diff| " + a);
                assertTrue(c <= 1e-4, "llama2.c, chunks of " + chunk + ": max |diff| " + c);
            }
        }
    }
}
