package dev.longctx.models.tokenizer;

import dev.longctx.models.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * BPE with merge ranks, run the way Hugging Face {@code tokenizers} runs a {@code tokenizer.json}:
 * added tokens are cut out of the raw text first; each remaining segment is normalised,
 * pre-tokenised into pieces, and each piece is merged (lowest rank first, ties leftmost) into
 * vocabulary tokens, with byte fallback or the unknown token for what the vocabulary lacks; the
 * post-processor's template then adds its special tokens. Decoding runs the decoder chain one token
 * at a time (see {@link TokenDecoder}). Also serves GGUF {@code gpt2} vocabularies.
 *
 * <p>Added tokens marked {@code normalized} are matched in the raw text like the others (real
 * checkpoints mark special tokens {@code normalized: false}, where this is exact).
 */
public final class BpeTokenizer implements Tokenizer {
    /** One added token of {@code tokenizer.json}. */
    record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord) {
    }

    /** The model part: vocabulary, merges and BPE options. */
    record Model(Map<String, Integer> vocab, Map<String, Integer> mergeRanks, boolean byteFallback, boolean ignoreMerges,
                 boolean fuseUnk, int unk) {
    }

    private final Model model;
    private final String[] tokens;
    private final List<AddedToken> added;
    private final Map<Character, List<AddedToken>> addedByFirstChar = new HashMap<>();
    private final boolean addedAlwaysMatched;
    private final UnaryOperator<String> normalizer;
    private final PreTokenizer preTokenizer;
    private final int[] prefix;
    private final int[] suffix;
    private final TokenDecoder decoder;
    private final boolean[] isAdded;
    private final int bos;
    private final int eos;

    BpeTokenizer(Model model, List<AddedToken> added, boolean addedAlwaysMatched, UnaryOperator<String> normalizer,
                 PreTokenizer preTokenizer, int[] prefix, int[] suffix, TokenDecoder decoder, int bos, int eos, String source) {
        this.model = model;
        int size = 0;
        for (int id : model.vocab().values()) {
            size = Math.max(size, id + 1);
        }
        for (AddedToken a : added) {
            size = Math.max(size, a.id() + 1);
        }
        this.tokens = new String[size];
        model.vocab().forEach((t, id) -> tokens[id] = t);
        this.isAdded = new boolean[size];
        for (AddedToken a : added) {
            tokens[a.id()] = a.content();
            isAdded[a.id()] = true;
        }
        for (int i = 0; i < size; i++) {
            if (tokens[i] == null) {
                tokens[i] = ""; // ids no entry names (holes in a vocabulary) decode to nothing
            }
        }
        this.added = List.copyOf(added);
        for (AddedToken a : this.added) {
            if (!a.content().isEmpty()) {
                addedByFirstChar.computeIfAbsent(a.content().charAt(0), c -> new ArrayList<>()).add(a);
            }
        }
        addedByFirstChar.values().forEach(l -> l.sort((x, y) -> Integer.compare(y.content().length(), x.content().length())));
        this.addedAlwaysMatched = addedAlwaysMatched;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.prefix = prefix.clone();
        this.suffix = suffix.clone();
        this.decoder = decoder;
        this.bos = bos;
        this.eos = eos;
        for (int id : concat(prefix, suffix)) {
            if (id < 0 || id >= size) {
                throw new ModelFormatException(source, -1, "post-processor token id " + id + " outside the vocabulary of " + size);
            }
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        String t = Utf8.wellFormed(text);
        List<Integer> out = new ArrayList<>();
        if (addSpecial) {
            for (int id : prefix) {
                out.add(id);
            }
        }
        boolean matchSpecial = addedAlwaysMatched || parseSpecial;
        int segStart = 0;
        int i = 0;
        while (i < t.length()) {
            AddedToken a = addedAt(t, i, matchSpecial);
            if (a == null) {
                i++;
                continue;
            }
            int cutStart = i;
            if (a.lstrip()) {
                while (cutStart > segStart && Character.isWhitespace(t.charAt(cutStart - 1))) {
                    cutStart--;
                }
            }
            int next = i + a.content().length();
            if (a.rstrip()) {
                while (next < t.length() && Character.isWhitespace(t.charAt(next))) {
                    next++;
                }
            }
            encodeSegment(t.substring(segStart, cutStart), segStart == 0, out);
            out.add(a.id());
            segStart = next;
            i = next;
        }
        encodeSegment(t.substring(segStart), segStart == 0, out);
        if (addSpecial) {
            for (int id : suffix) {
                out.add(id);
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * The added token that matches at {@code i}, longest first, or null; special ones only when
     * {@code matchSpecial} (non-special ones, a GGUF vocabulary's user-defined tokens, always match,
     * as in llama.cpp and Hugging Face tokenizers).
     */
    private AddedToken addedAt(String t, int i, boolean matchSpecial) {
        List<AddedToken> candidates = addedByFirstChar.get(t.charAt(i));
        if (candidates == null) {
            return null;
        }
        for (AddedToken a : candidates) {
            if ((matchSpecial || !a.special()) && t.startsWith(a.content(), i) && (!a.singleWord() || wordBoundary(t, i, i + a.content().length()))) {
                return a;
            }
        }
        return null;
    }

    private static boolean wordBoundary(String t, int start, int end) {
        boolean left = start == 0 || !Character.isLetterOrDigit(t.charAt(start - 1));
        boolean right = end >= t.length() || !Character.isLetterOrDigit(t.charAt(end));
        return left && right;
    }

    private void encodeSegment(String segment, boolean atStart, List<Integer> out) {
        if (segment.isEmpty()) {
            return;
        }
        String normalized = normalizer.apply(segment);
        for (String piece : preTokenizer.split(normalized, atStart)) {
            encodePiece(piece, out);
        }
    }

    private void encodePiece(String piece, List<Integer> out) {
        if (piece.isEmpty()) {
            return;
        }
        Map<String, Integer> vocab = model.vocab();
        if (model.ignoreMerges()) {
            Integer whole = vocab.get(piece);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        boolean lastUnk = false;
        for (int[] span : PairMerger.merge(piece, (w, l, m, r) -> {
            Integer rank = model.mergeRanks().get(w.substring(l, m) + '\u0000' + w.substring(m, r));
            return rank == null ? -1 : rank;
        })) {
            String sym = piece.substring(span[0], span[1]);
            Integer id = vocab.get(sym);
            if (id != null) {
                out.add(id);
                lastUnk = false;
                continue;
            }
            if (model.byteFallback()) {
                List<Integer> bytes = new ArrayList<>();
                for (byte b : sym.getBytes(StandardCharsets.UTF_8)) {
                    Integer bid = vocab.get(String.format("<0x%02X>", b & 0xFF));
                    if (bid == null) {
                        bytes = null;
                        break;
                    }
                    bytes.add(bid);
                }
                if (bytes != null) {
                    out.addAll(bytes);
                    lastUnk = false;
                    continue;
                }
            }
            if (model.unk() >= 0 && !(model.fuseUnk() && lastUnk)) {
                out.add(model.unk());
            }
            lastUnk = model.unk() >= 0;
        }
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < ids.length; i++) {
            out.writeBytes(tokenBytes(ids[i], i == 0));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public StreamingDecoder streamingDecoder(boolean continuation) {
        return new StreamingDecoder(this::tokenBytes, !continuation);
    }

    private byte[] tokenBytes(int id, boolean first) {
        checked(id);
        if (isAdded[id]) {
            return tokens[id].getBytes(StandardCharsets.UTF_8); // HF shows added tokens as their content
        }
        return decoder.apply(new TokenDecoder.Piece(tokens[id], false), first).bytes();
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
        Integer id = model.vocab().get(token);
        if (id == null) {
            for (AddedToken a : added) {
                if (a.content().equals(token)) {
                    return OptionalInt.of(a.id());
                }
            }
            return OptionalInt.empty();
        }
        return OptionalInt.of(id);
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    /**
     * A GGUF {@code gpt2} vocabulary: byte-level BPE with the merges of the file and the
     * pre-tokenizer its {@code tokenizer.ggml.pre} names ({@link GgufPreType}: split regexes, and
     * llama.cpp's {@code ignore_merges} where the type has it). As in llama.cpp, user-defined tokens
     * are always cut out of the text first (neox-style vocabularies have whitespace runs among them),
     * control tokens only when asked ({@code parseSpecial}).
     */
    static BpeTokenizer fromGguf(String[] tokens, int[] types, String[] merges, GgufPreType pre, int bos, int eos,
                                 boolean addBos, String source) {
        Map<String, Integer> vocab = new HashMap<>(tokens.length * 2);
        List<AddedToken> added = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            int type = types == null ? SentencePieceTokenizer.NORMAL : types[i];
            if (type == SentencePieceTokenizer.CONTROL || type == SentencePieceTokenizer.USER_DEFINED) {
                added.add(new AddedToken(i, tokens[i], type == SentencePieceTokenizer.CONTROL, false, false, false));
            } else {
                vocab.putIfAbsent(tokens[i], i);
            }
        }
        Map<String, Integer> ranks = new HashMap<>(merges.length * 2);
        for (int r = 0; r < merges.length; r++) {
            int space = merges[r].indexOf(' ', 1);
            if (space < 0) {
                throw new ModelFormatException(source, -1, "tokenizer.ggml.merges[" + r + "] '" + merges[r] + "' is not 'a b'");
            }
            ranks.putIfAbsent(merges[r].substring(0, space) + '\u0000' + merges[r].substring(space + 1), r);
        }
        List<PreTokenizer> steps = new ArrayList<>();
        for (Pattern p : pre.splits()) {
            steps.add(new PreTokenizer.Split(p, "Isolated", false));
        }
        steps.add(new PreTokenizer.ByteLevelPre(false, false));
        return new BpeTokenizer(new Model(vocab, ranks, false, pre.ignoreMerges(), false, -1), added, false, UnaryOperator.identity(),
                new PreTokenizer.Sequence(steps), addBos && bos >= 0 ? new int[] {bos} : new int[0], new int[0],
                new TokenDecoder.ByteLevelDecoder(), bos, eos, source);
    }
}
