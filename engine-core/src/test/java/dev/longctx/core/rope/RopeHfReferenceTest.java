package dev.longctx.core.rope;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Compares {@link Rope} with values computed by Hugging Face transformers itself
 * ({@code LlamaRotaryEmbedding} on the CPU), written by {@code rope/make_rope_fixture.py} into
 * {@code rope/rope_reference.json}.
 *
 * <p>Tolerances:
 * <ul>
 *   <li>inverse frequencies: 1e-6 relative (about 8 float ulps). Both sides use float32 steps in
 *       the same order, but torch's {@code pow} (SLEEF, 1 ulp) and Java's correctly rounded
 *       {@code Math.pow} narrowed to float may differ by an ulp.</li>
 *   <li>cos/sin: {@code 1e-5 + (position * |inv_ours - inv_hf| + ulp(angle)) * attentionFactor}.
 *       When the inverse frequencies are bit-identical both sides form the same float32 angle
 *       and only the cos/sin implementations differ (an ulp, about 6e-8), so 1e-5 is generous.
 *       When an inverse frequency differs by an ulp (SLEEF's float {@code pow} in torch is not
 *       correctly rounded), the exact angles differ by {@code position * delta_inv} radians and
 *       the two float32 products can round to neighbours one more angle ulp apart; since
 *       |d cos| and |d sin| are at most |d angle|, that is the bound. At position 100000 it is
 *       about 2e-3 for a one-ulp difference (angle ulp up to 7.8e-3 at 1e5 rad for the first
 *       pairs; about 1e-3 for the pairs where it matters), and it vanishes when the inverse
 *       frequencies agree exactly or at position 0.</li>
 * </ul>
 */
class RopeHfReferenceTest {
    private static Map<String, Object> fixture;

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = RopeHfReferenceTest.class.getResourceAsStream("/rope/rope_reference.json")) {
            assertNotNull(in, "rope/rope_reference.json missing from the test resources");
            fixture = asMap(MiniJson.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
        }
    }

    @Test
    void fixtureComesFromTransformers() {
        assertTrue(fixture.get("transformers_version") instanceof String, "fixture names its transformers version");
        assertFalse(cases().isEmpty());
    }

    @TestFactory
    Stream<DynamicTest> matchesTransformers() {
        return cases().stream().map(c -> DynamicTest.dynamicTest((String) c.get("name"), () -> check(c)));
    }

    private static void check(Map<String, Object> c) {
        String name = (String) c.get("name");
        int headDim = asInt(c.get("head_dim"));
        int rotaryDim = asInt(c.get("rotary_dim"));
        double theta = (Double) c.get("theta");
        int maxPos = asInt(c.get("max_position_embeddings"));
        int seqLen = asInt(c.get("seq_len"));
        Rope rope = new Rope(rotaryDim, headDim, theta, scaling(c.get("scaling"), maxPos), maxPos);

        float[] ours = rope.inverseFrequencies(seqLen);
        float[] hf = floats(c.get("inv_freq"));
        assertEquals(hf.length, ours.length, name + ": inv_freq length");
        for (int i = 0; i < hf.length; i++) {
            assertEquals(hf[i], ours[i], 1e-6 * Math.abs(hf[i]), name + ": inv_freq[" + i + "]");
        }
        if (c.get("inv_freq_init_function") != null) {
            // transformers' init function called with an int seq_len computes the NTK base in
            // doubles; the module (our reference) in float32. Both must be within 1e-6.
            float[] init = floats(c.get("inv_freq_init_function"));
            for (int i = 0; i < init.length; i++) {
                assertEquals(init[i], ours[i], 1e-6 * Math.abs(init[i]), name + ": init-function inv_freq[" + i + "]");
            }
        }

        double af = (Double) c.get("attention_factor");
        assertEquals((float) af, rope.attentionFactor(), 1e-7 * af, name + ": attention factor");

        List<Object> positions = asList(c.get("positions"));
        List<Object> cosRows = asList(c.get("cos"));
        List<Object> sinRows = asList(c.get("sin"));
        float[] cos = new float[rotaryDim / 2];
        float[] sin = new float[rotaryDim / 2];
        for (int r = 0; r < positions.size(); r++) {
            long p = asInt(positions.get(r));
            rope.cosSin(p, seqLen, cos, sin);
            float[] hc = floats(cosRows.get(r));
            float[] hs = floats(sinRows.get(r));
            for (int i = 0; i < hc.length; i++) {
                double angle = (double) ours[i] * p;
                double tol = 1e-5 + (p * Math.abs((double) ours[i] - hf[i]) + (angle == 0 ? 0 : Math.ulp((float) angle))) * af;
                assertEquals(hc[i], cos[i], tol, name + ": cos at position " + p + ", pair " + i);
                assertEquals(hs[i], sin[i], tol, name + ": sin at position " + p + ", pair " + i);
            }
        }
    }

    private static RopeScaling scaling(Object o, int maxPositionEmbeddings) {
        if (o == null) {
            return RopeScaling.none();
        }
        Map<String, Object> m = asMap(o);
        return switch ((String) m.get("rope_type")) {
            case "linear" -> new RopeScaling.Linear((Double) m.get("factor"));
            // HF's dynamic NTK scales relative to config.max_position_embeddings
            case "dynamic" -> new RopeScaling.DynamicNtk((Double) m.get("factor"), maxPositionEmbeddings);
            case "yarn" -> new RopeScaling.Yarn((Double) m.get("factor"),
                    asInt(m.get("original_max_position_embeddings")),
                    RopeScaling.Yarn.DEFAULT_BETA_FAST, RopeScaling.Yarn.DEFAULT_BETA_SLOW,
                    m.containsKey("mscale") ? (Double) m.get("mscale") : 0,
                    m.containsKey("mscale_all_dim") ? (Double) m.get("mscale_all_dim") : 0,
                    Double.NaN,
                    !Boolean.FALSE.equals(m.get("truncate")));
            case "llama3" -> new RopeScaling.Llama3((Double) m.get("factor"), (Double) m.get("low_freq_factor"),
                    (Double) m.get("high_freq_factor"), asInt(m.get("original_max_position_embeddings")));
            default -> throw new IllegalStateException("unknown rope_type " + m.get("rope_type"));
        };
    }

    private static List<Map<String, Object>> cases() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : asList(fixture.get("cases"))) {
            out.add(asMap(o));
        }
        return out;
    }

    private static float[] floats(Object o) {
        List<Object> l = asList(o);
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) {
            // the fixture writes each float32 as the exact double it converts to
            f[i] = (float) (double) (Double) l.get(i);
        }
        return f;
    }

    private static int asInt(Object o) {
        return (int) (double) (Double) o;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object o) {
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> asList(Object o) {
        return (List<Object>) o;
    }
}
