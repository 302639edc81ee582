package dev.longctx.server;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;

/**
 * Raw HTTP with OkHttp (the OpenAI client's own transport), for the checks that need the wire itself:
 * the {@code [DONE]} sentinel and the order of stream chunks (which OpenAI clients consume silently),
 * bodies no client library would send (malformed JSON, invalid UTF-8), headers such as
 * {@code Retry-After}.
 */
final class Http {
    static final MediaType JSON = MediaType.get("application/json");
    static final OkHttpClient CLIENT = new OkHttpClient.Builder().retryOnConnectionFailure(false)
            .readTimeout(java.time.Duration.ofMinutes(2)).build();

    private Http() {
    }

    record Reply(int status, String contentType, String retryAfter, String body) {
    }

    record Events(int status, String contentType, List<String> data) {
    }

    static Reply post(String url, byte[] body) throws IOException {
        try (Response r = CLIENT.newCall(new Request.Builder().url(url).post(RequestBody.create(body, JSON)).build()).execute()) {
            return new Reply(r.code(), r.header("Content-Type", ""), r.header("Retry-After"), r.body().string());
        }
    }

    static Reply post(String url, String json) throws IOException {
        return post(url, json.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static Reply get(String url) throws IOException {
        try (Response r = CLIENT.newCall(new Request.Builder().url(url).get().build()).execute()) {
            return new Reply(r.code(), r.header("Content-Type", ""), r.header("Retry-After"), r.body().string());
        }
    }

    /** POSTs {@code json} and returns every {@code data:} payload of the event stream, in order. */
    static Events stream(String url, String json) throws IOException {
        try (Response r = CLIENT.newCall(new Request.Builder().url(url).post(RequestBody.create(json, JSON)).build()).execute()) {
            List<String> data = new ArrayList<>();
            for (String line : r.body().string().split("\n")) {
                if (line.startsWith("data: ")) {
                    data.add(line.substring("data: ".length()));
                }
            }
            return new Events(r.code(), r.header("Content-Type", ""), data);
        }
    }
}
