package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Halfs;
import dev.longctx.core.kernels.spi.Quantization;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Random sequences of append, fork, evict and close over many sequences, checked after every step
 * against a plain model: per sequence and head, the list of kept (position, key, value). Seeded,
 * so a failure names the seed and step that reproduce it.
 */
class KvCachePropertyTest {
    static final int D = 8;
    static final int HEADS = 2;

    record Token(long position, float[] key, float[] value) {
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
                m.heads.get(h).addAll(heads.get(h));
            }
            m.next = next;
            return m;
        }
    }

    @Test
    void randomOperationsAgreeWithTheModelAndLeakNothing() {
        for (int seed = 0; seed < 40; seed++) {
            run(seed);
        }
    }

    private static void run(int seed) {
        SplittableRandom r = new SplittableRandom(seed);
        KvLayout layout = new KvLayout(1, HEADS, D, 4, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 1 << 22)) {
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
                if (op < 55) {
                    float[] k = new float[HEADS * D];
                    float[] v = new float[HEADS * D];
                    for (int i = 0; i < k.length; i++) {
                        k[i] = (float) r.nextGaussian();
                        v[i] = (float) r.nextGaussian();
                    }
                    long pos = m.next + r.nextInt(3); // gaps allowed
                    c.append(0, k, v, pos);
                    for (int h = 0; h < HEADS; h++) {
                        float[] kh = new float[D];
                        float[] vh = new float[D];
                        System.arraycopy(k, h * D, kh, 0, D);
                        System.arraycopy(v, h * D, vh, 0, D);
                        m.heads.get(h).add(new Token(pos, kh, vh));
                    }
                    m.next = pos + 1;
                } else if (op < 80) {
                    int h = r.nextInt(HEADS);
                    List<Token> kept = m.heads.get(h);
                    if (!kept.isEmpty()) {
                        int victim = r.nextInt(kept.size());
                        long pos = kept.get(victim).position();
                        KvView view = c.view(0, h);
                        boolean done = false;
                        for (int p = 0; p < view.pageCount() && !done; p++) {
                            for (int sl = 0; !done && sl < view.pageLength(p); sl++) {
                                if (view.isValid(p, sl) && view.position(p, sl) == pos) {
                                    c.evict(0, h, p, sl);
                                    done = true;
                                }
                            }
                        }
                        assertTrue(done, where + ": token at " + pos + " not found");
                        kept.remove(victim);
                    }
                } else if (op < 87) {
                    int h = r.nextInt(HEADS);
                    int before = c.pages(0, h);
                    int released = c.compact(0, h);
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
                    check(caches.get(i), models.get(i), where + " sequence " + i);
                }
            }
            for (SequenceKvCache c : caches) {
                c.close();
            }
            assertEquals(0, pool.stats().pagesInUse(), "seed " + seed + ": pages leaked");
            assertEquals(pool.stats().allocatedPages(), pool.stats().freePages());
        }
    }

    private static void check(SequenceKvCache c, Model m, String where) {
        float[] key = new float[D];
        float[] value = new float[D];
        for (int h = 0; h < HEADS; h++) {
            KvView view = c.view(0, h);
            List<Token> expected = m.heads.get(h);
            int i = 0;
            long prev = Long.MIN_VALUE;
            for (int p = 0; p < view.pageCount(); p++) {
                assertTrue(view.pageLength(p) > 0 || p == view.pageCount() - 1, where + ": empty page in the middle");
                boolean anyValid = false;
                for (int s = 0; s < view.pageLength(p); s++) {
                    long pos = view.position(p, s);
                    assertTrue(pos > prev, where + ": positions must increase");
                    prev = pos;
                    if (!view.isValid(p, s)) {
                        continue;
                    }
                    anyValid = true;
                    Token t = expected.get(i++);
                    assertEquals(t.position(), pos, where);
                    Quantization.dequantize(DType.F32, view.keys(p), s * view.rowBytes(), key, 0, D);
                    Quantization.dequantize(DType.F32, view.values(p), s * view.rowBytes(), value, 0, D);
                    assertArrayEquals(t.key(), key, where + " key at " + pos);
                    assertArrayEquals(t.value(), value, where + " value at " + pos);
                    for (int d = 0; d < D; d++) {
                        assertTrue(view.keyMin(p)[d] <= key[d] && key[d] <= view.keyMax(p)[d], where + ": key bounds");
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
