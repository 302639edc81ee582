package dev.longctx.bench.ruler;

import java.util.Arrays;

/**
 * A long stretch of filler from the Markov chain: its states, their tokens, and where each
 * sentence starts and ends, in states and in tokens ({@code train.py}'s {@code Pool}). Instances
 * take whole sentences from a random start in it.
 */
public final class FillerPool {
    private final int[] states;
    private final int[] tokens;
    private final int[] sentFirst;
    private final int[] sentEndState;
    private final int[] sentTok;
    private final int[] sentTokEnd;

    private FillerPool(RulerSpec spec, int[] states) {
        int end = spec.endState();
        int n = states.length;
        int[] tokOff = new int[n + 1];
        int sentences = 0;
        for (int i = 0; i < n; i++) {
            tokOff[i + 1] = tokOff[i] + spec.wordTokens()[states[i]].length;
            if (states[i] == end) {
                sentences++;
            }
        }
        if (n == 0 || states[n - 1] != end) {
            throw new IllegalArgumentException("a filler pool must end with a sentence end");
        }
        this.states = states;
        this.tokens = new int[tokOff[n]];
        for (int i = 0; i < n; i++) {
            int[] t = spec.wordTokens()[states[i]];
            System.arraycopy(t, 0, tokens, tokOff[i], t.length);
        }
        sentFirst = new int[sentences];
        sentEndState = new int[sentences];
        sentTok = new int[sentences];
        sentTokEnd = new int[sentences];
        int s = 0;
        int first = 0;
        for (int i = 0; i < n; i++) {
            if (states[i] == end) {
                sentFirst[s] = first;
                sentEndState[s] = i;
                sentTok[s] = tokOff[first];
                sentTokEnd[s] = tokOff[i + 1];
                s++;
                first = i + 1;
            }
        }
    }

    /** A pool over given states (which start at a sentence and end with {@code "."}). */
    public static FillerPool of(RulerSpec spec, int[] states) {
        return new FillerPool(spec, states.clone());
    }

    /**
     * A pool of about {@code words} states: one chain from the start state, sampled as tasks.json
     * says (r uniform in [0, weight_total), the first successor whose cumulative weight exceeds r),
     * cut after its last sentence end. ({@code train.py} runs 2,048 such chains side by side and
     * concatenates them; each is the same Markov chain from the same start state.)
     */
    public static FillerPool generate(RulerSpec spec, int words, RandomSource rnd) {
        int end = spec.endState();
        int[] out = new int[words];
        int state = end;
        int last = -1;
        for (int t = 0; t < words; t++) {
            long r = rnd.integers(0, spec.weightTotal());
            int[] cum = spec.cumulative()[state];
            int i = 0;
            while (cum[i] <= r) {
                i++;
            }
            state = spec.next()[state][i];
            out[t] = state;
            if (state == end) {
                last = t;
            }
        }
        return new FillerPool(spec, Arrays.copyOf(out, last + 1));
    }

    /** Sentences in the pool. */
    public int sentences() {
        return sentFirst.length;
    }

    int[] states() {
        return states;
    }

    /** Token offset of sentence {@code i}. */
    int sentenceTokenStart(int i) {
        return sentTok[i];
    }

    /** Token offset just past sentence {@code i}. */
    int sentenceTokenEnd(int i) {
        return sentTokEnd[i];
    }

    /** The tokens of sentence {@code i}. */
    int[] sentenceTokens(int i) {
        return Arrays.copyOfRange(tokens, sentTok[i], sentTokEnd[i]);
    }

    /** The word states of sentence {@code i}, without its final {@code "."}. */
    int[] sentenceWords(int i) {
        return Arrays.copyOfRange(states, sentFirst[i], sentEndState[i]);
    }

    /** The word states of sentence {@code i}, with its final {@code "."}. */
    int[] sentenceStates(int i) {
        return Arrays.copyOfRange(states, sentFirst[i], sentEndState[i] + 1);
    }

    /** numpy {@code searchsorted(sentTokEnd, value, side="right")}: the first sentence whose end exceeds {@code value}. */
    int firstSentenceEndingAfter(int value) {
        int lo = 0;
        int hi = sentTokEnd.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (sentTokEnd[mid] <= value) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
