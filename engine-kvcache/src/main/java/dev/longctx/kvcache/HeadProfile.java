package dev.longctx.kvcache;

import dev.longctx.core.select.TopK;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * Per layer and KV head, a retrieval score and a role: {@link Role#RETRIEVAL} heads keep the full
 * cache, {@link Role#STREAMING} heads keep sinks plus a recent window (DuoAttention, Xiao et al.,
 * 2024; scores as in Retrieval Heads, Wu et al., 2024).
 *
 * <p>JSON form (read and written with Jackson):
 * <pre>{"layers": 2, "kvHeads": 2,
 *  "heads": [{"layer": 0, "head": 0, "score": 0.41, "role": "retrieval"}, ...]}</pre>
 * Every (layer, head) appears exactly once. Malformed files are rejected with a
 * {@link IllegalArgumentException} naming the file and what is wrong.
 */
public final class HeadProfile {
    /** What a KV head keeps. */
    public enum Role {
        /** The full cache. */
        RETRIEVAL,
        /** Sinks plus a recent window. */
        STREAMING
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final int layers;
    private final int kvHeads;
    private final float[][] scores;
    private final Role[][] roles;

    private HeadProfile(float[][] scores, Role[][] roles) {
        this.layers = scores.length;
        this.kvHeads = scores[0].length;
        this.scores = scores;
        this.roles = roles;
    }

    /** A profile from scores: heads scoring at least {@code threshold} are retrieval heads. */
    public static HeadProfile byThreshold(float[][] scores, float threshold) {
        Role[][] roles = new Role[scores.length][];
        for (int l = 0; l < scores.length; l++) {
            roles[l] = new Role[scores[l].length];
            for (int h = 0; h < scores[l].length; h++) {
                roles[l][h] = scores[l][h] >= threshold ? Role.RETRIEVAL : Role.STREAMING;
            }
        }
        return new HeadProfile(copy(checkScores(scores)), roles);
    }

    /**
     * A profile from scores: the top {@code fraction} of all heads by score are retrieval heads
     * ({@link TopK}'s rule: ties broken by lower layer, then lower head; a NaN score ranks highest).
     */
    public static HeadProfile byFraction(float[][] scores, double fraction) {
        checkScores(scores);
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("head profile: fraction must be in [0, 1], got " + fraction);
        }
        int l = scores.length;
        int h = scores[0].length;
        float[] flat = new float[l * h];
        for (int i = 0; i < flat.length; i++) {
            flat[i] = scores[i / h][i % h];
        }
        boolean[] retrieval = TopK.flags(flat, flat.length, (int) Math.round(fraction * flat.length));
        Role[][] roles = new Role[l][h];
        for (int i = 0; i < flat.length; i++) {
            roles[i / h][i % h] = retrieval[i] ? Role.RETRIEVAL : Role.STREAMING;
        }
        return new HeadProfile(copy(scores), roles);
    }

    public int layers() {
        return layers;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public float score(int layer, int head) {
        return scores[layer][head];
    }

    public Role role(int layer, int head) {
        return roles[layer][head];
    }

    /** Number of retrieval heads. */
    public int retrievalHeads() {
        int n = 0;
        for (Role[] row : roles) {
            for (Role r : row) {
                if (r == Role.RETRIEVAL) {
                    n++;
                }
            }
        }
        return n;
    }

    /** Throws unless the profile has the layout's layer and KV-head counts. */
    public void checkMatches(KvLayout layout) {
        if (layout.layers() != layers || layout.kvHeads() != kvHeads) {
            throw new IllegalArgumentException("head profile is for " + layers + " layers x " + kvHeads
                    + " KV heads, but the model has " + layout.layers() + " layers x " + layout.kvHeads() + " KV heads");
        }
    }

    /** The JSON text of this profile. */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("layers", layers);
        root.put("kvHeads", kvHeads);
        ArrayNode heads = root.putArray("heads");
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                heads.addObject().put("layer", l).put("head", h).put("score", scores[l][h])
                        .put("role", roles[l][h].name().toLowerCase(Locale.ROOT));
            }
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("head profile: cannot write JSON", e);
        }
    }

    /** Writes the JSON to a file. */
    public void write(Path file) throws IOException {
        Files.writeString(file, toJson(), StandardCharsets.UTF_8);
    }

    /** Reads a profile file, validating every field. */
    public static HeadProfile read(Path file) throws IOException {
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * Parses profile JSON.
     *
     * @param source named in error messages (a file name)
     */
    public static HeadProfile parse(String json, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": malformed head profile JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(source + ": a head profile must be a JSON object");
        }
        int layers = positiveInt(root, "layers", source);
        int kvHeads = positiveInt(root, "kvHeads", source);
        if ((long) layers * kvHeads > 1_000_000) {
            throw new IllegalArgumentException(source + ": " + layers + " x " + kvHeads + " heads is more than 1,000,000");
        }
        JsonNode heads = root.get("heads");
        if (heads == null || !heads.isArray()) {
            throw new IllegalArgumentException(source + ": \"heads\" must be an array");
        }
        if (heads.size() != layers * kvHeads) {
            throw new IllegalArgumentException(source + ": " + heads.size() + " head entries, expected layers x kvHeads = "
                    + layers + " x " + kvHeads + " = " + layers * kvHeads);
        }
        float[][] scores = new float[layers][kvHeads];
        Role[][] roles = new Role[layers][kvHeads];
        for (int i = 0; i < heads.size(); i++) {
            JsonNode e = heads.get(i);
            String where = source + ": heads[" + i + "]";
            if (!e.isObject()) {
                throw new IllegalArgumentException(where + " must be an object");
            }
            int l = intIn(e, "layer", layers, where);
            int h = intIn(e, "head", kvHeads, where);
            if (roles[l][h] != null) {
                throw new IllegalArgumentException(where + ": layer " + l + " head " + h + " appears twice");
            }
            JsonNode s = e.get("score");
            if (s == null || !s.isNumber() || !Double.isFinite(s.asDouble())) {
                throw new IllegalArgumentException(where + ": \"score\" must be a finite number");
            }
            scores[l][h] = (float) s.asDouble();
            JsonNode r = e.get("role");
            if (r == null || !r.isTextual()) {
                throw new IllegalArgumentException(where + ": \"role\" must be \"retrieval\" or \"streaming\"");
            }
            try {
                roles[l][h] = Role.valueOf(r.asText().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(where + ": role \"" + r.asText() + "\" is not \"retrieval\" or \"streaming\"");
            }
        }
        return new HeadProfile(scores, roles);
    }

    private static int positiveInt(JsonNode root, String field, String source) {
        JsonNode n = root.get(field);
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 1) {
            throw new IllegalArgumentException(source + ": \"" + field + "\" must be a positive integer, got " + n);
        }
        return n.asInt();
    }

    private static int intIn(JsonNode e, String field, int limit, String where) {
        JsonNode n = e.get(field);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0 || n.asInt() >= limit) {
            throw new IllegalArgumentException(where + ": \"" + field + "\" must be an integer in [0, " + limit + "), got " + n);
        }
        return n.asInt();
    }

    private static float[][] checkScores(float[][] scores) {
        Objects.requireNonNull(scores, "scores");
        if (scores.length == 0 || scores[0].length == 0) {
            throw new IllegalArgumentException("head profile: scores must be [layers >= 1][kvHeads >= 1]");
        }
        for (float[] row : scores) {
            if (row.length != scores[0].length) {
                throw new IllegalArgumentException("head profile: ragged scores (rows of " + row.length + " and "
                        + scores[0].length + ")");
            }
        }
        return scores;
    }

    private static float[][] copy(float[][] a) {
        float[][] c = new float[a.length][];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i].clone();
        }
        return c;
    }
}
