package dev.longctx.kvcache;

/**
 * The block pool has no free page left within its byte budget. Thrown before anything is written:
 * the cache that asked is unchanged and stays usable (evict, close other sequences, or give the
 * pool a larger budget).
 */
public final class KvCacheFullException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final long budgetBytes;
    private final long neededBytes;

    KvCacheFullException(String message, long budgetBytes, long neededBytes) {
        super(message);
        this.budgetBytes = budgetBytes;
        this.neededBytes = neededBytes;
    }

    /** The pool's budget in bytes. */
    public long budgetBytes() {
        return budgetBytes;
    }

    /** The bytes the failed request needed on top of what is in use. */
    public long neededBytes() {
        return neededBytes;
    }
}
