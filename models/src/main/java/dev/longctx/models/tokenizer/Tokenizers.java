package dev.longctx.models.tokenizer;

import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Opens the tokenizer of a model, whatever its format. Stateless; every method is thread-safe. */
public final class Tokenizers {
    private static final Logger LOG = LoggerFactory.getLogger(Tokenizers.class);

    private Tokenizers() {
    }

    /**
     * The tokenizer embedded in a GGUF file: {@code tokenizer.ggml.model} {@code llama}
     * (SentencePiece-style, scores and byte tokens) or {@code gpt2} (byte-level BPE with merges,
     * split as {@code tokenizer.ggml.pre} says: see {@link GgufPreType} and docs/models.md for the
     * supported values; an unknown value is a {@link ModelFormatException} naming it, a missing one
     * means llama.cpp's {@code default}, with a warning, as llama.cpp does).
     */
    public static Tokenizer fromGguf(GgufFile g) {
        return fromGgufMetadata(g.metadata(), g.toString());
    }

    /** {@link #fromGguf} over a file's metadata (tests vary single keys). */
    static Tokenizer fromGgufMetadata(Map<String, Object> m, String source) {
        Object modelKey = m.get("tokenizer.ggml.model");
        if (!(modelKey instanceof String model)) {
            throw new ModelFormatException(source, -1, "metadata 'tokenizer.ggml.model' is "
                    + (modelKey == null ? "missing" : "a " + modelKey.getClass().getSimpleName()) + ", expected a string");
        }
        String[] tokens = strings(m.get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens", source);
        int[] types = m.containsKey("tokenizer.ggml.token_type")
                ? ints(m.get("tokenizer.ggml.token_type"), "tokenizer.ggml.token_type", tokens.length, source) : null;
        int bos = optionalId(m, "tokenizer.ggml.bos_token_id", tokens.length, source);
        int eos = optionalId(m, "tokenizer.ggml.eos_token_id", tokens.length, source);
        int unk = optionalId(m, "tokenizer.ggml.unknown_token_id", tokens.length, source);
        return switch (model) {
            case "llama" -> {
                float[] scores = floats(m.get("tokenizer.ggml.scores"), "tokenizer.ggml.scores", tokens.length, source);
                // llama.cpp's defaults for SPM vocabularies: BOS yes, EOS no, dummy prefix yes
                yield new SentencePieceTokenizer(tokens, scores, types, bos, eos, unk,
                        flag(m, "tokenizer.ggml.add_bos_token", true), flag(m, "tokenizer.ggml.add_eos_token", false),
                        flag(m, "tokenizer.ggml.add_space_prefix", true), source);
            }
            case "gpt2" -> {
                String[] merges = strings(m.get("tokenizer.ggml.merges"), "tokenizer.ggml.merges", source);
                Object preKey = m.get("tokenizer.ggml.pre");
                if (preKey != null && !(preKey instanceof String)) {
                    throw new ModelFormatException(source, -1, "metadata 'tokenizer.ggml.pre' is a "
                            + preKey.getClass().getSimpleName() + ", expected a string");
                }
                String pre = (String) preKey;
                if (pre == null || pre.isEmpty()) {
                    LOG.warn("{}: no tokenizer.ggml.pre; splitting with llama.cpp's 'default' pre-tokenizer, as llama.cpp"
                            + " does (ids may differ from the model's own tokenizer: convert the model again)", source);
                    pre = "default";
                }
                GgufPreType preType = GgufPreType.forName(pre, source);
                yield BpeTokenizer.fromGguf(tokens, types, merges, preType, bos, eos,
                        flag(m, "tokenizer.ggml.add_bos_token", preType.addBosByDefault()), source);
            }
            default -> throw new ModelFormatException(source, -1, "tokenizer.ggml.model '" + model
                    + "' is not supported (llama, gpt2)");
        };
    }

    /**
     * The tokenizer that comes with a model: {@code tokenizer.json} in a Hugging Face folder, or the
     * vocabulary embedded in a GGUF file. A llama2.c checkpoint has none: pass its
     * {@code tokenizer.bin} to {@link #fromFile}.
     */
    public static Tokenizer forModel(Path model) throws IOException {
        if (Files.isDirectory(model)) {
            Path json = model.resolve("tokenizer.json");
            if (!Files.exists(json)) {
                throw new ModelFormatException(model.toString(), -1, "no tokenizer.json in the model folder");
            }
            return HfTokenizerJson.read(json);
        }
        if (model.getFileName().toString().endsWith(".gguf")) {
            try (GgufFile g = GgufFile.open(model)) {
                return fromGguf(g);
            }
        }
        throw new ModelFormatException(model.toString(), -1, "a llama2.c checkpoint carries no vocabulary: give its tokenizer.bin");
    }

    /** A tokenizer file: {@code tokenizer.json} (Hugging Face) or a llama2.c {@code tokenizer.bin} (read to its end). */
    public static Tokenizer fromFile(Path file) throws IOException {
        if (file.getFileName().toString().endsWith(".json")) {
            return HfTokenizerJson.read(file);
        }
        return fromLlama2c(file, 0);
    }

    /**
     * A llama2.c {@code tokenizer.bin} ({@code max_token_length}, then per token a float score, an
     * int length and the bytes) for a vocabulary of {@code vocabSize}. Its pieces use plain spaces
     * and wrap BOS/EOS in newlines; they are read the way llama.cpp's converter reads them (spaces
     * as "▁", {@code <s>} and {@code </s>}), BOS 1, EOS 2, unknown 0.
     *
     * @param vocabSize tokens to read (the model's vocabulary size), or 0 to read to the end of the file
     */
    public static Tokenizer fromLlama2c(Path file, int vocabSize) throws IOException {
        String source = file.toString();
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (vocabSize == 0) {
            vocabSize = countLlama2cTokens(b, source);
        }
        if (vocabSize <= 0 || vocabSize > bytes.length / 8) {
            throw new ModelFormatException(source, 0, "a vocabulary of " + vocabSize + " tokens cannot fit in " + bytes.length
                    + " bytes");
        }
        if (b.remaining() < 4) {
            throw new ModelFormatException(source, 0, "too small for a llama2.c tokenizer header");
        }
        int maxLength = b.getInt();
        String[] tokens = new String[vocabSize];
        float[] scores = new float[vocabSize];
        var utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        for (int i = 0; i < vocabSize; i++) {
            long at = b.position();
            if (b.remaining() < 8) {
                throw new ModelFormatException(source, at, "token " + i + " of " + vocabSize + " is past the end of the file");
            }
            scores[i] = b.getFloat();
            int len = b.getInt();
            if (len < 0 || len > maxLength || len > b.remaining()) {
                throw new ModelFormatException(source, at + 4, "token " + i + " has length " + len + " (max_token_length "
                        + maxLength + ", " + b.remaining() + " bytes left)");
            }
            try {
                tokens[i] = utf8.decode(b.slice(b.position(), len)).toString();
            } catch (CharacterCodingException e) {
                throw new ModelFormatException(source, at + 8, "token " + i + " is not valid UTF-8");
            }
            b.position(b.position() + len);
            tokens[i] = switch (tokens[i]) {
                case "\n<s>\n" -> "<s>";
                case "\n</s>\n" -> "</s>";
                default -> tokens[i].replace(' ', '\u2581');
            };
        }
        return new SentencePieceTokenizer(tokens, scores, null, 1, 2, 0, true, false, true, source);
    }

    /** Counts the entries of a tokenizer.bin by walking its length fields. */
    private static int countLlama2cTokens(ByteBuffer file, String source) {
        ByteBuffer b = file.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < 4) {
            throw new ModelFormatException(source, 0, "too small for a llama2.c tokenizer header");
        }
        b.getInt();
        int n = 0;
        while (b.remaining() >= 8) {
            b.getFloat();
            int len = b.getInt();
            if (len < 0 || len > b.remaining()) {
                throw new ModelFormatException(source, b.position() - 4, "token " + n + " has length " + len + " with "
                        + b.remaining() + " bytes left");
            }
            b.position(b.position() + len);
            n++;
        }
        if (b.remaining() != 0) {
            throw new ModelFormatException(source, b.position(), b.remaining() + " stray bytes after " + n + " tokens");
        }
        return n;
    }

