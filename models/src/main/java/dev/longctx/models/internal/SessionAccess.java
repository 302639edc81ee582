package dev.longctx.models.internal;

import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.session.Session;
import java.lang.invoke.MethodHandles;
import java.util.Objects;

/**
 * A session's internals for longctx's own measurement tools (the bench's attention-fidelity
 * probe), exported to them only: the JDK's "shared secrets" pattern. {@link Session} registers the
 * one implementation when its class initialises; {@link #get()} makes sure it has.
 *
 * <p>Threading: the registration happens once, inside {@code Session}'s class initialisation,
 * which the JVM runs exactly once and publishes safely; the methods have the threading rules of the
 * session they are given (one thread at a time).
 */
public interface SessionAccess {

    /** The session's KV cache. */
    SequenceKvCache cache(Session s);

    /** The session's attention plan (its strategy, resolved). */
    AttentionPlan plan(Session s);

    /** The session's model config. */
    ModelConfig config(Session s);

    /** A sampled token not yet run through the model, or -1. */
    int pendingToken(Session s);

    /** Runs one token through the model with another plan, e.g. one that also probes attention. */
    void stepWith(Session s, int token, AttentionPlan plan);

    /** Records a token whose keys and values someone else appended to the session's cache. */
    void advanceExternally(Session s, int token);

    /** The implementation, registered by {@code Session}. */
    static SessionAccess get() {
        try {
            MethodHandles.lookup().ensureInitialized(Session.class);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        return Objects.requireNonNull(Holder.instance, "Session did not register its SessionAccess");
    }

    /** Called once by {@code Session}'s static initialiser. */
    static void register(SessionAccess access) {
        if (Holder.instance != null) {
            throw new IllegalStateException("SessionAccess is registered already");
        }
        Holder.instance = Objects.requireNonNull(access);
    }

    /** Where the registered implementation lives (written once during Session's class initialisation). */
    final class Holder {
        private static SessionAccess instance;

        private Holder() {
        }
    }
}
