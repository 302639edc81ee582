package dev.longctx.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ExecutorThreadsTest {

    @Test
    void explicitThreadsWin() {
        assertEquals(3, ExecutorThreads.resolve(3, "8", "local[2]", 16));
    }

    @Test
    void executorCoresComeNext() {
        assertEquals(8, ExecutorThreads.resolve(0, "8", "yarn", 16));
        assertEquals(8, ExecutorThreads.resolve(0, " 8 ", "local[2]", 16));
    }

    @Test
    void localMasterGivesItsThreads() {
        assertEquals(2, ExecutorThreads.resolve(0, null, "local[2]", 16));
        assertEquals(4, ExecutorThreads.resolve(0, null, "local[4, 3]", 16));
        assertEquals(16, ExecutorThreads.resolve(0, null, "local[*]", 16));
        assertEquals(1, ExecutorThreads.resolve(0, null, "local", 16));
    }

    @Test
    void otherwiseTheProcessors() {
        assertEquals(16, ExecutorThreads.resolve(0, null, "spark://host:7077", 16));
        assertEquals(16, ExecutorThreads.resolve(0, "not-a-number", null, 16));
        assertEquals(16, ExecutorThreads.resolve(0, "0", null, 16));
        assertEquals(1, ExecutorThreads.resolve(0, null, null, 0));
    }
}
