package dev.longctx.kvcache;

import dev.longctx.core.tensor.DType;

/**
 * The shape of a model's KV cache: layers, KV heads per layer, elements per head, slots per page
 * and the element type of pages.
 *
 * <p><b>Pages are per KV head.</b> A page holds the keys and values of {@code pageSize}
 * consecutive cached tokens of one layer and one KV head. Head-wise policies (DuoAttention's
 * streaming heads, per-head H2O or SnapKV budgets) need heads of one layer to hold different
 * tokens and lengths; per-layer pages (vLLM's choice) would force every head of a layer to keep the
 * same tokens.
 *
 * @param layers transformer layers
 * @param kvHeads KV heads per layer
 * @param headDim elements per key or value vector
 * @param pageSize slots per page (default {@link #DEFAULT_PAGE_SIZE})
 * @param dtype F32, F16, BF16 or Q8_0 (Q8_0 needs headDim a multiple of 32)
 */
public record KvLayout(int layers, int kvHeads, int headDim, int pageSize, DType dtype) {
    /**
     * Default slots per page: 64 tokens of a 128-dim F16 head are 16 KiB of keys and 16 KiB of
     * values, large enough to stream efficiently and small enough that eviction wastes little
     * (the issue asks for 16-64; vLLM uses 16 on GPUs).
     */
    public static final int DEFAULT_PAGE_SIZE = 64;

    /**
     * Default page dtype where a caller does not choose one (sessions, {@code longctx generate},
     * {@code bench}, {@code demo}): bfloat16. It is the dtype the supported model families are
     * trained and served in on GPUs (vLLM keeps K/V in the model's dtype), it has the range of F32
     * (F16 overflows past 65504), and it decodes to F32 with one shift, where F16 needs a
     * conversion: split-K decode over 30 layers x 3 KV heads x 64 dims at depth 16K took 22-27 ms
     * with BF16 pages against 28-34 ms with F16 pages of the same bytes (same process, 2 threads,
     * 2026-11-26). F16 keeps three more mantissa bits (relative rounding 2^-11 against 2^-8) and
     * stays available; F32 is the reference.
     */
    public static final DType DEFAULT_DTYPE = DType.BF16;

    /** Validates the layout. */
    public KvLayout {
        if (layers < 1 || kvHeads < 1 || headDim < 1 || pageSize < 1) {
            throw new IllegalArgumentException("KV layout: layers, kvHeads, headDim and pageSize must be >= 1, got layers="
                    + layers + " kvHeads=" + kvHeads + " headDim=" + headDim + " pageSize=" + pageSize);
        }
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16 && dtype != DType.Q8_0) {
            throw new IllegalArgumentException("KV layout: page dtype " + dtype + " is not one of F32, F16, BF16, Q8_0");
        }
        if (headDim % dtype.blockSize() != 0) {
            throw new IllegalArgumentException("KV layout: head dim " + headDim + " is not a multiple of the " + dtype
                    + " block size " + dtype.blockSize());
        }
    }

    /** A layout with the default page size. */
    public static KvLayout of(int layers, int kvHeads, int headDim, DType dtype) {
        return new KvLayout(layers, kvHeads, headDim, DEFAULT_PAGE_SIZE, dtype);
    }

    /** Bytes of one key (or value) row. */
    public long rowBytes() {
        return dtype.bytesFor(headDim);
    }

    /** Bytes of K and V data in one page. */
    public long pageDataBytes() {
        return 2 * rowBytes() * pageSize;
    }

    /**
     * Bytes of per-page metadata kept on the heap: position (8) and validity (1) per slot, and the
     * key min/max per channel (Quest, 8 per channel, kept per block-table entry). A scoring policy
     * (H2O) adds 4 bytes per slot when it first scores the page; that is counted against the
     * budget too (see BlockPool).
     */
    public long pageMetadataBytes() {
        return 9L * pageSize + 8L * headDim;
    }

    /** Metadata bytes of a page that also carries H2O scores. */
    public long scoredPageMetadataBytes() {
        return pageMetadataBytes() + 4L * pageSize;
    }

    /** KV bytes per cached token over all layers and heads: 2 x layers x kvHeads x row bytes. */
    public long bytesPerToken() {
        return 2L * layers * kvHeads * rowBytes();
    }
}
