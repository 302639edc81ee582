package dev.longctx.kvcache;

import dev.longctx.attention.KvView;
import dev.longctx.attention.PageKeyBounds;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * The KV cache of one sequence: per layer and KV head a block table of pages from a shared
 * {@link BlockPool}.
 *
 * <p>Appends quantise into the head's last page (F32, F16, BF16 or Q8_0, as the layout says) and
 * update its metadata; a full page is followed by a fresh one. {@link #fork()} shares every page
 * with a new sequence (reference counts); the last page of a head is copied before either sequence
 * writes into it (copy-on-write), so a shared page is never written. {@link #close()} releases the
 * pages.
 *
 * <p>Contract: one sequence is used by one thread at a time; different sequences of one pool may
 * be used concurrently (the pool is thread-safe, and pages are written only by their sole owner).
 */
public final class SequenceKvCache implements AutoCloseable {
    private final BlockPool pool;
    private final KvLayout layout;
    /** [layer][head] page ids; only the first {@code tableSizes[l][h]} entries are used. */
    private final int[][][] tables;
    private final int[][] tableSizes;
    private final long[][] lastPositions;
    /** [layer][head] what kernels read per page, contiguous, kept equal to the tables' pages. */
    private final PageSummaries[][] summaries;
    private final float[] decoded;
    /** The page each head's next token goes into, reserved by {@link #append} before anything is written. */
    private final int[] appendPages;
    /** [layer] the views of every KV head, made on first use (they read the tables live). */
    private final KvView[][] views;
    /** The provider's kernels: the write path encodes and decodes with them (bit-exact with the reference). */
    private final VectorKernels kernels = KernelProvider.get();
    private boolean closed;
    /** What the strategy running this sequence keeps between calls (see {@link #planState()}), or null. */
    private Object planState;

    private SequenceKvCache(BlockPool pool) {
        this.pool = pool;
        this.layout = pool.layout();
        int l = layout.layers();
        int h = layout.kvHeads();
        tables = new int[l][h][4];
        tableSizes = new int[l][h];
        lastPositions = new long[l][h];
        summaries = new PageSummaries[l][h];
        for (PageSummaries[] row : summaries) {
            for (int i = 0; i < row.length; i++) {
                row[i] = new PageSummaries(layout.headDim(), 4);
            }
        }
        for (long[] row : lastPositions) {
            Arrays.fill(row, Long.MIN_VALUE);
        }
        decoded = new float[layout.headDim()];
        appendPages = new int[h];
        views = new KvView[l][];
    }

    /** An empty cache drawing pages from {@code pool}. */
    public static SequenceKvCache create(BlockPool pool) {
        return new SequenceKvCache(Objects.requireNonNull(pool, "pool"));
    }

    public KvLayout layout() {
        return layout;
    }

    /**
     * Appends one token's keys and values for every KV head of a layer.
     *
     * @param keys {@code [kvHeads][headDim]} floats
     * @param values likewise
     * @param position the token's position; strictly greater than the previous one of each head
     * @throws KvCacheFullException when the pool's budget has no page left (nothing is written)
     */
    public void append(int layer, float[] keys, float[] values, long position) {
        int need = layout.kvHeads() * layout.headDim();
        if (keys == null || values == null || keys.length != need || values.length != need) {
            throw new IllegalArgumentException("KV append: keys and values must be [kvHeads=" + layout.kvHeads()
                    + "][headDim=" + layout.headDim() + "] = " + need + " floats, got " + (keys == null ? "null" : keys.length)
                    + " and " + (values == null ? "null" : values.length));
        }
        append(layer, keys, 0, values, 0, position);
    }

    /**
     * As {@link #append(int, float[], float[], long)}, reading the {@code [kvHeads][headDim]} keys
     * and values from offsets of larger arrays (a chunk's rows), without copying them.
     */
    public void append(int layer, float[] keys, int keysOff, float[] values, int valuesOff, long position) {
        int d = layout.headDim();
        int need = layout.kvHeads() * d;
        if (keys == null || values == null || keysOff < 0 || valuesOff < 0 || keysOff > keys.length - need
                || valuesOff > values.length - need) {
            throw new IllegalArgumentException("KV append: keys and values need [kvHeads=" + layout.kvHeads() + "][headDim=" + d
                    + "] = " + need + " floats at offsets " + keysOff + " and " + valuesOff + " of arrays of "
                    + (keys == null ? "null" : keys.length) + " and " + (values == null ? "null" : values.length));
        }
        checkLayer(layer);
        // Every head's page is reserved before anything is written: if the pool is full, the pages
        // already taken stay in their tables empty (or as private copies), and no token is half-written.
        int[] pages = appendPages;
        for (int h = 0; h < layout.kvHeads(); h++) {
            checkPosition(layer, h, position);
        }
        for (int h = 0; h < layout.kvHeads(); h++) {
            pages[h] = writablePage(layer, h);
        }
        for (int h = 0; h < layout.kvHeads(); h++) {
            write(layer, h, pages[h], keys, keysOff + h * d, values, valuesOff + h * d, position);
        }
    }

    /** Appends one token to a single KV head (head-wise policies keep heads at different lengths). */
    public void appendHead(int layer, int head, float[] key, int keyOff, float[] value, int valueOff, long position) {
        checkLayer(layer);
        checkHead(head);
        int d = layout.headDim();
        if (keyOff < 0 || valueOff < 0 || keyOff > key.length - d || valueOff > value.length - d) {
            throw new IllegalArgumentException("KV append: key and value need " + d + " floats at offsets " + keyOff + " and "
                    + valueOff + " of arrays of " + key.length + " and " + value.length);
        }
        checkPosition(layer, head, position);
        write(layer, head, writablePage(layer, head), key, keyOff, value, valueOff, position);
    }

    private void checkPosition(int layer, int head, long position) {
        checkOpen();
        if (position < 0 || position <= lastPositions[layer][head]) {
            throw new IllegalArgumentException("KV append: position " + position + " of layer " + layer + " head " + head
                    + " must be >= 0 and greater than the previous position " + lastPositions[layer][head]);
        }
    }

    /** The page the next token of (layer, head) goes into: the last one if it has room and is ours alone. */
    private int writablePage(int layer, int head) {
        int n = tableSizes[layer][head];
        if (n > 0) {
            int last = tables[layer][head][n - 1];
            if (pool.meta(last).count < layout.pageSize()) {
                return privatePage(layer, head, n - 1);
            }
        }
        int page = pool.allocate(stream(layer, head));
        if (n == tables[layer][head].length) {
            tables[layer][head] = Arrays.copyOf(tables[layer][head], n * 2);
        }
        tables[layer][head][n] = page;
        tableSizes[layer][head] = n + 1;
        PageSummaries sum = summaries[layer][head];
        sum.ensureCapacity(n + 1);
        // The entry may hold a removed page's summary (compaction shifts entries down): describe the
        // new, empty page now, not at its first write, which a full pool can prevent (an append
        // reserves every head's page before it writes; found by KvCachePropertyTest: an empty page
        // kept a stale count, and pageLength reads the summary).
        sum.resetBounds(n);
        sum.refreshPositions(n, pool.meta(page));
        return page;
    }

    /** The pool's locality key of one layer and head: its pages are handed out as runs. */
    private int stream(int layer, int head) {
        return layer * layout.kvHeads() + head;
    }

    /**
     * The page at table index {@code i}, copied first if another sequence shares it
     * (copy-on-write: a shared page is never written).
     */
    private int privatePage(int layer, int head, int i) {
        int page = tables[layer][head][i];
        if (pool.refCount(page) == 1) {
            return page;
        }
        int copy = pool.allocate(stream(layer, head));
        MemorySegment.copy(pool.keys(page), 0, pool.keys(copy), 0, pool.keys(page).byteSize());
        MemorySegment.copy(pool.values(page), 0, pool.values(copy), 0, pool.values(page).byteSize());
        pool.meta(copy).copyFrom(pool.meta(page));
        tables[layer][head][i] = copy;
        pool.release(page);
        return copy;
    }

    /**
     * Evicts one cached token: slot {@code slot} of the head's page at index {@code pageIndex}
     * (the {@link KvView} page index). Kernels never attend it again; a page whose every slot is
     * evicted is released, except a last page that still has free slots. Shared pages are copied
     * first.
     */
    public void evict(int layer, int head, int pageIndex, int slot) {
        checkOpen();
        checkLayer(layer);
        checkHead(head);
        int n = tableSizes[layer][head];
        if (pageIndex < 0 || pageIndex >= n) {
            throw new IllegalArgumentException("KV evict: page " + pageIndex + " outside [0, " + n + ") of layer " + layer
                    + " head " + head);
        }
        PageMeta m = pool.meta(tables[layer][head][pageIndex]);
        if (slot < 0 || slot >= m.count) {
            throw new IllegalArgumentException("KV evict: slot " + slot + " outside [0, " + m.count + ")");
        }
        if (!m.valid[slot]) {
            return;
        }
        int page = privatePage(layer, head, pageIndex);
        m = pool.meta(page);
        m.valid[slot] = false;
        m.invalid++;
        // A fully evicted page leaves the table, unless it is the last page and can still take
        // appends (then it would only be freed and allocated again).
        if (m.invalid == m.count && (pageIndex < n - 1 || m.count == layout.pageSize())) {
            pool.release(page);
            System.arraycopy(tables[layer][head], pageIndex + 1, tables[layer][head], pageIndex, n - pageIndex - 1);
            tableSizes[layer][head] = n - 1;
            summaries[layer][head].remove(pageIndex, n);
        } else {
            summaries[layer][head].refreshPositions(pageIndex, m);
        }
    }

    /**
     * Releases, in every KV head of {@code layer}, the leading pages whose every valid token lies
     * before {@code position}: the keys of a sliding-window layer that no later query can attend (a
     * query at position {@code p} under window {@code w} sees positions above {@code p - w}).
     * Leading pages only: a head's pages are in position order (appends are; eviction and
     * compaction keep the order), so the first page still needed ends the scan, and the call costs
     * nothing when no page is due. A last page that can still take appends stays. A page shared
     * with a fork or the prefix cache only loses this sequence's reference.
     *
     * @return the number of pages released (summed over the layer's heads)
     */
    public int releaseBefore(int layer, long position) {
        checkOpen();
        checkLayer(layer);
        int released = 0;
        for (int h = 0; h < layout.kvHeads(); h++) {
            int n = tableSizes[layer][h];
            int drop = 0;
            while (drop < n) {
                PageMeta m = pool.meta(tables[layer][h][drop]);
                boolean takesAppends = drop == n - 1 && m.count < layout.pageSize();
                if (takesAppends || maxValidPosition(m) >= position) {
                    break;
                }
                drop++;
            }
            if (drop == 0) {
                continue;
            }
            for (int i = 0; i < drop; i++) {
                pool.release(tables[layer][h][i]);
                summaries[layer][h].remove(0, n - i);
            }
            System.arraycopy(tables[layer][h], drop, tables[layer][h], 0, n - drop);
            tableSizes[layer][h] = n - drop;
            released += drop;
        }
        return released;
    }

    /** The largest position of a page's valid slots, or {@code Long.MIN_VALUE} when none is valid. */
    private static long maxValidPosition(PageMeta m) {
        long max = Long.MIN_VALUE;
        for (int s = 0; s < m.count; s++) {
            if (m.valid[s]) {
                max = Math.max(max, m.positions[s]);
            }
        }
        return max;
    }

    /**
     * Packs the valid tokens of one layer and head into the fewest pages, in cache order, and
     * releases the pages left over. Policies that evict scattered tokens (H2O, SnapKV) otherwise
     * leave partly valid pages pinned, so the memory a head holds would not shrink with its token
     * count. Keys, values, positions and scores move with their tokens (keys stay rotated at their
     * positions); key bounds are recomputed. Works in place, front to back, so it needs no
     * free page (a page shared with a fork is copied before it is written, as on any write).
     *
     * @return the number of pages released
     */
    public int compact(int layer, int head) {
        checkOpen();
        checkLayer(layer);
        checkHead(head);
        int n = tableSizes[layer][head];
        int ps = layout.pageSize();
        int valid = validLength(layer, head);
        int needed = (valid + ps - 1) / ps;
        if (n <= Math.max(needed, 1)) {
            return 0;
        }
        long rb = layout.rowBytes();
        // Every page the packing writes (the first max(needed, 1)) is made private before anything
        // moves: copying may find the pool full, and a KvCacheFullException must leave the
        // sequence as it was (a private copy holds the same tokens), never half-packed.
        for (int i = 0; i < Math.max(needed, 1); i++) {
            privatePage(layer, head, i);
        }
        int dstIndex = 0;
        int dstSlot = 0;
        int dst = -1;
        for (int i = 0; i < n; i++) {
            int src = tables[layer][head][i];
            PageMeta sm = pool.meta(src);
            int count = sm.count;
            for (int s = 0; s < count; s++) {
                if (!sm.valid[s]) {
                    continue;
                }
                if (dst == -1) {
                    dst = privatePage(layer, head, dstIndex); // private already (above): allocates nothing
                    if (dstIndex == i) {
                        src = dst;
                        sm = pool.meta(src);
                    }
                }
                PageMeta dm = pool.meta(dst);
                if (src != dst || s != dstSlot) {
                    MemorySegment.copy(pool.keys(src), s * rb, pool.keys(dst), dstSlot * rb, rb);
                    MemorySegment.copy(pool.values(src), s * rb, pool.values(dst), dstSlot * rb, rb);
                    dm.positions[dstSlot] = sm.positions[s];
                    if (sm.score != null || dm.score != null) {
                        dm.scores()[dstSlot] = sm.score == null ? 0f : sm.score[s];
                    }
                }
                dm.valid[dstSlot] = true;
                dstSlot++;
                if (dstSlot == ps) {
                    finishPacked(dm, ps);
                    dstIndex++;
                    dstSlot = 0;
                    dst = -1;
                }
            }
        }
        int kept = dstIndex;
        if (dst != -1) {
            finishPacked(pool.meta(dst), dstSlot);
            kept++;
        }
        kept = Math.max(kept, 1);
        if (dst == -1 && kept == 1 && dstIndex == 0) {
            // nothing valid: keep the first page as an empty last page
            PageMeta first = pool.meta(privatePage(layer, head, 0));
            finishPacked(first, 0);
        }
        for (int i = kept; i < n; i++) {
            pool.release(tables[layer][head][i]);
        }
        tableSizes[layer][head] = kept;
        for (int i = 0; i < kept; i++) {
            summarise(layer, head, i);
        }
        return n - kept;
    }

    /** Marks a packed page as holding exactly its first {@code count} slots, all valid. */
    private static void finishPacked(PageMeta m, int count) {
        for (int s = count; s < m.valid.length; s++) {
            m.valid[s] = false;
            if (m.score != null) {
                m.score[s] = 0f;
            }
        }
        m.count = count;
        m.invalid = 0;
    }

    /** Recomputes table entry i's summary from its page's metadata and stored keys. */
    private void summarise(int layer, int head, int i) {
        int page = tables[layer][head][i];
        PageMeta m = pool.meta(page);
        PageSummaries sum = summaries[layer][head];
        sum.refreshPositions(i, m);
        sum.resetBounds(i);
        MemorySegment ks = pool.keys(page);
        for (int s = 0; s < m.count; s++) {
            kernels.dequantize(layout.dtype(), ks, s * layout.rowBytes(), decoded, 0, layout.headDim());
            sum.includeKey(i, decoded);
        }
    }

    /**
     * Re-assigns the valid tokens of one layer and head contiguous positions {@code first,
     * first + 1, ...} in cache order (StreamingLLM's way of running past the trained length), and
     * re-rotates each cached key by its position change so that it equals a key rotated at the new
     * position. The re-rotation is a pure rotation ({@link Rope#rotateBy}: no attention factor), so
     * repeated shifts never compound a scale. Keys must have been cached after RoPE with
     * {@code rope}'s frequencies and {@code pairing}. Shared pages are copied first; page key bounds
     * are recomputed.
     *
     * @return the position the next appended token must use
     */
    public long reposition(int layer, int head, long first, Rope rope, RopePairing pairing) {
        checkOpen();
        checkLayer(layer);
        checkHead(head);
        Objects.requireNonNull(rope, "rope");
        Objects.requireNonNull(pairing, "pairing");
        if (rope.headDim() != layout.headDim()) {
            throw new IllegalArgumentException("KV reposition: RoPE head dim " + rope.headDim() + " != cache head dim "
                    + layout.headDim());
        }
        if (first < 0) {
            throw new IllegalArgumentException("KV reposition: first position must be >= 0, got " + first);
        }
        int d = layout.headDim();
        DType t = layout.dtype();
        // First the pages whose positions change, made private before any is rewritten: copying may
        // find the pool full, and a KvCacheFullException must leave the sequence as it was.
        int n = tableSizes[layer][head];
        boolean[] moving = new boolean[n];
        long next = first;
        for (int i = 0; i < n; i++) {
            PageMeta m = pool.meta(tables[layer][head][i]);
            for (int slot = 0; slot < m.count; slot++) {
                if (m.valid[slot] && m.positions[slot] != next++) {
                    moving[i] = true;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            if (moving[i]) {
                privatePage(layer, head, i);
            }
        }
        next = first;
        for (int i = 0; i < n; i++) {
            int page = tables[layer][head][i];
            PageMeta m = pool.meta(page);
            if (!moving[i]) {
                for (int slot = 0; slot < m.count; slot++) {
                    if (m.valid[slot]) {
                        next++;
                    }
                }
                continue;
            }
            MemorySegment ks = pool.keys(page);
            PageSummaries sum = summaries[layer][head];
            sum.resetBounds(i);
            for (int slot = 0; slot < m.count; slot++) {
                long off = slot * layout.rowBytes();
                Quantization.dequantize(t, ks, off, decoded, 0, d);
                if (m.valid[slot]) {
                    long delta = next - m.positions[slot];
                    if (delta != 0) {
                        rope.rotateBy(decoded, 0, 1, delta, pairing);
                        Quantization.quantize(t, decoded, 0, d, ks, off);
                        Quantization.dequantize(t, ks, off, decoded, 0, d);
                    }
                    m.positions[slot] = next++;
                } else {
                    // Evicted slots take the position before the next valid one, so a page's first
                    // and last slots still bound its valid positions.
                    m.positions[slot] = next - 1;
                }
                sum.includeKey(i, decoded);
            }
            sum.refreshPositions(i, m);
        }
        lastPositions[layer][head] = next - 1;
        return next;
    }

    /**
     * The valid token with the lowest score among the first {@code candidates} valid tokens in
     * cache order (ties: the oldest), as {page index, slot}, or null when there is none. Reads the
     * score arrays directly: called on the owning thread after the step's attention, when no
     * observer writes.
     */
    int[] lowestScore(int layer, int head, int candidates) {
        int[] best = null;
        float bestScore = Float.POSITIVE_INFINITY;
        int seen = 0;
        for (int i = 0; i < tableSizes[layer][head] && seen < candidates; i++) {
            PageMeta m = pool.meta(tables[layer][head][i]);
            float[] sc = m.score;
            for (int s = 0; s < m.count && seen < candidates; s++) {
                if (!m.valid[s]) {
                    continue;
                }
                seen++;
                float v = sc == null ? 0f : sc[s];
                if (v < bestScore || best == null) {
                    bestScore = v;
                    best = new int[] {i, s};
                }
            }
        }
        return best;
    }

    /** Valid (not evicted) cached tokens of one layer and head. */
    public int validLength(int layer, int head) {
        checkLayer(layer);
        checkHead(head);
        int v = 0;
        for (int i = 0; i < tableSizes[layer][head]; i++) {
            PageMeta m = pool.meta(tables[layer][head][i]);
            v += m.count - m.invalid;
        }
        return v;
    }

    /** H2O score of a slot (see {@link #addScores}). */
    public synchronized float score(int layer, int head, int pageIndex, int slot) {
        float[] sc = pool.meta(tables[layer][head][pageIndex]).score;
        return sc == null ? 0f : sc[slot];
    }

    /**
     * Adds attention probabilities to the scores of a page's slots (H2O). Synchronised: the
     * kernels' observers call it from several pool threads at once during one attention call of
     * this sequence. Scores live in page metadata, so a shared page is copied first.
     */
    public synchronized void addScores(int layer, int head, int pageIndex, float[] probabilities, int count) {
        float[] sc = pool.meta(privatePage(layer, head, pageIndex)).scores();
        for (int i = 0; i < count; i++) {
            sc[i] += probabilities[i];
        }
    }

    private void write(int layer, int head, int page, float[] k, int kOff, float[] v, int vOff, long position) {
        PageMeta m = pool.meta(page);
        int slot = m.count;
        long off = slot * layout.rowBytes();
        int d = layout.headDim();
        DType t = layout.dtype();
        MemorySegment ks = pool.keys(page);
        kernels.quantize(t, k, kOff, d, ks, off);
        kernels.quantize(t, v, vOff, d, pool.values(page), off);
        m.positions[slot] = position;
        m.valid[slot] = true;
        m.count = slot + 1;
        lastPositions[layer][head] = position;
        // Bounds of the stored (rounded) key, so that Quest's bound holds for what kernels read.
        int i = tableSizes[layer][head] - 1;
        PageSummaries sum = summaries[layer][head];
        if (slot == 0) {
            sum.resetBounds(i);
        }
        kernels.dequantize(t, ks, off, decoded, 0, d);
        sum.includeKey(i, decoded);
        sum.refreshPositions(i, m);
    }

    /** The read-only view the attention kernels run against, for one layer and KV head. */
    public KvView view(int layer, int head) {
        checkOpen();
        checkLayer(layer);
        checkHead(head);
        return new PagedKvView(layer, head);
    }

    /** Views of every KV head of a layer, in head order. */
    public KvView[] views(int layer) {
        return viewsOf(layer).clone();
    }

    private KvView[] viewsOf(int layer) {
        checkOpen();
        checkLayer(layer);
        KvView[] made = views[layer];
        if (made == null) {
            made = new KvView[layout.kvHeads()];
            for (int h = 0; h < made.length; h++) {
                made[h] = view(layer, h);
            }
            views[layer] = made;
        }
        return made;
    }

    /**
     * The views of every KV head of a layer, the same array on every call (the views read the
     * tables live, so they stay current): for the decoder's hot path, which must not allocate.
     * Callers must not modify the array.
     */
    public KvView[] sharedViews(int layer) {
        return viewsOf(layer);
    }

    /** Cached slots (valid or evicted) of one layer and head. */
    public int length(int layer, int head) {
        checkLayer(layer);
        checkHead(head);
        int n = tableSizes[layer][head];
        return n == 0 ? 0 : (n - 1) * layout.pageSize() + pool.meta(tables[layer][head][n - 1]).count;
    }

    /** Pages this sequence references (shared pages included). */
    public int pages() {
        int n = 0;
        for (int[] row : tableSizes) {
            for (int s : row) {
                n += s;
            }
        }
        return n;
    }

    /** Bytes of the pages this sequence references, against the pool's budget (shared pages counted fully). */
    public long bytesInUse() {
        return pages() * BlockPool.pageBytes(layout);
    }

    /** Bytes of the pages of one layer and head, against the pool's budget. */
    public long bytesInUse(int layer, int head) {
        return pages(layer, head) * BlockPool.pageBytes(layout);
    }

    /** Bytes of the pages of one layer (all its KV heads), against the pool's budget. */
    public long bytesInUse(int layer) {
        long n = 0;
        for (int h = 0; h < layout.kvHeads(); h++) {
            n += bytesInUse(layer, h);
        }
        return n;
    }

    /** Pages of one layer and head. */
    public int pages(int layer, int head) {
        checkLayer(layer);
        checkHead(head);
        return tableSizes[layer][head];
    }

    /**
     * The pages that appending {@code tokens} tokens to every KV head would take from the pool:
     * per head, the pages past the room left in its last page, plus a copy of that page when
     * another sequence shares it (copy-on-write). Exact for appends; a scheduler reserves this many
     * before a step so that no append of the step can find the pool full. Evictions and compaction
     * of this sequence's own pages take none.
     */
    public int pagesToAppend(int tokens) {
        checkOpen();
        if (tokens < 0) {
            throw new IllegalArgumentException("pagesToAppend: negative token count " + tokens);
        }
        int ps = layout.pageSize();
        long total = 0;
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                int n = tableSizes[l][h];
                int room = 0;
                if (n > 0 && tokens > 0) {
                    int last = tables[l][h][n - 1];
                    int used = pool.meta(last).count;
                    room = ps - used;
                    if (room > 0 && pool.refCount(last) > 1) {
                        total++; // the shared last page is copied before the first write
                    }
                }
                total += (Math.max(0, tokens - room) + ps - 1) / ps;
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, total);
    }

    /**
     * The page ids of block {@code block} (tokens {@code block * pageSize ...}) of every layer and
     * KV head into {@code out[layer * kvHeads + head]}, when each head's page at that table index is
     * full, holds no evicted slot and has exactly the positions {@code block * pageSize + slot}: a
     * block another sequence with the same tokens could reuse. False (out untouched or partly
     * written) otherwise.
     */
    boolean blockPages(int block, int[] out) {
        checkOpen();
        int ps = layout.pageSize();
        long first = (long) block * ps;
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                if (block < 0 || block >= tableSizes[l][h]) {
                    return false;
                }
                int page = tables[l][h][block];
                PageMeta m = pool.meta(page);
                if (m.count != ps || m.invalid != 0 || m.positions[0] != first || m.positions[ps - 1] != first + ps - 1) {
                    return false;
                }
                out[l * layout.kvHeads() + h] = page;
            }
        }
        return true;
    }

    /**
     * Appends one full, shared block to every head's table (prefix caching): {@code pages[layer *
     * kvHeads + head]}, each retained for this sequence. Every head must hold exactly the blocks
     * before it (no evictions), so the block's positions continue each head's.
     */
    void adoptBlock(int[] pages) {
        checkOpen();
        int ps = layout.pageSize();
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                int n = tableSizes[l][h];
                int page = pages[l * layout.kvHeads() + h];
                PageMeta m = pool.meta(page);
                if (m.count != ps || m.positions[0] != (long) n * ps || lastPositions[l][h] != (n == 0 ? Long.MIN_VALUE
                        : (long) n * ps - 1)) {
                    throw new IllegalStateException("prefix block does not continue layer " + l + " head " + h + " at table index "
                            + n);
                }
            }
        }
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                int n = tableSizes[l][h];
                int page = pages[l * layout.kvHeads() + h];
                pool.retain(page);
                if (n == tables[l][h].length) {
                    tables[l][h] = Arrays.copyOf(tables[l][h], n * 2);
                }
                tables[l][h][n] = page;
                tableSizes[l][h] = n + 1;
                summaries[l][h].ensureCapacity(n + 1);
                summarise(l, h, n);
                lastPositions[l][h] = (long) (n + 1) * ps - 1;
            }
        }
    }

    /**
     * Opaque per-sequence state of the attention strategy that runs this cache (for example the
     * token positions TidalDecode or Recycled Attention selected at an earlier layer or step), or
     * null. The cache only holds it: it never reads it, and {@link #fork()} gives the fork
     * {@link ForkableState#forkState()} of a state that implements {@link ForkableState} and none
     * of any other (a fork starts without state, so a strategy re-derives it on the fork's next step).
     */
    public Object planState() {
        return planState;
    }

    /** A {@link #planState()} that a fork carries on: the fork gets {@link #forkState()}. */
    public interface ForkableState {
        /** The state for a fork: a copy, as independent of this one as the fork is of its parent. */
        Object forkState();
    }

    /** Sets {@link #planState()}. */
    public void planState(Object state) {
        this.planState = state;
    }

    /** A new sequence sharing every page of this one (copy-on-write); both stay independent. */
    public SequenceKvCache fork() {
        checkOpen();
        SequenceKvCache f = new SequenceKvCache(pool);
        if (planState instanceof ForkableState fs) {
            f.planState = fs.forkState();
        }
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                int n = tableSizes[l][h];
                f.tables[l][h] = Arrays.copyOf(tables[l][h], Math.max(4, n));
                f.tableSizes[l][h] = n;
                f.lastPositions[l][h] = lastPositions[l][h];
                f.summaries[l][h] = summaries[l][h].copy();
                for (int i = 0; i < n; i++) {
                    pool.retain(tables[l][h][i]);
                }
            }
        }
        return f;
    }

    /** Releases every page. Idempotent; any later use throws {@link IllegalStateException}. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                for (int i = 0; i < tableSizes[l][h]; i++) {
                    pool.release(tables[l][h][i]);
                }
                tableSizes[l][h] = 0;
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("KV cache of this sequence is closed");
        }
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= layout.layers()) {
            throw new IllegalArgumentException("KV cache: layer " + layer + " outside [0, " + layout.layers() + ")");
        }
    }

    private void checkHead(int head) {
        if (head < 0 || head >= layout.kvHeads()) {
            throw new IllegalArgumentException("KV cache: KV head " + head + " outside [0, " + layout.kvHeads() + ")");
        }
    }

    /** A live view of one (layer, head): later appends are visible through it. */
    private final class PagedKvView implements KvView {
        private final int layer;
        private final int head;

        PagedKvView(int layer, int head) {
            this.layer = layer;
            this.head = head;
        }

        private int page(int i) {
            checkOpen();
            return tables[layer][head][i];
        }

        @Override
        public int headDim() {
            return layout.headDim();
        }

        @Override
        public DType dtype() {
            return layout.dtype();
        }

        @Override
        public int pageSize() {
            return layout.pageSize();
        }

        @Override
        public int pageCount() {
            checkOpen();
            return tableSizes[layer][head];
        }

        @Override
        public int pageLength(int page) {
            checkOpen();
            return summaries[layer][head].count[checkIndex(page)];
        }

        @Override
        public MemorySegment keys(int page) {
            return pool.keys(page(page));
        }

        @Override
        public MemorySegment values(int page) {
            return pool.values(page(page));
        }

        @Override
        public long position(int page, int slot) {
            return pool.meta(page(page)).positions[slot];
        }

        @Override
        public boolean isValid(int page, int slot) {
            PageMeta m = pool.meta(page(page));
            return slot < m.count && m.valid[slot];
        }

        @Override
        public boolean allValid(int page) {
            checkOpen();
            return summaries[layer][head].allValid[checkIndex(page)];
        }

        @Override
        public long pageMinPosition(int page) {
            checkOpen();
            return summaries[layer][head].minPos[checkIndex(page)];
        }

        @Override
        public long pageMaxPosition(int page) {
            checkOpen();
            return summaries[layer][head].maxPos[checkIndex(page)];
        }

        @Override
        public PageKeyBounds keyBounds() {
            checkOpen();
            return summaries[layer][head].bounds();
        }

        /** The summary arrays have spare capacity: an index past the table must still fail. */
        private int checkIndex(int page) {
            if (page < 0 || page >= tableSizes[layer][head]) {
                throw new IndexOutOfBoundsException("KV view: page " + page + " outside [0, " + tableSizes[layer][head]
                        + ") of layer " + layer + " head " + head);
            }
            return page;
        }
    }
}
