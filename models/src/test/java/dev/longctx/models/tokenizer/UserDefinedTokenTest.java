package dev.longctx.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * GGUF token types as llama.cpp reads them: user-defined tokens are cut out of the text even when
 * special tokens are not parsed, control tokens only when they are. (The byte-level BPE path is also
 * checked against Hugging Face tokenizers by {@link GgufPreTokenizerTest}'s {@code <tool_call>} text.)
 */
class UserDefinedTokenTest {
    private static final int NORMAL = SentencePieceTokenizer.NORMAL;
    private static final int CONTROL = SentencePieceTokenizer.CONTROL;
    private static final int USER_DEFINED = SentencePieceTokenizer.USER_DEFINED;

    /** A SentencePiece vocabulary: single characters, a user-defined "<u>" and a control "<c>". */
    @Test
    void sentencePieceMatchesUserDefinedTokensAlways() {
        String[] tokens = {"<unk>", "<s>", "</s>", "▁", "a", "<", ">", "u", "c", "<u>", "<c>"};
        int[] types = {2, CONTROL, CONTROL, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, USER_DEFINED, CONTROL};
        float[] scores = new float[tokens.length];
        SentencePieceTokenizer t = new SentencePieceTokenizer(tokens, scores, types, 1, 2, 0, false, false, false, "test");
        // "<u>" always one token; "<c>" only with parseSpecial
        assertArrayEquals(new int[] {4, 9, 4, 5, 8, 6}, t.encode("a<u>a<c>", false, false));
        assertArrayEquals(new int[] {4, 9, 4, 10}, t.encode("a<u>a<c>", false, true));
        assertEquals("a<u>a", t.decode(new int[] {4, 9, 4}));
    }

    /** The same rule for a GGUF byte-level BPE vocabulary. */
    @Test
    void byteLevelBpeMatchesUserDefinedTokensAlways() {
        String[] tokens = {"a", "<", ">", "u", "c", "<u>", "<c>"};
        int[] types = {NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, USER_DEFINED, CONTROL};
        BpeTokenizer t = BpeTokenizer.fromGguf(tokens, types, new String[] {"a a"}, GgufPreType.forName("gpt-2", "test"), -1,
                -1, false, "test");
        assertArrayEquals(new int[] {0, 5, 0, 1, 4, 2}, t.encode("a<u>a<c>", false, false));
        assertArrayEquals(new int[] {0, 5, 0, 6}, t.encode("a<u>a<c>", false, true));
    }
}
