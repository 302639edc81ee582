package dev.longctx.bench.ruler;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The charts of {@code eval --tasks ruler}: a needle-in-a-haystack heatmap (depth x context
 * length, accuracy averaged over the chosen tasks) per strategy at one budget, side by side in one
 * image, and accuracy against the budget per strategy (averaged over tasks and lengths, the full
 * cache as a flat line); and the main job's accuracy and KV memory per strategy.
 */
public final class RulerCharts {
    private static final int TILE_W = 380;
    private static final int TILE_H = 320;

    private RulerCharts() {
    }

    /**
     * Writes the heatmaps of every strategy at {@code budgetFraction} (the full cache at its own)
     * for {@code tasks}, as one PNG.
     */
    public static void heatmaps(RulerResults results, Set<String> tasks, double budgetFraction, List<String> strategies, Path file)
            throws IOException {
        List<BufferedImage> tiles = new ArrayList<>();
        for (String s : strategies) {
            double frac = s.equals("full") ? 1.0 : budgetFraction;
            TreeSet<Integer> lengths = new TreeSet<>();
            TreeSet<Double> depths = new TreeSet<>();
            for (var e : results.cells().entrySet()) {
                RulerResults.Key k = e.getKey();
                if (k.strategy().equals(s) && k.budgetFraction() == frac && tasks.contains(k.task())) {
                    lengths.add(k.contextTokens());
                    depths.addAll(e.getValue().byDepth.keySet());
                }
            }
            if (lengths.isEmpty()) {
                continue;
            }
            List<Integer> xs = new ArrayList<>(lengths);
            List<Double> ys = new ArrayList<>(depths);
            List<Number[]> heat = new ArrayList<>();
            for (int xi = 0; xi < xs.size(); xi++) {
                for (int yi = 0; yi < ys.size(); yi++) {
                    int n = 0;
                    int ok = 0;
                    for (var e : results.cells().entrySet()) {
                        RulerResults.Key k = e.getKey();
                        if (k.strategy().equals(s) && k.budgetFraction() == frac && tasks.contains(k.task())
                                && k.contextTokens() == xs.get(xi)) {
                            int[] c = e.getValue().byDepth.get(ys.get(yi));
                            if (c != null) {
                                n += c[0];
                                ok += c[1];
                            }
                        }
                    }
                    if (n > 0) {
                        heat.add(new Number[] {xi, yi, 100.0 * ok / n});
                    }
                }
            }
            String title = s + (s.equals("full") ? "" : " @ " + RulerResults.fraction(frac));
            HeatMapChart c = new HeatMapChartBuilder().width(TILE_W).height(TILE_H).title(title).xAxisTitle("context tokens")
                    .yAxisTitle("needle depth (%)").build();
            c.getStyler().setMin(0).setMax(100);
            c.getStyler().setRangeColors(new Color[] {new Color(0xd7191c), new Color(0xfdae61), new Color(0xffffbf),
                new Color(0xa6d96a), new Color(0x1a9641)});
            c.getStyler().setShowValue(true);
            c.getStyler().setLegendVisible(false);
            c.getStyler().setChartBackgroundColor(Color.WHITE);
            c.addSeries("accuracy", xs.stream().map(RulerCharts::lengthLabel).toList(),
                    ys.stream().map(d -> String.valueOf(Math.round(100 * d))).toList(), heat);
            tiles.add(BitmapEncoder.getBufferedImage(c));
        }
        int cols = Math.min(3, Math.max(1, tiles.size()));
        int rows = (tiles.size() + cols - 1) / cols;
        BufferedImage all = new BufferedImage(cols * TILE_W, Math.max(1, rows) * TILE_H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, all.getWidth(), all.getHeight());
        for (int i = 0; i < tiles.size(); i++) {
            g.drawImage(tiles.get(i), (i % cols) * TILE_W, (i / cols) * TILE_H, null);
        }
        g.dispose();
        write(all, file);
    }

    /** Accuracy (%) against the budget fraction per strategy, averaged over {@code tasks} and every length. */
    public static void accuracyByBudget(RulerResults results, Set<String> tasks, List<String> strategies, Path file)
            throws IOException {
        XYChart c = new XYChartBuilder().width(720).height(440).title("accuracy against KV budget (" + String.join(", ", tasks) + ")")
                .xAxisTitle("budget (fraction of the context)").yAxisTitle("exact match (%)").build();
        c.getStyler().setYAxisMin(0.0).setYAxisMax(100.0);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        TreeSet<Double> fractions = new TreeSet<>();
        results.cells().keySet().stream().filter(k -> !k.strategy().equals("full")).forEach(k -> fractions.add(k.budgetFraction()));
        for (String s : strategies) {
            List<Double> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            for (double f : s.equals("full") ? fractions : new TreeSet<>(fractions)) {
                double frac = s.equals("full") ? 1.0 : f;
                int n = 0;
                int ok = 0;
                for (Map.Entry<RulerResults.Key, RulerResults.Cell> e : results.cells().entrySet()) {
                    RulerResults.Key k = e.getKey();
                    if (k.strategy().equals(s) && k.budgetFraction() == frac && tasks.contains(k.task())) {
                        n += e.getValue().instances();
                        ok += e.getValue().correct();
                    }
                }
                if (n > 0) {
                    x.add(f);
                    y.add(100.0 * ok / n);
                }
            }
            if (!x.isEmpty()) {
                c.addSeries(s, x, y).setMarker(SeriesMarkers.CIRCLE);
            }
        }
        write(BitmapEncoder.getBufferedImage(c), file);
    }