    private static String[] strings(Object v, String key, String source) {
        if (!(v instanceof List<?> list) || list.isEmpty() || !(list.getFirst() instanceof String)) {
            throw new ModelFormatException(source, -1, "metadata '" + key + "' must be a non-empty array of strings");
        }
        String[] out = new String[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof String s)) {
                throw new ModelFormatException(source, -1, "metadata '" + key + "'[" + i + "] is not a string");
            }
            out[i] = s;
        }
        return out;
    }

    private static float[] floats(Object v, String key, int n, String source) {
        if (!(v instanceof List<?> list) || list.size() != n) {
            throw new ModelFormatException(source, -1, "metadata '" + key + "' must be an array of " + n + " numbers");
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            if (!(list.get(i) instanceof Number x)) {
                throw new ModelFormatException(source, -1, "metadata '" + key + "'[" + i + "] is not a number");
            }
            out[i] = x.floatValue();
        }
        return out;
    }

    private static int[] ints(Object v, String key, int n, String source) {
        if (!(v instanceof List<?> list) || list.size() != n) {
            throw new ModelFormatException(source, -1, "metadata '" + key + "' must be an array of " + n + " integers");
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            if (!(list.get(i) instanceof Long x) || x < 0 || x > 6) {
                throw new ModelFormatException(source, -1, "metadata '" + key + "'[" + i + "] is not a token type (0..6)");
            }
            out[i] = x.intValue();
        }
        return out;
    }

    private static int optionalId(Map<String, Object> m, String key, int n, String source) {
        Object v = m.get(key);
        if (v == null) {
            return -1;
        }
        if (!(v instanceof Long x) || x < 0 || x >= n) {
            throw new ModelFormatException(source, -1, "metadata '" + key + "' = " + v + " is not a token id below " + n);
        }
        return x.intValue();
    }

    private static boolean flag(Map<String, Object> m, String key, boolean dflt) {
        return m.get(key) instanceof Boolean b ? b : dflt;
    }
}
