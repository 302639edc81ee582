import dev.longctx.attention.*;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import java.util.*;

/** A/B harness: splitk, persistent, recording interleaved op by op in one JVM, same caches. */
public class SelAb {
    public static void main(String[] a) {
        int lk = 16000, selected = 2048, layers = 8, reps = Integer.parseInt(a.length > 0 ? a[0] : "60");
        int threads = Integer.parseInt(a.length > 1 ? a[1] : "1");
        ComputePool pool = ComputePool.create(threads);
        TensorOps ops = new TensorOps(KernelProvider.get(), pool);
        System.out.println("kernels: " + ops.kernels().name());
        SplittableRandom r = new SplittableRandom(42);
        KvLayout layout = new KvLayout(layers, 2, 64, 64, DType.BF16);
        long pages = (long) layers * 2 * ((lk + 63) / 64 + 1);
        BlockPool kvPool = new BlockPool(layout, BlockPool.pageBytes(layout) * pages);
        SequenceKvCache cache = SequenceKvCache.create(kvPool);
        float[] k = new float[128], v = new float[128];
        for (int layer = 0; layer < layers; layer++)
            for (int pos = 0; pos < lk; pos++) {
                for (int i = 0; i < 128; i++) { k[i] = (float) (r.nextDouble() * 2 - 1); v[i] = (float) (r.nextDouble() * 2 - 1); }
                cache.append(layer, k, v, pos);
            }
        String[] names = {"splitk", "persistent", "recording", "touchonly"};
        AttentionKernel[][] kern = new AttentionKernel[3][layers];
        AttentionProblem[] prob = new AttentionProblem[layers];
        java.lang.foreign.MemorySegment[][] kseg = new java.lang.foreign.MemorySegment[layers * 2][], vseg = new java.lang.foreign.MemorySegment[layers * 2][];
        long[][] selPos = new long[layers * 2][];
        for (int layer = 0; layer < layers; layer++) {
            KvView[] views = cache.views(layer).clone();
            PersistentSelection sel = new PersistentSelection(2);
            for (int h = 0; h < 2; h++) {
                BitSet keys = new BitSet();
                keys.set(0, 4);
                keys.set(lk - 64, lk);
                while (keys.cardinality() < selected) keys.set(r.nextInt(lk));
                sel.record(h, views[h], keys);
            }
            sel.keepFrom(lk - 1);
            for (int h = 0; h < 2; h++) {
                selPos[layer * 2 + h] = sel.positions(h);
                kseg[layer * 2 + h] = new java.lang.foreign.MemorySegment[views[h].pageCount()];
                vseg[layer * 2 + h] = new java.lang.foreign.MemorySegment[views[h].pageCount()];
                for (int pg = 0; pg < views[h].pageCount(); pg++) { kseg[layer*2+h][pg] = views[h].keys(pg); vseg[layer*2+h][pg] = views[h].values(pg); }
            }
            kern[0][layer] = new SplitKDecodeAttention(ops);
            kern[1][layer] = new PersistentSelectionAttention(ops).over(sel);
            kern[2][layer] = new RecordingAttention(ops, new SplitKDecodeAttention(ops), RecordingAttention.withLocalWindow(selected))
                    .over(new PersistentSelection(2));
            float[] q = new float[4 * 64];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            prob[layer] = AttentionProblem.causal(q, 1, 4, views);
        }
        float[] out = new float[prob[0].outputLength()];
        long[][] t = new long[4][reps];
        long sink = 0;
        for (int warm = 0; warm < 2; warm++) {
            for (int rep = 0; rep < reps; rep++) {
                {
                    long t0 = System.nanoTime();
                    for (int lh = 0; lh < layers * 2; lh++) {
                        long[] ps = selPos[lh];
                        for (long pos : ps) {
                            java.lang.foreign.MemorySegment ks = kseg[lh][(int) (pos >> 6)], vs = vseg[lh][(int) (pos >> 6)];
                            long o = (pos & 63) * 128;
                            sink += ks.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o) + ks.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o + 64)
                                  + vs.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o) + vs.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o + 64);
                        }
                    }
                    t[3][rep] = System.nanoTime() - t0;
                }
                for (int kk = 0; kk < 3; kk++) {
                    if (a.length > 2 && !a[2].contains(names[kk])) continue;
                    long t0 = System.nanoTime();
                    for (int layer = 0; layer < layers; layer++) kern[kk][layer].attend(prob[layer], out, null, null);
                    t[kk][rep] = System.nanoTime() - t0;
                }
            }
        }
        double[] ratioP = new double[reps], ratioR = new double[reps];
        for (int rep = 0; rep < reps; rep++) { ratioP[rep] = (double) t[1][rep] / t[0][rep]; ratioR[rep] = (double) t[2][rep] / t[0][rep]; }
        System.out.println("sink " + sink);
        for (int kk = 0; kk < 4; kk++) {
            long[] s = t[kk].clone(); Arrays.sort(s);
            System.out.printf("%-10s min %7.0f us  median %7.0f us (8 layers)%n", names[kk], s[0] / 1e3, s[reps / 2] / 1e3);
        }
        Arrays.sort(ratioP); Arrays.sort(ratioR);
        System.out.printf("persistent/splitk per-rep ratio: median %.3f (min %.3f, max %.3f)%n", ratioP[reps / 2], ratioP[0], ratioP[reps - 1]);
        System.out.printf("recording/splitk per-rep ratio:  median %.3f (min %.3f, max %.3f)%n", ratioR[reps / 2], ratioR[0], ratioR[reps - 1]);
        cache.close(); kvPool.close(); pool.close();
    }
}
