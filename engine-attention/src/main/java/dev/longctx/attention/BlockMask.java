package dev.longctx.attention;

import java.util.Arrays;
import java.util.BitSet;
import java.util.Objects;

/**
 * A block-level attention mask for prefill, the input of {@link BlockSparseAttention}: for every
 * KV head, query rows are cut into blocks of {@link #queryBlockTokens()} tokens and keys into
 * blocks of one KV page; a (query block, key page) block is either kept (attended exactly, with the
 * problem's position mask still applied per element) or dropped (never read). Each KV head has its
 * own pattern, as MInference (Jiang et al., 2024) assigns one per head; the g query heads sharing a
 * KV head share it, because they are rows of the same tile.
 *
 * <p><b>Representation.</b> Per (KV head, query block) a sorted array of distinct kept page
 * indices, the row of a block-sparse row (BSR) matrix as in FlashInfer's
 * {@code BlockSparseAttentionWrapper}: memory is O(kept blocks), the same order as the work the
 * kernel does on them, and the kernel walks the kept pages of a row without scanning the dropped
 * ones. Immutable and thread-safe.
 *
 * <p><b>Query blocks.</b> Block {@code b} covers query rows {@code [b * Bq, min(Lq, (b + 1) * Bq))}.
 * {@link #defaultQueryBlockTokens(int)} gives {@code max(1, 64 / g)} tokens (64 tile rows of
 * (token, query head), the granularity MInference's 64-token blocks have). Every query row walks
 * its kept pages in order with the same per-row arithmetic whatever the tiling, so a
 * keep-everything mask reproduces {@link TiledAttention}, which tiles more coarsely, bit for bit
 * with the scalar kernels.
 */
public final class BlockMask {
    private final int queryBlockTokens;
    private final int queryRows;
    private final int[] keyBlocks;
    /** [kvHead][queryBlock] sorted distinct kept page indices; never exposed. */
    private final int[][][] kept;
    private final long keptTotal;

    private BlockMask(int queryBlockTokens, int queryRows, int[] keyBlocks, int[][][] kept) {
        this.queryBlockTokens = queryBlockTokens;
        this.queryRows = queryRows;
        this.keyBlocks = keyBlocks;
        this.kept = kept;
        long total = 0;
        for (int[][] head : kept) {
            for (int[] row : head) {
                total += row.length;
            }
        }
        this.keptTotal = total;
    }

    /** Tile rows (tokens x g) of a default query block. */
    static final int QUERY_BLOCK_ROWS = 64;

    /** The default query block size: {@code max(1, 64 / g)} tokens. */
    public static int defaultQueryBlockTokens(int groupSize) {
        if (groupSize <= 0) {
            throw new IllegalArgumentException("block mask: group size must be positive, got " + groupSize);
        }
        return Math.max(1, QUERY_BLOCK_ROWS / groupSize);
    }

    /**
     * A mask from explicit rows; the arrays are copied.
     *
     * @param queryBlockTokens Bq, query tokens per block (positive)
     * @param queryRows Lq, the query rows the mask covers
     * @param keyBlocks page count of each KV head's view ({@code [Hkv]})
     * @param kept {@code [Hkv][ceil(Lq / Bq)][]}: per KV head and query block, strictly increasing
     *     page indices in {@code [0, keyBlocks[h])}
     */
    public static BlockMask of(int queryBlockTokens, int queryRows, int[] keyBlocks, int[][][] kept) {
        checkShape(queryBlockTokens, queryRows, keyBlocks);
        Objects.requireNonNull(kept, "kept");
        int blocks = blocks(queryRows, queryBlockTokens);
        if (kept.length != keyBlocks.length) {
            throw new IllegalArgumentException("block mask: kept has " + kept.length + " KV heads, expected [Hkv="
                    + keyBlocks.length + "][queryBlocks=" + blocks + "][]");
        }
        int[][][] copy = new int[kept.length][][];
        for (int h = 0; h < kept.length; h++) {
            if (kept[h] == null) {
                throw new NullPointerException("kept[" + h + "]");
            }
            if (kept[h].length != blocks) {
                throw new IllegalArgumentException("block mask: kept[" + h + "] has " + kept[h].length
                        + " query blocks, expected ceil(Lq=" + queryRows + " / Bq=" + queryBlockTokens + ") = " + blocks);
            }
            copy[h] = new int[blocks][];
            for (int b = 0; b < blocks; b++) {
                int[] row = kept[h][b];
                if (row == null) {
                    throw new NullPointerException("kept[" + h + "][" + b + "]");
                }
                for (int i = 0; i < row.length; i++) {
                    if (row[i] < 0 || row[i] >= keyBlocks[h]) {
                        throw new IllegalArgumentException("block mask: kept[" + h + "][" + b + "] names page " + row[i]
                                + ", outside [0, keyBlocks=" + keyBlocks[h] + ")");
                    }
                    if (i > 0 && row[i] <= row[i - 1]) {
                        throw new IllegalArgumentException("block mask: kept[" + h + "][" + b
                                + "] must strictly increase; page " + row[i] + " after " + row[i - 1]);
                    }
                }
                copy[h][b] = row.clone();
            }
        }
        return new BlockMask(queryBlockTokens, queryRows, keyBlocks.clone(), copy);
    }

