package dev.longctx.models.internal;

import dev.longctx.models.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Strict UTF-8 for the text parts of model files (config.json, tokenizer.json, the safetensors
 * header and index): bytes that are not UTF-8 are a {@link ModelFormatException} naming the file
 * and the offset of the first bad byte, never an {@code IOException} that says only "Input length
 * = 1", nor text silently patched with U+FFFD.
 */
public final class Utf8Text {
    private Utf8Text() {
    }

    /** The text of {@code file}. */
    public static String read(Path file) throws IOException {
        return decode(Files.readAllBytes(file), file.toString(), 0);
    }

    /**
     * The text of {@code bytes}, which start at byte {@code base} of {@code source} (for the offset
     * in the error).
     */
    public static String decode(byte[] bytes, String source, long base) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            return d.decode(in).toString();
        } catch (CharacterCodingException e) {
            // decode(ByteBuffer) stops at the bad sequence: find its offset with a second pass
            in.rewind();
            java.nio.CharBuffer out = java.nio.CharBuffer.allocate(bytes.length + 1);
            d.reset();
            CoderResult r = d.decode(in, out, true);
            long at = r.isError() ? in.position() : bytes.length;
            throw new ModelFormatException(source, base + at, "not valid UTF-8 text");
        }
    }
}
