package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Halfs;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random sequences of append, fork, evict, compact, re-position, score updates and close over many
 * sequences, for every page dtype, on a pool whose budget runs out, checked after every step
 * against a plain model: per sequence and head, the list of kept (position, key, value, score).
 * The model stores what the dtype stores (each vector encoded and decoded once, as the cache
 * does), so every comparison is exact. When the budget is exhausted the append throws
 * {@link KvCacheFullException}, writes nothing, and the cache stays usable: closing another
 * sequence frees pages and appends succeed again. Seeded, so a failure names the dtype, seed and
 * step that reproduce it.
 */
class KvCachePropertyTest {
    static final int D = 32; // one Q8_0 block per head
    static final int HEADS = 2;
    static final Rope ROPE = Rope.standard(D, 10000, 1 << 20);
    /** Encode/decode scratch (tests of one class run on one thread). */
    static final java.lang.foreign.MemorySegment SCRATCH = java.lang.foreign.Arena.global().allocate(4L * D);

    /** A kept token; its key changes when the sequence is re-positioned, its score with observations. */
    static final class Token {
        long position;
        float[] key;
        final float[] value;
        float score;

        Token(long position, float[] key, float[] value) {
            this.position = position;
            this.key = key;
            this.value = value;
        }

        Token copy() {
            Token t = new Token(position, key, value);
            t.score = score;
            return t;
        }

        long position() {
            return position;
        }

        float[] key() {
            return key;
        }

        float[] value() {
            return value;
        }
    }

    /** {@code x} as a page of {@code type} stores it: encoded, then decoded. */
    static float[] stored(DType type, float[] x) {
        java.lang.foreign.MemorySegment seg = SCRATCH;
        Quantization.quantize(type, x, 0, x.length, seg, 0);
        float[] out = new float[x.length];
        Quantization.dequantize(type, seg, 0, out, 0, x.length);
        return out;
    }

    /** The model of one sequence: per head, kept tokens in order, and the next position. */
    static final class Model {
        final List<List<Token>> heads = new ArrayList<>();
        long next;

        Model() {
            for (int h = 0; h < HEADS; h++) {
                heads.add(new ArrayList<>());
            }
        }

        Model copy() {
            Model m = new Model();
            for (int h = 0; h < HEADS; h++) {
                for (Token t : heads.get(h)) {
                    m.heads.get(h).add(t.copy());
                }
            }
            m.next = next;
            return m;
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = DType.class, names = {"F32", "F16", "BF16", "Q8_0"})
    void randomOperationsAgreeWithTheModelAndLeakNothing(DType type) {
        int full = 0;
        for (int seed = 0; seed < 30; seed++) {
            full += run(type, seed);
        }
        assertTrue(full > 20, type + ": the budget ran out only " + full + " times; the test must exercise it");
    }

