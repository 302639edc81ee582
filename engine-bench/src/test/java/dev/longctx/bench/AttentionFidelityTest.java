package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The fidelity probe on stories260K: zero error against itself, a measurable loss under a tight window. */
class AttentionFidelityTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));

    @Test
    void attentionFidelityAgainstTheFullCache() throws Exception {
        JsonNode ids = new ObjectMapper().readTree(Files.readString(EvalCommandTest.stories().resolveSibling("reference")
                .resolve("logits_llamacpp.json"))).get("token_ids");
        int[] story = new int[ids.size()];
        Arrays.setAll(story, i -> ids.get(i).asInt());
        int next = story[story.length - 1];
        int[] prompt = Arrays.copyOf(story, story.length - 1);
        double[] tightMass = new double[1];
        try (Model model = Model.open(EvalCommandTest.stories(), Model.Options.defaults().withOps(OPS))) {
            // window -1: full against full with 4-token pages, so the split-K kernel (64+ pages) observes from both threads
            for (int window : new int[] {0, -1, 200, 24}) {
                int page = window < 0 ? 4 : 16;
                try (Session full = session(model, new Strategy.Full()).pageSize(page).budgetTokens(256).build();
                        Session other = window <= 0 ? session(model, new Strategy.Full()).pageSize(page).budgetTokens(256).build()
                                : session(model, new Strategy.Streaming(4, window)).budgetTokens(window + 4).build()) {
                    full.prefill(prompt, null);
                    other.prefill(prompt, null);
                    AttentionFidelity f = AttentionFidelity.measure(full, other, next);
                    assertEquals(model.config().layers(), f.relativeError().length);
                    if (window == 24) {
                        assertTrue(f.meanRelativeError() > 1e-3 && f.meanMassRecovered() < 0.999, f.meanRelativeError() + " "
                                + f.meanMassRecovered());
                        tightMass[0] = f.meanMassRecovered();
                    } else {
                        assertEquals(0, f.meanRelativeError(), 1e-5, "window " + window);
                        assertEquals(1, f.meanMassRecovered(), 1e-4, "window " + window);
                    }
                }
            }
        }
        assertTrue(tightMass[0] > 0.2, "sinks and window keep a good share of the mass: " + tightMass[0]);
    }

    private static Session.Builder session(Model model, Strategy s) {
        return model.session().strategy(s).kvType(DType.F32).pageSize(16).chunkSize(7);
    }
}
