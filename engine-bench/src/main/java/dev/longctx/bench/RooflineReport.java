package dev.longctx.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Turns raw JMH results into roofline records (GB/s or GFLOP/s through {@link Throughput}, and the
 * fraction of the measured read bandwidth or FMA peak), checks the performance targets, and
 * renders both as a text table or JSON. Independent of JMH so it can be tested with made-up scores.
 */
public final class RooflineReport {
    /** Fraction of the read bandwidth the decode matvec targets must reach. */
    static final double MATVEC_TARGET = 0.80;
    /** Fraction of the FMA peak the prefill matmul targets must reach. */
    static final double MATMUL_TARGET = 0.50;
    /** The target weight shape for matvec (Llama-3.2-1B FFN down projection input side). */
    static final String MATVEC_TARGET_SHAPE = "2048x8192";
    /** The target matmul: 512 tokens times weights of 8192 rows x 2048 columns. */
    static final String MATMUL_TARGET_SHAPE = "8192x2048";
    /** Tokens of the matmul target (llama-bench pp512). */
    static final String MATMUL_TARGET_TOKENS = "512";

    /**
     * One JMH result as reported.
     *
     * @param benchmark {@code Class.method} or the package-qualified JMH name
     * @param params the JMH parameters, in order
     * @param score the primary score
     * @param scoreError half the spread between the best and the worst iteration (or JMH's error)
     * @param unit the score unit, e.g. {@code us/op}
     */
    public record Raw(String benchmark, Map<String, String> params, double score, double scoreError, String unit) {
        /** Copies the parameters, keeping their order (the display order). */
        public Raw {
            Objects.requireNonNull(benchmark, "benchmark");
            params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
            Objects.requireNonNull(unit, "unit");
        }
    }

    /**
     * A result with its derived figure.
     *
     * @param raw the JMH result (benchmark shortened to {@code Class.method})
     * @param work bytes and flops per operation
     * @param value GB/s or GFLOP/s, per {@code work.metric()}
     * @param rooflineValue the roofline it is compared with, NaN when none or not measured
     * @param fraction {@code value / rooflineValue}, NaN when there is no roofline
     */
    public record Row(Raw raw, Throughput.Work work, double value, double rooflineValue, double fraction) {
    }

    /**
     * One of the targets and whether it is met.
     *
     * @param description what the target asks
     * @param row the matching measurement, or null when it was not run
     * @param threshold the fraction it must reach
     */
    public record Target(String description, Row row, double threshold) {
        /** Whether the target was measured and reached. */
        public boolean met() {
            return row != null && row.fraction() >= threshold;
        }

        /** {@code MET}, {@code NOT MET} or {@code not run}. */
        public String verdict() {
            if (row == null || Double.isNaN(row.fraction())) {
                return "not run";
            }
            return met() ? "MET" : "NOT MET";
        }
    }

    private final List<Row> rows;
    private final List<Target> targets;

    private RooflineReport(List<Row> rows, List<Target> targets) {
        this.rows = rows;
        this.targets = targets;
    }

    /**
     * Derives rates and fractions. Each benchmark is compared with the roofline measured with the
     * same {@code threads} parameter (or any roofline result when that is absent); when the probe
     * ran with several settings (e.g. {@code streams=1} and {@code 4}) the highest figure is the
     * roofline, since the machine demonstrably reaches it.
     *
     * @param raws results in run order
     * @throws IllegalArgumentException for a benchmark {@link Throughput} has no accounting for
     */
    public static RooflineReport of(List<Raw> raws) {
        List<Row> rows = new ArrayList<>();
        for (Raw r : raws) {
            String name = Throughput.shortName(r.benchmark());
            Raw shortRaw = new Raw(name, r.params(), r.score(), r.scoreError(), r.unit());
            Throughput.Work w = Throughput.of(name, r.params());
            double value = w.rate(Throughput.secondsPerOp(r.score(), r.unit()));
            rows.add(new Row(shortRaw, w, value, Double.NaN, Double.NaN));
        }
        List<Row> withFractions = new ArrayList<>(rows.size());
        for (Row row : rows) {
            double roof = rooflineFor(rows, row);
            withFractions.add(new Row(row.raw(), row.work(), row.value(), roof, row.value() / roof));
        }
        return new RooflineReport(List.copyOf(withFractions), targets(withFractions));
    }

