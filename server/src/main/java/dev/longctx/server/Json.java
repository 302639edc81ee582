package dev.longctx.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/**
 * The server's one JSON mapper: strict parsing (no trailing tokens, no duplicate keys, no comments or
 * other JSON extensions; malformed UTF-8 is a parse error) and compact output.
 *
 * <p>Threading: stateless; any thread.
 */
final class Json {
    static final String CONTENT_TYPE = "application/json";
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .disable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    private Json() {
    }

    /** The body as a JSON object. */
    static ObjectNode parseObject(byte[] body) {
        JsonNode node;
        try {
            node = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest(null, "invalid_json", "the request body is not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (at byte " + e.getLocation().getByteOffset() + ")" : ""));
        } catch (IOException e) {
            throw ApiException.badRequest(null, "invalid_json", "the request body could not be read as JSON: " + e.getMessage());
        }
        if (node == null || node.isMissingNode()) {
            throw ApiException.badRequest(null, "invalid_json", "the request body is empty; send a JSON object");
        }
        if (!(node instanceof ObjectNode o)) {
            throw ApiException.badRequest(null, "invalid_json", "the request body must be a JSON object, not " + kind(node));
        }
        return o;
    }

    /** Compact UTF-8 bytes of {@code node}. */
    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("serialising a response: " + e.getMessage(), e);
        }
    }

    /** "a string", "an array", ... for error messages. */
    static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> n.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
