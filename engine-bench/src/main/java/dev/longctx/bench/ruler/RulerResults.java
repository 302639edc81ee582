package dev.longctx.bench.ruler;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Exact-match counts per task x strategy x budget x context length, each split by needle depth,
 * with perplexity on filler per strategy and budget; printed as a table or as JSON records.
 */
public final class RulerResults {
    /** One cell's key. */
    public record Key(String task, String strategy, double budgetFraction, int contextTokens) {
    }

    /** Counts of one cell: per depth, instances and correct answers, and instances whose needles a window reaches. */
    public static final class Cell {
        int budgetTokens;
        final TreeMap<Double, int[]> byDepth = new TreeMap<>();
        int inWindow;
        long kvBytes;
        /** Answers compared with the full cache's answer to the same instance, and those identical to it. */
        int compared;
        int sameAsFull;

        /** Answers identical, text for text, to the full cache's on the same instance (NaN if none compared). */
        public double sameAsFull() {
            return compared == 0 ? Double.NaN : (double) sameAsFull / compared;
        }

        /** Instances. */
        public int instances() {
            return byDepth.values().stream().mapToInt(c -> c[0]).sum();
        }

        /** Correct answers. */
        public int correct() {
            return byDepth.values().stream().mapToInt(c -> c[1]).sum();
        }

        /** Exact-match accuracy. */
        public double accuracy() {
            return instances() == 0 ? Double.NaN : (double) correct() / instances();
        }

        /** Accuracy at one depth (NaN if none there). */
        public double accuracyAt(double depth) {
            int[] c = byDepth.get(depth);
            return c == null || c[0] == 0 ? Double.NaN : (double) c[1] / c[0];
        }
    }

    /**
     * Perplexity on filler.
     *
     * @param strategy the strategy
     * @param budgetFraction the budget fraction (1 for the full cache)
     * @param budgetTokens the budget in tokens
     * @param tokens tokens of the filler text
     * @param perplexity the perplexity
     */
    public record Perplexity(String strategy, double budgetFraction, int budgetTokens, int tokens, double perplexity) {
    }

    private final Map<Key, Cell> cells = new LinkedHashMap<>();
    /** The instance the full cache answered last, and its answer ({@link RulerRunner#run} answers it first). */
    private TaskInstance fullInstance;
    private String fullOutput;
    private final List<Perplexity> perplexities = new ArrayList<>();

    /**
     * Adds one answer.
     *
     * @param inWindow whether every needle the answer needs starts inside StreamingLLM's sinks or window at this budget
     */
    public void add(TaskInstance inst, RulerRunner.Outcome o, double depth, boolean inWindow) {
        Cell c = cells.computeIfAbsent(new Key(inst.task(), o.strategy(), o.budgetFraction(), inst.length()), k -> new Cell());
        c.budgetTokens = o.budgetTokens();
        c.kvBytes = Math.max(c.kvBytes, o.kvBytes());
        int[] n = c.byDepth.computeIfAbsent(depth, d -> new int[2]);
        n[0]++;
        if (o.correct()) {
            n[1]++;
        }
        if (inWindow) {
            c.inWindow++;
        }
        if (o.strategy().equals("full")) {
            fullInstance = inst;
            fullOutput = o.output();
        } else if (inst == fullInstance) {
            c.compared++;
            if (o.output().equals(fullOutput)) {
                c.sameAsFull++;
            }
        }
    }

    /** Adds a perplexity measurement. */
    public void add(Perplexity p) {
        perplexities.add(p);
    }

    /** The cells in insertion order. */
    public Map<Key, Cell> cells() {
        return cells;
    }

    /** The perplexity measurements. */
    public List<Perplexity> perplexities() {
        return perplexities;
    }

    private double fullAccuracy(Key k) {
        Cell f = cells.get(new Key(k.task(), "full", 1.0, k.contextTokens()));
        return f == null ? Double.NaN : f.accuracy();
    }

    private double fullPerplexity(int tokens) {
        return perplexities.stream().filter(p -> p.strategy().equals("full") && p.tokens() == tokens)
                .mapToDouble(Perplexity::perplexity).findFirst().orElse(Double.NaN);
    }