    /** Runs one seed; returns how many appends found the pool's budget exhausted. */
    private static int run(DType type, int seed) {
        SplittableRandom r = new SplittableRandom(seed);
        KvLayout layout = new KvLayout(1, HEADS, D, 4, type);
        int full = 0;
        // 24 pages: a few sequences of a few dozen tokens exhaust it
        try (BlockPool pool = new BlockPool(layout, 24 * BlockPool.pageBytes(layout))) {
            List<SequenceKvCache> caches = new ArrayList<>();
            List<Model> models = new ArrayList<>();
            caches.add(SequenceKvCache.create(pool));
            models.add(new Model());
            for (int step = 0; step < 300; step++) {
                String where = "seed " + seed + " step " + step;
                int op = r.nextInt(100);
                if (caches.isEmpty()) {
                    caches.add(SequenceKvCache.create(pool));
                    models.add(new Model());
                    continue;
                }
                int s = r.nextInt(caches.size());
                SequenceKvCache c = caches.get(s);
                Model m = models.get(s);
                if (op < 50) {
                    float[] k = new float[HEADS * D];
                    float[] v = new float[HEADS * D];
                    for (int i = 0; i < k.length; i++) {
                        k[i] = (float) r.nextGaussian();
                        v[i] = (float) r.nextGaussian();
                    }
                    long pos = m.next + r.nextInt(3); // gaps allowed
                    try {
                        c.append(0, k, v, pos);
                    } catch (KvCacheFullException e) {
                        full++; // nothing written: the model stays as it is
                        assertTrue(e.getMessage().contains("budget"), where + ": " + e.getMessage());
                        for (int i = 0; i < caches.size(); i++) {
                            check(caches.get(i), models.get(i), type, where + " after a full pool, sequence " + i);
                        }
                        continue;
                    }
                    for (int h = 0; h < HEADS; h++) {
                        float[] kh = new float[D];
                        float[] vh = new float[D];
                        System.arraycopy(k, h * D, kh, 0, D);
                        System.arraycopy(v, h * D, vh, 0, D);
                        m.heads.get(h).add(new Token(pos, stored(type, kh), stored(type, vh)));
                    }
                    m.next = pos + 1;
                } else if (op < 56) {
                    // H2O's observations: add probabilities to a page's slots, as an observer does
                    int h = r.nextInt(HEADS);
                    KvView view = c.view(0, h);
                    if (view.pageCount() > 0) {
                        int p = r.nextInt(view.pageCount());
                        int count = view.pageLength(p);
                        float[] probs = new float[count];
                        for (int sl = 0; sl < count; sl++) {
                            probs[sl] = (float) r.nextDouble();
                        }
                        try {
                            c.addScores(0, h, p, probs, count);
                        } catch (KvCacheFullException e) {
                            full++; // a shared page could not be copied: nothing changed
                            continue;
                        }
                        for (int sl = 0; sl < count; sl++) {
                            if (view.isValid(p, sl)) {
                                tokenAt(m.heads.get(h), view.position(p, sl)).score += probs[sl];
                            }
                        }
                    }
                } else if (op < 60) {
                    // StreamingLLM's re-positioning: kept tokens get contiguous positions, keys re-rotated
                    int h = r.nextInt(HEADS);
                    long first = r.nextInt(3);
                    List<Token> kept = m.heads.get(h);
                    long resume;
                    try {
                        resume = c.reposition(0, h, first, ROPE, RopePairing.ROTATE_HALF);
                    } catch (KvCacheFullException e) {
                        full++;
                        continue;
                    }
                    long next = first;
                    for (Token t : kept) {
                        long delta = next - t.position;
                        if (delta != 0) {
                            float[] key = t.key.clone();
                            ROPE.rotateBy(key, 0, 1, delta, RopePairing.ROTATE_HALF);
                            t.key = stored(type, key);
                        }
                        t.position = next++;
                    }
                    assertEquals(next, resume, where + ": reposition's next position");
                    m.next = Math.max(m.next, resume); // every head's next append comes after its last position
                } else if (op < 80) {
                    int h = r.nextInt(HEADS);
                    List<Token> kept = m.heads.get(h);
                    if (!kept.isEmpty()) {
                        int victim = r.nextInt(kept.size());
                        long pos = kept.get(victim).position();
                        KvView view = c.view(0, h);
                        boolean done = false;
                        boolean refused = false;
                        for (int p = 0; p < view.pageCount() && !done; p++) {
                            for (int sl = 0; !done && sl < view.pageLength(p); sl++) {
                                if (view.isValid(p, sl) && view.position(p, sl) == pos) {
                                    try {
                                        c.evict(0, h, p, sl);
                                    } catch (KvCacheFullException e) {
                                        // a shared page must be copied before its slot is cleared (copy-on-write),
                                        // and the pool had no page for the copy: nothing changed
                                        refused = true;
                                        full++;
                                    }
                                    done = true;
                                }
                            }
                        }
                        assertTrue(done, where + ": token at " + pos + " not found");
                        if (!refused) {
                            kept.remove(victim);
                        }
                    }
                } else if (op < 87) {
                    int h = r.nextInt(HEADS);
                    int before = c.pages(0, h);
                    int released;
                    try {
                        released = c.compact(0, h);
                    } catch (KvCacheFullException e) {
                        full++; // shared pages could not be copied
                        continue;
                    }
                    int valid = c.validLength(0, h);
                    assertEquals(before - released, c.pages(0, h), where + ": compact's count");
                    assertTrue(c.pages(0, h) <= Math.max(1, (valid + 3) / 4), where + ": compact left "
                            + c.pages(0, h) + " pages for " + valid + " tokens");
                } else if (op < 94) {
                    caches.add(c.fork());
                    models.add(m.copy());
                } else {
                    c.close();
                    caches.remove(s);
                    models.remove(s);
                }
                for (int i = 0; i < caches.size(); i++) {
                    check(caches.get(i), models.get(i), type, where + " sequence " + i);
                }
            }
            for (SequenceKvCache c : caches) {
                c.close();
            }
            assertEquals(0, pool.stats().pagesInUse(), type + " seed " + seed + ": pages leaked");
            assertEquals(pool.stats().allocatedPages(), pool.stats().freePages());
        }
        return full;
    }

