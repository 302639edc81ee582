package dev.longctx.server;

import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.OptionalLong;

/**
 * Reads a request body up to a limit. A larger body is read on and thrown away up to
 * {@link #drainLimit()} before the 413 is sent, so that a client still sending it reads the error
 * instead of a reset connection; the web server itself refuses bodies that declare more than that.
 *
 * <p>Threading: immutable; any thread.
 */
final class BodyReader {
    private static final int CHUNK = 64 << 10;

    private final long limit;

    BodyReader(long limit) {
        this.limit = limit;
    }

    /** The most bytes read from one request: the limit plus 64 MiB of draining. */
    long drainLimit() {
        return limit + (64L << 20);
    }

    byte[] read(ServerRequest req) {
        if (!req.content().hasEntity()) {
            throw ApiException.badRequest(null, "invalid_json", "the request has no body; send a JSON object");
        }
        OptionalLong declared = req.headers().contentLength();
        byte[] buf = new byte[(int) Math.min(limit + 1, Math.max(CHUNK, declared.orElse(CHUNK)))];
        int n = 0;
        try (InputStream in = req.content().inputStream()) {
            while (true) {
                if (n == buf.length) {
                    if (n > limit) {
                        drain(in);
                        throw tooLarge();
                    }
                    buf = Arrays.copyOf(buf, (int) Math.min(limit + 1, (long) buf.length * 2));
                }
                int r = in.read(buf, n, buf.length - n);
                if (r < 0) {
                    break;
                }
                n += r;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading the request body", e);
        }
        if (n > limit) {
            throw tooLarge();
        }
        return n == buf.length ? buf : Arrays.copyOf(buf, n);
    }

    private void drain(InputStream in) throws IOException {
        byte[] sink = new byte[CHUNK];
        long total = limit + 1;
        int r;
        while (total < drainLimit() && (r = in.read(sink)) >= 0) {
            total += r;
        }
    }

    private ApiException tooLarge() {
        return ApiException.tooLarge(null, "request_too_large", "the request body is larger than this server's limit of "
                + limit + " bytes");
    }
}
