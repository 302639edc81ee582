package dev.longctx.kvcache;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Automatic prefix caching over a {@link BlockPool} (the idea of vLLM's automatic prefix caching):
 * full blocks of {@code pageSize} tokens, one page per layer and KV head, kept after the sequence
 * that wrote them is gone and handed, shared, to a later sequence whose tokens start the same way.
 *
 * <p><b>Keys.</b> A block is found by its parent block (the entry for the tokens before it, or
 * none for the first block), its own token ids and a namespace: whatever else changes the
 * content of the pages (e.g. a sparse prefill kernel); sequences whose keys and values for the
 * same tokens differ must use different namespaces. Keys are compared exactly (token ids, not a
 * hash of them), so a lookup never returns another prefix's pages.
 *
 * <p><b>Invariants.</b> Each entry holds one reference to each of its {@code layers * kvHeads}
 * pages, which are full, unevicted and never written again (a sequence sharing them copies before
 * a write). An entry's parent is in the cache while the entry is. Entries whose pages nobody else
 * references are reclaimable; {@link #reclaim} frees them least recently used first, leaves before
 * their parents, so a cached chain shrinks from its end; a lookup marks the first blocks of a chain
 * the most recently used.
 *
 * <p><b>Annotations.</b> A cached block can carry values derived from the tokens it ends (e.g.
 * Squeezed Attention's clusters of a cached document's keys, built once, {@link #annotate}): they
 * live exactly as long as the block's entry and are dropped with it when it is reclaimed or
 * cleared. They hold no pages; their memory is the caller's (the heap), outside the pool's budget.
 *
 * <p>Threading: thread-safe (every method holds this cache's monitor); meant to be driven by one
 * scheduler thread. Annotation values are handed out as they were stored: share only immutable ones.
 */
public final class PrefixCache implements AutoCloseable {
    private final BlockPool pool;
    private final KvLayout layout;
    private final int pagesPerBlock;
    /** Entries by key. */
    private final HashMap<Key, Entry> entries = new HashMap<>();
    /** The use clock: each touch stamps an entry with the next tick ({@link Entry#lastUse}). */
    private long clock;
    private long nextId = 1;
    private long lookupTokens;
    private long hitTokens;
    private boolean closed;

    /** The identity of a block: its parent's entry id (0 for the first block), namespace and token ids. */
    private record Key(long parent, String namespace, int[] tokens) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.parent == parent && k.namespace.equals(namespace) && Arrays.equals(k.tokens, tokens);
        }

        @Override
        public int hashCode() {
            return (Long.hashCode(parent) * 31 + namespace.hashCode()) * 31 + Arrays.hashCode(tokens);
        }
    }

    private static final class Entry {
        final long id;
        final Key key;
        final Entry parent;
        final int[] pages;
        int children;
        /** The clock tick of the last lookup or publication that used this entry: LRU order. */
        long lastUse;
        /** Values attached to this block by {@link #annotate}, by tag; null until the first. */
        Map<Object, Object> annotations;

        Entry(long id, Key key, Entry parent, int[] pages) {
            this.id = id;
            this.key = key;
            this.parent = parent;
            this.pages = pages;
        }
    }

    /** A prefix cache for the pages of {@code pool}. */
    public PrefixCache(BlockPool pool) {
        this.pool = Objects.requireNonNull(pool, "pool");
        this.layout = pool.layout();
        this.pagesPerBlock = layout.layers() * layout.kvHeads();
    }

    /** Tokens per block: the pool's page size. */
    public int blockTokens() {
        return layout.pageSize();
    }

    /**
     * How many leading tokens of {@code tokens[0..length)} are cached in {@code namespace}, in whole
     * blocks, at most {@code limit}. Changes nothing.
     */
    public synchronized int peek(int[] tokens, int length, int limit, String namespace) {
        return chain(tokens, length, limit, namespace, false).size() * layout.pageSize();
    }

    /**
     * Gives the empty {@code cache} the cached blocks that start {@code tokens[0..length)} (at most
     * {@code limit} tokens' worth), shared, and returns how many tokens they cover. (The hit rate
     * counts what {@link #recordLookup} is told: a caller may attach and give up.)
     *
     * @throws IllegalArgumentException when {@code cache} is not empty or belongs to another pool
     */
    public synchronized int attach(SequenceKvCache cache, int[] tokens, int length, int limit, String namespace) {
        checkOpen();
        if (cache.pages() != 0) {
            throw new IllegalArgumentException("prefix cache: attach needs an empty sequence cache");
        }
        if (cache.layout() != layout) {
            throw new IllegalArgumentException("prefix cache: the sequence cache belongs to another pool");
        }
        List<Entry> chain = chain(tokens, length, limit, namespace, true);
        for (Entry e : chain) {
            cache.adoptBlock(e.pages);
        }
        return chain.size() * layout.pageSize();
    }

    /**
     * Attaches {@code value} under {@code tag} to the cached block that ends the first
     * {@code blocks} blocks of {@code tokens} in {@code namespace} (replacing a value of an equal
     * tag). The value is dropped with the block's entry.
     *
     * @param tag what the value is, with everything it depends on besides these tokens (compared with {@code equals})
     * @return false (nothing stored) when those blocks are not all cached
     * @throws IllegalArgumentException when {@code blocks < 1} or the tokens hold fewer blocks
     */
    public synchronized boolean annotate(int[] tokens, int blocks, String namespace, Object tag, Object value) {
        checkOpen();
        Objects.requireNonNull(tag, "tag");
        Objects.requireNonNull(value, "value");
        Entry e = last(tokens, blocks, namespace);
        if (e == null) {
            return false;
        }
        if (e.annotations == null) {
            e.annotations = new HashMap<>();
        }
        e.annotations.put(tag, value);
        return true;
    }

    /**
     * The value attached under {@code tag} to the cached block that ends the first {@code blocks}
     * blocks of {@code tokens} in {@code namespace}, or null (not cached, or nothing attached).
     * Changes nothing (not even the LRU order: {@link #attach} does that).
     *
     * @throws IllegalArgumentException when {@code blocks < 1} or the tokens hold fewer blocks
     */
    public synchronized Object annotation(int[] tokens, int blocks, String namespace, Object tag) {
        Objects.requireNonNull(tag, "tag");
        Entry e = last(tokens, blocks, namespace);
        return e == null || e.annotations == null ? null : e.annotations.get(tag);
    }

    /** The entry of block {@code blocks - 1} when the whole chain up to it is cached, else null. */
    private Entry last(int[] tokens, int blocks, String namespace) {
        Objects.requireNonNull(tokens, "tokens");
        int ps = layout.pageSize();
        if (blocks < 1 || (long) blocks * ps > tokens.length) {
            throw new IllegalArgumentException("prefix cache: " + blocks + " blocks of " + ps + " tokens from a sequence of "
                    + tokens.length + " tokens");
        }
        List<Entry> chain = chain(tokens, blocks * ps, blocks * ps, namespace, false);
        return chain.size() == blocks ? chain.get(blocks - 1) : null;
    }

    /** Counts a lookup of {@code looked} tokens that found {@code hit} of them, for {@link #hitTokens}. */
    public synchronized void recordLookup(long looked, long hit) {
        lookupTokens += looked;
        hitTokens += hit;
    }

    /** The cached entries for the leading blocks; with {@code touch}, marks them used (last block least recent). */
    private List<Entry> chain(int[] tokens, int length, int limit, String namespace, boolean touch) {
        Objects.requireNonNull(namespace, "namespace");
        int ps = layout.pageSize();
        int blocks = Math.min(length, limit) / ps;
        List<Entry> out = new ArrayList<>();
        long parent = 0;
        for (int b = 0; b < blocks; b++) {
            Key key = new Key(parent, namespace, Arrays.copyOfRange(tokens, b * ps, (b + 1) * ps));
            Entry e = entries.get(key);
            if (e == null) {
                break;
            }
            out.add(e);
            parent = e.id;
        }
        if (touch) {
            // from the last to the first, so the first blocks (shared by most prompts) are the most recently used
            for (int i = out.size() - 1; i >= 0; i--) {
                out.get(i).lastUse = ++clock;
            }
        }
        return out;
    }

    /**
     * Offers the full blocks {@code [fromBlock, toBlock)} of {@code cache} (whose tokens are
     * {@code tokens}) to the cache: each block whose pages are still exactly those tokens' (full,
     * nothing evicted) and not cached yet is kept, with one more reference to its pages. Stops at the
     * first block that cannot be kept (its successors would have no parent).
     *
     * @return the block index up to which the chain is now cached (pass it as {@code fromBlock} next time)
     */
    public synchronized int publish(SequenceKvCache cache, int[] tokens, int fromBlock, int toBlock, String namespace) {
        checkOpen();
        Objects.requireNonNull(namespace, "namespace");
        int ps = layout.pageSize();
        Entry parent = null;
        if (fromBlock > 0) {
            List<Entry> before = chain(tokens, fromBlock * ps, fromBlock * ps, namespace, false);
            if (before.size() != fromBlock) {
                return fromBlock; // a parent was reclaimed since: this sequence's chain stays uncached
            }
            parent = before.get(fromBlock - 1);
        }
        int b = fromBlock;
        int[] pages = new int[pagesPerBlock];
        for (; b < toBlock; b++) {
            Key key = new Key(parent == null ? 0 : parent.id, namespace, Arrays.copyOfRange(tokens, b * ps, (b + 1) * ps));
            Entry e = entries.get(key);
            if (e == null) {
                if (!cache.blockPages(b, pages)) {
                    break;
                }
                for (int p : pages) {
                    pool.retain(p);
                }
                e = new Entry(nextId++, key, parent, pages.clone());
                entries.put(key, e);
                if (parent != null) {
                    parent.children++;
                }
            }
            e.lastUse = ++clock;
            parent = e;
        }
        return b;
    }

    /**
     * Frees cached blocks that no sequence uses, least recently used leaves first, until
     * {@code pages} pages have been freed or none is left.
     *
     * @return pages freed
     */
    public synchronized int reclaim(int pages) {
        int freed = 0;
        boolean progress = true;
        while (freed < pages && progress) {
            progress = false;
            List<Entry> leaves = new ArrayList<>();
            for (Entry e : entries.values()) {
                if (e.children == 0 && unshared(e)) {
                    leaves.add(e);
                }
            }
            leaves.sort(Comparator.comparingLong(e -> e.lastUse));
            for (Entry e : leaves) {
                if (freed >= pages) {
                    break;
                }
                entries.remove(e.key);
                drop(e);
                freed += e.pages.length;
                progress = true;
            }
        }
        return freed;
    }

    private boolean unshared(Entry e) {
        for (int p : e.pages) {
            if (pool.refCount(p) != 1) {
                return false;
            }
        }
        return true;
    }

    private void drop(Entry e) {
        for (int p : e.pages) {
            pool.release(p);
        }
        if (e.parent != null) {
            e.parent.children--;
        }
    }

    /** Pages the cached blocks hold (some may also be in use by sequences). */
    public synchronized int cachedPages() {
        return entries.size() * pagesPerBlock;
    }

    /** Pages {@link #reclaim} could free now. */
    public synchronized int reclaimablePages() {
        // a leaf-first sweep frees every unshared entry whose descendants are unshared too
        Map<Entry, Boolean> freeable = new HashMap<>();
        int n = 0;
        List<Entry> all = new ArrayList<>(entries.values());
        for (Entry e : all) {
            freeable.put(e, unshared(e));
        }
        for (Entry e : all) {
            if (!freeable.get(e)) {
                for (Entry p = e.parent; p != null; p = p.parent) {
                    freeable.put(p, false);
                }
            }
        }
        for (Entry e : all) {
            if (freeable.get(e)) {
                n += pagesPerBlock;
            }
        }
        return n;
    }

    /** Cached blocks. */
    public synchronized int blocks() {
        return entries.size();
    }

    /** Tokens looked up so far ({@link #recordLookup}). */
    public synchronized long lookupTokens() {
        return lookupTokens;
    }

    /** Tokens found cached so far ({@link #recordLookup}). */
    public synchronized long hitTokens() {
        return hitTokens;
    }

    /** Releases every cached block's pages (pages still used by sequences stay theirs). */
    public synchronized void clear() {
        for (Entry e : entries.values()) {
            for (int p : e.pages) {
                pool.release(p);
            }
        }
        entries.clear();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("prefix cache is closed");
        }
    }

    /** {@link #clear()}s and refuses further use. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            clear();
            closed = true;
        }
    }
}
