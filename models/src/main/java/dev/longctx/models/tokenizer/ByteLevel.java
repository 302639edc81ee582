package dev.longctx.models.tokenizer;

/**
 * GPT-2's byte-to-character table, used by byte-level BPE: each of the 256 byte values is shown as
 * a printable character (printable Latin-1 bytes as themselves, the others as U+0100 onwards), so
 * that any byte string is a string of "characters" the BPE merges can work on.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
        }
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        for (int b = 0; b < 256; b++) {
            CHAR_TO_BYTE[BYTE_TO_CHAR[b]] = b;
        }
    }

    private ByteLevel() {
    }

    /** The byte-level form of UTF-8 bytes. */
    static String encode(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /** The bytes of a byte-level token; characters outside the table are kept as their UTF-8. */
    static byte[] decode(String token) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                out.writeBytes(String.valueOf(c).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        return out.toByteArray();
    }
}
