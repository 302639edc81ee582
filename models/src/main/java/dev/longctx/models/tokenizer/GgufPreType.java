package dev.longctx.models.tokenizer;

import dev.longctx.models.ModelFormatException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * How a GGUF {@code gpt2} (byte-level BPE) vocabulary splits text before merging, by its
 * {@code tokenizer.ggml.pre} value: the names and what each means (split regexes, whether a word
 * already in the vocabulary skips the merges, whether BOS is added when the file does not say) are
 * the facts of llama.cpp's {@code src/llama-vocab.cpp} (commit 34af94cd), for the names of the model
 * families this engine runs and the generic ones. The regexes are written as the families'
 * {@code tokenizer.json} files write them ({@code (?i:'s|...)}, Unicode letter categories), which
 * Java's regex engine runs as Hugging Face {@code tokenizers} does; llama.cpp's C++ adaptations of a
 * few of them (for {@code std::regex}) differ from those originals on rare text (combining marks
 * under {@code tekken} and {@code gpt-4o}: found by running llama.cpp's tokenizer test on this
 * module's fixtures, see docs/models.md), where this follows the {@code tokenizer.json}.
 *
 * <p>Each regex splits the pieces of the one before; matches and the text between them are all kept
 * (Hugging Face's {@code Split} with behaviour {@code Isolated}). Immutable and thread-safe.
 *
 * @param name the canonical name (the first llama.cpp lists for this behaviour)
 * @param splits the split patterns, applied in order
 * @param ignoreMerges whether a piece that is a vocabulary entry becomes that token without merging
 * @param addBosByDefault whether BOS is added when {@code tokenizer.ggml.add_bos_token} is absent
 */
record GgufPreType(String name, List<Pattern> splits, boolean ignoreMerges, boolean addBosByDefault) {
    /** GPT-2's pattern (also Hugging Face's ByteLevel pre-tokenizer's). */
    static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Llama 3's pattern (also the cl100k one of DBRX and OLMo 2): digits in runs of up to three. */
    static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's pattern: Llama 3's with single digits. */
    static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen3.5's pattern: Qwen2's with combining marks kept in words. */
    static final String QWEN35 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Mistral's Tekken pattern: words split at case changes, single digits. */
    static final String TEKKEN = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** The o200k pattern of GPT-4o and Llama 4: Tekken's word split with contractions, digits in threes. */
    static final String GPT4O = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final Map<String, GgufPreType> BY_NAME = new LinkedHashMap<>();

    static {
        // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT (also what it uses when the key is missing):
        // punctuation runs, GPT-2's pattern without its last alternative, digit runs, ASCII digit triples
        define(List.of("default"), false, false, "[\\p{P}\\$\\+<=>\\^~\\|]+",
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "\\p{N}+", "[0-9][0-9][0-9]");
        // LLAMA_VOCAB_PRE_TYPE_GPT2 (and MPT, OLMO, JAIS, TRILLION, GRANITE_DOCLING: the same regex);
        // "gpt2" is not llama.cpp's spelling but this engine has always read it (tools/retrieval-model writes it)
        define(List.of("gpt-2", "gpt2", "phi-2", "olmo", "mpt", "jais", "trillion", "granite-docling", "exaone4", "a.x-4.0",
                "mellum", "gigachat"), false, false, GPT2);
        // LLAMA_VOCAB_PRE_TYPE_LLAMA3: ignore_merges and BOS by default
        define(List.of("llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"),
                true, true, LLAMA3);
        // LLAMA_VOCAB_PRE_TYPE_DBRX and _SMAUG: Llama 3's regex with plain merges (OLMo 2's files say "dbrx")
        define(List.of("dbrx", "smaug-bpe"), false, false, LLAMA3);
        // LLAMA_VOCAB_PRE_TYPE_QWEN2 (and STABLELM2, HUNYUAN, SOLAR_OPEN, GROK_2: the same regex)
        define(List.of("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"),
                false, false, QWEN2);
        define(List.of("qwen35"), false, false, QWEN35);
        // LLAMA_VOCAB_PRE_TYPE_SMOLLM and the types sharing its regexes (STARCODER, REFACT: Granite 3's
        // files say "refact"; COMMAND_R, CODESHELL, EXAONE, MINERVA, MELLUM2): single digits, then GPT-2's
        define(List.of("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"),
                false, false, "\\p{N}", GPT2);
        // LLAMA_VOCAB_PRE_TYPE_TEKKEN (Mistral Nemo, Mistral Small 3): ignore_merges and BOS by default
        define(List.of("tekken"), true, true, TEKKEN);
        // LLAMA_VOCAB_PRE_TYPE_GPT4O (and MINIMAX_M2)
        define(List.of("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"), false, false, GPT4O);
    }

    private static void define(List<String> names, boolean ignoreMerges, boolean addBos, String... regexes) {
        List<Pattern> patterns = java.util.Arrays.stream(regexes)
                .map(r -> Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS)).toList();
        GgufPreType type = new GgufPreType(names.getFirst(), patterns, ignoreMerges, addBos);
        for (String n : names) {
            if (BY_NAME.put(n, type) != null) {
                throw new IllegalStateException("pre-tokenizer name " + n + " defined twice");
            }
        }
    }

    /** Every {@code tokenizer.ggml.pre} value this reader understands. */
    static Set<String> names() {
        return Collections.unmodifiableSet(BY_NAME.keySet());
    }

    /**
     * The type named {@code pre}, or a {@link ModelFormatException} naming it and listing the
     * supported values (llama.cpp refuses unknown values too: a guess would give different ids).
     */
    static GgufPreType forName(String pre, String source) {
        GgufPreType t = BY_NAME.get(pre);
        if (t == null) {
            throw new ModelFormatException(source, -1, "tokenizer.ggml.pre '" + pre + "' is not supported (supported: "
                    + String.join(", ", new TreeSet<>(BY_NAME.keySet())) + ")");
        }
        return t;
    }
}
