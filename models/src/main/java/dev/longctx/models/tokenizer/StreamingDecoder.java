package dev.longctx.models.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.BiFunction;

/**
 * Turns ids into text as they are generated without ever splitting a UTF-8 character: bytes of an
 * incomplete character are held until the rest arrives (a byte-fallback emoji spans four tokens).
 * Not thread-safe; one per stream.
 */
public final class StreamingDecoder {
    private final BiFunction<Integer, Boolean, byte[]> tokenBytes;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private boolean first;

    /**
     * @param tokenBytes the bytes of a token given whether it is the first of the text
     * @param first whether the next token starts the text
     */
    StreamingDecoder(BiFunction<Integer, Boolean, byte[]> tokenBytes, boolean first) {
        this.tokenBytes = tokenBytes;
        this.first = first;
    }

    /** Adds one id and returns the text that is now complete (possibly empty). */
    public String accept(int id) {
        pending.writeBytes(tokenBytes.apply(id, first));
        first = false;
        byte[] b = pending.toByteArray();
        int complete = completePrefix(b);
        pending.reset();
        pending.write(b, complete, b.length - complete);
        return new String(b, 0, complete, StandardCharsets.UTF_8);
    }

    /** Whatever is held back (an unfinished character becomes U+FFFD), clearing it. */
    public String flush() {
        String s = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return s;
    }

    /**
     * The length of the longest prefix that does not end inside a character that could still be
     * completed. Invalid bytes are let through (they decode to U+FFFD); only a valid but unfinished
     * sequence at the end is held.
     */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // look back at most 3 bytes for the lead byte of an unfinished sequence
        for (int back = 1; back <= Math.min(3, n); back++) {
            int v = b[n - back] & 0xFF;
            if ((v & 0xC0) == 0x80) {
                continue; // continuation byte: keep looking for its lead
            }
            int need = v >= 0xF0 && v <= 0xF4 ? 4 : v >= 0xE0 ? 3 : v >= 0xC2 && v < 0xE0 ? 2 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
