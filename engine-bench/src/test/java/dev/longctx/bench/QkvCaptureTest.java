package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.models.Model;
import org.junit.jupiter.api.Test;

/** The Q/K/V capture behind the prefill-kernel benchmark, on stories260K. */
class QkvCaptureTest {

    @Test
    void capturesEveryRowAndDoesNotDependOnTheChunking() {
        TensorOps ops = TensorOps.withThreads(2);
        try (Model m = Model.open(EvalCommandTest.stories())) {
            int[] prompt = new int[200];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = 1 + (i * 37) % (m.config().vocabSize() - 1);
            }
            int[] layers = {0, m.config().layers() - 1};
            QkvCapture a = QkvCapture.run(m.weights(), ops, prompt, layers, 64);
            QkvCapture b = QkvCapture.run(m.weights(), ops, prompt, layers, 512);
            int rowQ = a.queryHeads() * a.headDim();
            for (int li = 0; li < layers.length; li++) {
                for (int r = 0; r < prompt.length; r++) {
                    double norm = 0;
                    for (int c = 0; c < rowQ; c++) {
                        float x = a.q()[li][r * rowQ + c];
                        assertTrue(Float.isFinite(x), "finite query, layer " + layers[li] + " row " + r);
                        norm += x * x;
                        assertEquals(b.q()[li][r * rowQ + c], x, 1e-3 * (1 + Math.abs(x)), "chunking changed q");
                    }
                    assertTrue(norm > 0, "row " + r + " of layer " + layers[li] + " was captured");
                }
                for (int h = 0; h < a.kvHeads(); h++) {
                    for (int i = 0; i < a.k()[li][h].length; i++) {
                        assertEquals(b.k()[li][h][i], a.k()[li][h][i], 1e-3 * (1 + Math.abs(a.k()[li][h][i])));
                        assertEquals(b.v()[li][h][i], a.v()[li][h][i], 1e-3 * (1 + Math.abs(a.v()[li][h][i])));
                    }
                }
            }
            AttentionProblem p = a.prefix(1, 150, 16);
            assertEquals(150, p.queryRows());
            float[] out = new float[p.outputLength()];
            new TiledAttention(ops).attend(p, out, null, null);
            for (float x : out) {
                assertTrue(Float.isFinite(x));
            }
            assertThrows(IllegalArgumentException.class, () -> a.prefix(0, 201, 16));
            assertThrows(IllegalArgumentException.class,
                    () -> QkvCapture.run(m.weights(), ops, prompt, new int[] {m.config().layers()}, 64));
        }
    }
}
