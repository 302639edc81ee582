package dev.longctx.server;

/**
 * An error answered in OpenAI's shape: {@code {"error": {"message", "type", "param", "code"}}} with
 * an HTTP status (and {@code Retry-After} for 429 and 503). Thrown by the request parsers and
 * mapped from the engine's exceptions by {@link ErrorMapper}.
 *
 * <p>Threading: immutable.
 */
final class ApiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    static final String INVALID_REQUEST = "invalid_request_error";
    static final String NOT_FOUND = "not_found_error";
    static final String AUTHENTICATION = "authentication_error";
    static final String RATE_LIMIT = "rate_limit_error";
    static final String SERVER = "server_error";
    static final String UNAVAILABLE = "service_unavailable";

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final boolean retryable;

    ApiException(int status, String type, String param, String code, String message, boolean retryable) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryable = retryable;
    }

    /** 400: a request that cannot be served as written; {@code param} names the field, or null. */
    static ApiException badRequest(String param, String message) {
        return new ApiException(400, INVALID_REQUEST, param, null, message, false);
    }

    /** 400 with a code (e.g. {@code unsupported_parameter}). */
    static ApiException badRequest(String param, String code, String message) {
        return new ApiException(400, INVALID_REQUEST, param, code, message, false);
    }

    /** 413: a body, prompt or context larger than the limits. */
    static ApiException tooLarge(String param, String code, String message) {
        return new ApiException(413, INVALID_REQUEST, param, code, message, false);
    }

    /** HTTP status. */
    int status() {
        return status;
    }

    /** OpenAI's error {@code type}. */
    String type() {
        return type;
    }

    /** The request field at fault, or null. */
    String param() {
        return param;
    }

    /** A machine-readable code, or null. */
    String code() {
        return code;
    }

    /** Whether the response carries {@code Retry-After} (429, 503). */
    boolean retryable() {
        return retryable;
    }
}