    private static double rooflineFor(List<Row> rows, Row row) {
        String source = row.work().roofline().source();
        if (source == null) {
            return Double.NaN;
        }
        String threads = row.raw().params().get("threads");
        double best = Double.NaN;
        for (Row r : rows) {
            if (r.raw().benchmark().equals(source)
                    && (threads == null || threads.equals(r.raw().params().get("threads")))
                    && !(r.value() <= best)) {
                best = r.value();
            }
        }
        return best;
    }

    private static List<Target> targets(List<Row> rows) {
        List<Target> t = new ArrayList<>();
        for (String dtype : List.of("F32", "F16", "Q8_0")) {
            t.add(new Target(String.format(Locale.ROOT, "matvec %s %s >= %.0f%% of read bandwidth",
                    dtype, MATVEC_TARGET_SHAPE, MATVEC_TARGET * 100),
                    find(rows, "MatvecBench.matvec", Map.of("dtype", dtype, "shape", MATVEC_TARGET_SHAPE)),
                    MATVEC_TARGET));
        }
        for (String dtype : List.of("F32", "Q8_0")) {
            t.add(new Target(String.format(Locale.ROOT, "matmul %s %s tokens x %s >= %.0f%% of FMA peak",
                    dtype, MATMUL_TARGET_TOKENS, MATMUL_TARGET_SHAPE, MATMUL_TARGET * 100),
                    find(rows, "MatmulBench.matmul",
                            Map.of("dtype", dtype, "shape", MATMUL_TARGET_SHAPE, "tokens", MATMUL_TARGET_TOKENS)),
                    MATMUL_TARGET));
        }
        return List.copyOf(t);
    }

    /** The first row of {@code benchmark} whose parameters include {@code match}; cold matvec preferred. */
    private static Row find(List<Row> rows, String benchmark, Map<String, String> match) {
        Row fallback = null;
        for (Row r : rows) {
            if (!r.raw().benchmark().equals(benchmark)) {
                continue;
            }
            Map<String, String> p = r.raw().params();
            if (match.entrySet().stream().allMatch(e -> e.getValue().equals(p.get(e.getKey())))) {
                // A warm (cached) matvec would flatter the bandwidth target: only count it if nothing else ran.
                if ("false".equals(p.get("cold"))) {
                    fallback = fallback == null ? r : fallback;
                } else {
                    return r;
                }
            }
        }
        return fallback;
    }

    /** The rows in run order. */
    public List<Row> rows() {
        return rows;
    }

    /** The targets. */
    public List<Target> targets() {
        return targets;
    }

    /** The highest measured value of a roofline probe ({@code "RooflineBench.read"}...), NaN if not run. */
    public double probe(String benchmark) {
        return rows.stream().filter(r -> r.raw().benchmark().equals(benchmark))
                .mapToDouble(Row::value).max().orElse(Double.NaN);
    }

    /** Prints the header lines, the table and the targets. */
    public void print(PrintStream out, List<String> header) {
        for (String h : header) {
            out.println(h);
        }
        out.printf(Locale.ROOT, "rooflines: read %s GB/s, triad %s GB/s, FMA %s GFLOP/s%n",
                fmt(probe("RooflineBench.read")), fmt(probe("RooflineBench.triad")), fmt(probe("RooflineBench.fma")));
        out.println();
        String format = "%-26s %-30s %20s %18s %20s %9s%n";
        out.printf(Locale.ROOT, format, "benchmark", "params", "time/op", "measured", "roofline", "fraction");
        for (Row r : rows) {
            String unit = r.work().metric().label();
            String time = fmt(r.raw().score())
                    + (Double.isNaN(r.raw().scoreError()) ? "" : " \u00b1" + fmt(r.raw().scoreError()))
                    + " " + r.raw().unit();
            String roof = Double.isNaN(r.rooflineValue()) ? r.work().roofline() == Throughput.Roofline.NONE ? "(probe)" : "n/a"
                    : fmt(r.rooflineValue()) + " " + r.work().roofline().label();
            String frac = Double.isNaN(r.fraction()) ? "-" : String.format(Locale.ROOT, "%.0f%%", r.fraction() * 100);
            out.printf(Locale.ROOT, format, r.raw().benchmark(), displayParams(r.raw().params()), time,
                    fmt(r.value()) + " " + unit, roof, frac);
        }
        out.println();
        out.println("targets:");
        for (Target t : targets) {
            String got = t.row() == null || Double.isNaN(t.row().fraction()) ? ""
                    : String.format(Locale.ROOT, " (%s %s = %.0f%%)", fmt(t.row().value()),
                            t.row().work().metric().label(), t.row().fraction() * 100);
            out.printf(Locale.ROOT, "  %-58s %s%s%n", t.description(), t.verdict(), got);
        }
    }