    /**
     * Keeps every page of every KV head for every query block, with the default query block size:
     * {@link BlockSparseAttention} then computes exactly what {@link TiledAttention} does, bit for bit.
     */
    public static BlockMask all(AttentionProblem problem) {
        Builder b = builder(problem);
        for (int h = 0; h < b.keyBlocks.length; h++) {
            for (int q = 0; q < b.queryBlocks(); q++) {
                b.keepRange(h, q, 0, b.keyBlocks[h]);
            }
        }
        return b.build();
    }

    /** A builder with nothing kept, shaped for the problem with the default query block size. */
    public static Builder builder(AttentionProblem problem) {
        Objects.requireNonNull(problem, "problem");
        return new Builder(defaultQueryBlockTokens(problem.groupSize()), problem.queryRows(), pageCounts(problem));
    }

    /** A builder with nothing kept; arguments as in {@link #of}. */
    public static Builder builder(int queryBlockTokens, int queryRows, int[] keyBlocks) {
        checkShape(queryBlockTokens, queryRows, keyBlocks);
        return new Builder(queryBlockTokens, queryRows, keyBlocks.clone());
    }

    /** Page count of each KV head's view. */
    static int[] pageCounts(AttentionProblem p) {
        int[] out = new int[p.kvHeads()];
        for (int h = 0; h < out.length; h++) {
            out[h] = p.kv()[h].pageCount();
        }
        return out;
    }

    private static void checkShape(int queryBlockTokens, int queryRows, int[] keyBlocks) {
        Objects.requireNonNull(keyBlocks, "keyBlocks");
        if (queryBlockTokens <= 0) {
            throw new IllegalArgumentException("block mask: query block size must be positive, got " + queryBlockTokens);
        }
        if (queryRows < 0) {
            throw new IllegalArgumentException("block mask: negative query row count " + queryRows);
        }
        if (keyBlocks.length == 0) {
            throw new IllegalArgumentException("block mask: no KV heads (keyBlocks must hold one page count per KV head)");
        }
        for (int h = 0; h < keyBlocks.length; h++) {
            if (keyBlocks[h] < 0) {
                throw new IllegalArgumentException("block mask: keyBlocks[" + h + "] is negative: " + keyBlocks[h]);
            }
        }
    }

    private static int blocks(int rows, int bq) {
        return (int) (((long) rows + bq - 1) / bq);
    }

    /**
     * Checks that the mask is shaped for the problem: one pattern per KV head, {@code ceil(Lq / Bq)}
     * query blocks, and each head's key blocks equal to that head's page count.
     *
     * @throws IllegalArgumentException naming the expected shape
     */
    public void checkFits(AttentionProblem p) {
        Objects.requireNonNull(p, "problem");
        String expected = "expected [Hkv=" + p.kvHeads() + "][queryBlocks=ceil(Lq=" + p.queryRows() + " / Bq="
                + queryBlockTokens + ")=" + blocks(p.queryRows(), queryBlockTokens) + "][keyBlocks=pages of each view]";
        if (kvHeads() != p.kvHeads()) {
            throw new IllegalArgumentException("block mask: " + kvHeads() + " KV heads for a problem with "
                    + p.kvHeads() + "; " + expected);
        }
        if (queryRows != p.queryRows()) {
            throw new IllegalArgumentException("block mask: built for Lq=" + queryRows + " (" + queryBlocks()
                    + " query blocks) but the problem has Lq=" + p.queryRows() + "; " + expected);
        }
        for (int h = 0; h < keyBlocks.length; h++) {
            if (keyBlocks[h] != p.kv()[h].pageCount()) {
                throw new IllegalArgumentException("block mask: KV head " + h + " has " + keyBlocks[h]
                        + " key blocks but its view has " + p.kv()[h].pageCount() + " pages; " + expected);
            }
        }
    }

    /** Number of KV heads (patterns). */
    public int kvHeads() {
        return keyBlocks.length;
    }

    /** Bq: query tokens per block. */
    public int queryBlockTokens() {
        return queryBlockTokens;
    }

    /** Lq: the query rows the mask covers. */
    public int queryRows() {
        return queryRows;
    }

    /** Number of query blocks, {@code ceil(Lq / Bq)}. */
    public int queryBlocks() {
        return blocks(queryRows, queryBlockTokens);
    }

    /** First query row of block {@code b}. */
    public int queryBlockStart(int b) {
        return b * queryBlockTokens;
    }

    /** One past the last query row of block {@code b}. */
    public int queryBlockEnd(int b) {
        return Math.min(queryRows, (b + 1) * queryBlockTokens);
    }

