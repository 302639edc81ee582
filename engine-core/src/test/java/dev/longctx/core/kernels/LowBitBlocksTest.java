package dev.longctx.core.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.panama.PanamaVectorKernels;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.spi.SyntheticBlocks;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The weight-only block types beyond what {@link WeightKernelsTest} covers for every type: which
 * of them run in-register kernels, and hostile scales.
 */
class LowBitBlocksTest {
    /** Every block type: each runs an in-register kernel. */
    static final Set<DType> IN_REGISTER = EnumSet.of(DType.Q8_0, DType.Q4_0, DType.Q4_1, DType.Q5_0, DType.Q5_1,
            DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.IQ4_NL, DType.IQ4_XS);

    @Test
    void mixtureTypesRunInRegisterKernels() {
        Providers.panama();
        for (DType t : IN_REGISTER) {
            assertEquals("in-register", PanamaVectorKernels.matvecKernel(t), t.toString());
        }
    }

    /** Byte offset of the (first) half scale {@code d} in a block of {@code t}. */
    static int scaleOffset(DType t) {
        return switch (t) {
            case Q2_K -> 80;
            case Q3_K -> 108;
            case Q6_K -> 208;
            default -> 0;
        };
    }

    /**
     * A NaN or infinite block scale decodes as it is: no exception, the same NaN positions and
     * finite values through both providers, and a non-finite matvec row; other rows are untouched.
     */
    @Test
    void nanAndInfiniteScalesDecodeAsTheyAre() {
        VectorKernels scalar = KernelProvider.scalar();
        VectorKernels panama = Providers.panama();
        SplittableRandom r = new SplittableRandom(31);
        for (DType t : DType.values()) {
            if (!t.isQuantized()) {
                continue;
            }
            int cols = 3 * t.blockSize();
            int rows = 3;
            long rowBytes = t.bytesFor(cols);
            MemorySegment w = MemorySegment.ofArray(new byte[(int) (rows * rowBytes)]);
            SyntheticBlocks.fill(t, r, w, 0, rows * cols, 1.0);
            // Row 0: block 1's scale NaN; row 1: block 2's scale +infinity; row 2 untouched.
            w.set(Quantization.SHORT_LE, t.blockBytes() + scaleOffset(t), (short) 0x7E00);
            w.set(Quantization.SHORT_LE, rowBytes + 2L * t.blockBytes() + scaleOffset(t), (short) 0x7C00);
            float[] a = new float[rows * cols];
            float[] b = new float[rows * cols];
            scalar.dequantize(t, w, 0, a, 0, rows * cols);
            panama.dequantize(t, w, 0, b, 0, rows * cols);
            for (int i = 0; i < a.length; i++) {
                if (Float.isNaN(a[i])) {
                    assertTrue(Float.isNaN(b[i]), t + " element " + i + ": scalar NaN, Panama " + b[i]);
                } else {
                    assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), t + " element " + i);
                }
            }
            float[] x = new float[cols];
            for (int i = 0; i < cols; i++) {
                x[i] = (float) r.nextGaussian();
            }
            for (VectorKernels k : new VectorKernels[] {scalar, panama}) {
                float[] out = new float[rows];
                k.matvecRows(t, w, rowBytes, cols, 0, rows, x, 0, out, 0);
                assertFalse(Float.isFinite(out[0]), k.name() + " " + t + " NaN-scaled row gave " + out[0]);
                assertFalse(Float.isFinite(out[1]), k.name() + " " + t + " infinitely scaled row gave " + out[1]);
                assertTrue(Float.isFinite(out[2]), k.name() + " " + t + " clean row gave " + out[2]);
            }
        }
    }
}