    private static Token tokenAt(List<Token> kept, long position) {
        for (Token t : kept) {
            if (t.position == position) {
                return t;
            }
        }
        throw new AssertionError("no kept token at " + position);
    }

    private static void check(SequenceKvCache c, Model m, DType type, String where) {
        float[] key = new float[D];
        float[] value = new float[D];
        for (int h = 0; h < HEADS; h++) {
            KvView view = c.view(0, h);
            List<Token> expected = m.heads.get(h);
            int i = 0;
            long prevValid = Long.MIN_VALUE;
            for (int p = 0; p < view.pageCount(); p++) {
                assertTrue(view.pageLength(p) > 0 || p == view.pageCount() - 1, where + ": empty page in the middle");
                boolean anyValid = false;
                float[] keyMin = view.keyMin(p);
                float[] keyMax = view.keyMax(p);
                for (int s = 0; s < view.pageLength(p); s++) {
                    long pos = view.position(p, s);
                    if (!view.isValid(p, s)) {
                        continue; // an evicted slot's position only bounds its page (re-positioning renumbers moved pages only)
                    }
                    assertTrue(pos > prevValid, where + ": positions must increase (head " + h + " page " + p + " slot " + s + " at "
                            + pos + " after " + prevValid + ")");
                    prevValid = pos;
                    anyValid = true;
                    Token t = expected.get(i++);
                    assertEquals(t.position(), pos, where);
                    Quantization.dequantize(type, view.keys(p), s * view.rowBytes(), key, 0, D);
                    Quantization.dequantize(type, view.values(p), s * view.rowBytes(), value, 0, D);
                    assertArrayEquals(t.key(), key, where + " key at " + pos);
                    assertArrayEquals(t.value(), value, where + " value at " + pos);
                    assertEquals(t.score, c.score(0, h, p, s), where + " score at " + pos);
                    for (int d = 0; d < D; d++) {
                        if (!(keyMin[d] <= key[d] && key[d] <= keyMax[d])) {
                            throw new AssertionError(where + ": key bounds (page " + p + " of " + view.pageCount() + ", slot " + s
                                    + ", channel " + d + ": " + key[d] + " not in [" + keyMin[d] + ", " + keyMax[d] + "], head " + h + ")");
                        }
                    }
                }
                assertTrue(anyValid || p == view.pageCount() - 1, where + ": fully evicted page kept");
                assertEquals(view.allValid(p), allValid(view, p), where + ": allValid");
            }
            var bounds = view.keyBounds();
            assertTrue(bounds.isPacked(), where + ": the cache keeps packed bounds for Quest");
            for (int j = 0; j < view.pageCount() * D; j++) {
                // The packed bounds follow every write, eviction, compaction and fork.
                assertEquals(Halfs.floatToBf16Down(bounds.min()[j]), bounds.packedMin()[j], where + ": packed min " + j);
                assertEquals(Halfs.floatToBf16Up(bounds.max()[j]), bounds.packedMax()[j], where + ": packed max " + j);
            }
            assertEquals(expected.size(), i, where + ": token count");
            assertEquals(expected.size(), c.validLength(0, h), where + ": validLength");
        }
    }

    private static boolean allValid(KvView v, int p) {
        for (int s = 0; s < v.pageLength(p); s++) {
            if (!v.isValid(p, s)) {
                return false;
            }
        }
        return true;
    }
}
