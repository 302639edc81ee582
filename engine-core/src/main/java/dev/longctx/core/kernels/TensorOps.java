package dev.longctx.core.kernels;

import dev.longctx.core.kernels.spi.MatmulInput;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.Tensor;
import java.util.Objects;

/**
 * The kernels the engine calls: one {@link VectorKernels} implementation plus the shared
 * {@link ComputePool}. Validates every shape once, with a message naming the operation, the
 * shapes and the limit, then runs the single-threaded kernels over row chunks.
 *
 * <p>Determinism: matvec and matmul split work by fixed row chunks that do not depend on the
 * thread count, and every output element is computed by one thread with the same code. The
 * scalar kernels and the prefill matmul (an outer-product kernel without horizontal sums) are
 * therefore bit-identical for 1 and N threads. The Panama matvec and the small-token matmul are
 * not, measured: the Vector API's {@code reduceLanes(ADD)} sums lanes in an order that depends on
 * how the JIT compiled the call site (interpreted, C1, C2, intrinsified or not), so their last
 * bits can change from one call to the next, independently of the thread count. A lane sum
 * through memory made F32 matvec 1.5-2x slower, so it was not kept.
 */
public final class TensorOps {
    /** Smallest rows per matvec task, and the unit task sizes are rounded to (a cache line of outputs). */
    static final int MATVEC_ROWS_PER_TASK = 16;
    /**
     * Matvec tasks per thread, at least: two, so that each task of a decode-sized matrix streams a
     * long contiguous run of rows (a stream's hardware prefetch needs a few kilobytes to ramp up)
     * while a slow thread can still hand a task over. Measured on a SmolLM2-135M decode step, 2
     * threads, Q8_0 (2026-11-26): 16-row tasks 14.3 ms, 8 per thread 9.8, 4 per thread 8.4, 2 per
     * thread 7.0, 1 per thread 8.2.
     */
    static final int MATVEC_TASKS_PER_THREAD = 2;

    /**
     * Rows per matvec task for a matrix of {@code rows} rows: results do not depend on it. (Cutting
     * large matrices finer, about 256 KiB of weights per task, was tried: side-by-side runs were
     * inconclusive on this shared machine, run-to-run swings of 40% exceeding the difference.)
     */
    private int matvecRowsPerTask(int rows) {
        int tasks = pool.threads() * MATVEC_TASKS_PER_THREAD;
        int per = (rows + tasks - 1) / tasks;
        return Math.max(MATVEC_ROWS_PER_TASK, (per + MATVEC_ROWS_PER_TASK - 1) / MATVEC_ROWS_PER_TASK * MATVEC_ROWS_PER_TASK);
    }
    /**
     * Floats of decoded weights per matmul task (128 KiB): the task's weight rows stay in L2
     * while they are multiplied with every block of tokens.
     */
    static final int MATMUL_TILE_FLOATS = 32 * 1024;
    /** Most rows per matmul task, so that large matrices still split into many tasks. */
    static final int MATMUL_MAX_ROWS_PER_TASK = 64;

    private final VectorKernels kernels;
    private final ComputePool pool;
    /** Per calling thread: the matvec task reused by every call (a decode step allocates no task objects). */
    private final ThreadLocal<MatvecTask> tasks = ThreadLocal.withInitial(() -> new MatvecTask(kernels()));

    /** Operations with the given kernels and pool. */
    public TensorOps(VectorKernels kernels, ComputePool pool) {
        this.kernels = Objects.requireNonNull(kernels, "kernels");
        this.pool = Objects.requireNonNull(pool, "pool");
    }

    /** The provider's kernels ({@link KernelProvider#get()}) on the shared pool. */
    public static TensorOps defaults() {
        return new TensorOps(KernelProvider.get(), ComputePool.shared());
    }

    /**
     * The provider's kernels on a new pool of {@code threads} threads, or {@link #defaults()} when
     * {@code threads} is null (a command line's optional {@code --threads}).
     */
    public static TensorOps withThreads(Integer threads) {
        return threads == null ? defaults() : new TensorOps(KernelProvider.get(), ComputePool.create(threads));
    }

    public VectorKernels kernels() {
        return kernels;
    }

