package dev.longctx.models.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;

/**
 * The merge loop shared by BPE (merge ranks, Hugging Face) and SentencePiece-style BPE (token
 * scores, llama.cpp / llama2.c): a word starts as one symbol per code point; the adjacent pair with
 * the best priority is merged, ties going to the leftmost pair, until no pair can merge.
 *
 * <p>Symbols are spans of the word, kept in a doubly linked list; candidate pairs sit in a heap and
 * are re-validated when popped, so a word of n code points costs O(n log n), not O(n^2): SPM-style
 * tokenizers see a whole prompt as one word.
 */
final class PairMerger {
    /** Priority of merging two adjacent spans of a word: lower merges first; negative means never. */
    @FunctionalInterface
    interface Ranker {
        int priority(String word, int leftStart, int leftEnd, int rightEnd);
    }

    private record Candidate(int priority, int left, int end) {
    }

    private PairMerger() {
    }

    /** The spans ({@code [start, end)} pairs, in order) the word ends as. */
    static List<int[]> merge(String word, Ranker ranker) {
        int n = word.length();
        List<int[]> out = new ArrayList<>();
        if (n == 0) {
            return out;
        }
        // Linked list over code-point starts: end[s] is the end of the symbol starting at s.
        int[] end = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] alive = new boolean[n];
        int last = -1;
        for (int i = 0; i < n; i = word.offsetByCodePoints(i, 1)) {
            int e = word.offsetByCodePoints(i, 1);
            end[i] = e;
            alive[i] = true;
            prev[i] = last;
            next[i] = e < n ? e : -1;
            last = i;
        }
        PriorityQueue<Candidate> heap = new PriorityQueue<>((a, b) -> a.priority != b.priority
                ? Integer.compare(a.priority, b.priority) : Integer.compare(a.left, b.left));
        for (int s = 0; s != -1 && next[s] != -1; s = next[s]) {
            offer(heap, word, ranker, s, end[s], end[next[s]]);
        }
        while (!heap.isEmpty()) {
            Candidate c = heap.poll();
            int right = c.left < n && alive[c.left] ? next[c.left] : -1;
            if (right == -1 || end[right] != c.end) {
                continue; // stale: one side has merged since
            }
            end[c.left] = end[right];
            alive[right] = false;
            next[c.left] = next[right];
            if (next[right] != -1) {
                prev[next[right]] = c.left;
            }
            if (prev[c.left] != -1) {
                offer(heap, word, ranker, prev[c.left], c.left, end[c.left]);
            }
            if (next[c.left] != -1) {
                offer(heap, word, ranker, c.left, end[c.left], end[next[c.left]]);
            }
        }
        for (int s = 0; s != -1; s = next[s]) {
            out.add(new int[] {s, end[s]});
        }
        return out;
    }

    private static void offer(PriorityQueue<Candidate> heap, String word, Ranker ranker, int left, int mid, int rightEnd) {
        int p = ranker.priority(word, left, mid, rightEnd);
        if (p >= 0) {
            heap.add(new Candidate(p, left, rightEnd));
        }
    }
}