    /**
     * Parameters for display: dtype and shape first and by value only (they read unambiguously),
     * the rest as {@code name=value}; threads are left to the header.
     */
    static String displayParams(Map<String, String> params) {
        List<String> parts = new ArrayList<>();
        for (String k : List.of("dtype", "shape")) {
            if (params.containsKey(k)) {
                parts.add(params.get(k));
            }
        }
        params.forEach((k, v) -> {
            if (!k.equals("dtype") && !k.equals("shape") && !k.equals("threads")) {
                parts.add(k + "=" + v);
            }
        });
        return String.join(" ", parts);
    }

    /** All records and targets as JSON, with a machine description. */
    public String toJson(Map<String, String> machine) {
        StringBuilder sb = new StringBuilder(4096);
        sb.append("{\n  \"machine\": ");
        appendMap(sb, machine);
        sb.append(",\n  \"records\": [");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            sb.append(i == 0 ? "\n    {" : ",\n    {");
            sb.append("\"name\": ").append(str(r.raw().benchmark()));
            sb.append(", \"params\": ");
            appendMap(sb, r.raw().params());
            sb.append(", \"score\": ").append(num(r.raw().score()));
            sb.append(", \"scoreError\": ").append(num(r.raw().scoreError()));
            sb.append(", \"unit\": ").append(str(r.raw().unit()));
            sb.append(", \"bytesPerOp\": ").append(num(r.work().bytes()));
            sb.append(", \"flopsPerOp\": ").append(num(r.work().flops()));
            sb.append(", \"derived\": ").append(num(r.value()));
            sb.append(", \"derivedUnit\": ").append(str(r.work().metric().label()));
            sb.append(", \"roofline\": ").append(r.work().roofline() == Throughput.Roofline.NONE ? "null"
                    : str(r.work().roofline().label()));
            sb.append(", \"rooflineValue\": ").append(num(r.rooflineValue()));
            sb.append(", \"fraction\": ").append(num(r.fraction()));
            sb.append('}');
        }
        sb.append("\n  ],\n  \"targets\": [");
        for (int i = 0; i < targets.size(); i++) {
            Target t = targets.get(i);
            sb.append(i == 0 ? "\n    {" : ",\n    {");
            sb.append("\"target\": ").append(str(t.description()));
            sb.append(", \"threshold\": ").append(num(t.threshold()));
            sb.append(", \"fraction\": ").append(num(t.row() == null ? Double.NaN : t.row().fraction()));
            sb.append(", \"verdict\": ").append(str(t.verdict()));
            sb.append('}');
        }
        sb.append("\n  ]\n}\n");
        return sb.toString();
    }

    private static void appendMap(StringBuilder sb, Map<String, String> m) {
        sb.append('{');
        boolean first = true;
        for (Map.Entry<String, String> e : m.entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            sb.append(str(e.getKey())).append(": ").append(str(e.getValue()));
        }
        sb.append('}');
    }

    /** A JSON number; NaN and infinities (not representable) become null. */
    static String num(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "null";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }

    /** A JSON string literal. */
    static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    /** Three significant figures, no exponent for the magnitudes printed here. */
    static String fmt(double v) {
        if (Double.isNaN(v)) {
            return "n/a";
        }
        double a = Math.abs(v);
        if (a >= 100) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        if (a >= 10) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        if (a >= 1) {
            return String.format(Locale.ROOT, "%.2f", v);
        }
        return String.format(Locale.ROOT, "%.3g", v);
    }
}
