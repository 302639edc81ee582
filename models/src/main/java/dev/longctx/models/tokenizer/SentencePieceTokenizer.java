package dev.longctx.models.tokenizer;

import dev.longctx.models.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * SentencePiece-style BPE over a scored vocabulary, as llama.cpp's {@code llama} (SPM) tokenizer
 * and llama2.c's {@code encode()} run it: spaces become U+2581 ("▁"), a "▁" is prefixed to the
 * text (the dummy prefix), the text starts as one symbol per character, and the adjacent pair
 * whose concatenation is the highest-scoring token merges first (ties: leftmost) until none can.
 * A final symbol that is not a token falls back to its UTF-8 bytes as {@code <0xXX>} tokens (or
 * the unknown token when the vocabulary has none).
 *
 * <p>User-defined tokens in the text are always matched, control tokens only when asked
 * ({@code parseSpecial}), as llama.cpp (and SentencePiece, for its user-defined symbols) does; the
 * dummy prefix goes before each piece of text that
 * starts the input or follows a special token. Decoding turns "▁" back into spaces, drops the
 * space the dummy prefix put before the first piece of a text, and shows control tokens as nothing
 * (llama.cpp's {@code token_to_piece} without special rendering).
 */
public final class SentencePieceTokenizer implements Tokenizer {
    /** GGUF / llama.cpp token types. */
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;
    public static final int UNUSED = 5;
    public static final int BYTE = 6;

    private static final char SPACE = '\u2581';

    private final String[] tokens;
    private final int[] types;
    private final int[] priority;
    private final Map<String, Integer> ids;
    private final int[] byteIds = new int[256];
    private final List<Integer> specials = new ArrayList<>();
    /** Whether any special token is user-defined (matched in text even without {@code parseSpecial}). */
    private final boolean hasUserDefined;
    private final int bos;
    private final int eos;
    private final int unk;
    private final boolean addBos;
    private final boolean addEos;
    private final boolean addSpacePrefix;

    /**
     * @param tokens the pieces ("▁" for spaces, {@code <0xXX>} for bytes)
     * @param scores a score per piece (higher merges first)
     * @param types a type per piece ({@link #NORMAL} ...), or null to infer byte tokens by name
     * @param bos BOS id or -1
     * @param eos EOS id or -1
     * @param unk unknown-token id or -1
     * @param addBos whether encoding with special tokens prepends BOS
     * @param addEos whether it appends EOS
     * @param addSpacePrefix whether the dummy "▁" prefix is added
     * @param source names the vocabulary in errors
     */
    public SentencePieceTokenizer(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk, boolean addBos,
                                  boolean addEos, boolean addSpacePrefix, String source) {
        int n = tokens.length;
        if (n == 0 || scores.length != n || (types != null && types.length != n)) {
            throw new ModelFormatException(source, -1, "vocabulary of " + n + " tokens has " + scores.length + " scores and "
                    + (types == null ? "no" : String.valueOf(types.length)) + " types");
        }
        for (int id : new int[] {bos, eos, unk}) {
            if (id < -1 || id >= n) {
                throw new ModelFormatException(source, -1, "special token id " + id + " outside the vocabulary of " + n);
            }
        }
        this.tokens = tokens.clone();
        this.types = types != null ? types.clone() : inferTypes(tokens, bos, eos, unk);
        this.bos = bos;
        this.eos = eos;
        this.unk = unk;
        this.addBos = addBos;
        this.addEos = addEos;
        this.addSpacePrefix = addSpacePrefix;
        this.ids = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            ids.putIfAbsent(tokens[i], i);
        }
        Arrays.fill(byteIds, -1);
        for (int i = 0; i < n; i++) {
            if (this.types[i] == BYTE) {
                int b = byteValue(tokens[i]);
                if (b >= 0) {
                    byteIds[b] = i;
                }
            }
            if (this.types[i] == CONTROL || this.types[i] == USER_DEFINED) {
                if (!tokens[i].isEmpty()) {
                    specials.add(i);
                }
            }
        }
        this.hasUserDefined = specials.stream().anyMatch(id -> this.types[id] == USER_DEFINED);
        // longest first, so that matching special text prefers the longest token
        specials.sort((a, b) -> Integer.compare(tokens[b].length(), tokens[a].length()));
        // Merge priority: the dense rank of the token's score, best first (equal scores tie, and
        // the merge loop then takes the leftmost pair, as llama.cpp's comparator does).
        float[] distinct = scores.clone();
        Arrays.sort(distinct);
        this.priority = new int[n];
        for (int i = 0; i < n; i++) {
            int at = Arrays.binarySearch(distinct, scores[i]);
            while (at > 0 && Float.compare(distinct[at - 1], scores[i]) == 0) {
                at--;
            }
            priority[i] = n - 1 - at; // higher score -> smaller priority
        }
    }

    private static int[] inferTypes(String[] tokens, int bos, int eos, int unk) {
        int[] t = new int[tokens.length];
        for (int i = 0; i < t.length; i++) {
            t[i] = i == unk ? UNKNOWN : i == bos || i == eos ? CONTROL : byteValue(tokens[i]) >= 0 ? BYTE : NORMAL;
        }
        return t;
    }

    /** The byte of a {@code <0xXX>} token, or -1. */
    static int byteValue(String token) {
        if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') {
            return -1;
        }
        try {
            return Integer.parseInt(token.substring(3, 5), 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        List<Integer> out = new ArrayList<>();
        if (addSpecial && addBos && bos >= 0) {
            out.add(bos);
        }
        int start = 0;
        boolean prevSpecial = true;
        while (start < text.length()) {
            int at = text.length();
            int special = -1;
            if (parseSpecial || hasUserDefined) {
                for (int i = start; i < text.length() && special < 0; i++) {
                    for (int id : specials) {
                        if ((parseSpecial || types[id] == USER_DEFINED) && text.startsWith(tokens[id], i)) {
                            at = i;
                            special = id;
                            break;
                        }
                    }
                }
            }
            if (at > start) {
                encodeText(text.substring(start, at), prevSpecial, out);
                prevSpecial = false;
            }
            if (special >= 0) {
                out.add(special);
                prevSpecial = true;
                start = at + tokens[special].length();
            } else {
                start = at;
            }
        }
        if (addSpecial && addEos && eos >= 0) {
            out.add(eos);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private void encodeText(String raw, boolean prefix, List<Integer> out) {
        String text = ((prefix && addSpacePrefix ? " " : "") + Utf8.wellFormed(raw)).replace(' ', SPACE);
        for (int[] span : PairMerger.merge(text, (w, l, m, r) -> {
            Integer id = ids.get(w.substring(l, r));
            return id == null ? -1 : priority[id];
        })) {
            String piece = text.substring(span[0], span[1]);
            Integer id = ids.get(piece);
            if (id != null) {
                out.add(id);
                continue;
            }
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                int bid = byteIds[b & 0xFF];
                if (bid >= 0) {
                    out.add(bid);
                } else if (unk >= 0) {
                    out.add(unk);
                }
            }
        }
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean first = true;
        for (int id : ids) {
            out.writeBytes(tokenBytes(id, first));
            if (types[checked(id)] != CONTROL) {
                first = false;
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public StreamingDecoder streamingDecoder(boolean continuation) {
        boolean[] first = {!continuation};
        return new StreamingDecoder((id, ignored) -> {
            byte[] b = tokenBytes(id, first[0]);
            if (types[checked(id)] != CONTROL) {
                first[0] = false;
            }
            return b;
        }, !continuation);
    }

    /**
     * The bytes a token stands for, as llama.cpp's {@code token_to_piece} without special rendering:
     * "▁" as spaces, byte tokens as their byte, control tokens (BOS, EOS, chat markers) as nothing.
     */
    private byte[] tokenBytes(int id, boolean first) {
        int t = types[checked(id)];
        if (t == CONTROL) {
            return new byte[0];
        }
        if (t == BYTE) {
            int b = byteValue(tokens[id]);
            return b >= 0 ? new byte[] {(byte) b} : new byte[0];
        }
        String piece = tokens[id].replace(SPACE, ' ');
        if (first && addSpacePrefix && t != CONTROL && piece.startsWith(" ")) {
            piece = piece.substring(1); // the space the dummy prefix added
        }
        return piece.getBytes(StandardCharsets.UTF_8);
    }

    private int checked(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + tokens.length);
        }
        return id;
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public String token(int id) {
        return tokens[checked(id)];
    }

    @Override
    public OptionalInt id(String token) {
        Integer id = ids.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    /** The type of a token ({@link #NORMAL}, {@link #CONTROL}, ...). */
    public int type(int id) {
        return types[checked(id)];
    }
}
