package dev.longctx.kvcache;

import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.KvView;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Produces {@link HeadProfile}s without training, with the Retrieval-Head score (Wu et al., 2024):
 * synthetic prompts of random filler tokens with a random needle inserted at several depths are
 * fed to a model; the model is then asked to continue with the needle (teacher-forced: at each step
 * the token being generated is the needle's next token), and {@link RetrievalHeadScorer} scores the
 * heads whose top-1 attention copies it.
 *
 * <p>The model is reached through {@link Model}, which the models module implements over its
 * decoder; a prompt here is plain token ids, so the profiler needs no tokenizer.
 */
public final class HeadProfiler {

    /** What the profiler needs from a model. */
    public interface Model {
        /** Layers of the model. */
        int layers();

        /** KV heads per layer. */
        int kvHeads();

        /** Query heads per KV head. */
        int groupSize();

        /** Token ids to draw filler and needles from: {@code [0, vocabularySize)}. */
        int vocabularySize();

        /**
         * Starts a fresh sequence with {@code prompt} prefilled at positions {@code 0..n-1}.
         */
        void prefill(int[] prompt);

        /**
         * Feeds {@code token} as the next input and runs one decoding step; the attention of layer
         * {@code l} must report to {@code observers.observer(l, views of layer l)}.
         */
        void step(int token, ObserverFactory observers);

        /** Ends the sequence (frees its cache). */
        void reset();
    }

    /** Observers per layer for one step. */
    @FunctionalInterface
    public interface ObserverFactory {
        /** The observer for layer {@code layer}'s attention over {@code views}. */
        AttentionObserver observer(int layer, KvView[] views);
    }

    /**
     * Profiling settings.
     *
     * @param contextLength tokens per synthetic prompt (needle included)
     * @param needleLength tokens of the needle
     * @param depths needle depths as fractions of the prompt, in [0, 1]
     * @param seed random seed for filler and needles
     */
    public record Settings(int contextLength, int needleLength, double[] depths, long seed) {
        public Settings {
            Objects.requireNonNull(depths, "depths");
            if (needleLength < 2 || contextLength < needleLength + 1 || depths.length == 0) {
                throw new IllegalArgumentException("head profiler: need needleLength >= 2, contextLength > needleLength and "
                        + "at least one depth, got context " + contextLength + ", needle " + needleLength + ", "
                        + depths.length + " depths");
            }
            for (double d : depths) {
                if (!(d >= 0 && d <= 1)) {
                    throw new IllegalArgumentException("head profiler: depth " + d + " outside [0, 1]");
                }
            }
        }
    }

    private HeadProfiler() {
    }

    /** Scores every KV head of {@code model}: [layers][kvHeads], 1 = copies every needle token. */
    public static float[][] score(Model model, Settings settings) {
        Objects.requireNonNull(model, "model");
        RetrievalHeadScorer scorer = new RetrievalHeadScorer(model.layers(), model.kvHeads(), model.groupSize());
        SplittableRandom r = new SplittableRandom(settings.seed());
        int n = settings.contextLength();
        int m = settings.needleLength();
        for (double depth : settings.depths()) {
            int[] prompt = new int[n];
            for (int i = 0; i < n; i++) {
                prompt[i] = r.nextInt(model.vocabularySize());
            }
            int start = (int) Math.round(depth * (n - m));
            int[] needle = new int[m];
            for (int i = 0; i < m; i++) {
                needle[i] = r.nextInt(model.vocabularySize());
                prompt[start + i] = needle[i];
            }
            // Teacher forcing: after the prompt, the model is fed the needle token by token; the
            // step that reads needle[i] (at position n + i) should produce needle[i + 1], which a
            // retrieval head finds at position start + i + 1.
            model.prefill(prompt);
            int[] fed = needle;
            scorer.startNeedle(start, start + m, p -> p < n ? prompt[(int) p] : fed[(int) p - n]);
            try {
                for (int i = 0; i + 1 < m; i++) {
                    scorer.beginStep(needle[i + 1]);
                    model.step(needle[i], scorer::observer);
                    scorer.endStep();
                }
            } finally {
                model.reset();
            }
        }
        float[][] s = scorer.scores();
        // Each prompt has m - 1 scored steps worth 1/m each: rescale so that a head copying every
        // step of every prompt scores 1.
        double norm = settings.depths().length * (m - 1) / (double) m;
        for (float[] row : s) {
            for (int h = 0; h < row.length; h++) {
                row[h] = (float) (row[h] / norm);
            }
        }
        return s;
    }

    /** Scores the heads and keeps the top {@code retrievalFraction} as retrieval heads. */
    public static HeadProfile profile(Model model, Settings settings, double retrievalFraction) {
        return HeadProfile.byFraction(score(model, settings), retrievalFraction);
    }
}
