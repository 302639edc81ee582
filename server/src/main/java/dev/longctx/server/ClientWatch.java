package dev.longctx.server;

import io.helidon.common.buffers.DataReader;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http1.Http1ConnectionListener;
import java.net.SocketTimeoutException;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Notices that the client of a non-streamed request closed its connection while the request was
 * still generating. Helidon's HTTP/1.1 connection reads nothing while its handler runs (the handler
 * runs on the connection's own virtual thread), so a client that goes away is only seen by whoever
 * reads next. A watch is that reader: a virtual thread that makes one blocking read from the
 * connection's {@link DataReader}, through which the connection itself reads. The read returns
 * <ul>
 *   <li>end of stream (the client closed, or half-closed, its side) or an I/O error such as a reset:
 *       the client is gone, and {@code onGone} runs (it cancels the request);</li>
 *   <li>bytes (a pipelined next request): the client is there; the bytes stay in the reader for the
 *       connection to parse after this request, and the watch ends;</li>
 *   <li>a socket read timeout: nothing is known; the watch reads again. (Helidon 4.5's server sets no
 *       read timeout on the sockets it accepts, its connection options' {@code readTimeout} is not
 *       applied to them; this is in case one ever is, so that a timeout is never taken for a
 *       disconnect.)</li>
 * </ul>
 * A blocking socket read cannot be taken back (interrupting a virtual thread blocked on a socket
 * closes the socket), so a watch still reading when the request ends is ended by closing the
 * connection once the response is written: {@link #stop()} says {@link Outcome#CLOSE} and the
 * handler answers with {@code Connection: close}. No two threads ever read the connection at once.
 *
 * <p>The handler learns its connection through {@link Tracker}, an HTTP/1 receive listener that
 * remembers, on the connection's thread, the connection whose request it is about to route.
 *
 * <p>Threading: {@link #stop()} is called once, by the handler's thread; {@code onGone} runs on the
 * watch's own virtual thread, at most once, and never after {@link #stop()} returned.
 */
final class ClientWatch {
    /** How a watched request's response must end. */
    enum Outcome {
        /** Nothing reads the connection: answer and keep it open. */
        KEEP_ALIVE,
        /** The watch is still reading: answer with {@code Connection: close}, then close. */
        CLOSE,
        /** The client went away: nobody is left to answer; close. */
        GONE
    }

    private enum State { WATCHING, DATA, GONE, STOPPED }

    private final AtomicReference<State> state = new AtomicReference<>(State.WATCHING);
    private final CompletableFuture<Void> reading = new CompletableFuture<>();
    private final Runnable onGone;
    private volatile String goneBecause;

    private ClientWatch(Runnable onGone) {
        this.onGone = onGone;
    }

    /**
     * Starts watching the connection of {@code req}, or returns null where it cannot be watched
     * (not an HTTP/1 connection seen by {@code tracker}, a body not fully read, bytes of a next
     * request already buffered). Call on the handler's thread, after the body was read.
     */
    static ClientWatch start(Tracker tracker, ServerRequest req, String name, Runnable onGone) {
        ConnectionContext ctx = tracker.connectionOf(req);
        if (ctx == null || !req.content().consumed() || ctx.dataReader().available() > 0) {
            return null;
        }
        ClientWatch w = new ClientWatch(Objects.requireNonNull(onGone));
        DataReader reader = ctx.dataReader();
        Thread.ofVirtual().name("longctx-client-watch-" + name).start(() -> w.watch(reader));
        return w;
    }

    private void watch(DataReader reader) {
        try {
            while (state.get() == State.WATCHING) {
                try {
                    reader.pullData();
                    state.compareAndSet(State.WATCHING, State.DATA);
                    return;
                } catch (DataReader.InsufficientDataAvailableException e) {
                    gone("the client closed the connection");
                    return;
                } catch (RuntimeException e) {
                    if (!timedOut(e)) {
                        gone(e.toString());
                        return;
                    }
                }
            }
        } finally {
            reading.complete(null);
        }
    }

    private void gone(String why) {
        goneBecause = why;
        if (state.compareAndSet(State.WATCHING, State.GONE)) {
            onGone.run();
        }
    }

    private static boolean timedOut(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof SocketTimeoutException) {
                return true;
            }
        }
        return false;
    }

    /** Why the client was taken to be gone (for logs); null while it is not. */
    String goneBecause() {
        return state.get() == State.GONE ? goneBecause : null;
    }

    /** Ends the watch and says how the response must end; {@code onGone} does not run after this returns. */
    Outcome stop() {
        if (state.compareAndSet(State.WATCHING, State.STOPPED)) {
            return Outcome.CLOSE;
        }
        if (state.get() == State.GONE) {
            return Outcome.GONE;
        }
        // DATA: the watch has read the next request's first bytes and is returning; wait for it so the
        // connection's thread sees what it put in the reader.
        reading.join();
        return Outcome.KEEP_ALIVE;
    }

    /**
     * Helidon's HTTP/1 receive listener that tells a handler its connection: called on the
     * connection's thread with each request's prologue, just before that request is routed on the
     * same thread. A handler on another thread, or on a connection of another protocol, finds none.
     *
     * <p>Threading: thread-safe (a thread-local per connection thread).
     */
    static final class Tracker implements Http1ConnectionListener {
        private final ThreadLocal<ConnectionContext> current = new ThreadLocal<>();

        @Override
        public void prologue(ConnectionContext ctx, HttpPrologue prologue) {
            current.set(ctx);
        }

        /** The connection {@code req} arrived on, or null when this thread did not just route it. */
        ConnectionContext connectionOf(ServerRequest req) {
            ConnectionContext ctx = current.get();
            if (ctx == null || !ctx.childSocketId().equals(req.socketId()) || !ctx.socketId().equals(req.serverSocketId())
                    || !ctx.remotePeer().address().equals(req.remotePeer().address())) {
                return null;
            }
            return ctx;
        }
    }
}
