package dev.longctx.bench.ruler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The task generator's spec ({@code tools/retrieval-model/model/tasks.json}) with its pieces
 * tokenized by the model's tokenizer: the filler language (words, Markov successors and integer
 * weights), the key words and the special token ids. Instances are built in token space from these
 * pieces, as {@code train.py} does.
 *
 * @param words filler states: the words, then {@code "."} (the end and start state)
 * @param next successors of each state
 * @param cumulative cumulative integer weights of each state's successors
 * @param weightTotal the weights' sum per state
 * @param singleTokenWords states whose word is one token with its leading space
 * @param keys key words (single tokens with their leading space)
 * @param wordTokens tokens of {@code " " + word} per state, and of {@code "."} for the end state
 * @param tokenizer the model's tokenizer, for needles, questions and answers
 * @param tasks the task names
 */
public record RulerSpec(String[] words, int[][] next, int[][] cumulative, int weightTotal, int[] singleTokenWords, String[] keys,
                        int[][] wordTokens, Tokenizer tokenizer, List<String> tasks) {
    /** Special ids of the chat template (tasks.json {@code special_tokens}). */
    public static final int BOS = 0;
    /** End of a turn and of the text. */
    public static final int EOS = 1;
    /** {@code <|user|>}. */
    public static final int USER = 2;
    /** {@code <|assistant|>}. */
    public static final int ASSISTANT = 3;

    /** The end (and start) state: the last state, {@code "."}. */
    public int endState() {
        return words.length - 1;
    }

    /** Reads tasks.json and tokenizes its words with {@code tokenizer}. */
    public static RulerSpec load(Path tasksJson, Tokenizer tokenizer) throws IOException {
        JsonNode root = new ObjectMapper().readTree(tasksJson.toFile());
        JsonNode f = root.get("filler");
        String[] words = new ObjectMapper().treeToValue(f.get("states"), String[].class);
        int n = words.length;
        if (f.get("end_state").asInt() != n - 1 || f.get("start_state").asInt() != n - 1) {
            throw new IOException(tasksJson + ": expected the end and start state to be the last state");
        }
        int[][] next = new int[n][];
        int[][] cum = new int[n][];
        for (int s = 0; s < n; s++) {
            JsonNode ns = f.get("next").get(s);
            JsonNode ws = f.get("weight").get(s);
            next[s] = new int[ns.size()];
            cum[s] = new int[ns.size()];
            int acc = 0;
            for (int i = 0; i < ns.size(); i++) {
                next[s][i] = ns.get(i).asInt();
                acc += ws.get(i).asInt();
                cum[s][i] = acc;
            }
        }
        int total = f.get("weight_total").asInt();
        int[] single = new ObjectMapper().treeToValue(f.get("single_token_words"), int[].class);
        String[] keys = new ObjectMapper().treeToValue(root.get("keys"), String[].class);
        int[][] wordTokens = new int[n][];
        for (int s = 0; s < n - 1; s++) {
            wordTokens[s] = tokenizer.encode(" " + words[s], false, false);
        }
        wordTokens[n - 1] = tokenizer.encode(".", false, false);
        List<String> tasks = List.of(new ObjectMapper().treeToValue(root.get("tasks"), String[].class));
        return new RulerSpec(words, next, cum, total, single, keys, wordTokens, tokenizer, tasks);
    }

    /** Token ids of {@code text} without special tokens (the tokenizer's own split). */
    public int[] encode(String text) {
        return tokenizer.encode(text, false, false);
    }
}
