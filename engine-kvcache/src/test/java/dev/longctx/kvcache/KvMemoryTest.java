package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.tensor.DType;
import org.junit.jupiter.api.Test;

class KvMemoryTest {

    @Test
    void bytesPerTokenFollowTheFormulaAndMetadataStaysSmall() {
        // Llama-3-8B-like head layout: 32 layers, 8 KV heads, 128 dims.
        KvLayout f16 = KvLayout.of(32, 8, 128, DType.F16);
        assertEquals(2L * 32 * 8 * 128 * 2, f16.bytesPerToken());
        double meta = (double) f16.pageMetadataBytes() / f16.pageDataBytes();
        assertTrue(meta <= 0.05, "metadata " + meta);
        double scored = (double) f16.scoredPageMetadataBytes() / f16.pageDataBytes();
        assertTrue(scored <= 0.06, "metadata with H2O scores " + scored);
        KvLayout q8 = KvLayout.of(32, 8, 128, DType.Q8_0);
        // Page data: 34 bytes per 32 elements against 64. With the (dtype-independent) metadata a
        // Q8_0 page costs 0.553x an F16 page (0.556x with H2O scores); documented in kvcache.md.
        double ratio = (double) q8.pageDataBytes() / f16.pageDataBytes();
        assertTrue(ratio <= 0.55, "Q8_0 page data is " + ratio + " of F16 page data");
        assertTrue((double) BlockPool.pageBytes(q8) / BlockPool.pageBytes(f16) < 0.56);
    }
}
