package dev.longctx.models.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.internal.Utf8Text;
import java.io.IOException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Reads a Hugging Face {@code tokenizer.json} into a {@link BpeTokenizer}. Supported: model
 * {@code BPE} (byte fallback, ignore_merges, fuse_unk); normalizers {@code Sequence},
 * {@code Prepend}, {@code Replace}, {@code NFC/NFD/NFKC/NFKD}, {@code Lowercase}; pre-tokenizers
 * {@code Sequence}, {@code Split}, {@code ByteLevel}, {@code Metaspace}, {@code Digits},
 * {@code Whitespace}, {@code WhitespaceSplit}; post-processors {@code TemplateProcessing},
 * {@code ByteLevel}, {@code Sequence}, {@code BertProcessing}, {@code RobertaProcessing}; decoders
 * {@code Sequence}, {@code ByteLevel}, {@code Metaspace}, {@code Replace}, {@code ByteFallback},
 * {@code Fuse}, {@code Strip}. Anything else is a {@link ModelFormatException} naming the component,
 * never a silently different tokenisation.
 */
public final class HfTokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Ids that no vocabulary entry or added token names (holes) a file may leave, in all. */
    static final int MAX_ID_HOLES = 65_536;
    /** Names of beginning- and end-of-sequence tokens in common vocabularies, for {@link Tokenizer#bosId()} / eosId. */
    private static final List<String> BOS_NAMES = List.of("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>");
    private static final List<String> EOS_NAMES = List.of("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>",
            "<|eot_id|>");

    private HfTokenizerJson() {
    }

    /** Reads {@code file}. */
    public static BpeTokenizer read(Path file) throws IOException {
        String source = file.toString();
        JsonNode root;
        try {
            root = JSON.readTree(Utf8Text.read(file));
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(source, -1, "malformed JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(source, -1, "expected a JSON object");
        }
        return new HfTokenizerJson.Reader(source).tokenizer(root);
    }

    private record Reader(String source) {
        BpeTokenizer tokenizer(JsonNode root) {
            JsonNode m = root.path("model");
            String type = m.path("type").asText("BPE");
            if (!type.equals("BPE")) {
                throw bad("model type '" + type + "' is not supported (BPE)");
            }
            for (String key : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
                if (m.hasNonNull(key) && !m.get(key).asText().isEmpty()) {
                    throw bad("model." + key + " is not supported");
                }
            }
            JsonNode v = m.path("vocab");
            if (!v.isObject()) {
                throw bad("model.vocab must be an object");
            }
            Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
            for (Map.Entry<String, JsonNode> e : v.properties()) {
                if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
                    throw bad("model.vocab['" + e.getKey() + "'] is not a non-negative id");
                }
                vocab.put(e.getKey(), e.getValue().asInt());
            }
            Map<String, Integer> ranks = new HashMap<>();
            JsonNode merges = m.path("merges");
            for (int r = 0; r < merges.size(); r++) {
                JsonNode e = merges.get(r);
                String a;
                String b;
                if (e.isArray() && e.size() == 2) {
                    a = e.get(0).asText();
                    b = e.get(1).asText();
                } else if (e.isTextual() && e.asText().indexOf(' ', 1) > 0) {
                    int space = e.asText().indexOf(' ', 1);
                    a = e.asText().substring(0, space);
                    b = e.asText().substring(space + 1);
                } else {
                    throw bad("model.merges[" + r + "] is neither \"a b\" nor [a, b]");
                }
                ranks.putIfAbsent(a + '\u0000' + b, r);
            }
            int unk = -1;
            if (m.hasNonNull("unk_token")) {
                Integer id = vocab.get(m.get("unk_token").asText());
                if (id == null) {
                    throw bad("model.unk_token '" + m.get("unk_token").asText() + "' is not in the vocabulary");
                }
                unk = id;
            }
            BpeTokenizer.Model model = new BpeTokenizer.Model(vocab, ranks, m.path("byte_fallback").asBoolean(false),
                    m.path("ignore_merges").asBoolean(false), m.path("fuse_unk").asBoolean(false), unk);
            List<BpeTokenizer.AddedToken> added = new ArrayList<>();
            for (JsonNode a : root.path("added_tokens")) {
                if (!a.path("id").canConvertToInt() || a.path("id").asInt() < 0 || !a.path("content").isTextual()) {
                    throw bad("added_tokens entry " + a + " needs an id and a content");
                }
                added.add(new BpeTokenizer.AddedToken(a.get("id").asInt(), a.get("content").asText(),
                        a.path("special").asBoolean(false), a.path("lstrip").asBoolean(false), a.path("rstrip").asBoolean(false),
                        a.path("single_word").asBoolean(false)));
            }
            // The tokenizer keeps a table indexed by id: an id far past the entries would size it from
            // the file (a 60-byte file with id 2^30 asked for gigabytes). Holes are allowed, a few.
            long idLimit = (long) vocab.size() + added.size() + MAX_ID_HOLES;
            for (Map.Entry<String, Integer> e : vocab.entrySet()) {
                if (e.getValue() >= idLimit) {
                    throw bad("model.vocab['" + e.getKey() + "'] = " + e.getValue() + " is far past the "
                            + (vocab.size() + added.size()) + " entries (ids must be below " + idLimit + ")");
                }
            }
            for (BpeTokenizer.AddedToken a : added) {
                if (a.id() >= idLimit) {
                    throw bad("added_tokens entry '" + a.content() + "' has id " + a.id() + ", far past the "
                            + (vocab.size() + added.size()) + " entries (ids must be below " + idLimit + ")");
                }
            }
            Map<String, Integer> byContent = new HashMap<>(vocab);
            added.forEach(a -> byContent.put(a.content(), a.id()));
            List<Integer> prefix = new ArrayList<>();
            List<Integer> suffix = new ArrayList<>();
            postProcessor(root.get("post_processor"), byContent, prefix, suffix);
            int bos = !prefix.isEmpty() ? prefix.getFirst() : firstPresent(BOS_NAMES, byContent);
            int eos = firstPresent(EOS_NAMES, byContent);
            return new BpeTokenizer(model, added, true, normalizer(root.get("normalizer")), preTokenizer(root.get("pre_tokenizer")),
                    prefix.stream().mapToInt(Integer::intValue).toArray(), suffix.stream().mapToInt(Integer::intValue).toArray(),
                    decoder(root.get("decoder"), false), bos, eos, source);
        }

        private static int firstPresent(List<String> names, Map<String, Integer> ids) {
            for (String n : names) {
                if (ids.containsKey(n)) {
                    return ids.get(n);
                }
            }
            return -1;
        }

        UnaryOperator<String> normalizer(JsonNode n) {
            if (n == null || n.isNull()) {
                return UnaryOperator.identity();
            }
            String type = n.path("type").asText();
            return switch (type) {
                case "Sequence" -> {
                    List<UnaryOperator<String>> steps = new ArrayList<>();
                    n.path("normalizers").forEach(s -> steps.add(normalizer(s)));
                    yield s -> {
                        for (UnaryOperator<String> f : steps) {
                            s = f.apply(s);
                        }
                        return s;
                    };
                }
                case "Prepend" -> {
                    String p = n.path("prepend").asText();
                    yield s -> s.isEmpty() ? s : p + s; // tokenizers prepends only to non-empty text
                }
                case "Replace" -> {
                    Pattern p = pattern(n.path("pattern"), "normalizer Replace");
                    String content = n.path("content").asText();
                    yield s -> p.matcher(s).replaceAll(java.util.regex.Matcher.quoteReplacement(content));
                }
                case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
                case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
                case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
                case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
                case "Lowercase" -> s -> s.toLowerCase(Locale.ROOT);
                default -> throw bad("normalizer '" + type + "' is not supported");
            };
        }

        PreTokenizer preTokenizer(JsonNode n) {
            if (n == null || n.isNull()) {
                return (text, atStart) -> List.of(text);
            }
            String type = n.path("type").asText();
            return switch (type) {
                case "Sequence" -> {
                    List<PreTokenizer> steps = new ArrayList<>();
                    n.path("pretokenizers").forEach(s -> steps.add(preTokenizer(s)));
                    yield new PreTokenizer.Sequence(steps);
                }
                case "Split" -> {
                    String behavior = n.path("behavior").asText("Isolated");
                    if (!List.of("Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous").contains(behavior)) {
                        throw bad("Split behavior '" + behavior + "' is not supported");
                    }
                    yield new PreTokenizer.Split(pattern(n.path("pattern"), "pre-tokenizer Split"), behavior,
                            n.path("invert").asBoolean(false));
                }
                case "ByteLevel" -> new PreTokenizer.ByteLevelPre(n.path("add_prefix_space").asBoolean(true),
                        n.path("use_regex").asBoolean(true));
                case "Metaspace" -> new PreTokenizer.Metaspace(replacement(n), prependScheme(n), n.path("split").asBoolean(true));
                case "Digits" -> new PreTokenizer.Split(Pattern.compile(n.path("individual_digits").asBoolean(false)
                        ? "\\p{N}" : "\\p{N}+"), "Isolated", false);
                case "WhitespaceSplit" -> new PreTokenizer.Split(Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS),
                        "Removed", false);
                case "Whitespace" -> new PreTokenizer.Split(Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS),
                        "Removed", true);
                default -> throw bad("pre-tokenizer '" + type + "' is not supported");
            };
        }

        void postProcessor(JsonNode n, Map<String, Integer> ids, List<Integer> prefix, List<Integer> suffix) {
            if (n == null || n.isNull()) {
                return;
            }
            String type = n.path("type").asText();
            switch (type) {
                case "ByteLevel" -> {
                    // offsets only
                }
                case "Sequence" -> n.path("processors").forEach(p -> postProcessor(p, ids, prefix, suffix));
                case "TemplateProcessing" -> {
                    boolean seenA = false;
                    for (JsonNode item : n.path("single")) {
                        if (item.has("Sequence")) {
                            seenA = true;
                        } else if (item.has("SpecialToken")) {
                            String name = item.get("SpecialToken").path("id").asText();
                            JsonNode st = n.path("special_tokens").path(name);
                            if (!st.path("ids").isArray() || st.path("ids").isEmpty()) {
                                throw bad("post_processor special token '" + name + "' has no ids");
                            }
                            for (JsonNode id : st.get("ids")) {
                                (seenA ? suffix : prefix).add(id.asInt());
                            }
                        } else {
                            throw bad("post_processor template item " + item + " is not supported");
                        }
                    }
                }
                case "BertProcessing", "RobertaProcessing" -> {
                    prefix.add(n.path("cls").path(1).asInt());
                    suffix.add(n.path("sep").path(1).asInt());
                }
                default -> throw bad("post-processor '" + type + "' is not supported");
            }
        }

        TokenDecoder decoder(JsonNode n, boolean afterFuse) {
            if (n == null || n.isNull()) {
                return (p, first) -> p;
            }
            String type = n.path("type").asText();
            return switch (type) {
                case "Sequence" -> {
                    List<TokenDecoder> steps = new ArrayList<>();
                    boolean fused = afterFuse;
                    for (JsonNode s : n.path("decoders")) {
                        fused |= s.path("type").asText().equals("Fuse");
                        steps.add(decoder(s, fused));
                    }
                    yield new TokenDecoder.Chain(steps);
                }
                case "ByteLevel" -> new TokenDecoder.ByteLevelDecoder();
                case "ByteFallback" -> new TokenDecoder.ByteFallback();
                case "Fuse" -> (p, first) -> p;
                case "Metaspace" -> new TokenDecoder.MetaspaceDecoder(replacement(n), !prependScheme(n).equals("never"), afterFuse);
                case "Replace" -> {
                    if (!n.path("pattern").has("String")) {
                        throw bad("decoder Replace with a regex pattern is not supported");
                    }
                    yield new TokenDecoder.Replace(n.path("pattern").path("String").asText(), n.path("content").asText());
                }
                case "Strip" -> {
                    String content = n.path("content").asText(" ");
                    if (content.length() != 1 || (afterFuse && n.path("stop").asInt(0) > 0)) {
                        throw bad("decoder Strip " + n + " is not supported");
                    }
                    yield new TokenDecoder.Strip(content.charAt(0), n.path("start").asInt(0), n.path("stop").asInt(0), afterFuse);
                }
                default -> throw bad("decoder '" + type + "' is not supported");
            };
        }

        private char replacement(JsonNode n) {
            String r = n.path("replacement").asText("\u2581");
            if (r.length() != 1) {
                throw bad("Metaspace replacement '" + r + "' must be one character");
            }
            return r.charAt(0);
        }

        /** {@code prepend_scheme} (always, first, never), or the older {@code add_prefix_space} flag. */
        private String prependScheme(JsonNode n) {
            if (n.hasNonNull("prepend_scheme")) {
                String s = n.get("prepend_scheme").asText();
                if (!List.of("always", "first", "never").contains(s)) {
                    throw bad("Metaspace prepend_scheme '" + s + "' is not supported");
                }
                return s;
            }
            return n.path("add_prefix_space").asBoolean(true) ? "always" : "never";
        }

        private Pattern pattern(JsonNode p, String where) {
            try {
                if (p.has("String")) {
                    return Pattern.compile(Pattern.quote(p.get("String").asText()));
                }
                if (p.has("Regex")) {
                    return Pattern.compile(p.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
                }
            } catch (PatternSyntaxException e) {
                throw bad(where + ": pattern does not compile: " + e.getDescription());
            }
            throw bad(where + ": pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + p);
        }

        private ModelFormatException bad(String what) {
            return new ModelFormatException(source, -1, what);
        }
    }
}
