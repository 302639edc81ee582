package dev.longctx.bench;

import dev.longctx.core.tensor.DType;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The byte and flop accounting of every benchmark: maps a benchmark ({@code Class.method}, without
 * the package) and its JMH parameters to the work one operation does, and turns a JMH score into
 * GB/s or GFLOP/s. Kept in one place so the benchmarks, {@link BenchMain}'s table and the JSON
 * records agree, and so the accounting can be unit-tested without running JMH.
 *
 * <p>Conventions (decimal units: 1 GB = 1e9 bytes, 1 GFLOP = 1e9 flops; one fused multiply-add
 * counts as 2 flops):
 * <ul>
 *   <li>{@code MatvecBench.matvec}: bytes = the weight tensor's storage (rows x dtype bytes of a
 *       row, block scales included), the traffic that dominates decode; flops = 2 rows cols.
 *       Compared with the read bandwidth.</li>
 *   <li>{@code MatmulBench.matmul}: flops = 2 tokens rows cols; bytes = weights plus activations in
 *       and out (informational). Compared with the FMA peak.</li>
 *   <li>{@code ElementwiseBench.*}: bytes = the arrays the operation logically reads and writes, 4
 *       bytes per float (rmsnorm: x, weight, out = 3; softmax, silu and rope in place: read + write
 *       = 2; dot: 2 reads). Compared with the read bandwidth, although 128K floats stay in L2.</li>
 *   <li>{@code RooflineBench.read}: the bytes summed; {@code triad}: 3 arrays (2 read + 1 written,
 *       the STREAM convention; the write-allocate read of the destination is not counted);
 *       {@code fma}: {@link #FMA_FLOPS_PER_THREAD} per pool thread. These are the rooflines.</li>
 * </ul>
 */
public final class Throughput {
    /** Bytes the read-bandwidth probe sums per operation: 1 GiB, far above any last-level cache. */
    public static final long READ_BYTES = 1L << 30;
    /** Bytes of each of the triad's three arrays: 256 MiB, 768 MiB in all. */
    public static final long TRIAD_ARRAY_BYTES = 256L << 20;
    /**
     * Independent FMA chains per thread in the FMA probe: Zen 4 retires 2 FMAs (256-bit) a cycle
     * with 4 cycles of latency, so at least 8 chains are needed; 12 leaves margin and still fits the
     * 16 (AVX2) or 32 (AVX-512) vector registers with the two operands.
     */
    public static final int FMA_ACCUMULATORS = 12;
    /**
     * Lane-FMAs each accumulator performs per operation, whatever the vector width (the loop runs
     * this divided by the lane count): 2^22, so one operation is about 1 ms per thread at 100 GFLOP/s,
     * long against the pool's fork/join overhead.
     */
    public static final long FMA_LANE_OPS_PER_ACCUMULATOR = 1L << 22;
    /** Flops per thread per FMA-probe operation: 2 flops per lane-FMA. */
    public static final long FMA_FLOPS_PER_THREAD = 2L * FMA_ACCUMULATORS * FMA_LANE_OPS_PER_ACCUMULATOR;

    private static final double GIGA = 1e9;

    /** What a figure is expressed in. */
    public enum Metric {
        /** Bytes per second, in units of 1e9. */
        GB_PER_S("GB/s"),
        /** Floating-point operations per second, in units of 1e9. */
        GFLOP_PER_S("GFLOP/s");

        private final String label;

        Metric(String label) {
            this.label = label;
        }

        /** The unit as printed. */
        public String label() {
            return label;
        }
    }

    /** The machine limit a benchmark is compared with. */
    public enum Roofline {
        /** Measured by {@code RooflineBench.read}. */
        READ_BANDWIDTH("RooflineBench.read", "read BW"),
        /** Measured by {@code RooflineBench.fma}. */
        FMA_PEAK("RooflineBench.fma", "FMA peak"),
        /** The probes themselves: not compared with anything. */
        NONE(null, "-");

        private final String source;
        private final String label;

        Roofline(String source, String label) {
            this.source = source;
            this.label = label;
        }

        /** The benchmark that measures this roofline, or null for {@link #NONE}. */
        public String source() {
            return source;
        }

        /** A short label for the table. */
        public String label() {
            return label;
        }
    }

    /**
     * The work of one operation.
     *
     * @param bytes bytes moved per operation (as defined in the class comment)
     * @param flops floating-point operations per operation (0 when not counted)
     * @param metric which of the two the benchmark is reported in
     * @param roofline the limit it is compared with
     */
    public record Work(double bytes, double flops, Metric metric, Roofline roofline) {
        /** GB/s or GFLOP/s (per {@link #metric}) for an operation taking {@code secondsPerOp}. */
        public double rate(double secondsPerOp) {
            if (!(secondsPerOp > 0)) {
                throw new IllegalArgumentException("seconds per operation must be positive, got " + secondsPerOp);
            }
            double amount = metric == Metric.GB_PER_S ? bytes : flops;
            return amount / secondsPerOp / GIGA;
        }
    }

    private Throughput() {
    }

    /**
     * The work of one operation of {@code benchmark} ({@code "MatvecBench.matvec"}; a
     * package-qualified JMH name is accepted too) with the given JMH parameters.
     *
     * @throws IllegalArgumentException for an unknown benchmark or a missing or malformed parameter
     */
    public static Work of(String benchmark, Map<String, String> params) {
        Objects.requireNonNull(params, "params");
        String b = shortName(benchmark);
        return switch (b) {
            case "MatvecBench.matvec" -> {
                DType t = dtype(params);
                int[] s = parseShape(param(params, "shape"));
                double weightBytes = (double) s[0] * t.bytesFor(s[1]);
                yield new Work(weightBytes, 2.0 * s[0] * s[1], Metric.GB_PER_S, Roofline.READ_BANDWIDTH);
            }
            case "MatmulBench.matmul" -> {
                DType t = dtype(params);
                int[] s = parseShape(param(params, "shape"));
                int tokens = positiveInt(params, "tokens");
                double weightBytes = (double) s[0] * t.bytesFor(s[1]);
                double activationBytes = (double) Float.BYTES * tokens * ((double) s[0] + s[1]);
                double flops = 2.0 * tokens * s[0] * s[1];
                yield new Work(weightBytes + activationBytes, flops, Metric.GFLOP_PER_S, Roofline.FMA_PEAK);
            }
            case "ElementwiseBench.rmsnorm" -> elementwise(params, 3, 0);
            case "ElementwiseBench.softmax", "ElementwiseBench.silu" -> elementwise(params, 2, 0);
            // rope: in place; 4 multiplies and 2 adds per pair of elements = 3 flops per element.
            case "ElementwiseBench.rope" -> elementwise(params, 2, 3);
            // dot: one multiply-add (2 flops) per element.
            case "ElementwiseBench.dot" -> elementwise(params, 2, 2);
            case "RooflineBench.read" -> new Work(READ_BYTES, 0, Metric.GB_PER_S, Roofline.NONE);
            case "RooflineBench.triad" -> new Work(3.0 * TRIAD_ARRAY_BYTES, 2.0 * TRIAD_ARRAY_BYTES / Float.BYTES,
                    Metric.GB_PER_S, Roofline.NONE);
            case "RooflineBench.fma" -> new Work(0, (double) positiveInt(params, "threads") * FMA_FLOPS_PER_THREAD,
                    Metric.GFLOP_PER_S, Roofline.NONE);
            default -> throw new IllegalArgumentException("no byte/flop accounting for benchmark '" + benchmark + "'");
        };
    }

    private static Work elementwise(Map<String, String> params, int arrays, int flopsPerElement) {
        double n = positiveInt(params, "n");
        return new Work(arrays * n * Float.BYTES, flopsPerElement * n, Metric.GB_PER_S, Roofline.READ_BANDWIDTH);
    }

    /** {@code "dev.longctx.bench.MatvecBench.matvec"} -> {@code "MatvecBench.matvec"}. */
    public static String shortName(String benchmark) {
        Objects.requireNonNull(benchmark, "benchmark");
        int method = benchmark.lastIndexOf('.');
        if (method <= 0) {
            return benchmark;
        }
        int cls = benchmark.lastIndexOf('.', method - 1);
        return benchmark.substring(cls + 1);
    }

    /**
     * Seconds per operation from a JMH score and its unit: average-time units ({@code "us/op"},
     * {@code "ms/op"}, ...) or throughput units ({@code "ops/s"}, {@code "ops/ms"}, ...).
     */
    public static double secondsPerOp(double score, String unit) {
        Objects.requireNonNull(unit, "unit");
        if (!(score > 0) || Double.isInfinite(score)) {
            throw new IllegalArgumentException("score must be positive and finite, got " + score + " " + unit);
        }
        String u = unit.trim();
        if (u.endsWith("/op")) {
            return score * secondsOf(u.substring(0, u.length() - "/op".length()), unit);
        }
        if (u.startsWith("ops/")) {
            return secondsOf(u.substring("ops/".length()), unit) / score;
        }
        throw new IllegalArgumentException("unsupported JMH score unit '" + unit + "' (expected like us/op or ops/s)");
    }

    private static double secondsOf(String timeUnit, String whole) {
        return switch (timeUnit) {
            case "ns" -> 1e-9;
            case "us", "\u03bcs" -> 1e-6;
            case "ms" -> 1e-3;
            case "s" -> 1.0;
            case "min" -> 60.0;
            default -> throw new IllegalArgumentException("unsupported time unit '" + timeUnit + "' in '" + whole + "'");
        };
    }

    /**
     * Parses a {@code "ROWSxCOLS"} shape as used by the matvec and matmul benchmarks (PyTorch
     * {@code [out, in]} layout).
     *
     * @return {@code {rows, cols}}
     */
    public static int[] parseShape(String shape) {
        Objects.requireNonNull(shape, "shape");
        String[] parts = shape.trim().toLowerCase(Locale.ROOT).split("x");
        if (parts.length != 2) {
            throw new IllegalArgumentException("shape '" + shape + "' is not ROWSxCOLS");
        }
        try {
            int rows = Integer.parseInt(parts[0].trim());
            int cols = Integer.parseInt(parts[1].trim());
            if (rows < 1 || cols < 1) {
                throw new IllegalArgumentException("shape '" + shape + "' must have positive dimensions");
            }
            return new int[] {rows, cols};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("shape '" + shape + "' is not ROWSxCOLS", e);
        }
    }

    private static DType dtype(Map<String, String> params) {
        String v = param(params, "dtype");
        try {
            return DType.valueOf(v.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown dtype '" + v + "'", e);
        }
    }

    private static int positiveInt(Map<String, String> params, String key) {
        String v = param(params, key);
        try {
            int n = Integer.parseInt(v.trim());
            if (n < 1) {
                throw new IllegalArgumentException("parameter " + key + " must be positive, got " + v);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("parameter " + key + " is not an integer: '" + v + "'", e);
        }
    }

    private static String param(Map<String, String> params, String key) {
        String v = params.get(key);
        if (v == null) {
            throw new IllegalArgumentException("missing benchmark parameter '" + key + "' (have " + params.keySet() + ")");
        }
        return v;
    }
}
