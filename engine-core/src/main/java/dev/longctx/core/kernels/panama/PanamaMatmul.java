package dev.longctx.core.kernels.panama;

import static dev.longctx.core.kernels.panama.PanamaSpecies.*;
import static dev.longctx.core.kernels.panama.PanamaElementwise.*;
import static dev.longctx.core.kernels.panama.PanamaAttentionTile.*;
import static dev.longctx.core.kernels.panama.PanamaCodecs.*;
import static dev.longctx.core.kernels.panama.PanamaMatvec.*;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Matrix-matrix rows for prefill: weight tiles decoded once per block of tokens, register-blocked
 * micro-kernels, and the outer-product kernel over column-major activations.
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaMatmul {
    private PanamaMatmul() {
    }

    /** Floats of activations per token block in matmul (256 KiB: stays in L2 next to the weight tile). */
    static final int TOKEN_BLOCK_FLOATS = 64 * 1024;

    private static final ThreadLocal<float[]> TILE_SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Rows {@code [rowFrom, rowFrom + rows)} of w decoded into this thread's tile: each task decodes
     * its weight rows once and every block of tokens then reads them from L2. Contiguous rows
     * (weights, KV pages) decode in one call: a call per short row (a 128-element key) cost more
     * than the decoding itself.
     */
    static float[] decodedTile(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rows) {
        float[] tile = TILE_SCRATCH.get();
        if (tile.length < rows * cols) {
            tile = new float[rows * cols];
            TILE_SCRATCH.set(tile);
        }
        if (rowBytes == type.bytesFor(cols)) {
            dequantize(type, w, rowFrom * rowBytes, tile, 0, rows * cols);
        } else {
            for (int r = 0; r < rows; r++) {
                dequantize(type, w, (rowFrom + r) * rowBytes, tile, r * cols, cols);
            }
        }
        return tile;
    }

    static void matmulRows(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                           float[] x, int tokens, float[] out, int outStride) {
        int rows = rowTo - rowFrom;
        float[] tile = decodedTile(type, w, rowBytes, cols, rowFrom, rows);
        int tokenBlock = Math.max(4, (TOKEN_BLOCK_FLOATS / Math.max(1, cols)) & ~3);
        for (int t0 = 0; t0 < tokens; t0 += tokenBlock) {
            int t1 = Math.min(tokens, t0 + tokenBlock);
            int r = 0;
            for (; r + 4 <= rows; r += 4) {
                int t = t0;
                for (; t + 4 <= t1; t += 4) {
                    micro4x4(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r, outStride);
                }
                // 1-3 tokens left (decode: the g query heads of a KV head): 4 rows x T tokens,
                // each weight vector loaded once for all T (same per-element order as dot1).
                switch (t1 - t) {
                    case 3 -> micro4x3(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r, outStride);
                    case 2 -> micro4x2(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r, outStride);
                    case 1 -> micro4x1(tile, r * cols, x, t * cols, cols, out, t * outStride + rowFrom + r);
                    default -> {
                    }
                }
            }
            for (; r < rows; r++) {
                for (int t = t0; t < t1; t++) {
                    out[t * outStride + rowFrom + r] = dot1(tile, r * cols, x, t * cols, cols);
                }
            }
        }
    }

    /** out[t][r] for 3 tokens x 4 weight rows: 12 accumulators, 7 loads per 12 FMAs. */
    static void micro4x3(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS), c12 = FloatVector.zero(FS), c13 = FloatVector.zero(FS);
        FloatVector c20 = FloatVector.zero(FS), c21 = FloatVector.zero(FS), c22 = FloatVector.zero(FS), c23 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromArray(FS, w, wo + c);
            FloatVector w1 = FloatVector.fromArray(FS, w, wo + n + c);
            FloatVector w2 = FloatVector.fromArray(FS, w, wo + 2 * n + c);
            FloatVector w3 = FloatVector.fromArray(FS, w, wo + 3 * n + c);
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(FS, x, xo + n + c);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
            FloatVector x2 = FloatVector.fromArray(FS, x, xo + 2 * n + c);
            c20 = x2.fma(w0, c20);
            c21 = x2.fma(w1, c21);
            c22 = x2.fma(w2, c22);
            c23 = x2.fma(w3, c23);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
        store(c10, w, wo, x, xo + n, c, n, out, oo + os);
        store(c11, w, wo + n, x, xo + n, c, n, out, oo + os + 1);
        store(c12, w, wo + 2 * n, x, xo + n, c, n, out, oo + os + 2);
        store(c13, w, wo + 3 * n, x, xo + n, c, n, out, oo + os + 3);
        store(c20, w, wo, x, xo + 2 * n, c, n, out, oo + 2 * os);
        store(c21, w, wo + n, x, xo + 2 * n, c, n, out, oo + 2 * os + 1);
        store(c22, w, wo + 2 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 2);
        store(c23, w, wo + 3 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 3);
    }

    /** out[t][r] for 2 tokens x 4 weight rows. */
    static void micro4x2(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS), c12 = FloatVector.zero(FS), c13 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromArray(FS, w, wo + c);
            FloatVector w1 = FloatVector.fromArray(FS, w, wo + n + c);
            FloatVector w2 = FloatVector.fromArray(FS, w, wo + 2 * n + c);
            FloatVector w3 = FloatVector.fromArray(FS, w, wo + 3 * n + c);
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(FS, x, xo + n + c);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
        store(c10, w, wo, x, xo + n, c, n, out, oo + os);
        store(c11, w, wo + n, x, xo + n, c, n, out, oo + os + 1);
        store(c12, w, wo + 2 * n, x, xo + n, c, n, out, oo + os + 2);
        store(c13, w, wo + 3 * n, x, xo + n, c, n, out, oo + os + 3);
    }

    /** out[t][r] for 1 token x 4 weight rows: four independent chains. */
    static void micro4x1(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(FloatVector.fromArray(FS, w, wo + c), c00);
            c01 = x0.fma(FloatVector.fromArray(FS, w, wo + n + c), c01);
            c02 = x0.fma(FloatVector.fromArray(FS, w, wo + 2 * n + c), c02);
            c03 = x0.fma(FloatVector.fromArray(FS, w, wo + 3 * n + c), c03);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
    }

    static void matmulRowsTransposed(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                     float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        int rows = rowTo - rowFrom;
        float[] tile = decodedTile(type, w, rowBytes, cols, rowFrom, rows);
        float[] lanes = new float[8 * 2 * FL];
        for (int t0 = 0; t0 < tokens; t0 += 2 * FL) {
            int r = 0;
            for (; r + 8 <= rows; r += 8) {
                outer8x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0, 2 * FL);
                scatter(lanes, 8, t0, tokens, out, outStride, rowFrom + r);
            }
            for (; r < rows; r++) {
                outer1x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0);
                scatter(lanes, 1, t0, tokens, out, outStride, rowFrom + r);
            }
        }
    }

    /**
     * The outer-product kernel of {@link #matmulRowsTransposed} storing its accumulators straight
     * into {@code out[r][t]}: whole vectors for full blocks of 2 x FL tokens, the lanes of the
     * real tokens otherwise. Against the scattering variant, a page of 64 keys x 64 dims times 128
     * packed query rows (F16, one thread, in cache) took 5.5 instead of 7.8-10.3 us.
     */
    static void matmulRowsTransposedT(DType type, MemorySegment w, long rowBytes, int cols, int rowFrom, int rowTo,
                                      float[] xt, int tokenStride, int tokens, float[] out, int outStride) {
        int rows = rowTo - rowFrom;
        float[] tile = decodedTile(type, w, rowBytes, cols, rowFrom, rows);
        // Only ragged blocks (the last tokens, the last rows) go through lanes, allocated for them
        // alone: most calls (prefill tiles of 32-row multiples, full pages) never need them.
        float[] lanes = null;
        for (int t0 = 0; t0 < tokens; t0 += 2 * FL) {
            int n = Math.min(2 * FL, tokens - t0);
            int r = 0;
            for (; r + 8 <= rows; r += 8) {
                int o = (rowFrom + r) * outStride + t0;
                if (n == 2 * FL) {
                    outer8x2(tile, r * cols, cols, xt, tokenStride, t0, out, o, outStride);
                } else {
                    lanes = lanes != null ? lanes : new float[8 * 2 * FL];
                    outer8x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0, 2 * FL);
                    for (int rr = 0; rr < 8; rr++) {
                        System.arraycopy(lanes, rr * 2 * FL, out, o + rr * outStride, n);
                    }
                }
            }
            for (; r < rows; r++) {
                lanes = lanes != null ? lanes : new float[8 * 2 * FL];
                outer1x2(tile, r * cols, cols, xt, tokenStride, t0, lanes, 0);
                System.arraycopy(lanes, 0, out, (rowFrom + r) * outStride + t0, n);
            }
        }
    }

    /**
     * Outer-product microkernel: 8 weight rows x 2 vectors of tokens = 16 accumulators; per column
     * 2 token-vector loads, 8 weight broadcasts, 16 FMAs and no horizontal reduction. Leaves
     * {@code dst[dstOff + row * dstStride + v * FL + j]} = output of (row, token t0 + v * FL + j).
     */
    static void outer8x2(float[] w, int wo, int cols, float[] xt, int ts, int t0, float[] dst, int dstOff,
                                 int dstStride) {
        FloatVector a00 = FloatVector.zero(FS), a01 = FloatVector.zero(FS);
        FloatVector a10 = FloatVector.zero(FS), a11 = FloatVector.zero(FS);
        FloatVector a20 = FloatVector.zero(FS), a21 = FloatVector.zero(FS);
        FloatVector a30 = FloatVector.zero(FS), a31 = FloatVector.zero(FS);
        FloatVector a40 = FloatVector.zero(FS), a41 = FloatVector.zero(FS);
        FloatVector a50 = FloatVector.zero(FS), a51 = FloatVector.zero(FS);
        FloatVector a60 = FloatVector.zero(FS), a61 = FloatVector.zero(FS);
        FloatVector a70 = FloatVector.zero(FS), a71 = FloatVector.zero(FS);
        for (int c = 0; c < cols; c++) {
            int xo = (t0 / TB) * TB * cols + c * TB + t0 % TB;
            FloatVector x0 = FloatVector.fromArray(FS, xt, xo);
            FloatVector x1 = FloatVector.fromArray(FS, xt, xo + FL);
            int o = wo + c;
            FloatVector b = FloatVector.broadcast(FS, w[o]);
            a00 = x0.fma(b, a00);
            a01 = x1.fma(b, a01);
            b = FloatVector.broadcast(FS, w[o + cols]);
            a10 = x0.fma(b, a10);
            a11 = x1.fma(b, a11);
            b = FloatVector.broadcast(FS, w[o + 2 * cols]);
            a20 = x0.fma(b, a20);
            a21 = x1.fma(b, a21);
            b = FloatVector.broadcast(FS, w[o + 3 * cols]);
            a30 = x0.fma(b, a30);
            a31 = x1.fma(b, a31);
            b = FloatVector.broadcast(FS, w[o + 4 * cols]);
            a40 = x0.fma(b, a40);
            a41 = x1.fma(b, a41);
            b = FloatVector.broadcast(FS, w[o + 5 * cols]);
            a50 = x0.fma(b, a50);
            a51 = x1.fma(b, a51);
            b = FloatVector.broadcast(FS, w[o + 6 * cols]);
            a60 = x0.fma(b, a60);
            a61 = x1.fma(b, a61);
            b = FloatVector.broadcast(FS, w[o + 7 * cols]);
            a70 = x0.fma(b, a70);
            a71 = x1.fma(b, a71);
        }
        a00.intoArray(dst, dstOff);
        a01.intoArray(dst, dstOff + FL);
        a10.intoArray(dst, dstOff + dstStride);
        a11.intoArray(dst, dstOff + dstStride + FL);
        a20.intoArray(dst, dstOff + 2 * dstStride);
        a21.intoArray(dst, dstOff + 2 * dstStride + FL);
        a30.intoArray(dst, dstOff + 3 * dstStride);
        a31.intoArray(dst, dstOff + 3 * dstStride + FL);
        a40.intoArray(dst, dstOff + 4 * dstStride);
        a41.intoArray(dst, dstOff + 4 * dstStride + FL);
        a50.intoArray(dst, dstOff + 5 * dstStride);
        a51.intoArray(dst, dstOff + 5 * dstStride + FL);
        a60.intoArray(dst, dstOff + 6 * dstStride);
        a61.intoArray(dst, dstOff + 6 * dstStride + FL);
        a70.intoArray(dst, dstOff + 7 * dstStride);
        a71.intoArray(dst, dstOff + 7 * dstStride + FL);
    }

    /** One weight row of {@link #outer8x2}, same order of operations. */
    static void outer1x2(float[] w, int wo, int cols, float[] xt, int ts, int t0, float[] dst, int dstOff) {
        FloatVector a0 = FloatVector.zero(FS);
        FloatVector a1 = FloatVector.zero(FS);
        for (int c = 0; c < cols; c++) {
            int xo = (t0 / TB) * TB * cols + c * TB + t0 % TB;
            FloatVector b = FloatVector.broadcast(FS, w[wo + c]);
            a0 = FloatVector.fromArray(FS, xt, xo).fma(b, a0);
            a1 = FloatVector.fromArray(FS, xt, xo + FL).fma(b, a1);
        }
        a0.intoArray(dst, dstOff);
        a1.intoArray(dst, dstOff + FL);
    }

    /**
     * Writes the lanes of {@code rowCount} rows to out[t][row] for the real tokens of the block:
     * token by token, so each token's {@code rowCount} outputs are written contiguously (row by
     * row wrote one float per cache line).
     */
    static void scatter(float[] lanes, int rowCount, int t0, int tokens, float[] out, int os, int row0) {
        int n = Math.min(2 * FL, tokens - t0);
        for (int j = 0; j < n; j++) {
            int o = (t0 + j) * os + row0;
            for (int r = 0; r < rowCount; r++) {
                out[o + r] = lanes[r * 2 * FL + j];
            }
        }
    }

    /** One accumulator per output, the same order of operations as {@link #micro4x4}. */
    static float dot1(float[] w, int wo, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            a = FloatVector.fromArray(FS, x, xo + c).fma(FloatVector.fromArray(FS, w, wo + c), a);
        }
        float s = a.reduceLanes(VectorOperators.ADD);
        for (; c < n; c++) {
            s += x[xo + c] * w[wo + c];
        }
        return s;
    }

    /**
     * out[t][r] for 4 tokens x 4 weight rows: 16 accumulators, 8 loads per 16 FMAs.
     * {@code oo} is the output index of (token 0, row 0).
     */
    static void micro4x4(float[] w, int wo, float[] x, int xo, int n, float[] out, int oo, int os) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS), c02 = FloatVector.zero(FS), c03 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS), c12 = FloatVector.zero(FS), c13 = FloatVector.zero(FS);
        FloatVector c20 = FloatVector.zero(FS), c21 = FloatVector.zero(FS), c22 = FloatVector.zero(FS), c23 = FloatVector.zero(FS);
        FloatVector c30 = FloatVector.zero(FS), c31 = FloatVector.zero(FS), c32 = FloatVector.zero(FS), c33 = FloatVector.zero(FS);
        int bound = n - n % FL;
        int c = 0;
        for (; c < bound; c += FL) {
            FloatVector w0 = FloatVector.fromArray(FS, w, wo + c);
            FloatVector w1 = FloatVector.fromArray(FS, w, wo + n + c);
            FloatVector w2 = FloatVector.fromArray(FS, w, wo + 2 * n + c);
            FloatVector w3 = FloatVector.fromArray(FS, w, wo + 3 * n + c);
            FloatVector x0 = FloatVector.fromArray(FS, x, xo + c);
            c00 = x0.fma(w0, c00);
            c01 = x0.fma(w1, c01);
            c02 = x0.fma(w2, c02);
            c03 = x0.fma(w3, c03);
            FloatVector x1 = FloatVector.fromArray(FS, x, xo + n + c);
            c10 = x1.fma(w0, c10);
            c11 = x1.fma(w1, c11);
            c12 = x1.fma(w2, c12);
            c13 = x1.fma(w3, c13);
            FloatVector x2 = FloatVector.fromArray(FS, x, xo + 2 * n + c);
            c20 = x2.fma(w0, c20);
            c21 = x2.fma(w1, c21);
            c22 = x2.fma(w2, c22);
            c23 = x2.fma(w3, c23);
            FloatVector x3 = FloatVector.fromArray(FS, x, xo + 3 * n + c);
            c30 = x3.fma(w0, c30);
            c31 = x3.fma(w1, c31);
            c32 = x3.fma(w2, c32);
            c33 = x3.fma(w3, c33);
        }
        store(c00, w, wo, x, xo, c, n, out, oo);
        store(c01, w, wo + n, x, xo, c, n, out, oo + 1);
        store(c02, w, wo + 2 * n, x, xo, c, n, out, oo + 2);
        store(c03, w, wo + 3 * n, x, xo, c, n, out, oo + 3);
        store(c10, w, wo, x, xo + n, c, n, out, oo + os);
        store(c11, w, wo + n, x, xo + n, c, n, out, oo + os + 1);
        store(c12, w, wo + 2 * n, x, xo + n, c, n, out, oo + os + 2);
        store(c13, w, wo + 3 * n, x, xo + n, c, n, out, oo + os + 3);
        store(c20, w, wo, x, xo + 2 * n, c, n, out, oo + 2 * os);
        store(c21, w, wo + n, x, xo + 2 * n, c, n, out, oo + 2 * os + 1);
        store(c22, w, wo + 2 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 2);
        store(c23, w, wo + 3 * n, x, xo + 2 * n, c, n, out, oo + 2 * os + 3);
        store(c30, w, wo, x, xo + 3 * n, c, n, out, oo + 3 * os);
        store(c31, w, wo + n, x, xo + 3 * n, c, n, out, oo + 3 * os + 1);
        store(c32, w, wo + 2 * n, x, xo + 3 * n, c, n, out, oo + 3 * os + 2);
        store(c33, w, wo + 3 * n, x, xo + 3 * n, c, n, out, oo + 3 * os + 3);
    }

    /** Reduces an accumulator, adds the scalar tail [c, n) and stores. */
    static void store(FloatVector acc, float[] w, int wo, float[] x, int xo, int c, int n, float[] out, int oi) {
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (int k = c; k < n; k++) {
            s += x[xo + k] * w[wo + k];
        }
        out[oi] = s;
    }
}
