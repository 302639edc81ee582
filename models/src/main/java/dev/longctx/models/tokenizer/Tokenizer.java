package dev.longctx.models.tokenizer;

import java.util.OptionalInt;

/**
 * Text to token ids and back. Encoding never throws on its input: characters outside the
 * vocabulary follow the tokenizer's own rules (byte fallback, or the unknown token), and Java
 * strings that are not valid UTF-16 (lone surrogates) are encoded as U+FFFD, as UTF-8 encoders do.
 * Decoding joins the tokens' bytes and reads them as UTF-8, invalid sequences becoming U+FFFD, as
 * Hugging Face {@code tokenizers} does; {@link #streamingDecoder} never splits a character.
 *
 * <p>Implementations are immutable and thread-safe.
 */
public interface Tokenizer {

    /**
     * Encodes {@code text}. {@code addSpecial} adds what the tokenizer adds around a sequence (the
     * post-processor's template for HF tokenizers, BOS for SentencePiece vocabularies).
     * {@code parseSpecial} lets special-token text in the input (e.g. {@code <|im_start|>} from a
     * chat template) become those tokens; without it, it is encoded as plain text (Hugging Face
     * tokenizers always match their added tokens, so they ignore this flag).
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** {@code encode(text, true, false)}: as the tokenizer encodes a prompt by default. */
    default int[] encode(String text) {
        return encode(text, true, false);
    }

    /** The text of {@code ids} (special tokens included as their text where they have one). */
    String decode(int[] ids);

    /**
     * A decoder for a stream of generated ids that emits only whole characters.
     *
     * @param continuation whether the ids continue earlier text (so a leading space of the first
     *     piece is kept, as it is mid-text) rather than start it
     */
    StreamingDecoder streamingDecoder(boolean continuation);

    /** The number of ids. */
    int vocabSize();

    /** The token string of {@code id} as the vocabulary stores it. */
    String token(int id);

    /** The id of a token string, if the vocabulary has it. */
    OptionalInt id(String token);

    /** The beginning-of-sequence id, or -1. */
    int bosId();

    /** The end-of-sequence id, or -1. */
    int eosId();
}
