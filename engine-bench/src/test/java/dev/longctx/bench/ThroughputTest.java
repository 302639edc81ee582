package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ThroughputTest {
    private static final double EPS = 1e-9;

    @Test
    void matvecCountsWeightBytesOfEachDtype() {
        var f32 = Throughput.of("MatvecBench.matvec", Map.of("dtype", "F32", "shape", "2048x8192", "threads", "2"));
        assertEquals(2048.0 * 8192 * 4, f32.bytes(), EPS);
        assertEquals(2.0 * 2048 * 8192, f32.flops(), EPS);
        assertEquals(Throughput.Metric.GB_PER_S, f32.metric());
        assertEquals(Throughput.Roofline.READ_BANDWIDTH, f32.roofline());

        // Q8_0: 34 bytes per block of 32; Q4_0: 18; F16/BF16: 2 per element.
        assertEquals(2048.0 * 8192 / 32 * 34,
                Throughput.of("MatvecBench.matvec", Map.of("dtype", "Q8_0", "shape", "2048x8192")).bytes(), EPS);
        assertEquals(576.0 * 1536 / 32 * 18,
                Throughput.of("MatvecBench.matvec", Map.of("dtype", "Q4_0", "shape", "576x1536")).bytes(), EPS);
        assertEquals(49152.0 * 576 * 2,
                Throughput.of("MatvecBench.matvec", Map.of("dtype", "F16", "shape", "49152x576")).bytes(), EPS);
        assertEquals(49152.0 * 576 * 2,
                Throughput.of("MatvecBench.matvec", Map.of("dtype", "BF16", "shape", "49152x576")).bytes(), EPS);
    }

    @Test
    void matmulCountsTwoFlopsPerMultiplyAdd() {
        var w = Throughput.of("dev.longctx.bench.MatmulBench.matmul",
                Map.of("dtype", "Q8_0", "shape", "8192x2048", "tokens", "512"));
        assertEquals(2.0 * 512 * 8192 * 2048, w.flops(), EPS);
        assertEquals(8192.0 * 2048 / 32 * 34 + 4.0 * 512 * (8192 + 2048), w.bytes(), EPS);
        assertEquals(Throughput.Metric.GFLOP_PER_S, w.metric());
        assertEquals(Throughput.Roofline.FMA_PEAK, w.roofline());
    }

    @Test
    void elementwiseCountsArraysTouched() {
        Map<String, String> n = Map.of("n", "131072");
        assertEquals(3.0 * 131072 * 4, Throughput.of("ElementwiseBench.rmsnorm", n).bytes(), EPS);
        assertEquals(2.0 * 131072 * 4, Throughput.of("ElementwiseBench.softmax", n).bytes(), EPS);
        assertEquals(2.0 * 131072 * 4, Throughput.of("ElementwiseBench.silu", n).bytes(), EPS);
        assertEquals(2.0 * 131072 * 4, Throughput.of("ElementwiseBench.dot", n).bytes(), EPS);
        assertEquals(2.0 * 131072, Throughput.of("ElementwiseBench.dot", n).flops(), EPS);
        assertEquals(2.0 * 131072 * 4, Throughput.of("ElementwiseBench.rope", n).bytes(), EPS);
    }

    @Test
    void probesUseTheirFixedSizes() {
        assertEquals(1L << 30, Throughput.of("RooflineBench.read", Map.of("threads", "2")).bytes(), EPS);
        assertEquals(3.0 * (256L << 20), Throughput.of("RooflineBench.triad", Map.of("threads", "2")).bytes(), EPS);
        var fma = Throughput.of("RooflineBench.fma", Map.of("threads", "2"));
        assertEquals(2.0 * 2 * 12 * (1L << 22), fma.flops(), EPS);
        assertEquals(Throughput.Roofline.NONE, fma.roofline());
    }

    @Test
    void ratesFromJmhUnits() {
        assertEquals(0.0025, Throughput.secondsPerOp(2500, "us/op"), EPS);
        assertEquals(0.17, Throughput.secondsPerOp(170, "ms/op"), EPS);
        assertEquals(5e-7, Throughput.secondsPerOp(500, "ns/op"), EPS);
        assertEquals(0.25, Throughput.secondsPerOp(4, "ops/s"), EPS);
        assertEquals(0.0005, Throughput.secondsPerOp(2, "ops/ms"), EPS);
        var f32 = Throughput.of("MatvecBench.matvec", Map.of("dtype", "F32", "shape", "2048x8192"));
        assertEquals(2048.0 * 8192 * 4 / 0.0025 / 1e9, f32.rate(Throughput.secondsPerOp(2500, "us/op")), 1e-6);
        assertThrows(IllegalArgumentException.class, () -> Throughput.secondsPerOp(1, "B/op"));
        assertThrows(IllegalArgumentException.class, () -> Throughput.secondsPerOp(0, "us/op"));
    }

    @Test
    void rejectsUnknownBenchmarksAndBadParams() {
        assertThrows(IllegalArgumentException.class, () -> Throughput.of("Nope.bench", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> Throughput.of("MatvecBench.matvec", Map.of("dtype", "F32")));
        assertThrows(IllegalArgumentException.class,
                () -> Throughput.of("MatvecBench.matvec", Map.of("dtype", "F64", "shape", "2x32")));
        assertThrows(IllegalArgumentException.class, () -> Throughput.parseShape("2048*8192"));
        assertThrows(IllegalArgumentException.class, () -> Throughput.parseShape("0x32"));
        assertEquals(49152, Throughput.parseShape("49152x576")[0]);
        assertEquals(576, Throughput.parseShape("49152x576")[1]);
        assertEquals("MatvecBench.matvec", Throughput.shortName("dev.longctx.bench.MatvecBench.matvec"));
    }
}
