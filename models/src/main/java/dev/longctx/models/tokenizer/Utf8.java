package dev.longctx.models.tokenizer;

/** UTF-16 hygiene shared by the tokenizers. */
final class Utf8 {
    private Utf8() {
    }

    /** {@code s} with every lone surrogate replaced by U+FFFD, so its UTF-8 form is exact. */
    static String wellFormed(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean lone = Character.isHighSurrogate(c)
                    ? i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))
                    : Character.isLowSurrogate(c) && (i == 0 || !Character.isHighSurrogate(s.charAt(i - 1)));
            if (lone && b == null) {
                b = new StringBuilder(s.length()).append(s, 0, i);
            }
            if (b != null) {
                b.append(lone ? '\uFFFD' : c);
            }
        }
        return b == null ? s : b.toString();
    }
}
