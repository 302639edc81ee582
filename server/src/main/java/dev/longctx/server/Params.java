package dev.longctx.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Typed reads of request fields: each names the field and what it had when it is the wrong type or
 * out of range ({@code 400} with {@code param} set), so no bad value reaches the engine. A field
 * that is absent or JSON {@code null} reads as "not given".
 *
 * <p>Threading: stateless; any thread.
 */
final class Params {
    private Params() {
    }

    static boolean given(ObjectNode o, String name) {
        JsonNode n = o.get(name);
        return n != null && !n.isNull();
    }

    /** A string field, or null when not given. */
    static String string(ObjectNode o, String name, String prefix) {
        JsonNode n = o.get(name);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw wrongType(prefix + name, "a string", n);
        }
        return n.textValue();
    }

    /** A boolean field, or {@code dflt} when not given. */
    static boolean bool(ObjectNode o, String name, String prefix, boolean dflt) {
        JsonNode n = o.get(name);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw wrongType(prefix + name, "true or false", n);
        }
        return n.booleanValue();
    }

    /**
     * An integer field in {@code [min, max]}, or {@code dflt} when not given. An integral value
     * written as a float ({@code 16.0}) is accepted; {@code 16.5}, strings and huge values are not.
     */
    static long integer(ObjectNode o, String name, String prefix, long min, long max, long dflt) {
        JsonNode n = o.get(name);
        if (n == null || n.isNull()) {
            return dflt;
        }
        return integer(n, prefix + name, min, max);
    }

    static long integer(JsonNode n, String param, long min, long max) {
        if (!n.isNumber()) {
            throw wrongType(param, "an integer", n);
        }
        long v;
        if (n.isIntegralNumber() && n.canConvertToLong()) {
            v = n.longValue();
        } else if (n.isFloatingPointNumber() && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) < 0x1p62) {
            v = (long) n.doubleValue();
        } else if (n.isIntegralNumber() || (n.isFloatingPointNumber() && n.doubleValue() == Math.rint(n.doubleValue()))) {
            throw outOfRange(param, min, max, n.asText());
        } else {
            throw ApiException.badRequest(param, "invalid_type", param + " must be an integer, got " + n.asText());
        }
        if (v < min || v > max) {
            throw outOfRange(param, min, max, Long.toString(v));
        }
        return v;
    }

    /** A finite number in {@code [min, max]}, or {@code dflt} when not given. */
    static double number(ObjectNode o, String name, String prefix, double min, double max, double dflt) {
        JsonNode n = o.get(name);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber()) {
            throw wrongType(prefix + name, "a number", n);
        }
        double v = n.doubleValue();
        if (!Double.isFinite(v) || v < min || v > max) {
            throw ApiException.badRequest(prefix + name, "invalid_value", prefix + name + " must be between " + min + " and " + max
                    + ", got " + n.asText());
        }
        return v;
    }

    /** An object field, or null when not given. */
    static ObjectNode object(ObjectNode o, String name, String prefix) {
        JsonNode n = o.get(name);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!(n instanceof ObjectNode obj)) {
            throw wrongType(prefix + name, "an object", n);
        }
        return obj;
    }

    /** {@code stop}: a string or an array of at most {@code max} non-empty strings; empty list when not given. */
    static List<String> stops(ObjectNode o, int max) {
        JsonNode n = o.get("stop");
        if (n == null || n.isNull()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (n.isTextual()) {
            out.add(n.textValue());
        } else if (n.isArray()) {
            for (JsonNode s : n) {
                if (!s.isTextual()) {
                    throw wrongType("stop", "a string or an array of strings", n);
                }
                out.add(s.textValue());
            }
        } else {
            throw wrongType("stop", "a string or an array of strings", n);
        }
        if (out.size() > max) {
            throw ApiException.badRequest("stop", "invalid_value", "stop has " + out.size() + " sequences; at most " + max
                    + " are allowed");
        }
        for (String s : out) {
            if (s.isEmpty()) {
                throw ApiException.badRequest("stop", "invalid_value", "stop sequences must not be empty");
            }
        }
        return out;
    }

    /** Fails for every key of {@code o} not in {@code known} (used for our own extension object, which is strict). */
    static void onlyKnown(ObjectNode o, String prefix, Set<String> known) {
        for (var it = o.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                throw ApiException.badRequest(prefix + k, "unknown_parameter", "unknown parameter " + prefix + k + " (known: "
                        + String.join(", ", known.stream().sorted().toList()) + ")");
            }
        }
    }

    static ApiException wrongType(String param, String expected, JsonNode got) {
        return ApiException.badRequest(param, "invalid_type", param + " must be " + expected + ", got " + Json.kind(got));
    }

    static ApiException outOfRange(String param, long min, long max, String got) {
        return ApiException.badRequest(param, "invalid_value", param + " must be between " + min + " and " + max + ", got " + got);
    }

    /** 400 for a parameter we do not support with a value other than its "off" value. */
    static ApiException unsupported(String param, String why) {
        return ApiException.badRequest(param, "unsupported_parameter", param + " is not supported: " + why);
    }
}
