package dev.longctx.server;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Requires {@code Authorization: Bearer KEY} on {@code /v1/...} (answering 401 in OpenAI's shape
 * otherwise); {@code /health} and {@code /metrics} stay open for probes and scrapers. Keys are
 * compared in constant time.
 *
 * <p>Threading: immutable; any thread.
 */
final class ApiKeyFilter implements Filter {
    private final byte[] expected;
    private final ErrorMapper errors;

    ApiKeyFilter(String key, ErrorMapper errors) {
        this.expected = ("Bearer " + key).getBytes(StandardCharsets.UTF_8);
        this.errors = errors;
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        if (!req.path().path().startsWith("/v1/")) {
            chain.proceed();
            return;
        }
        String given = req.headers().first(HeaderNames.AUTHORIZATION).orElse(null);
        if (given == null || !MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8))) {
            res.header(HeaderNames.WWW_AUTHENTICATE, "Bearer");
            errors.send(res, new ApiException(401, ApiException.AUTHENTICATION, null, "invalid_api_key", given == null
                    ? "missing API key: send Authorization: Bearer KEY" : "incorrect API key", false));
            return;
        }
        chain.proceed();
    }
}
