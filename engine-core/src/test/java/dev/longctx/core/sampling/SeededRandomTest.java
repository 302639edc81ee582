package dev.longctx.core.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SeededRandomTest {
    @Test
    void matchesTheSplitMix64ReferenceSequence() {
        // Vigna's splitmix64.c from state 0 (and 42), computed independently with Python ints
        SeededRandom r = new SeededRandom(0);
        assertEquals(0xE220A8397B1DCDAFL, r.nextLong());
        assertEquals(0x6E789E6AA1B965F4L, r.nextLong());
        assertEquals(0x06C45D188009454FL, r.nextLong());
        SeededRandom r42 = new SeededRandom(42);
        assertEquals(0xBDD732262FEB6E95L, r42.nextLong());
        assertEquals(0x28EFE333B266F103L, r42.nextLong());
    }

    @Test
    void floatsAndDoublesAreUniformInTheUnitInterval() {
        SeededRandom r = new SeededRandom(7);
        int n = 100_000;
        double sumF = 0;
        double sumD = 0;
        for (int i = 0; i < n; i++) {
            float f = r.nextFloat();
            double d = r.nextDouble();
            assertTrue(f >= 0f && f < 1f, "nextFloat out of [0, 1): " + f);
            assertTrue(d >= 0d && d < 1d, "nextDouble out of [0, 1): " + d);
            sumF += f;
            sumD += d;
        }
        // mean of U(0,1) is 1/2 with standard deviation sqrt(1/12 / n) = 9.1e-4; allow 5 sigma
        assertEquals(0.5, sumF / n, 5 * Math.sqrt(1.0 / 12 / n));
        assertEquals(0.5, sumD / n, 5 * Math.sqrt(1.0 / 12 / n));
    }
}
