package dev.longctx.kvcache;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a {@link BlockPool}'s slabs come from: on Linux, anonymous mappings advised for
 * transparent huge pages ({@code madvise(MADV_HUGEPAGE)}) before anything touches them; elsewhere,
 * or when that fails, the pool's arena.
 *
 * <p><b>Why.</b> Decode attention reads KV pages spread over up to gigabytes; with 4 KiB pages each
 * 16 KiB page pair of the SmolLM2 shape costs four TLB misses and page walks. With 2 MiB pages,
 * measured in one process against the arena (two builds in two class loaders, alternating, 2
 * threads, 30 layers, first quartiles of 40 calls, two runs on a noisy machine): split-K at 16K
 * tokens 33.1 -> 30.8 and 33.3 -> 32.1 ms, at 4K 8.5 -> 8.3 ms, Quest at 64K 13.5 -> 12.7 and
 * 14.4 -> 13.6 ms: 3-7%. The advice must come before the first touch: {@code Arena.allocate} zero-fills,
 * so an arena's memory is already backed by 4 KiB pages (advising it afterwards got 32 MB of
 * 1.5 GB promoted); a fresh mapping is zero already. With {@code transparent_hugepage=never} the
 * advice is a no-op and the mapping behaves like the arena's memory.
 *
 * <p>Mappings are reserved {@link #CHUNK} bytes at a time (no more than the budget still allows,
 * rounded up to a huge page) and committed by the kernel as pages are first written; each is
 * unmapped when the arena closes, and its segments belong to the arena, so using a page after
 * {@link BlockPool#close()} is an {@link IllegalStateException}, never a crash. Set the system
 * property {@value #PROPERTY} to {@code false} to use the arena only. Native calls need native
 * access for this module (the launchers pass {@code --enable-native-access}); without it the JDK
 * warns once, or, where native access is denied, this falls back to the arena and logs why.
 *
 * <p>Not thread-safe: the pool calls it under its lock.
 */
final class SlabMemory {
    private static final Logger LOG = LoggerFactory.getLogger(SlabMemory.class);

    /** System property: {@code false} allocates slabs from the arena only. */
    static final String PROPERTY = "longctx.kvcache.hugePages";
    /** The transparent huge page size of x86-64 and of arm64 with 4 KiB base pages. */
    static final long HUGE_PAGE = 2L << 20;
    /** Bytes mapped at a time: 32 huge pages, 4096 SmolLM2 page pairs. */
    static final long CHUNK = 64L << 20;
    /** Slab alignment within a mapping: a cache line. */
    private static final long ALIGN = 64;

    private final Arena arena;
    private NativeMapping mapping;
    private MemorySegment chunk;
    private long used;

    /** Slabs from mappings when {@link NativeMapping#availability} allows, else from {@code arena}. */
    SlabMemory(Arena arena) {
        this(arena, true);
    }

    /** As {@link #SlabMemory(Arena)}; {@code tryMappings} false uses the arena only (tests). */
    SlabMemory(Arena arena, boolean tryMappings) {
        this.arena = arena;
        String why = tryMappings ? NativeMapping.availability() : "mappings not requested";
        if (why == null) {
            try {
                mapping = NativeMapping.get();
            } catch (RuntimeException | LinkageError e) {
                why = "native calls unavailable (" + e + ")";
            }
        }
        if (why != null) {
            LOG.debug("KV slabs from the arena: {}", why);
        }
    }

    /** Whether slabs come from huge-page-advised mappings. */
    boolean mapped() {
        return mapping != null;
    }

    /**
     * A zeroed slab of {@code bytes}, 64-byte aligned, that lives until the arena closes.
     *
     * @param budgetLeft bytes the pool may still allocate, this slab included (caps a new mapping)
     */
    MemorySegment allocate(long bytes, long budgetLeft) {
        if (mapping == null) {
            return arena.allocate(bytes, ALIGN);
        }
        if (chunk == null || used + bytes > chunk.byteSize()) {
            long size = Math.max(bytes, Math.min(CHUNK, budgetLeft));
            size = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
            MemorySegment fresh = mapping.map(size, arena);
            if (fresh == null) {
                LOG.info("KV slabs from the arena from now on: mmap of {} bytes failed", size);
                mapping = null;
                return arena.allocate(bytes, ALIGN);
            }
            chunk = fresh;
            used = 0;
        }
        MemorySegment slab = chunk.asSlice(used, bytes);
        used = (used + bytes + ALIGN - 1) / ALIGN * ALIGN;
        return slab;
    }

    /** mmap, madvise and munmap through the FFM linker, linked once per JVM. */
    static final class NativeMapping {
        // Linux values on x86-64 and arm64 (asm-generic/mman-common.h, bits/mman-linux.h).
        private static final int PROT_READ_WRITE = 0x1 | 0x2;
        private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
        private static final int MADV_HUGEPAGE = 14;
        private static final long MAP_FAILED = -1L;

        private final MethodHandle mmap;
        private final MethodHandle madvise;
        private final MethodHandle munmap;

        @SuppressWarnings("restricted") // linking libc's mmap, madvise and munmap: the point of this class
        private NativeMapping() {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
            madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        }

        /** Lazily linked on first use (a holder class: nothing runs until a pool asks). */
        private static final class Holder {
            static final NativeMapping INSTANCE = new NativeMapping();
        }

        static NativeMapping get() {
            return Holder.INSTANCE;
        }

        /** Null when mappings may be used here, else why not. */
        static String availability() {
            if (!Boolean.parseBoolean(System.getProperty(PROPERTY, "true"))) {
                return PROPERTY + "=false";
            }
            String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
            String arch = System.getProperty("os.arch", "");
            if (!os.contains("linux")) {
                return "not Linux (" + os + ")";
            }
            if (!arch.equals("amd64") && !arch.equals("x86_64") && !arch.equals("aarch64")) {
                return "architecture " + arch + " (mmap constants known for amd64 and aarch64)";
            }
            return null;
        }

        /**
         * A fresh zeroed mapping of {@code size} bytes (a multiple of the huge page), aligned to a
         * huge page and advised for huge pages, owned by {@code arena} (unmapped when it closes);
         * null when mmap fails.
         */
        @SuppressWarnings("restricted") // sizing the mapping mmap returned, owned by the arena
        MemorySegment map(long size, Arena arena) {
            long length = size + HUGE_PAGE; // room to align the start
            MemorySegment raw;
            try {
                raw = (MemorySegment) mmap.invokeExact(MemorySegment.NULL, length, PROT_READ_WRITE,
                        MAP_PRIVATE_ANONYMOUS, -1, 0L);
            } catch (Throwable t) {
                throw new IllegalStateException("mmap of " + length + " bytes threw", t);
            }
            if (raw.address() == MAP_FAILED || raw.address() == 0) {
                return null;
            }
            long start = raw.address();
            MemorySegment whole = raw.reinterpret(length, arena, s -> unmap(start, length));
            long offset = (HUGE_PAGE - start % HUGE_PAGE) % HUGE_PAGE;
            MemorySegment aligned = whole.asSlice(offset, size);
            try {
                // Advice only: where it is refused (THP "never") the mapping still works.
                int rc = (int) madvise.invokeExact(aligned, size, MADV_HUGEPAGE);
                if (rc != 0) {
                    LOG.debug("madvise(MADV_HUGEPAGE) returned {} for {} bytes", rc, size);
                }
            } catch (Throwable t) {
                throw new IllegalStateException("madvise threw", t);
            }
            return aligned;
        }

        private void unmap(long start, long length) {
            try {
                int rc = (int) munmap.invokeExact(MemorySegment.ofAddress(start), length);
                if (rc != 0) {
                    LOG.warn("munmap of {} bytes at {} returned {}", length, start, rc);
                }
            } catch (Throwable t) {
                LOG.warn("munmap of {} bytes at {} threw", length, start, t);
            }
        }
    }
}
