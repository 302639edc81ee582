package dev.longctx.core.tensor;

import dev.longctx.core.kernels.spi.Quantization;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorTest {

    @Test
    void heapTensorViewsShareStorage() {
        float[] data = new float[24];
        for (int i = 0; i < 24; i++) {
            data[i] = i;
        }
        Tensor t = Tensor.ofFloats(data, 2, 3, 4);
        assertEquals(6, t.rows());
        assertEquals(4, t.columns());
        assertEquals(16, t.rowBytes());
        Tensor m = t.reshape(6, 4);
        assertArrayEquals(new float[] {20, 21, 22, 23}, m.row(5).toFloatArray());
        Tensor s = t.slice(1, 1);
        assertArrayEquals(new long[] {1, 3, 4}, s.shape());
        assertEquals(12f, s.toFloatArray()[0]);
        data[12] = 99f;
        assertEquals(99f, s.toFloatArray()[0], "views must not copy");
    }

    @Test
    void offHeapTensorFreesAndThenThrows() {
        Tensor t = Tensor.allocate(DType.Q8_0, 4, 64);
        assertEquals(4 * 2 * 34, t.byteSize());
        Tensor row = t.row(2);
        assertEquals(68, row.byteSize());
        t.close();
        t.close(); // idempotent
        assertTrue(t.isClosed() && row.isClosed());
        var e = assertThrows(IllegalStateException.class, t::segment);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, row::toFloatArray);
    }

    @Test
    void segmentUseAfterCloseIsAnExceptionNotACrash() {
        Tensor t = Tensor.allocate(DType.F32, 1024);
        var seg = t.segment();
        t.close();
        assertThrows(IllegalStateException.class, () -> seg.get(Quantization.FLOAT_LE, 0));
    }

    @Test
    void badShapesAreRejectedWithTheShape() {
        var e = assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.F32, 3, -1));
        assertTrue(e.getMessage().contains("negative"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.F32, 1L << 40, 1L << 40));
        assertTrue(e.getMessage().contains("overflow"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.Q4_0, 2, 48));
        assertTrue(e.getMessage().contains("block size 32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.ofFloats(new float[5], 2, 3));
        assertTrue(e.getMessage().contains("6 elements"), e.getMessage());
        Tensor t = Tensor.ofFloats(new float[6], 2, 3);
        e = assertThrows(IllegalArgumentException.class, () -> t.slice(1, 2));
        assertTrue(e.getMessage().contains("dimension 0 of size 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
        assertTrue(e.getMessage().contains("element counts differ"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> t.row(2));
        assertTrue(e.getMessage().contains("row 2"), e.getMessage());
    }

    @Test
    void mappedFileOver2GiBReadsTensorsPastTheLimit(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("big.bin");
        long offset = (1L << 31) + 4096; // past what a ByteBuffer or int index can address
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(offset + 64); // sparse: costs no disk space
        }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            b.putFloat(1.5f).putFloat(-2f).putFloat(3.25f).putFloat(4f).flip();
            ch.write(b, offset);
        }
        try (MappedFile mf = MappedFile.open(f)) {
            assertEquals(offset + 64, mf.size());
            Tensor t = mf.tensor(DType.F32, offset, 2, 2);
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f, 4f}, t.toFloatArray());
            var e = assertThrows(IllegalArgumentException.class, () -> mf.tensor(DType.F32, offset + 48, 8));
            assertTrue(e.getMessage().contains("past the end") && e.getMessage().contains(String.valueOf(offset + 48)),
                    e.getMessage());
            mf.close();
            assertThrows(IllegalStateException.class, t::toFloatArray);
        }
    }
}