    public ComputePool pool() {
        return pool;
    }

    /** Dot product of {@code a[aOff..aOff+n)} and {@code b[bOff..bOff+n)}. */
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        checkRange("dot", "a", a, aOff, n);
        checkRange("dot", "b", b, bOff, n);
        return kernels.dot(a, aOff, b, bOff, n);
    }

    /** {@code y += alpha * x} over n elements. */
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        checkRange("axpy", "x", x, xOff, n);
        checkRange("axpy", "y", y, yOff, n);
        kernels.axpy(alpha, x, xOff, y, yOff, n);
    }

    /** {@code x *= s} over n elements. */
    public void scale(float[] x, int off, int n, float s) {
        checkRange("scale", "x", x, off, n);
        kernels.scale(x, off, n, s);
    }

    /** {@code out = a + b} over n elements. */
    public void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        checkRange("add", "a", a, aOff, n);
        checkRange("add", "b", b, bOff, n);
        checkRange("add", "out", out, outOff, n);
        kernels.add(a, aOff, b, bOff, out, outOff, n);
    }

    /** {@code out = a * b} (elementwise) over n elements. */
    public void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        checkRange("mul", "a", a, aOff, n);
        checkRange("mul", "b", b, bOff, n);
        checkRange("mul", "out", out, outOff, n);
        kernels.mul(a, aOff, b, bOff, out, outOff, n);
    }

    /**
     * RMSNorm as in Llama / HF {@code LlamaRMSNorm}:
     * {@code out = x / sqrt(mean(x^2) + eps) * weight}. {@code out} may alias {@code x}.
     */
    public void rmsnorm(float[] x, int xOff, float[] weight, int wOff, float eps, float[] out, int outOff, int n) {
        checkRange("rmsnorm", "x", x, xOff, n);
        checkRange("rmsnorm", "weight", weight, wOff, n);
        checkRange("rmsnorm", "out", out, outOff, n);
        if (n == 0) {
            return;
        }
        float ss = kernels.sumOfSquares(x, xOff, n);
        float inv = (float) (1.0 / Math.sqrt(ss / n + (double) eps));
        if (out != x || outOff != xOff) {
            System.arraycopy(x, xOff, out, outOff, n);
        }
        kernels.scale(out, outOff, n, inv);
        kernels.mul(out, outOff, weight, wOff, out, outOff, n);
    }

    /**
     * Numerically stable softmax in place (subtracts the maximum before exponentiating).
     *
     * @return the log-sum-exp of the input, natural log. A row whose every entry is
     *     {@code -infinity} (fully masked) becomes all zeros and returns {@code -infinity};
     *     a NaN input makes the row NaN.
     */
    public float softmax(float[] x, int off, int n) {
        checkRange("softmax", "x", x, off, n);
        if (n == 0) {
            return Float.NEGATIVE_INFINITY;
        }
        float m = kernels.max(x, off, n);
        if (m == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(x, off, off + n, 0f);
            return Float.NEGATIVE_INFINITY;
        }
        float sum = kernels.expShiftSum(x, off, n, m);
        kernels.scale(x, off, n, 1f / sum);
        return m + (float) Math.log(sum);
    }

    /** SiLU in place. */
    public void silu(float[] x, int off, int n) {
        checkRange("silu", "x", x, off, n);
        kernels.silu(x, off, n);
    }

    /** GELU (tanh approximation) in place. */
    public void gelu(float[] x, int off, int n) {
        checkRange("gelu", "x", x, off, n);
        kernels.gelu(x, off, n);
    }

    /** Index (relative to off) of the first maximum; NaNs are ignored. */
    public int argmax(float[] x, int off, int n) {
        checkRange("argmax", "x", x, off, n);
        if (n == 0) {
            throw new IllegalArgumentException("argmax: empty range");
        }
        return kernels.argmax(x, off, n);
    }

    /**
     * {@code out[outOff + r] = sum_c w[r, c] * x[xOff + c]} for a weight matrix {@code w}
     * [rows, cols] of any dtype, dequantised in registers, spread over the pool by rows.
     */
    public void matvec(Tensor w, float[] x, int xOff, float[] out, int outOff) {
        Objects.requireNonNull(w, "w");
        int rows = checkedRows("matvec", w);
        int cols = checkedCols("matvec", w);
        checkRange("matvec", "x", "weight columns", cols, x, xOff, cols);
        checkRange("matvec", "out", "weight rows", rows, out, outOff, rows);
        int perTask = matvecRowsPerTask(rows);
        MatvecTask task = MatvecTask.acquire(this.tasks);
        task.single(w, rows, cols, perTask, x, xOff, 1, out, outOff);
        run(task, (rows + perTask - 1) / perTask);
    }

    /**
     * Several matvecs over the same input in one pool dispatch ({@code outs[i] = ws[i] . x}), e.g.
     * the Q, K and V projections of a decode step: one fork/join instead of one per matrix, and the
     * row tasks of all matrices balance together. Each output equals {@link #matvec}'s.
     */
    public void matvecs(Tensor[] ws, float[] x, int xOff, float[][] outs) {
        Objects.requireNonNull(ws, "ws");
        Objects.requireNonNull(outs, "outs");
        if (ws.length != outs.length) {
            throw new IllegalArgumentException("matvecs: " + ws.length + " weights but " + outs.length + " outputs");
        }
        for (int i = 0; i < ws.length; i++) {
            int rows = checkedRows("matvecs", ws[i]);
            int cols = checkedCols("matvecs", ws[i]);
            checkRange("matvecs", "x", "weight columns", cols, x, xOff, cols);
            checkRange("matvecs", "out", "weight rows", rows, outs[i], 0, rows);
        }
        MatvecTask task = MatvecTask.acquire(this.tasks);
        task.start(ws.length, x, xOff, 1);
        for (int i = 0; i < ws.length; i++) {
            int rows = (int) ws[i].rows();
            task.add(i, ws[i], rows, (int) ws[i].columns(), matvecRowsPerTask(rows), outs[i], 0);
        }
        run(task, task.firstTask[ws.length]);
    }

    /** Runs a matvec task over the pool and releases it (its references cleared) even when a task failed. */
    private void run(MatvecTask task, int tasks) {
        try {
            pool.parallelFor(tasks, task);
        } finally {
            task.release();
        }
    }

    /**
     * Prefill matmul: {@code out[t, r] = sum_c w[r, c] * x[t, c]} for {@code tokens} rows of
     * activations {@code x} [tokens, cols] (row-major) and a weight matrix {@code w} [rows, cols];
     * {@code out} is [tokens, rows] row-major. Up to {@link #SMALL_BATCH_MAX_TOKENS} tokens (a batched
     * decode step), each weight block is decoded in registers once for all tokens, in the matvec's row
     * tasks; above it, each weight tile is decoded once per block of tokens.
     */
    public void matmul(Tensor w, float[] x, int tokens, float[] out) {
        Objects.requireNonNull(w, "w");
        matmul(w, matmulInput(x, tokens, checkedCols("matmul", w)), out);
    }

    /**
     * Prepares activations {@code x} [tokens, cols] once for several {@link #matmul(Tensor,
     * MatmulInput, float[])} calls over weights with {@code cols} columns, so that shared inputs
     * are transposed only once.
     */
    public MatmulInput matmulInput(float[] x, int tokens, int cols) {
        if (tokens < 0) {
            throw new IllegalArgumentException("matmul: negative token count " + tokens);
        }
        if (cols < 0) {
            throw new IllegalArgumentException("matmul: negative column count " + cols);
        }
        checkShape("matmul", "x", "tokens", tokens, "cols", cols, x);
        if (!transposes(tokens)) {
            return new MatmulInput(x, tokens, cols, null, 0);
        }
        int stride = roundUp(tokens, VectorKernels.TRANSPOSED_TOKEN_MULTIPLE);
        return new MatmulInput(x, tokens, cols, transpose(x, tokens, cols, stride), stride);
    }

    /** {@link #matmul(Tensor, float[], int, float[])} on activations prepared by {@link #matmulInput}. */
    public void matmul(Tensor w, MatmulInput in, float[] out) {
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(in, "in");
        int rows = checkedRows("matmul", w);
        int cols = checkedCols("matmul", w);
        int tokens = in.tokens();
        if (in.cols() != cols) {
            throw new IllegalArgumentException("matmul: activations have " + in.cols() + " columns, weight " + w
                    + " has " + cols);
        }
        checkShape("matmul", "out", "tokens", tokens, "rows", rows, out);
        if (tokens == 0 || rows == 0) {
            return;
        }
        if (tokens <= SMALL_BATCH_MAX_TOKENS) {
            MatvecTask task = MatvecTask.acquire(this.tasks);
            int perTask = matvecRowsPerTask(rows);
            task.single(w, rows, cols, perTask, in.x(), 0, tokens, out, 0);
            run(task, (rows + perTask - 1) / perTask);
            return;
        }
        var seg = w.segment();
        long rowBytes = w.rowBytes();
        int rowsPerTask = matmulRowsPerTask(cols);
        int tasks = (rows + rowsPerTask - 1) / rowsPerTask;
        float[] xt = in.transposed();
        if (xt != null) {
            // The outer-product kernel on transposed activations needs no horizontal sums.
            int stride = in.stride();
            pool.parallelFor(tasks, t -> {
                int from = t * rowsPerTask;
                int to = Math.min(rows, from + rowsPerTask);
                kernels.matmulRowsTransposed(w.dtype(), seg, rowBytes, cols, from, to, xt, stride, tokens, out, rows);
            });
            return;
        }
        float[] x = in.x();
        pool.parallelFor(tasks, t -> {
            int from = t * rowsPerTask;
            int to = Math.min(rows, from + rowsPerTask);
            kernels.matmulRows(w.dtype(), seg, rowBytes, cols, from, to, x, tokens, out, rows);
        });
    }

    /**
     * Several matmuls over the same activations in one pool dispatch ({@code outs[i] = ws[i] . in}
     * for every token), e.g. the Q, K and V projections of a batched decode step: for token counts
     * up to {@link #SMALL_BATCH_MAX_TOKENS} one fork/join instead of one per matrix, and the row
     * tasks of all matrices balance together; above it, one {@link #matmul(Tensor, MatmulInput,
     * float[])} per matrix. Each output equals {@link #matmul(Tensor, MatmulInput, float[])}'s.
     */
    public void matmuls(Tensor[] ws, MatmulInput in, float[][] outs) {
        Objects.requireNonNull(ws, "ws");
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(outs, "outs");
        if (ws.length != outs.length) {
            throw new IllegalArgumentException("matmuls: " + ws.length + " weights but " + outs.length + " outputs");
        }
        int tokens = in.tokens();
        for (int i = 0; i < ws.length; i++) {
            int rows = checkedRows("matmuls", ws[i]);
            int cols = checkedCols("matmuls", ws[i]);
            if (in.cols() != cols) {
                throw new IllegalArgumentException("matmuls: activations have " + in.cols() + " columns, weight " + ws[i]
                        + " has " + cols);
            }
            checkShape("matmuls", "out", "tokens", tokens, "rows", rows, outs[i]);
        }
        if (tokens == 0) {
            return;
        }
        if (tokens > SMALL_BATCH_MAX_TOKENS) {
            for (int i = 0; i < ws.length; i++) {
                matmul(ws[i], in, outs[i]);
            }
            return;
        }
        MatvecTask task = MatvecTask.acquire(this.tasks);
        task.start(ws.length, in.x(), 0, tokens);
        for (int i = 0; i < ws.length; i++) {
            int rows = (int) ws[i].rows();
            task.add(i, ws[i], rows, (int) ws[i].columns(), matvecRowsPerTask(rows), outs[i], 0);
        }
        run(task, task.firstTask[ws.length]);
    }

    /**
     * Up to this many tokens, matmul runs the small-batch kernel
     * ({@link VectorKernels#matmulRowsSmallBatch}: each weight block decoded in registers once for
     * all tokens) in the matvec's row tasks; above it, the tiled or outer-product kernels. Measured
     * one thread, Q8_0 weights read from DRAM, 1536x576 / 576x1536 (2026-12-06, min of 500 calls, a
     * shared machine): 8 tokens 132 / 154 us against 180 / 177 us for the tiled kernel (its
     * 56-row tiles); 10 tokens 179 / 188 against 206 / 203; 12 tokens equal (203 / 213 against
     * 202 / 223); 14 and 16 tokens within 10% either way (219 / 262 and 266 / 260 against 249 / 251
     * and 239 / 251), where the outer-product kernel the old rule took from 16 tokens needed 306 us
     * (its 32-token padding). So the small-batch kernel runs up to 16 tokens, and from 17 the
     * outer-product one.
     */
    static final int SMALL_BATCH_MAX_TOKENS = 16;

    /**
     * From this many tokens on, matmul transposes the activations and uses the outer-product
     * kernel; below it the padding to {@link VectorKernels#TRANSPOSED_TOKEN_MULTIPLE} would waste
     * most of the work. Token counts up to {@link #SMALL_BATCH_MAX_TOKENS} take the small-batch
     * kernel instead.
     */
    static final int TRANSPOSE_MIN_TOKENS = 16;

    /** Whether matmul runs the outer-product kernel for this many tokens (and so transposes them). */
    static boolean transposes(int tokens) {
        return tokens > SMALL_BATCH_MAX_TOKENS && tokens >= TRANSPOSE_MIN_TOKENS;
    }

    /** x [tokens][cols] to the blocked column-major layout of {@link VectorKernels#matmulRowsTransposed}. */
    static float[] transpose(float[] x, int tokens, int cols, int stride) {
        int b = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
        float[] xt = new float[Math.multiplyExact(cols, stride)];
        for (int t = 0; t < tokens; t++) {
            int xo = t * cols;
            int base = (t / b) * b * cols + t % b;
            for (int c = 0; c < cols; c++) {
                xt[base + c * b] = x[xo + c];
            }
        }
        return xt;
    }

    private static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    /**
     * Rows per matmul task: a multiple of {@link #MATMUL_ROW_MULTIPLE} between it and 64 whose
     * decoded tile fits 128 KiB (or the multiple itself for very long rows).
     */
    static int matmulRowsPerTask(int cols) {
        int r = MATMUL_TILE_FLOATS / Math.max(1, cols);
        r = Math.max(MATMUL_ROW_MULTIPLE, Math.min(MATMUL_MAX_ROWS_PER_TASK, r));
        return r / MATMUL_ROW_MULTIPLE * MATMUL_ROW_MULTIPLE;
    }

    /**
     * Task row counts are multiples of the outer-product kernel's 8 rows: with multiples of 4, the
     * 1536-column rows of an FFN down projection went in tasks of 20, four of every twenty rows
     * through the one-row remainder kernel (a tenth of all prefill samples in a profile of a
     * block-sparse 16K prefill).
     */
    static final int MATMUL_ROW_MULTIPLE = 8;

    private static int checkedRows(String op, Tensor w) {
        if (w.rank() < 1) {
            throw new IllegalArgumentException(op + ": weight " + w + " must have rank >= 1");
        }
        long rows = w.rows();
        if (rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": weight " + w + " has " + rows + " rows, more than "
                    + Integer.MAX_VALUE);
        }
        return (int) rows;
    }

    private static int checkedCols(String op, Tensor w) {
        long cols = w.columns();
        if (cols > Integer.MAX_VALUE / 8) {
            throw new IllegalArgumentException(op + ": weight " + w + " rows of " + cols + " elements exceed the limit "
                    + Integer.MAX_VALUE / 8);
        }
        return (int) cols;
    }

    /**
     * {@link #checkRange} for a vector whose length is a named dimension ({@code x (length = weight
     * columns 8)}); the message is built only when the check fails, so a call allocates nothing.
     */
    static void checkRange(String op, String name, String dim, long dimValue, float[] a, int off, long n) {
        if (a == null || n < 0 || off < 0 || off > a.length - n) {
            checkRange(op, name + " (length = " + dim + " " + dimValue + ")", a, off, n);
        }
    }

    /** {@link #checkRange} from 0 for a {@code [d1][d2]} matrix, named as {@code x ([tokens=2, cols=8])} when it fails. */
    static void checkShape(String op, String name, String d1, int v1, String d2, int v2, float[] a) {
        long n = (long) v1 * v2;
        if (a == null || n < 0 || n > a.length) {
            checkRange(op, name + " ([" + d1 + "=" + v1 + ", " + d2 + "=" + v2 + "])", a, 0, n);
        }
    }

    static void checkRange(String op, String name, float[] a, int off, long n) {
        if (a == null) { // not requireNonNull with a message supplier: the capturing lambda allocated on every call
            throw new NullPointerException(op + ": " + name + " is null");
        }
        if (n < 0 || off < 0 || off > a.length - n) {
            throw new IllegalArgumentException(op + ": " + name + " range [" + off + ", " + (off + n)
                    + ") does not fit an array of length " + a.length);
        }
    }

    /**
     * The row tasks of one or several matvecs over one input (the pool task of {@link #matvec} and
     * {@link #matvecs}), or of small-batch matmuls (several tokens: {@link #matmul(Tensor,
     * MatmulInput, float[])} and {@link #matmuls} up to {@link #SMALL_BATCH_MAX_TOKENS}), reused per
     * calling thread: its fields are written by the caller before
     * {@code parallelFor} publishes them to the workers, and cleared after. A call made while the
     * thread's task is in use (a matvec inside a pool task on the calling thread) gets a new one.
     */
    private static final class MatvecTask implements java.util.function.IntConsumer {
        private final VectorKernels kernels;
        private Tensor[] weights = new Tensor[4];
        private float[][] outs = new float[4][];
        private int[] outOffs = new int[4];
        private int[] rowCounts = new int[4];
        private int[] colCounts = new int[4];
        private int[] perTask = new int[4];
        /** firstTask[i] is the first task index of matrix i; firstTask[count] the total. */
        private int[] firstTask = new int[5];
        private int count;
        private float[] x;
        private int xOff;
        /** Rows of activations: 1 for matvec, more for a small-batch matmul (x is then [tokens][cols] from 0). */
        private int tokens;
        private boolean busy;

        MatvecTask(VectorKernels kernels) {
            this.kernels = kernels;
        }

        static MatvecTask acquire(ThreadLocal<MatvecTask> local) {
            MatvecTask t = local.get();
            if (t.busy) {
                t = new MatvecTask(t.kernels);
            }
            t.busy = true;
            return t;
        }

        void start(int matrices, float[] x, int xOff, int tokens) {
            if (weights.length < matrices) {
                weights = new Tensor[matrices];
                outs = new float[matrices][];
                outOffs = new int[matrices];
                rowCounts = new int[matrices];
                colCounts = new int[matrices];
                perTask = new int[matrices];
                firstTask = new int[matrices + 1];
            }
            this.count = 0;
            this.x = x;
            this.xOff = xOff;
            this.tokens = tokens;
            firstTask[0] = 0;
        }

        void add(int i, Tensor w, int rows, int cols, int rowsPerTask, float[] out, int outOff) {
            weights[i] = w;
            outs[i] = out;
            outOffs[i] = outOff;
            rowCounts[i] = rows;
            colCounts[i] = cols;
            perTask[i] = rowsPerTask;
            firstTask[i + 1] = firstTask[i] + (rows + rowsPerTask - 1) / rowsPerTask;
            count = i + 1;
        }

        void single(Tensor w, int rows, int cols, int rowsPerTask, float[] x, int xOff, int tokens, float[] out,
                    int outOff) {
            start(1, x, xOff, tokens);
            add(0, w, rows, cols, rowsPerTask, out, outOff);
        }

        @Override
        public void accept(int t) {
            int i = 0;
            while (t >= firstTask[i + 1]) {
                i++;
            }
            Tensor w = weights[i];
            int from = (t - firstTask[i]) * perTask[i];
            int to = Math.min(rowCounts[i], from + perTask[i]);
            if (tokens == 1) {
                kernels.matvecRows(w.dtype(), w.segment(), w.rowBytes(), colCounts[i], from, to, x, xOff, outs[i], outOffs[i]);
            } else {
                kernels.matmulRowsSmallBatch(w.dtype(), w.segment(), w.rowBytes(), colCounts[i], from, to, x, tokens,
                        outs[i], rowCounts[i]);
            }
        }

        void release() {
            for (int i = 0; i < count; i++) {
                weights[i] = null;
                outs[i] = null;
            }
            x = null;
            busy = false;
        }
    }
}
