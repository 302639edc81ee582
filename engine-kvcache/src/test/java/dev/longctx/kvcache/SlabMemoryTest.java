package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Slabs from huge-page-advised mappings (Linux) or the arena: zeroed, disjoint, aligned, dead after close. */
class SlabMemoryTest {

    private static boolean mappingsAvailableHere() {
        return SlabMemory.NativeMapping.availability() == null;
    }

    @Test
    void onLinuxThePoolTakesItsPagesFromMappings() {
        assumeTrue(mappingsAvailableHere(), "mappings need Linux on amd64 or aarch64");
        KvLayout layout = new KvLayout(1, 1, 64, 64, DType.F16);
        try (BlockPool pool = new BlockPool(layout, 64 * BlockPool.pageBytes(layout))) {
            assertTrue(pool.hugePageMappings(), "the mapped path is active where it is available");
            int page = pool.allocate(0);
            MemorySegment keys = pool.keys(page);
            keys.set(ValueLayout.JAVA_FLOAT, 0, 1.5f);
            assertEquals(1.5f, keys.get(ValueLayout.JAVA_FLOAT, 0));
            pool.close();
            // The mapping is gone with the arena: an exception, never a crash.
            assertThrows(IllegalStateException.class, () -> keys.get(ValueLayout.JAVA_FLOAT, 0));
        }
    }

    @Test
    void slabsAreZeroedAlignedAndDisjointAcrossMappings() {
        for (boolean mapped : new boolean[] {true, false}) {
            if (mapped && !mappingsAvailableHere()) {
                continue;
            }
            try (Arena arena = Arena.ofShared()) {
                SlabMemory memory = new SlabMemory(arena, mapped);
                assertEquals(mapped, memory.mapped());
                long slab = 300_000; // not a multiple of 64: the next slab is realigned
                long budget = 7 * SlabMemory.HUGE_PAGE; // smaller than a chunk: mappings follow the budget
                List<MemorySegment> slabs = new ArrayList<>();
                for (int i = 0; i < 40; i++) { // about 12 MB: spans two budget-sized mappings
                    MemorySegment s = memory.allocate(slab, budget);
                    assertEquals(slab, s.byteSize());
                    assertEquals(0, s.address() % 64, "64-byte aligned");
                    for (long o = 0; o < slab; o += 4096) {
                        assertEquals(0, s.get(ValueLayout.JAVA_BYTE, o), "zeroed");
                    }
                    s.set(ValueLayout.JAVA_BYTE, 0, (byte) (i + 1));
                    s.set(ValueLayout.JAVA_BYTE, slab - 1, (byte) (i + 1));
                    slabs.add(s);
                }
                for (int i = 0; i < slabs.size(); i++) {
                    assertEquals(i + 1, slabs.get(i).get(ValueLayout.JAVA_BYTE, 0), "slab " + i + " overwritten");
                    assertEquals(i + 1, slabs.get(i).get(ValueLayout.JAVA_BYTE, slab - 1), "slab " + i + " overwritten");
                }
            }
        }
    }

    @Test
    void theArenaPathIsUsedWhenMappingsAreNotRequested() {
        try (Arena arena = Arena.ofShared()) {
            assertFalse(new SlabMemory(arena, false).mapped());
        }
    }
}