    /** Key blocks (pages) of KV head {@code h}. */
    public int keyBlocks(int h) {
        return keyBlocks[h];
    }

    /** The kept pages of (KV head, query block), increasing; a copy. */
    public int[] keptPages(int kvHead, int queryBlock) {
        return kept[kvHead][queryBlock].clone();
    }

    /** The internal row, for the kernel (not copied; callers must not write to it). */
    int[] row(int kvHead, int queryBlock) {
        return kept[kvHead][queryBlock];
    }

    /** Whether page {@code page} is kept for (KV head, query block). */
    public boolean isKept(int kvHead, int queryBlock, int page) {
        return Arrays.binarySearch(kept[kvHead][queryBlock], page) >= 0;
    }

    /** Kept blocks over all heads and query blocks. */
    public long keptBlocks() {
        return keptTotal;
    }

    /** Kept blocks over all blocks ({@code Hkv x queryBlocks x keyBlocks}); 0 for an empty mask. */
    public double density() {
        long all = 0;
        for (int k : keyBlocks) {
            all += (long) k * queryBlocks();
        }
        return all == 0 ? 0 : (double) keptTotal / all;
    }

    @Override
    public String toString() {
        // Eight page counts cover the usual KV head counts; more would only clutter a log line.
        final int shown = 8;
        String pages = keyBlocks.length <= shown ? Arrays.toString(keyBlocks)
                : Arrays.toString(Arrays.copyOf(keyBlocks, shown)).replace("]", ", ...]");
        return "BlockMask[Hkv=" + kvHeads() + ", Bq=" + queryBlockTokens + ", Lq=" + queryRows + ", queryBlocks="
                + queryBlocks() + ", keyBlocks=" + pages + ", kept=" + keptTotal
                + String.format(", density=%.4f]", density());
    }

    /**
     * Collects kept blocks in any order, one bitset per (KV head, query block), then compacts them
     * into a {@link BlockMask}. Different (KV head, query block) rows may be filled from different
     * threads at once; one row must not. The bitsets take {@code Hkv x queryBlocks x pages / 8}
     * bytes while building (1 MiB for 8 KV heads at 32K tokens, 16-token query blocks and 64-slot
     * pages), the built mask only its kept blocks.
     */
    public static final class Builder {
        private final int queryBlockTokens;
        private final int queryRows;
        private final int[] keyBlocks;
        private final BitSet[][] rows;

        private Builder(int queryBlockTokens, int queryRows, int[] keyBlocks) {
            this.queryBlockTokens = queryBlockTokens;
            this.queryRows = queryRows;
            this.keyBlocks = keyBlocks;
            int blocks = blocks(queryRows, queryBlockTokens);
            this.rows = new BitSet[keyBlocks.length][blocks];
            for (int h = 0; h < keyBlocks.length; h++) {
                for (int b = 0; b < blocks; b++) {
                    rows[h][b] = new BitSet(keyBlocks[h]);
                }
            }
        }

        /** Number of query blocks. */
        public int queryBlocks() {
            return rows.length == 0 ? 0 : rows[0].length;
        }

        /** Query tokens per block. */
        public int queryBlockTokens() {
            return queryBlockTokens;
        }

        /** Keeps page {@code page} for (KV head, query block). */
        public Builder keep(int kvHead, int queryBlock, int page) {
            return keepRange(kvHead, queryBlock, page, page + 1);
        }

        /** Keeps pages {@code [from, to)} for (KV head, query block). */
        public Builder keepRange(int kvHead, int queryBlock, int from, int to) {
            if (kvHead < 0 || kvHead >= keyBlocks.length) {
                throw new IllegalArgumentException("block mask: KV head " + kvHead + " outside [0, Hkv=" + keyBlocks.length + ")");
            }
            if (queryBlock < 0 || queryBlock >= queryBlocks()) {
                throw new IllegalArgumentException("block mask: query block " + queryBlock + " outside [0, queryBlocks="
                        + queryBlocks() + ")");
            }
            if (from < 0 || to > keyBlocks[kvHead] || from > to) {
                throw new IllegalArgumentException("block mask: pages [" + from + ", " + to + ") outside [0, keyBlocks="
                        + keyBlocks[kvHead] + ") of KV head " + kvHead);
            }
            rows[kvHead][queryBlock].set(from, to);
            return this;
        }

        /** Whether page {@code page} is kept so far. */
        public boolean isKept(int kvHead, int queryBlock, int page) {
            return rows[kvHead][queryBlock].get(page);
        }

        /** The mask; the builder may be reused afterwards. */
        public BlockMask build() {
            int[][][] kept = new int[rows.length][][];
            for (int h = 0; h < rows.length; h++) {
                kept[h] = new int[rows[h].length][];
                for (int b = 0; b < rows[h].length; b++) {
                    kept[h][b] = rows[h][b].stream().toArray();
                }
            }
            return new BlockMask(queryBlockTokens, queryRows, keyBlocks.clone(), kept);
        }
    }
}