    /** JSON: {@code records} (one per cell) and {@code perplexity}. */
    public ObjectNode toJson(ObjectMapper mapper) {
        ObjectNode root = mapper.createObjectNode();
        ArrayNode recs = root.putArray("records");
        for (var e : cells.entrySet()) {
            Key k = e.getKey();
            Cell c = e.getValue();
            ObjectNode r = recs.addObject().put("task", k.task()).put("strategy", k.strategy())
                    .put("budget_fraction", k.budgetFraction()).put("budget_tokens", c.budgetTokens)
                    .put("context_tokens", k.contextTokens()).put("instances", c.instances()).put("correct", c.correct())
                    .put("accuracy", c.accuracy());
            double f = fullAccuracy(k);
            if (!Double.isNaN(f) && f > 0) {
                r.put("relative_to_full", c.accuracy() / f);
            }
            if (k.strategy().equals("streaming")) {
                r.put("needles_in_window", (double) c.inWindow / Math.max(1, c.instances()));
            }
            r.put("kv_bytes", c.kvBytes);
            if (c.compared > 0) {
                r.put("same_answer_as_full", c.sameAsFull());
            }
            ArrayNode d = r.putArray("by_depth");
            c.byDepth.forEach((depth, n) -> d.addObject().put("depth", depth).put("instances", n[0]).put("correct", n[1]));
        }
        ArrayNode ppl = root.putArray("perplexity");
        for (Perplexity p : perplexities) {
            ObjectNode r = ppl.addObject().put("task", "filler").put("strategy", p.strategy())
                    .put("budget_fraction", p.budgetFraction()).put("budget_tokens", p.budgetTokens())
                    .put("context_tokens", p.tokens()).put("perplexity", p.perplexity());
            double f = fullPerplexity(p.tokens());
            if (!Double.isNaN(f)) {
                r.put("ratio_to_full", p.perplexity() / f);
            }
        }
        return root;
    }

    /** The table: a row per task x strategy x budget, a column per context length. */
    public void print(PrintWriter out) {
        List<Integer> lengths = cells.keySet().stream().map(Key::contextTokens).distinct().sorted().toList();
        StringBuilder head = new StringBuilder(String.format("%-16s %-18s %8s", "task", "strategy", "budget"));
        for (int l : lengths) {
            head.append(String.format("%9s", l >= 1024 && l % 1024 == 0 ? (l / 1024) + "K" : String.valueOf(l)));
        }
        out.println("exact-match accuracy (%), by context length");
        out.println(head);
        Map<String, Map<Integer, Cell>> rows = new LinkedHashMap<>();
        for (var e : cells.entrySet()) {
            Key k = e.getKey();
            String label = String.format(Locale.ROOT, "%-16s %-18s %8s", k.task(), k.strategy(),
                    k.strategy().equals("full") ? "all" : fraction(k.budgetFraction()));
            rows.computeIfAbsent(label, x -> new TreeMap<>()).put(k.contextTokens(), e.getValue());
        }
        rows.forEach((label, byLength) -> {
            StringBuilder line = new StringBuilder(label);
            for (int l : lengths) {
                Cell c = byLength.get(l);
                line.append(c == null ? String.format("%9s", "-") : String.format(Locale.ROOT, "%9.0f", 100 * c.accuracy()));
            }
            out.println(line);
        });
        if (cells.values().stream().anyMatch(c -> c.compared > 0)) {
            out.println();
            out.println("answers identical to the full cache's on the same instance (%), by context length");
            out.println(head);
            rows.forEach((label, byLength) -> {
                if (byLength.values().stream().noneMatch(c -> c.compared > 0)) {
                    return;
                }
                StringBuilder line = new StringBuilder(label);
                for (int l : lengths) {
                    Cell c = byLength.get(l);
                    line.append(c == null || c.compared == 0 ? String.format("%9s", "-")
                            : String.format(Locale.ROOT, "%9.0f", 100 * c.sameAsFull()));
                }
                out.println(line);
            });
        }
        if (!perplexities.isEmpty()) {
            out.printf("%nperplexity on filler text%n%-18s %8s %8s %12s %14s%n", "strategy", "budget", "tokens", "perplexity",
                    "ratio to full");
            for (Perplexity p : perplexities) {
                out.printf(Locale.ROOT, "%-18s %8s %8d %12.4f %14.4f%n", p.strategy(),
                        p.strategy().equals("full") ? "all" : fraction(p.budgetFraction()), p.tokens(), p.perplexity(),
                        p.perplexity() / fullPerplexity(p.tokens()));
            }
        }
        out.flush();
    }

    /** A budget fraction as {@code 1/8} when it is one over an integer, else as a decimal. */
    public static String fraction(double f) {
        double inv = 1 / f;
        if (Math.abs(inv - Math.rint(inv)) < 1e-9) {
            return "1/" + (long) Math.rint(inv);
        }
        return String.format(Locale.ROOT, "%.3f", f);
    }
}
