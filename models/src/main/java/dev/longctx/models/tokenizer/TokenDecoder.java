package dev.longctx.models.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Hugging Face's {@code decoder} chain, applied one token at a time so that text can be streamed.
 * A token travels as a {@link Piece}: text, or (after {@code ByteLevel} or {@code ByteFallback})
 * raw bytes held one per char. Steps that {@code tokenizers} applies after {@code Fuse} see the
 * whole text there; of those, only {@code Strip} from the start is supported, and it then applies
 * to the first token only, which is the same thing.
 */
interface TokenDecoder {
    /** A token on its way to bytes: {@code raw} means each char of {@code text} is one byte. */
    record Piece(String text, boolean raw) {
        byte[] bytes() {
            return text.getBytes(raw ? StandardCharsets.ISO_8859_1 : StandardCharsets.UTF_8);
        }
    }

    /** Transforms one token; {@code first} says whether it starts the text. */
    Piece apply(Piece p, boolean first);

    /** {@code ByteLevel}: the GPT-2 characters back to the bytes they stand for. */
    record ByteLevelDecoder() implements TokenDecoder {
        @Override
        public Piece apply(Piece p, boolean first) {
            if (p.raw()) {
                return p;
            }
            return new Piece(new String(ByteLevel.decode(p.text()), StandardCharsets.ISO_8859_1), true);
        }
    }

    /** {@code ByteFallback}: a {@code <0xXX>} token becomes that byte. */
    record ByteFallback() implements TokenDecoder {
        @Override
        public Piece apply(Piece p, boolean first) {
            int b = SentencePieceTokenizer.byteValue(p.text());
            if (p.raw() || b < 0) {
                return p;
            }
            return new Piece(String.valueOf((char) b), true);
        }
    }

    /** {@code Replace} with a literal pattern (the form tokenizer.json files use). */
    record Replace(String pattern, String content) implements TokenDecoder {
        @Override
        public Piece apply(Piece p, boolean first) {
            return p.raw() ? p : new Piece(p.text().replace(pattern, content), false);
        }
    }

    /**
     * {@code Metaspace}: the replacement back to spaces, except that, as in {@code tokenizers}, every
     * replacement of the first token is dropped (not only its leading one) unless the scheme is
     * {@code never}; after {@code Fuse} the first token is the whole text, so all of them are.
     */
    record MetaspaceDecoder(char replacement, boolean stripFirst, boolean wholeText) implements TokenDecoder {
        @Override
        public Piece apply(Piece p, boolean first) {
            if (p.raw()) {
                return p;
            }
            boolean drop = stripFirst && (first || wholeText);
            return new Piece(p.text().replace(String.valueOf(replacement), drop ? "" : " "), false);
        }
    }

    /**
     * {@code Strip}: up to {@code start} leading and {@code stop} trailing {@code content} chars,
     * of each token, or (after {@code Fuse}) of the whole text, i.e. of the first token.
     */
    record Strip(char content, int start, int stop, boolean wholeText) implements TokenDecoder {
        @Override
        public Piece apply(Piece p, boolean first) {
            if (wholeText && !first) {
                return p;
            }
            String t = p.text();
            int a = 0;
            while (a < start && a < t.length() && t.charAt(a) == content) {
                a++;
            }
            int b = t.length();
            while (!wholeText && t.length() - b < stop && b > a && t.charAt(b - 1) == content) {
                b--;
            }
            return new Piece(t.substring(a, b), p.raw());
        }
    }

    /** {@code Sequence}: each step in turn ({@code Fuse} is implicit: tokens are joined at the end). */
    record Chain(List<TokenDecoder> steps) implements TokenDecoder {
        @Override
        public Piece apply(Piece p, boolean first) {
            for (TokenDecoder d : steps) {
                p = d.apply(p, first);
            }
            return p;
        }
    }
}
