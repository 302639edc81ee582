package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RooflineReportTest {

    private static Map<String, String> params(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    private static RooflineReport sample() {
        // read: 1 GiB in 40 ms = 26.8 GB/s; fma: 2 threads x 100.7 MFLOP in 1 ms = 201 GFLOP/s.
        return RooflineReport.of(List.of(
                new RooflineReport.Raw("dev.longctx.bench.RooflineBench.read", params("threads", "2"), 40, 1, "ms/op"),
                new RooflineReport.Raw("dev.longctx.bench.RooflineBench.fma", params("threads", "2"), 1, Double.NaN, "ms/op"),
                // 64 MiB in 2.5 ms = 26.8 GB/s: exactly the read roofline.
                new RooflineReport.Raw("dev.longctx.bench.MatvecBench.matvec",
                        params("cold", "true", "dtype", "F32", "shape", "2048x8192", "threads", "2"), 2500, 10, "us/op"),
                // 17.8 MB in 2 ms = 8.9 GB/s: a third of it.
                new RooflineReport.Raw("dev.longctx.bench.MatvecBench.matvec",
                        params("cold", "true", "dtype", "Q8_0", "shape", "2048x8192", "threads", "2"), 2000, 10, "us/op"),
                // 17.2 GFLOP in 170 ms = 101 GFLOP/s: just over half the peak.
                new RooflineReport.Raw("dev.longctx.bench.MatmulBench.matmul",
                        params("dtype", "F32", "shape", "8192x2048", "threads", "2", "tokens", "512"), 170, 1, "ms/op")));
    }

    @Test
    void fractionsAreAgainstTheMatchingRoofline() {
        RooflineReport r = sample();
        assertEquals((1L << 30) / 0.04 / 1e9, r.probe("RooflineBench.read"), 1e-9);
        var matvec = r.rows().get(2);
        assertEquals("MatvecBench.matvec", matvec.raw().benchmark());
        assertEquals(1.0, matvec.fraction(), 1e-9);
        var matmul = r.rows().get(4);
        assertEquals(2.0 * 512 * 8192 * 2048 / 0.17 / 1e9 / r.probe("RooflineBench.fma"), matmul.fraction(), 1e-9);
        assertTrue(Double.isNaN(r.rows().get(0).fraction()), "probes have no roofline");
    }

    @Test
    void theFastestProbeSettingIsTheRoofline() {
        RooflineReport r = RooflineReport.of(List.of(
                new RooflineReport.Raw("RooflineBench.read", params("streams", "1", "threads", "2"), 40, 1, "ms/op"),
                new RooflineReport.Raw("RooflineBench.read", params("streams", "4", "threads", "2"), 20, 1, "ms/op"),
                new RooflineReport.Raw("ElementwiseBench.dot", params("n", "131072", "threads", "2"), 1, 0, "us/op")));
        double fast = (1L << 30) / 0.02 / 1e9;
        assertEquals(fast, r.probe("RooflineBench.read"), 1e-9);
        assertEquals(fast, r.rows().get(2).rooflineValue(), 1e-9);
    }

    @Test
    void targetsReportMetNotMetAndNotRun() {
        var t = sample().targets();
        assertEquals(5, t.size());
        assertEquals("MET", t.get(0).verdict());       // matvec F32
        assertEquals("not run", t.get(1).verdict());   // matvec F16
        assertNull(t.get(1).row());
        assertEquals("NOT MET", t.get(2).verdict());   // matvec Q8_0
        assertFalse(t.get(2).met());
        assertEquals("MET", t.get(3).verdict());       // matmul F32
        assertEquals("not run", t.get(4).verdict());   // matmul Q8_0
    }

    @Test
    void printsTableAndJson() {
        RooflineReport r = sample();
        var bytes = new ByteArrayOutputStream();
        r.print(new PrintStream(bytes, true, StandardCharsets.UTF_8), List.of("header line"));
        String table = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(table.startsWith("header line"));
        assertTrue(table.contains("MatvecBench.matvec"));
        assertTrue(table.contains("F32 2048x8192 cold=true"));
        assertTrue(table.contains("100%"));

        String json = r.toJson(Map.of("cores", "2"));
        assertTrue(json.contains("\"name\": \"MatmulBench.matmul\""));
        assertTrue(json.contains("\"scoreError\": null"), "NaN error becomes null");
        assertTrue(json.contains("\"verdict\": \"NOT MET\""));
        assertEquals("\"a\\\"b\\\\c\\n\"", RooflineReport.str("a\"b\\c\n"));
    }
}
