package dev.longctx.server;

import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Hands a request's text from the engine's thread to the HTTP thread that streams it: the listener
 * only appends to an unbounded queue (the engine never waits for a client), and the end of the
 * request (its {@link Generation}, or the error) follows the last text. At most {@code max_tokens}
 * pieces are ever queued, so the queue is bounded by the request.
 *
 * <p>Threading: the listener side is called on the engine's thread, the reading side on one HTTP
 * thread.
 */
final class TokenQueue implements Session.TokenListener {
    /** The end of a request: its generation, or what failed it. */
    record End(Generation generation, Throwable error) {
    }

    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();

    @Override
    public void onToken(int id, String text) {
        if (!text.isEmpty()) {
            queue.add(text);
        }
    }

    /** Queues the end when the request completes (after its last text: the engine emits text before completing). */
    void endWith(RequestHandle h) {
        h.result().whenComplete((g, e) -> queue.add(new End(g, e)));
    }

    /**
     * Waits up to {@code timeoutMillis} for the next item, then takes everything queued after it:
     * strings of text and at most one {@link End}, last. Empty when nothing came.
     */
    List<Object> next(long timeoutMillis) throws InterruptedException {
        Object first = queue.poll(timeoutMillis, TimeUnit.MILLISECONDS);
        if (first == null) {
            return List.of();
        }
        java.util.ArrayList<Object> out = new java.util.ArrayList<>();
        out.add(first);
        queue.drainTo(out);
        return out;
    }
}
