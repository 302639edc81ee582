package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaAttentionTile.*;
import static dev.longctx.core.kernels.panama.PanamaCodecs.*;
import static dev.longctx.core.kernels.panama.PanamaMatvec.*;
import static dev.longctx.core.kernels.panama.PanamaMatmul.*;

import dev.longctx.core.kernels.spi.Halfs;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Elementwise and reduction kernels over float arrays: dot products, axpy, scale, add, mul, sums
 * of squares, max, SiLU, GELU, argmax.
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaElementwise {
    private PanamaElementwise() {
    }

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector s0 = FloatVector.zero(FS);
        FloatVector s1 = FloatVector.zero(FS);
        FloatVector s2 = FloatVector.zero(FS);
        FloatVector s3 = FloatVector.zero(FS);
        int i = 0;
        int bound4 = n - n % (4 * FL);
        for (; i < bound4; i += 4 * FL) {
            s0 = FloatVector.fromArray(FS, a, aOff + i).fma(FloatVector.fromArray(FS, b, bOff + i), s0);
            s1 = FloatVector.fromArray(FS, a, aOff + i + FL).fma(FloatVector.fromArray(FS, b, bOff + i + FL), s1);
            s2 = FloatVector.fromArray(FS, a, aOff + i + 2 * FL).fma(FloatVector.fromArray(FS, b, bOff + i + 2 * FL), s2);
            s3 = FloatVector.fromArray(FS, a, aOff + i + 3 * FL).fma(FloatVector.fromArray(FS, b, bOff + i + 3 * FL), s3);
        }
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            s0 = FloatVector.fromArray(FS, a, aOff + i).fma(FloatVector.fromArray(FS, b, bOff + i), s0);
        }
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    /** Two FMA chains per bound (one per pair), one horizontal sum; the tail as in {@link #dot}. */
    static void pairedDots(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] xs, float[] ys, int from,
                           int to, float[] out, int outStride) {
        int bound = n - n % FL;
        for (int p = from; p < to; p++) {
            int xo = p * n;
            for (int j = 0; j < rows; j++) {
                int ao = aOff + j * n;
                int bo = bOff + j * n;
                FloatVector sa = FloatVector.zero(FS);
                FloatVector sb = FloatVector.zero(FS);
                int i = 0;
                for (; i < bound; i += FL) {
                    sa = FloatVector.fromArray(FS, a, ao + i).fma(FloatVector.fromArray(FS, xs, xo + i), sa);
                    sb = FloatVector.fromArray(FS, b, bo + i).fma(FloatVector.fromArray(FS, ys, xo + i), sb);
                }
                float s = sa.add(sb).reduceLanes(VectorOperators.ADD);
                for (; i < n; i++) {
                    s += a[ao + i] * xs[xo + i] + b[bo + i] * ys[xo + i];
                }
                out[j * outStride + p] = s;
            }
        }
    }

    /**
     * As {@link #pairedDots}, each bfloat16 widened in registers (sign extension and shift, as the
     * BF16 matvec): 90 heads x 1024 pages of 64-channel bounds, g = 3, one thread, 1.9 ms against
     * 3.1 ms for the F32 run (scratch probe, same process).
     */
    static void pairedDotsBf16(float[] a, int aOff, float[] b, int bOff, int rows, int n, short[] xs, short[] ys,
                               int from, int to, float[] out, int outStride) {
        int bound = n - n % FL;
        for (int p = from; p < to; p++) {
            int xo = p * n;
            for (int j = 0; j < rows; j++) {
                int ao = aOff + j * n;
                int bo = bOff + j * n;
                FloatVector sa = FloatVector.zero(FS);
                FloatVector sb = FloatVector.zero(FS);
                int i = 0;
                for (; i < bound; i += FL) {
                    sa = FloatVector.fromArray(FS, a, ao + i).fma(widenBf16(xs, xo + i), sa);
                    sb = FloatVector.fromArray(FS, b, bo + i).fma(widenBf16(ys, xo + i), sb);
                }
                float s = sa.add(sb).reduceLanes(VectorOperators.ADD);
                for (; i < n; i++) {
                    s += a[ao + i] * Halfs.bf16ToFloat(xs[xo + i]) + b[bo + i] * Halfs.bf16ToFloat(ys[xo + i]);
                }
                out[j * outStride + p] = s;
            }
        }
    }

    /** FL bfloat16 values from {@code s[off]} widened to floats (exact). */
    static FloatVector widenBf16(short[] s, int off) {
        return ((IntVector) ShortVector.fromArray(SS, s, off).convertShape(VectorOperators.S2I, IS, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, x, xOff + i)
                    .fma(FloatVector.broadcast(FS, alpha), FloatVector.fromArray(FS, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    static void scale(float[] x, int off, int n, float s) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, x, off + i).mul(s).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= s;
        }
    }

    static void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, a, aOff + i).add(FloatVector.fromArray(FS, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = a[aOff + i] + b[bOff + i];
        }
    }

    static void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector.fromArray(FS, a, aOff + i).mul(FloatVector.fromArray(FS, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = a[aOff + i] * b[bOff + i];
        }
    }

    static float sumOfSquares(float[] x, int off, int n) {
        FloatVector s0 = FloatVector.zero(FS);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            s0 = v.fma(v, s0);
        }
        float s = s0.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += x[off + i] * x[off + i];
        }
        return s;
    }

    static float max(float[] x, int off, int n) {
        FloatVector m = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            m = m.max(FloatVector.fromArray(FS, x, off + i));
        }
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            r = Math.max(r, x[off + i]);
        }
        return r;
    }

    static void silu(float[] x, int off, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            v.div(v.neg().lanewise(VectorOperators.EXP).add(1f)).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            float v = x[off + i];
            x[off + i] = (float) (v / (1.0 + Math.exp(-v)));
        }
    }

    /** sqrt(2/pi) of the tanh approximation (Hendrycks and Gimpel, 2016). */
    static final float SQRT_2_OVER_PI = 0.7978845608028654f;

    static final float GELU_COEF_A = 0.044715f;

    static void gelu(float[] x, int off, int n) {
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            FloatVector inner = v.mul(v).mul(v).mul(GELU_COEF_A).add(v).mul(SQRT_2_OVER_PI);
            v.mul(0.5f).mul(inner.lanewise(VectorOperators.TANH).add(1f)).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            float v = x[off + i];
            x[off + i] = (float) (0.5 * v * (1.0 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_COEF_A * v * v * v))));
        }
    }

    static int argmax(float[] x, int off, int n) {
        FloatVector m = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        int i = 0;
        int bound = n - n % FL;
        for (; i < bound; i += FL) {
            FloatVector v = FloatVector.fromArray(FS, x, off + i);
            m = m.max(v.blend(Float.NEGATIVE_INFINITY, v.test(VectorOperators.IS_NAN)));
        }
        float best = m.reduceLanes(VectorOperators.MAX);
        for (int j = i; j < n; j++) {
            if (x[off + j] > best) {
                best = x[off + j];
            }
        }
        for (i = 0; i < bound; i += FL) {
            VectorMask<Float> eq = FloatVector.fromArray(FS, x, off + i).eq(best);
            if (eq.anyTrue()) {
                return i + eq.firstTrue();
            }
        }
        for (; i < n; i++) {
            if (x[off + i] == best) {
                return i;
            }
        }
        return 0;
    }
}
