package dev.longctx.kvcache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * MoA's profile (Fu et al., 2024, "MoA: Mixture of Sparse Attention for Automatic Large Language
 * Model Compression", sections 4-5): for every layer and KV head, the loss of each candidate
 * elastic rule {@code S = alpha_c + beta_c * N} measured on the model's own task instances
 * ({@link WindowLossScorer}: the attention mass the rule drops), and the choice of one rule per head
 * that minimises the summed loss under a memory budget ({@link #fit}). MoA solves that choice as a
 * mixed-integer program over several lengths; here it is one multiple-choice knapsack at the length
 * asked for, solved exactly by dynamic programming over token costs rounded up to a unit
 * ({@link #fitExhaustive} is the naive reference: every combination).
 *
 * <p>Threading: immutable.
 */
public final class MoaProfile {
    /**
     * The candidate windows at length 0, ours (MoA's search space is its own grid of alpha and
     * beta per model; this one spans 32 to 512 tokens).
     */
    public static final long[] DEFAULT_ALPHAS = {32, 128, 512};
    /** The candidate growths, ours: from a fixed window (0) to a head that sees everything (1). */
    public static final double[] DEFAULT_BETAS = {0, 1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 1};
    /** Sink tokens every head keeps: StreamingLLM's 4 (Xiao et al., 2023); MoA's spans also start with initial tokens. */
    public static final int DEFAULT_SINKS = 4;
    /** Cost units of the knapsack are at most this many over the whole budget (finer costs only slow the fit). */
    private static final int MAX_UNITS = 8192;

    private final int sinks;
    private final long[] alpha;
    private final double[] beta;
    private final double[][][] losses;

    /**
     * @param sinks sink tokens of every rule
     * @param alpha candidates' windows at length 0
     * @param beta candidates' growth (as many as {@code alpha})
     * @param losses [layers][kvHeads][candidates] profiled losses (>= 0)
     */
    public MoaProfile(int sinks, long[] alpha, double[] beta, double[][][] losses) {
        this.sinks = sinks;
        this.alpha = Objects.requireNonNull(alpha, "alpha").clone();
        this.beta = Objects.requireNonNull(beta, "beta").clone();
        Objects.requireNonNull(losses, "losses");
        if (sinks < 0) {
            throw new IllegalArgumentException("MoA profile: sinks must be >= 0, got " + sinks);
        }
        if (alpha.length == 0 || alpha.length != beta.length || losses.length == 0) {
            throw new IllegalArgumentException("MoA profile: " + alpha.length + " alphas, " + beta.length + " betas, " + losses.length
                    + " layers (need as many alphas as betas, at least one of each and a layer)");
        }
        this.losses = new double[losses.length][][];
        for (int l = 0; l < losses.length; l++) {
            if (losses[l].length == 0 || losses[l].length != losses[0].length) {
                throw new IllegalArgumentException("MoA profile: layer " + l + " has " + losses[l].length + " heads, layer 0 "
                        + losses[0].length);
            }
            this.losses[l] = new double[losses[l].length][];
            for (int h = 0; h < losses[l].length; h++) {
                if (losses[l][h].length != alpha.length) {
                    throw new IllegalArgumentException("MoA profile: layer " + l + " head " + h + " has " + losses[l][h].length
                            + " losses for " + alpha.length + " candidates");
                }
                for (double x : losses[l][h]) {
                    if (!(x >= 0)) {
                        throw new IllegalArgumentException("MoA profile: loss " + x + " at layer " + l + " head " + h + " (need >= 0)");
                    }
                }
                this.losses[l][h] = losses[l][h].clone();
            }
        }
        for (int c = 0; c < alpha.length; c++) {
            if (alpha[c] < 1 || !(beta[c] >= 0 && beta[c] <= 1)) {
                throw new IllegalArgumentException("MoA candidate " + c + ": alpha " + alpha[c] + " (>= 1), beta " + beta[c] + " (in [0, 1])");
            }
        }
    }

    /** The default candidates: every alpha of {@link #DEFAULT_ALPHAS} with every beta of {@link #DEFAULT_BETAS}. */
    public static long[] defaultAlphas() {
        long[] out = new long[DEFAULT_ALPHAS.length * DEFAULT_BETAS.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = DEFAULT_ALPHAS[i / DEFAULT_BETAS.length];
        }
        return out;
    }

    /** The betas matching {@link #defaultAlphas()}. */
    public static double[] defaultBetas() {
        double[] out = new double[DEFAULT_ALPHAS.length * DEFAULT_BETAS.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = DEFAULT_BETAS[i % DEFAULT_BETAS.length];
        }
        return out;
    }

    /** Layers. */
    public int layers() {
        return losses.length;
    }

    /** KV heads per layer. */
    public int kvHeads() {
        return losses[0].length;
    }

    /** Candidates. */
    public int candidates() {
        return alpha.length;
    }

    /** Sink tokens. */
    public int sinks() {
        return sinks;
    }

    /** The loss of candidate {@code c} at a head. */
    public double loss(int layer, int head, int c) {
        return losses[layer][head][c];
    }

    /** Tokens candidate {@code c} holds at length {@code n}: sinks plus its window there, at most {@code n}. */
    public long cost(int c, long n) {
        return Math.min(n, sinks + alpha[c] + (long) Math.floor(beta[c] * n));
    }

    /**
     * One rule per head, minimising the summed loss with the heads' tokens at length {@code n}
     * ({@link #cost}) summing to at most {@code density * n} per head on average; among equal
     * losses the larger memory. At a density of 1 or more every head attends everything (window 1
     * growing by one per token), whatever the candidates. Costs are rounded up to whole units of
     * {@code ceil(budget / 8192)} tokens, so the result always fits.
     *
     * @throws IllegalArgumentException when even the cheapest rules do not fit, or for a bad density or length
     */
    public HeadWindows fit(double density, long n) {
        capacity(density, n); // checks the arguments
        return density >= 1 ? everything() : windows(fitChoice(density, n));
    }

    /** Every head attends everything: window 1 growing by one per token (the budget holds every token). */
    private HeadWindows everything() {
        return HeadWindows.uniform(layers(), kvHeads(), sinks, 1, 1.0);
    }

    int[] fitChoice(double density, long n) {
        long capacity = capacity(density, n);
        int heads = layers() * kvHeads();
        long unit = Math.max(1, (capacity + MAX_UNITS - 1) / MAX_UNITS);
        int units = (int) (capacity / unit);
        int cands = candidates();
        int[] cost = new int[cands];
        for (int c = 0; c < cands; c++) {
            cost[c] = (int) Math.min(Integer.MAX_VALUE / 2, (cost(c, n) + unit - 1) / unit);
        }
        // best[h][u]: least loss of heads 0..h-1 using exactly u units (NaN: unreachable)
        double[][] best = new double[heads + 1][units + 1];
        int[][] pick = new int[heads + 1][units + 1];
        for (double[] row : best) {
            Arrays.fill(row, Double.NaN);
        }
        best[0][0] = 0;
        for (int h = 0; h < heads; h++) {
            double[] lh = losses[h / kvHeads()][h % kvHeads()];
            for (int u = 0; u <= units; u++) {
                if (Double.isNaN(best[h][u])) {
                    continue;
                }
                for (int c = 0; c < cands; c++) {
                    int v = u + cost[c];
                    if (v > units) {
                        continue;
                    }
                    double x = best[h][u] + lh[c];
                    if (Double.isNaN(best[h + 1][v]) || x < best[h + 1][v]) {
                        best[h + 1][v] = x;
                        pick[h + 1][v] = c;
                    }
                }
            }
        }
        int end = -1;
        for (int u = units; u >= 0; u--) { // from the most units down: ties keep the larger memory
            if (!Double.isNaN(best[heads][u]) && (end < 0 || best[heads][u] < best[heads][end])) {
                end = u;
            }
        }
        if (end < 0) {
            throw new IllegalArgumentException("MoA: a density of " + density + " at length " + n + " (" + capacity
                    + " tokens over " + heads + " heads) is below the cheapest rules' memory");
        }
        int[] choice = new int[heads];
        for (int h = heads, u = end; h > 0; h--) {
            choice[h - 1] = pick[h][u];
            u -= cost[pick[h][u]];
        }
        return choice;
    }

    /**
     * The naive reference of {@link #fit}: every combination of rules, the least summed loss whose
     * unit-rounded costs fit (ties: the larger memory, then the first in enumeration order). For
     * tests: {@code candidates ^ heads} combinations.
     */
    public HeadWindows fitExhaustive(double density, long n) {
        capacity(density, n);
        return density >= 1 ? everything() : windows(fitExhaustiveChoice(density, n));
    }

    int[] fitExhaustiveChoice(double density, long n) {
        long capacity = capacity(density, n);
        int heads = layers() * kvHeads();
        long unit = Math.max(1, (capacity + MAX_UNITS - 1) / MAX_UNITS);
        long units = capacity / unit;
        int cands = candidates();
        int[] c = new int[heads];
        int[] bestChoice = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        long bestUnits = -1;
        while (true) {
            long used = 0;
            double loss = 0;
            for (int h = 0; h < heads; h++) {
                used += (cost(c[h], n) + unit - 1) / unit;
                loss += losses[h / kvHeads()][h % kvHeads()][c[h]];
            }
            if (used <= units && (loss < bestLoss || (loss == bestLoss && used > bestUnits))) {
                bestLoss = loss;
                bestUnits = used;
                bestChoice = c.clone();
            }
            int i = 0;
            while (i < heads && ++c[i] == cands) {
                c[i++] = 0;
            }
            if (i == heads) {
                break;
            }
        }
        if (bestChoice == null) {
            throw new IllegalArgumentException("MoA: no rules fit a density of " + density + " at length " + n);
        }
        return bestChoice;
    }

    private long capacity(double density, long n) {
        if (!(density > 0) || n < 1) {
            throw new IllegalArgumentException("MoA fit: density must be > 0 and the length >= 1, got " + density + " and " + n);
        }
        return (long) Math.floor(Math.min(density, 1.0) * n * layers() * kvHeads() + 1e-9); // 1e-9: 0.125 * 4096 * 16 is exact
    }

    private HeadWindows windows(int[] choice) {
        long[][] a = new long[layers()][kvHeads()];
        double[][] b = new double[layers()][kvHeads()];
        for (int h = 0; h < choice.length; h++) {
            a[h / kvHeads()][h % kvHeads()] = alpha[choice[h]];
            b[h / kvHeads()][h % kvHeads()] = beta[choice[h]];
        }
        return new HeadWindows(sinks, a, b);
    }

    /** Writes the profile as JSON: sinks, the candidates and the losses. */
    public void write(Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("method", "MoA (Fu et al., 2024): dropped attention mass per candidate rule alpha + beta * N");
        root.put("sinks", sinks);
        ArrayNode cs = root.putArray("candidates");
        for (int c = 0; c < alpha.length; c++) {
            cs.addObject().put("alpha", alpha[c]).put("beta", beta[c]);
        }
        ArrayNode ls = root.putArray("losses");
        for (double[][] layer : losses) {
            ArrayNode la = ls.addArray();
            for (double[] head : layer) {
                ArrayNode ha = la.addArray();
                for (double x : head) {
                    ha.add(x);
                }
            }
        }
        Files.writeString(file, json.writerWithDefaultPrettyPrinter().writeValueAsString(root), StandardCharsets.UTF_8);
    }

    /**
     * Reads a profile {@link #write} wrote.
     *
     * @throws IOException when the file is unreadable or not a MoA profile (naming what is missing)
     */
    public static MoaProfile read(Path file) throws IOException {
        JsonNode root = new ObjectMapper().readTree(Files.readString(file, StandardCharsets.UTF_8));
        JsonNode cs = root.get("candidates");
        JsonNode ls = root.get("losses");
        if (root.get("sinks") == null || cs == null || !cs.isArray() || ls == null || !ls.isArray()) {
            throw new IOException(file + ": not a MoA profile (needs sinks, candidates and losses)");
        }
        long[] a = new long[cs.size()];
        double[] b = new double[cs.size()];
        for (int c = 0; c < a.length; c++) {
            a[c] = cs.get(c).path("alpha").asLong(-1);
            b[c] = cs.get(c).path("beta").asDouble(-1);
        }
        double[][][] losses = new double[ls.size()][][];
        for (int l = 0; l < losses.length; l++) {
            JsonNode la = ls.get(l);
            losses[l] = new double[la.size()][];
            for (int h = 0; h < la.size(); h++) {
                JsonNode ha = la.get(h);
                losses[l][h] = new double[ha.size()];
                for (int c = 0; c < ha.size(); c++) {
                    losses[l][h][c] = ha.get(c).asDouble(-1);
                }
            }
        }
        try {
            return new MoaProfile(root.get("sinks").asInt(-1), a, b, losses);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }
}
