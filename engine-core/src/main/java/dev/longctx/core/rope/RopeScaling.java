package dev.longctx.core.rope;

/**
 * How the rotary inverse frequencies are stretched to reach longer contexts. Each variant computes
 * exactly what the matching function of Hugging Face transformers' {@code modeling_rope_utils.py}
 * computes (see {@link Rope} for the float32 details), so a model configured the HF way gets the
 * same cos/sin tables.
 *
 * <p>Map an HF {@code rope_parameters} / {@code rope_scaling} dict as follows: {@code "default"}
 * or absent: {@link None}; {@code "linear"}: {@link Linear}; {@code "dynamic"}:
 * {@link DynamicNtk} with the config's {@code max_position_embeddings}; {@code "yarn"}:
 * {@link Yarn}; {@code "llama3"}: {@link Llama3}.
 */
public sealed interface RopeScaling
        permits RopeScaling.None, RopeScaling.Linear, RopeScaling.DynamicNtk, RopeScaling.Yarn,
                RopeScaling.Llama3, RopeScaling.FrequencyFactors {

    /** The unscaled RoPE of the original paper (HF {@code _compute_default_rope_parameters}). */
    static RopeScaling none() {
        return None.INSTANCE;
    }

    /** No scaling: {@code inv_freq[i] = 1 / theta^(2i/d)}. */
    record None() implements RopeScaling {
        static final None INSTANCE = new None();
    }

    /**
     * Position interpolation: every inverse frequency divided by {@code factor}
     * (HF {@code _compute_linear_scaling_rope_parameters}).
     *
     * @param factor how many times longer the context becomes; finite and positive
     */
    record Linear(double factor) implements RopeScaling {
        public Linear {
            requirePositive("Linear", "factor", factor);
        }
    }

    /**
     * Dynamic NTK-aware scaling (HF {@code _compute_dynamic_ntk_parameters}): while the sequence
     * is no longer than {@code originalMaxPositions} the frequencies are the default ones; beyond,
     * the base becomes {@code theta * (factor * L / original - (factor - 1))^(d / (d - 2))} with
     * {@code L} the sequence length.
     *
     * @param factor the scaling factor; finite and positive
     * @param originalMaxPositions HF's {@code config.max_position_embeddings}: the length the
     *     model was trained at, below which nothing changes; positive
     */
    record DynamicNtk(double factor, int originalMaxPositions) implements RopeScaling {
        public DynamicNtk {
            requirePositive("DynamicNtk", "factor", factor);
            requirePositive("DynamicNtk", "originalMaxPositions", originalMaxPositions);
        }
    }

    /**
     * YaRN (Peng et al. 2023, HF {@code _compute_yarn_parameters}): dimensions that turn fewer
     * than {@code betaSlow} times over the original context are interpolated by {@code factor},
     * those that turn more than {@code betaFast} times are left alone, and a linear ramp blends
     * the ones in between; cos and sin are multiplied by an attention factor.
     *
     * <p>Unlike transformers 4.4x-4.5x, which replaced {@code factor} by
     * {@code max_position_embeddings / original_max_position_embeddings} whenever the latter was
     * present, this follows transformers 5 and uses {@code factor} as given; a loader for a config
     * without {@code factor} should pass that ratio.
     *
     * @param factor the context extension factor; finite and positive
     * @param originalMaxPositions the pre-training context ({@code original_max_position_embeddings})
     * @param betaFast rotations above which a dimension is extrapolated (paper default 32); HF turns
     *     a missing or zero value into 32, here it must be positive
     * @param betaSlow rotations below which a dimension is interpolated (paper default 1); likewise
     * @param mscale the numerator's {@code mscale} (DeepSeek configs); 0 means absent, as in HF
     *     where a falsy value is ignored
     * @param mscaleAllDim the denominator's {@code mscale_all_dim}; 0 means absent. The ratio of
     *     the two is used only when both are non-zero
     * @param attentionFactor an explicit cos/sin multiplier, or {@link Double#NaN} to derive it:
     *     {@code get_mscale(factor, mscale) / get_mscale(factor, mscaleAllDim)} when both are set,
     *     else {@code get_mscale(factor) = 0.1 ln(factor) + 1} (1 when {@code factor <= 1})
     * @param truncate whether the correction range is floored/ceiled to whole dimensions (HF
     *     default true; gpt-oss sets false)
     */
    record Yarn(double factor, int originalMaxPositions, double betaFast, double betaSlow,
                double mscale, double mscaleAllDim, double attentionFactor, boolean truncate)
            implements RopeScaling {
        /** Paper and HF default for {@code beta_fast}. */
        public static final double DEFAULT_BETA_FAST = 32;
        /** Paper and HF default for {@code beta_slow}. */
        public static final double DEFAULT_BETA_SLOW = 1;

        public Yarn {
            requirePositive("Yarn", "factor", factor);
            requirePositive("Yarn", "originalMaxPositions", originalMaxPositions);
            requirePositive("Yarn", "betaFast", betaFast);
            requirePositive("Yarn", "betaSlow", betaSlow);
            requireNonNegative("Yarn", "mscale", mscale);
            requireNonNegative("Yarn", "mscaleAllDim", mscaleAllDim);
            if (!Double.isNaN(attentionFactor)) {
                requirePositive("Yarn", "attentionFactor", attentionFactor);
            }
        }

        /** YaRN with the paper's defaults: betas 32/1, no mscale, derived attention factor, truncated range. */
        public Yarn(double factor, int originalMaxPositions) {
            this(factor, originalMaxPositions, DEFAULT_BETA_FAST, DEFAULT_BETA_SLOW, 0, 0, Double.NaN, true);
        }

        /** The attention factor HF computes for this configuration (double precision, as in Python). */
        public double resolvedAttentionFactor() {
            if (!Double.isNaN(attentionFactor)) {
                return attentionFactor;
            }
            if (mscale != 0 && mscaleAllDim != 0) {
                return getMscale(factor, mscale) / getMscale(factor, mscaleAllDim);
            }
            return getMscale(factor, 1);
        }

        /** YaRN's {@code get_mscale}: 1 for {@code scale <= 1}, else {@code 0.1 * mscale * ln(scale) + 1}. */
        static double getMscale(double scale, double mscale) {
            if (scale <= 1) {
                return 1.0;
            }
            // 0.1 and 1.0 are the constants of the YaRN paper's sqrt(1/t) fit, eq. (22)
            return 0.1 * mscale * Math.log(scale) + 1.0;
        }
    }

    /**
     * Llama 3.1's frequency-dependent scaling (HF {@code _compute_llama3_parameters}):
     * wavelengths shorter than {@code original / highFreqFactor} are kept, those longer than
     * {@code original / lowFreqFactor} are divided by {@code factor}, and the band between is
     * blended smoothly. Llama 3.1 uses 8, 1, 4 and 8192.
     *
     * @param factor the interpolation factor for low frequencies; finite and positive
     * @param lowFreqFactor the low-frequency boundary divisor; finite and positive
     * @param highFreqFactor the high-frequency boundary divisor; greater than {@code lowFreqFactor}
     * @param originalMaxPositions the pre-training context ({@code original_max_position_embeddings})
     */
    record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
            implements RopeScaling {
        public Llama3 {
            requirePositive("Llama3", "factor", factor);
            requirePositive("Llama3", "lowFreqFactor", lowFreqFactor);
            requirePositive("Llama3", "highFreqFactor", highFreqFactor);
            requirePositive("Llama3", "originalMaxPositions", originalMaxPositions);
            if (!(highFreqFactor > lowFreqFactor)) {
                // the smoothing divides by (high - low) and the bands would overlap otherwise
                throw new IllegalArgumentException("RopeScaling.Llama3: highFreqFactor " + highFreqFactor
                        + " must be greater than lowFreqFactor " + lowFreqFactor);
            }
        }
    }

    /**
     * Explicit per-pair divisors of the default inverse frequencies: {@code inv_freq[i] / factors[i]}.
     * This is how GGUF files carry Llama 3.1-style scaling: llama.cpp's converter evaluates the
     * Llama 3 rule once and stores the divisors as the {@code rope_freqs.weight} tensor (and
     * llama.cpp divides each angle by them: {@code ggml_rope_ext}'s freq_factors).
     *
     * @param factors one finite positive divisor per rotated pair ({@code rotaryDim / 2}); copied
     */
    record FrequencyFactors(float[] factors) implements RopeScaling {
        public FrequencyFactors {
            factors = factors.clone();
            for (int i = 0; i < factors.length; i++) {
                requirePositive("FrequencyFactors", "factors[" + i + "]", factors[i]);
            }
        }

        /** The divisors (a copy). */
        @Override
        public float[] factors() {
            return factors.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof FrequencyFactors f && java.util.Arrays.equals(factors, f.factors);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(factors);
        }

        @Override
        public String toString() {
            return "FrequencyFactors" + java.util.Arrays.toString(factors);
        }
    }

    private static void requirePositive(String op, String name, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("RopeScaling." + op + ": " + name + " must be finite and > 0, got " + v);
        }
    }

    private static void requireNonNegative(String op, String name, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("RopeScaling." + op + ": " + name + " must be finite and >= 0, got " + v);
        }
    }
}
