package dev.longctx.bench.ruler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * RULER-style task instances of {@code tools/retrieval-model} (its README's algorithm and
 * {@code train.py}'s {@code Gen}), built in token space: single, multi-key, multi-value and
 * multi-query needles, and variable tracking, at an exact length in tokens and a needle depth.
 *
 * <p>Every random draw goes through a {@link RandomSource}, in the order {@code train.py} makes it,
 * so that replaying numpy's recorded draws gives the same tokens (see the generator test).
 */
public final class RulerGenerator {
    /** The task names, in tasks.json's order. */
    public static final List<String> TASKS = List.of("niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery", "vt");

    private static final String NEEDLE = " The special magic number for %s is %s.";
    private static final String QUESTION = "What is the special magic number for %s?";
    private static final String MULTIVALUE_QUESTION = "What are all the special magic numbers for %s?";
    private static final String MULTIQUERY_QUESTION = "What are the special magic numbers for %s?";
    private static final String VT_VALUE = " VAR %s = %s.";
    private static final String VT_COPY = " VAR %s = VAR %s.";
    private static final String VT_QUESTION = "Which variables are assigned the value %s?";
    /** How many sentences past a random start must remain in the pool ({@code train.py}'s margin). */
    private static final int POOL_MARGIN = 3000;

    private final RulerSpec spec;
    private final FillerPool pool;
    private final Map<String, int[]> cache = new HashMap<>();

    /** Thrown when the filler budget cannot be met (negative, or a single token); the instance is redrawn. */
    private static final class NoRoom extends Exception {
        NoRoom() {
            super(null, null, false, false);
        }
    }

    /** A needle: its depth, text, and whether the answer needs it. */
    private record Needle(double depth, String text, boolean needed) {
    }

    /** A generator over {@code pool}. */
    public RulerGenerator(RulerSpec spec, FillerPool pool) {
        this.spec = spec;
        this.pool = pool;
    }

    /** The filler pool. */
    public FillerPool pool() {
        return pool;
    }

    /**
     * An instance of {@code task} with exactly {@code length} tokens and the asked needle at
     * {@code depth} (NaN: a random depth), redrawn up to 20 times when the filler cannot fit.
     */
    public TaskInstance instance(String task, int length, double depth, RandomSource rnd) {
        for (int i = 0; i < 20; i++) {
            try {
                return build(task, length, depth, rnd);
            } catch (NoRoom e) {
                // redraw, as train.py does
            }
        }
        throw new IllegalArgumentException("cannot build " + task + " at length " + length);
    }

    private int[] cenc(String text) {
        return cache.computeIfAbsent(text, spec::encode);
    }

    private static String number(RandomSource rnd, int digits) {
        long lo = pow10(digits - 1);
        return Long.toString(rnd.integers(lo, lo * 10));
    }

    private static long pow10(int e) {
        long v = 1;
        for (int i = 0; i < e; i++) {
            v *= 10;
        }
        return v;
    }

    /** {@code n} distinct numbers: drawn until distinct, sorted, then permuted (train.py's {@code numbers}). */
    private static String[] numbers(RandomSource rnd, int digits, int n) {
        TreeSet<String> out = new TreeSet<>();
        while (out.size() < n) {
            out.add(number(rnd, digits));
        }
        String[] sorted = out.toArray(String[]::new);
        int[] p = rnd.permutation(n);
        String[] res = new String[n];
        for (int i = 0; i < n; i++) {
            res[i] = sorted[p[i]];
        }
        return res;
    }

    private TaskInstance build(String task, int length, double depthOrNaN, RandomSource rnd) throws NoRoom {
        double depth = Double.isNaN(depthOrNaN) ? rnd.random() : depthOrNaN;
        int maxNeedles = (int) Math.max(2, Math.min(16, pythonFloorDiv(0.3 * length, 14)));
        String[] keys = spec.keys();
        List<Needle> needles = new ArrayList<>();
        String question;
        String answer;
        switch (task) {
            case "niah_single", "niah_multikey", "niah_multiquery" -> {
                int n;
                int q;
                if (task.equals("niah_single")) {
                    n = 1;
                    q = 1;
                } else if (task.equals("niah_multikey")) {
                    n = (int) rnd.integers(2, maxNeedles + 1);
                    q = 1;
                } else {
                    q = (int) rnd.integers(2, 5);
                    n = (int) rnd.integers(q, Math.max(q, maxNeedles) + 1);
                }
                int[] ki = rnd.choice(keys.length, n);
                String[] ks = new String[n];
                for (int i = 0; i < n; i++) {
                    ks[i] = keys[ki[i]];
                }
                String[] vs = numbers(rnd, 7, n);
                int[] asked = rnd.choice(n, q);
                double[] ds = new double[n];
                for (int i = 0; i < n; i++) {
                    ds[i] = rnd.random();
                }
                ds[asked[0]] = depth;
                boolean[] isAsked = new boolean[n];
                for (int a : asked) {
                    isAsked[a] = true;
                }
                for (int i = 0; i < n; i++) {
                    needles.add(new Needle(ds[i], NEEDLE.formatted(ks[i], vs[i]), isAsked[i]));
                }
                if (q == 1) {
                    question = QUESTION.formatted(ks[asked[0]]);
                    answer = vs[asked[0]];
                } else {
                    List<String> names = new ArrayList<>();
                    List<String> values = new ArrayList<>();
                    for (int a : asked) {
                        names.add(ks[a]);
                        values.add(vs[a]);
                    }
                    String joined = String.join(", ", names.subList(0, q - 1)) + " and " + names.get(q - 1);
                    question = MULTIQUERY_QUESTION.formatted(joined);
                    answer = String.join(", ", values);
                }
            }
            case "niah_multivalue" -> {
                String key = keys[(int) rnd.integers(0, keys.length)];
                String[] vs = numbers(rnd, 7, 4);
                double[] ds = new double[4];
                for (int i = 0; i < 4; i++) {
                    ds[i] = rnd.random();
                }
                ds[(int) rnd.integers(0, 4)] = depth;
                Integer[] order = {0, 1, 2, 3};
                Arrays.sort(order, Comparator.comparingDouble(i -> ds[i])); // stable, as argsort(kind="stable")
                for (int i = 0; i < 4; i++) {
                    needles.add(new Needle(ds[i], NEEDLE.formatted(key, vs[i]), true));
                }
                question = MULTIVALUE_QUESTION.formatted(key);
                List<String> values = new ArrayList<>();
                for (int i : order) {
                    values.add(vs[i]);
                }
                answer = String.join(", ", values);
            }
            case "vt" -> {
                int h1 = (int) rnd.integers(1, 5);
                int h2 = (int) rnd.integers(1, 5);
                int[] ni = rnd.choice(keys.length, h1 + h2 + 2);
                String[] a = new String[h1 + 1];
                String[] b = new String[h2 + 1];
                for (int i = 0; i < ni.length; i++) {
                    if (i <= h1) {
                        a[i] = keys[ni[i]];
                    } else {
                        b[i - h1 - 1] = keys[ni[i]];
                    }
                }
                String[] v = numbers(rnd, 5, 2);
                double[] da = new double[h1 + 1];
                da[0] = depth;
                double[] rest = new double[h1];
                for (int i = 0; i < h1; i++) {
                    rest[i] = depth + (1 - depth) * rnd.random();
                }
                Arrays.sort(rest);
                System.arraycopy(rest, 0, da, 1, h1);
                double[] db = new double[h2 + 1];
                for (int i = 0; i <= h2; i++) {
                    db[i] = rnd.random();
                }
                Arrays.sort(db);
                addChain(needles, a, v[0], da, true);
                addChain(needles, b, v[1], db, false);
                question = VT_QUESTION.formatted(v[0]);
                List<String> names = new ArrayList<>();
                for (String nm : a) {
                    names.add("VAR " + nm);
                }
                answer = String.join(", ", names);
            }
            default -> throw new IllegalArgumentException("unknown task '" + task + "' (" + String.join(", ", TASKS) + ")");
        }
        List<Needle> sorted = new ArrayList<>(needles);
        sorted.sort(Comparator.comparingDouble(Needle::depth)); // stable: ties keep listing order
        List<int[]> needleIds = new ArrayList<>();
        int needleTokens = 0;
        for (Needle nd : sorted) {
            int[] t = spec.encode(nd.text());
            needleIds.add(t);
            needleTokens += t.length;
        }
        int[] head = concat(new int[] {RulerSpec.BOS, RulerSpec.USER}, cenc("\n"), cenc("Text:"));
        int[] tail = concat(spec.encode("\n\nQuestion: " + question), new int[] {RulerSpec.EOS, RulerSpec.ASSISTANT}, cenc("\n"));
        int[] ans = concat(spec.encode(answer), new int[] {RulerSpec.EOS});
        int budget = length - head.length - tail.length - ans.length - needleTokens;
        Filler filler = filler(rnd, budget);
        int ns = filler.tokens.size();
        int[] pos = new int[sorted.size()];
        for (int j = 0; j < pos.length; j++) {
            pos[j] = (int) Math.rint(sorted.get(j).depth() * ns); // Python's round: half to even
        }
        int[] ids = new int[length];
        int at = 0;
        StringBuilder doc = new StringBuilder();
        List<Integer> needed = new ArrayList<>();
        List<Integer> neededEnd = new ArrayList<>();
        System.arraycopy(head, 0, ids, 0, head.length);
        at += head.length;
        int j = 0;
        for (int i = 0; i <= ns; i++) {
            while (j < sorted.size() && pos[j] == i) {
                int[] t = needleIds.get(j);
                if (sorted.get(j).needed()) {
                    needed.add(at);
                    neededEnd.add(at + t.length);
                }
                System.arraycopy(t, 0, ids, at, t.length);
                at += t.length;
                doc.append(sorted.get(j).text());
                j++;
            }
            if (i < ns) {
                int[] t = filler.tokens.get(i);
                System.arraycopy(t, 0, ids, at, t.length);
                at += t.length;
                doc.append(sentenceText(filler.states.get(i)));
            }
        }
        int questionStart = at;
        System.arraycopy(tail, 0, ids, at, tail.length);
        at += tail.length;
        int promptLength = at;
        System.arraycopy(ans, 0, ids, at, ans.length);
        at += ans.length;
        if (at != length) {
            throw new IllegalStateException("built " + at + " tokens for length " + length + " (" + task + ")");
        }
        String user = "Text:" + doc + "\n\nQuestion: " + question;
        return new TaskInstance(task, depth, ids, promptLength, user, answer, needed.stream().mapToInt(Integer::intValue).toArray(),
                neededEnd.stream().mapToInt(Integer::intValue).toArray(), questionStart);
    }

    /** Python's float {@code a // b} for positive operands (fmod-based, as CPython computes it). */
    static double pythonFloorDiv(double a, double b) {
        double mod = a % b;
        double div = (a - mod) / b;
        double floor = Math.floor(div);
        return div - floor > 0.5 ? floor + 1 : floor;
    }

    private static void addChain(List<Needle> needles, String[] chain, String value, double[] ds, boolean needed) {
        for (int i = 0; i < chain.length; i++) {
            String t = i == 0 ? VT_VALUE.formatted(chain[i], value) : VT_COPY.formatted(chain[i], chain[i - 1]);
            needles.add(new Needle(ds[i], t, needed));
        }
    }

    /** Filler sentences: their tokens and their states (words and the final {@code "."}). */
    private record Filler(List<int[]> tokens, List<int[]> states) {
    }

    /** Sentences of exactly {@code budget} tokens ({@code train.py}'s {@code filler}). */
    private Filler filler(RandomSource rnd, int budget) throws NoRoom {
        List<int[]> toks = new ArrayList<>();
        List<int[]> states = new ArrayList<>();
        if (budget <= 0) {
            if (budget < 0) {
                throw new NoRoom();
            }
            return new Filler(toks, states);
        }
        if (budget == 1) {
            throw new NoRoom();
        }
        FillerPool p = pool;
        if (p.sentences() <= POOL_MARGIN) {
            throw new IllegalStateException("filler pool too small: " + p.sentences() + " sentences");
        }
        int s = (int) rnd.integers(0, p.sentences() - POOL_MARGIN);
        int base = p.sentenceTokenStart(s);
        int e = p.firstSentenceEndingAfter(base + budget);
        if (e > p.sentences() - 1) {
            throw new IllegalStateException("filler pool too small for " + budget + " tokens");
        }
        int used = e > s ? p.sentenceTokenEnd(e - 1) - base : 0;
        int r = budget - used;
        if (r == 1) { // a one-token remainder: give back the last whole sentence
            e--;
            used = e > s ? p.sentenceTokenEnd(e - 1) - base : 0;
            r = budget - used;
        }
        for (int i = s; i < e; i++) {
            toks.add(p.sentenceTokens(i));
            states.add(p.sentenceStates(i));
        }
        if (r > 0) {
            // a partial sentence: the next sentence's first words while they fit, single-token
            // words for the rest, then "."
            List<Integer> part = new ArrayList<>();
            List<Integer> t = new ArrayList<>();
            for (int w : p.sentenceWords(e)) {
                int[] wt = spec.wordTokens()[w];
                if (t.size() + wt.length + 1 > r) {
                    break;
                }
                part.add(w);
                for (int x : wt) {
                    t.add(x);
                }
            }
            int[] single = spec.singleTokenWords();
            while (t.size() + 1 < r) {
                int w = single[(int) rnd.integers(0, single.length)];
                part.add(w);
                for (int x : spec.wordTokens()[w]) {
                    t.add(x);
                }
            }
            part.add(spec.endState());
            for (int x : spec.wordTokens()[spec.endState()]) {
                t.add(x);
            }
            toks.add(t.stream().mapToInt(Integer::intValue).toArray());
            states.add(part.stream().mapToInt(Integer::intValue).toArray());
        }
        return new Filler(toks, states);
    }

    /** A sentence's text: {@code " w1 w2 ... wn."}. */
    private String sentenceText(int[] states) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < states.length - 1; i++) {
            b.append(' ').append(spec.words()[states[i]]);
        }
        return b.append('.').toString();
    }

    /**
     * Plain filler of exactly {@code tokens} tokens (whole sentences from a random start, then a
     * partial sentence), for perplexity.
     */
    public int[] fillerText(int tokens, RandomSource rnd) {
        try {
            Filler f = filler(rnd, tokens);
            return concat(f.tokens.toArray(int[][]::new));
        } catch (NoRoom e) {
            throw new IllegalArgumentException("no filler of " + tokens + " tokens");
        }
    }

    private static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) {
            n += p.length;
        }
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