    /**
     * Accuracy against KV memory at the longest context measured: one point per strategy and
     * budget, x the KV MiB a sequence held (the cell's largest), y the exact match over
     * {@code tasks} (issue 21's chart: what each method buys per byte).
     */
    public static void accuracyByKvMemory(RulerResults results, Set<String> tasks, List<String> strategies, Path file)
            throws IOException {
        int context = results.cells().keySet().stream().mapToInt(RulerResults.Key::contextTokens).max().orElse(0);
        XYChart c = new XYChartBuilder().width(720).height(440).title("accuracy against KV memory at " + context + " tokens ("
                + String.join(", ", tasks) + ")").xAxisTitle("KV MiB per sequence").yAxisTitle("exact match (%)").build();
        c.getStyler().setYAxisMin(0.0).setYAxisMax(100.0);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        for (String s : strategies) {
            // per budget: instances, correct, largest KV bytes
            TreeMap<Double, long[]> byBudget = new TreeMap<>();
            for (Map.Entry<RulerResults.Key, RulerResults.Cell> e : results.cells().entrySet()) {
                RulerResults.Key k = e.getKey();
                if (k.strategy().equals(s) && k.contextTokens() == context && tasks.contains(k.task())) {
                    long[] acc = byBudget.computeIfAbsent(k.budgetFraction(), f -> new long[3]);
                    acc[0] += e.getValue().instances();
                    acc[1] += e.getValue().correct();
                    acc[2] = Math.max(acc[2], e.getValue().kvBytes);
                }
            }
            List<Double> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            for (long[] acc : byBudget.values()) {
                if (acc[0] > 0) {
                    x.add(acc[2] / 1048576.0);
                    y.add(100.0 * acc[1] / acc[0]);
                }
            }
            if (!x.isEmpty()) {
                c.addSeries(s, x, y).setMarker(SeriesMarkers.CIRCLE);
            }
        }
        write(BitmapEncoder.getBufferedImage(c), file);
    }

    /** The demo's chart: accuracy (%) and KV MiB per strategy, side by side. */
    public static void strategyBars(List<String> names, double[] accuracy, double[] kvMiB, String title, Path file) throws IOException {
        CategoryChart a = new CategoryChartBuilder().width(520).height(400).title(title).xAxisTitle("strategy")
                .yAxisTitle("exact match (%)").build();
        a.getStyler().setYAxisMin(0.0).setYAxisMax(100.0).setLegendVisible(false).setChartBackgroundColor(Color.WHITE);
        a.getStyler().setLabelsVisible(true);
        a.getStyler().setDecimalPattern("#0");
        a.addSeries("accuracy", names, java.util.Arrays.stream(accuracy).boxed().toList());
        CategoryChart k = new CategoryChartBuilder().width(520).height(400).title("KV memory").xAxisTitle("strategy")
                .yAxisTitle("KV MiB").build();
        k.getStyler().setLegendVisible(false).setChartBackgroundColor(Color.WHITE);
        k.getStyler().setLabelsVisible(true);
        k.getStyler().setDecimalPattern("#0.0");
        k.addSeries("KV MiB", names, java.util.Arrays.stream(kvMiB).boxed().toList());
        BufferedImage left = BitmapEncoder.getBufferedImage(a);
        BufferedImage right = BitmapEncoder.getBufferedImage(k);
        BufferedImage all = new BufferedImage(left.getWidth() + right.getWidth(), Math.max(left.getHeight(), right.getHeight()),
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = all.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, all.getWidth(), all.getHeight());
        g.drawImage(left, 0, 0, null);
        g.drawImage(right, left.getWidth(), 0, null);
        g.dispose();
        write(all, file);
    }

    private static String lengthLabel(int l) {
        return l >= 1024 && l % 1024 == 0 ? (l / 1024) + "K" : String.valueOf(l);
    }

    /** Written beside the target and moved into place, so an interrupted run leaves no partial chart. */
    private static void write(BufferedImage img, Path file) throws IOException {
        Path target = file.toAbsolutePath();
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        Path tmp = target.resolveSibling("." + target.getFileName() + ".partial");
        try {
            ImageIO.write(img, "png", tmp.toFile());
            Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
