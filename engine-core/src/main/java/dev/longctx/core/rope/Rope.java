package dev.longctx.core.rope;

import java.util.Objects;

/**
 * Rotary position embeddings for one attention layout: the inverse frequencies, the attention
 * factor, the cos/sin of a position, and the rotation of query/key heads.
 *
 * <p><b>Matching Hugging Face.</b> The inverse frequencies are computed with the same float32
 * operations, in the same order, as transformers' {@code modeling_rope_utils.py} and
 * {@code LlamaRotaryEmbedding} (theta and the scaling constants are narrowed to float where torch
 * narrows them; {@code a / tensor} is {@code reciprocal(tensor) * a} as in torch). The angle of
 * pair {@code i} at position {@code p} is the float32 product {@code inv_freq[i] * (float) p},
 * exactly as HF's {@code inv_freq @ position_ids.float()}, and cos/sin are then multiplied by the
 * float attention factor. Results therefore agree with HF to the last bit or two, including the
 * HF property that large positions lose precision: at position {@code p} the float32 angle is
 * only accurate to about {@code p * inv_freq * 2^-24} radians, and positions above 2^24 are
 * rounded to a float before use. That is deliberate: a model was trained with those tables.
 *
 * <p><b>Partial rotary.</b> Only the first {@code rotaryDim} elements of each {@code headDim}
 * head are rotated (HF {@code partial_rotary_factor}); the rest pass through untouched. Pairs are
 * formed inside the rotary part, so {@link RopePairing#ROTATE_HALF} pairs {@code i} with
 * {@code i + rotaryDim/2}.
 *
 * <p>Instances are immutable and safe to share between threads. Hot loops should call
 * {@link #cosSin} once per token and {@link #apply} once per head (and layer), rather than
 * {@link #rotateHeads}, which recomputes the table on every call.
 */
public final class Rope {
    private final int rotaryDim;
    private final int headDim;
    private final double theta;
    private final RopeScaling scaling;
    private final int maxPositionEmbeddings;
    /** Inverse frequencies for sequences no longer than the original context; never exposed. */
    private final float[] invFreq;
    private final float attentionFactor;

    /**
     * Builds the frequencies for a head layout.
     *
     * @param rotaryDim how many leading elements of each head are rotated; even, positive and at
     *     most {@code headDim} ({@code head_dim * partial_rotary_factor} in HF)
     * @param headDim elements per head
     * @param theta the RoPE base ({@code rope_theta}); finite and greater than 1
     * @param scaling the frequency scaling; {@link RopeScaling#none()} for plain RoPE
     * @param maxPositionEmbeddings the model's context length ({@code max_position_embeddings});
     *     positive. Recorded for callers; positions beyond it are not rejected (extrapolation is
     *     the caller's decision), and the scalings use their own original lengths
     * @throws IllegalArgumentException naming the argument and its limit when one is out of range
     */
    public Rope(int rotaryDim, int headDim, double theta, RopeScaling scaling, int maxPositionEmbeddings) {
        Objects.requireNonNull(scaling, "scaling");
        if (headDim <= 0) {
            throw new IllegalArgumentException("Rope: headDim must be > 0, got " + headDim);
        }
        if (rotaryDim <= 0 || rotaryDim > headDim) {
            throw new IllegalArgumentException("Rope: rotaryDim " + rotaryDim + " must be in [2, headDim = " + headDim + "]");
        }
        if ((rotaryDim & 1) != 0) {
            throw new IllegalArgumentException("Rope: rotaryDim " + rotaryDim + " must be even (RoPE rotates pairs)");
        }
        if (!(theta > 1) || Double.isInfinite(theta)) {
            // theta <= 1 would make the frequencies grow with the dimension (and ln(theta) = 0
            // divides by zero in YaRN's correction range)
            throw new IllegalArgumentException("Rope: theta must be finite and > 1, got " + theta);
        }
        if (maxPositionEmbeddings <= 0) {
            throw new IllegalArgumentException("Rope: maxPositionEmbeddings must be > 0, got " + maxPositionEmbeddings);
        }
        if (scaling instanceof RopeScaling.DynamicNtk && rotaryDim == 2) {
            // the NTK exponent d / (d - 2) is undefined for d = 2 (HF raises ZeroDivisionError)
            throw new IllegalArgumentException("Rope: DynamicNtk needs rotaryDim > 2, got " + rotaryDim);
        }
        this.rotaryDim = rotaryDim;
        this.headDim = headDim;
        this.theta = theta;
        this.scaling = scaling;
        this.maxPositionEmbeddings = maxPositionEmbeddings;
        this.invFreq = switch (scaling) {
            case RopeScaling.None _ -> defaultInvFreq((float) theta, rotaryDim);
            case RopeScaling.Linear l -> linearInvFreq((float) theta, rotaryDim, l);
            // below the original length HF keeps the init-time frequencies, computed with
            // seq_len = max_position_embeddings, where the NTK base factor is exactly 1
            case RopeScaling.DynamicNtk _ -> defaultInvFreq((float) theta, rotaryDim);
            case RopeScaling.Yarn y -> yarnInvFreq(theta, rotaryDim, y);
            case RopeScaling.Llama3 l3 -> llama3InvFreq((float) theta, rotaryDim, l3);
            case RopeScaling.FrequencyFactors ff -> factorInvFreq((float) theta, rotaryDim, ff);
        };
        this.attentionFactor = scaling instanceof RopeScaling.Yarn y ? (float) y.resolvedAttentionFactor() : 1f;
    }

    /** Plain RoPE with {@code rotaryDim == headDim}. */
    public static Rope standard(int headDim, double theta, int maxPositionEmbeddings) {
        return new Rope(headDim, headDim, theta, RopeScaling.none(), maxPositionEmbeddings);
    }

    public int rotaryDim() {
        return rotaryDim;
    }

    public int headDim() {
        return headDim;
    }

    public double theta() {
        return theta;
    }

    public RopeScaling scaling() {
        return scaling;
    }

    public int maxPositionEmbeddings() {
        return maxPositionEmbeddings;
    }

    /** The {@code rotaryDim / 2} inverse frequencies (a copy); for dynamic NTK, those of short sequences. */
    public float[] inverseFrequencies() {
        return invFreq.clone();
    }

    /**
     * The inverse frequencies in effect for a sequence of {@code seqLen} tokens (a copy). Only
     * {@link RopeScaling.DynamicNtk} depends on it: above the original length it rescales the
     * base as HF's dynamic {@code LlamaRotaryEmbedding} does, with {@code seq_len} the largest
     * position plus one (so pass {@code position + 1} during decoding to match HF).
     *
     * @throws IllegalArgumentException if {@code seqLen} is negative
     */
    public float[] inverseFrequencies(int seqLen) {
        return frequenciesFor(seqLen, "inverseFrequencies").clone();
    }

    /** The multiplier HF applies to cos and sin: YaRN's attention factor, 1 for the other scalings. */
    public float attentionFactor() {
        return attentionFactor;
    }

    /**
     * Fills {@code cos[0 .. rotaryDim/2)} and {@code sin[0 .. rotaryDim/2)} for one position,
     * attention factor included: {@code cos[i] = cos(inv_freq[i] * (float) position) * af}, the
     * angle a float32 product as in HF (see the class notes on precision).
     *
     * @param position the token's position; non-negative
     * @param seqLen the sequence length for dynamic NTK (ignored by the other scalings)
     * @throws IllegalArgumentException for a negative position or seqLen, or arrays shorter than
     *     {@code rotaryDim / 2}
     */
    public void cosSin(long position, int seqLen, float[] cos, float[] sin) {
        checkPosition("cosSin", position);
        int half = rotaryDim / 2;
        checkTable("cosSin", "cos", cos, half);
        checkTable("cosSin", "sin", sin, half);
        float[] f = frequenciesFor(seqLen, "cosSin");
        // HF: position_ids.float(); a long above 2^24 rounds to the nearest float, as in torch
        float p = (float) position;
        float af = attentionFactor;
        for (int i = 0; i < half; i++) {
            float angle = f[i] * p;
            cos[i] = (float) Math.cos(angle) * af;
            sin[i] = (float) Math.sin(angle) * af;
        }
    }

    /**
     * Rotates one head in place: pair {@code i} (as laid out by {@code pairing}) becomes
     * {@code (a cos[i] - b sin[i], b cos[i] + a sin[i])}. Elements {@code rotaryDim .. headDim}
     * are left untouched.
     *
     * @param x the vector holding the head at {@code off}
     * @param cos the table from {@link #cosSin} (at least {@code rotaryDim / 2} entries)
     * @param sin likewise
     * @throws IllegalArgumentException when the head or the tables are out of range
     */
    public void apply(float[] x, int off, float[] cos, float[] sin, RopePairing pairing) {
        Objects.requireNonNull(pairing, "pairing");
        checkHeads("apply", x, off, 1);
        int half = rotaryDim / 2;
        checkTable("apply", "cos", cos, half);
        checkTable("apply", "sin", sin, half);
        rotate(x, off, cos, sin, pairing, half);
    }

    /**
     * Rotates {@code heads} consecutive heads (stride {@code headDim}) for one position. Computes
     * the cos/sin table on every call; see the class notes.
     *
     * @throws IllegalArgumentException for a negative position, a negative head count or a range
     *     outside {@code x}
     */
    public void rotateHeads(float[] x, int off, int heads, long position, int seqLen, RopePairing pairing) {
        Objects.requireNonNull(pairing, "pairing");
        checkHeads("rotateHeads", x, off, heads);
        int half = rotaryDim / 2;
        float[] cos = new float[half];
        float[] sin = new float[half];
        cosSin(position, seqLen, cos, sin);
        for (int h = 0; h < heads; h++) {
            rotate(x, off + h * headDim, cos, sin, pairing, half);
        }
    }

    /**
     * Rotates {@code heads} consecutive heads by a position <em>difference</em>: a pure rotation
     * by {@code delta * inv_freq[i]}, without the attention factor, so that re-rotating cached
     * keys (after evicting or moving tokens) never compounds the YaRN scale. {@code delta} may be
     * negative. The angle and its cos/sin are computed in double precision, so rotating by
     * {@code a} then {@code b} equals rotating by {@code a + b} up to float rounding of the
     * stored values.
     *
     * <p>Rotations compose only when they use the same frequencies: re-rotate a key with the
     * frequencies it was first rotated with. This overload uses {@link #inverseFrequencies()};
     * for {@link RopeScaling.DynamicNtk} past the original length use
     * {@link #rotateBy(float[], int, int, long, int, RopePairing)} with the key's sequence length.
     *
     * @throws IllegalArgumentException for a negative head count or a range outside {@code x}
     */
    public void rotateBy(float[] x, int off, int heads, long delta, RopePairing pairing) {
        rotateBy(x, off, heads, delta, 0, pairing);
    }

    /**
     * {@link #rotateBy(float[], int, int, long, RopePairing)} with the frequencies of
     * {@link #inverseFrequencies(int) inverseFrequencies(seqLen)}.
     */
    public void rotateBy(float[] x, int off, int heads, long delta, int seqLen, RopePairing pairing) {
        Objects.requireNonNull(pairing, "pairing");
        checkHeads("rotateBy", x, off, heads);
        float[] f = frequenciesFor(seqLen, "rotateBy");
        int half = rotaryDim / 2;
        float[] cos = new float[half];
        float[] sin = new float[half];
        for (int i = 0; i < half; i++) {
            // double: delta * inv_freq can reach 1e6 rad and more, where a float angle would be
            // off by a tenth of a radian; the table itself only needs float precision
            double angle = (double) delta * f[i];
            cos[i] = (float) Math.cos(angle);
            sin[i] = (float) Math.sin(angle);
        }
        for (int h = 0; h < heads; h++) {
            rotate(x, off + h * headDim, cos, sin, pairing, half);
        }
    }

    private static void rotate(float[] x, int off, float[] cos, float[] sin, RopePairing pairing, int half) {
        // Same float operations as HF's q * cos + rotate_half(q) * sin: a*c + (-b)*s and b*c + a*s
        if (pairing == RopePairing.ADJACENT) {
            for (int i = 0; i < half; i++) {
                int ia = off + 2 * i;
                float a = x[ia];
                float b = x[ia + 1];
                float c = cos[i];
                float s = sin[i];
                x[ia] = a * c - b * s;
                x[ia + 1] = b * c + a * s;
            }
        } else {
            for (int i = 0; i < half; i++) {
                int ia = off + i;
                int ib = ia + half;
                float a = x[ia];
                float b = x[ib];
                float c = cos[i];
                float s = sin[i];
                x[ia] = a * c - b * s;
                x[ib] = b * c + a * s;
            }
        }
    }

    private float[] frequenciesFor(int seqLen, String op) {
        if (seqLen < 0) {
            throw new IllegalArgumentException("Rope." + op + ": seqLen must be >= 0, got " + seqLen);
        }
        if (scaling instanceof RopeScaling.DynamicNtk d && seqLen > d.originalMaxPositions()) {
            return dynamicInvFreq((float) theta, rotaryDim, d, seqLen);
        }
        return invFreq;
    }

    private static void checkPosition(String op, long position) {
        if (position < 0) {
            throw new IllegalArgumentException("Rope." + op + ": position must be >= 0, got " + position);
        }
    }

    private static void checkTable(String op, String name, float[] t, int half) {
        Objects.requireNonNull(t, name);
        if (t.length < half) {
            throw new IllegalArgumentException("Rope." + op + ": " + name + " has " + t.length
                    + " entries, needs rotaryDim / 2 = " + half);
        }
    }

    private void checkHeads(String op, float[] x, int off, int heads) {
        Objects.requireNonNull(x, "x");
        if (heads < 0) {
            throw new IllegalArgumentException("Rope." + op + ": heads must be >= 0, got " + heads);
        }
        long end = (long) off + (long) heads * headDim;
        if (off < 0 || end > x.length) {
            throw new IllegalArgumentException("Rope." + op + ": " + heads + " heads of " + headDim
                    + " at offset " + off + " exceed the array length " + x.length);
        }
    }

    // ---- inverse frequencies, float32 step for step as in transformers 5 ----

    /** {@code base ** (arange(0, dim, 2).float() / dim)}: a float32 power of the float base. */
    private static float posFreq(float base, int i, int dim) {
        float exponent = (float) (2 * i) / (float) dim;
        return (float) Math.pow(base, exponent);
    }

    /** {@code 1.0 / (base ** (arange(0, dim, 2) / dim))}. */
    static float[] defaultInvFreq(float base, int dim) {
        float[] f = new float[dim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = 1f / posFreq(base, i, dim);
        }
        return f;
    }

    /** {@code inv_freq[i] / factors[i]} (llama.cpp's rope freq_factors). */
    static float[] factorInvFreq(float base, int dim, RopeScaling.FrequencyFactors ff) {
        float[] factors = ff.factors();
        if (factors.length != dim / 2) {
            throw new IllegalArgumentException("Rope: FrequencyFactors has " + factors.length + " factors, rotaryDim / 2 = "
                    + dim / 2 + " needed");
        }
        float[] f = defaultInvFreq(base, dim);
        for (int i = 0; i < f.length; i++) {
            f[i] /= factors[i];
        }
        return f;
    }

    /** {@code inv_freq /= factor}. */
    static float[] linearInvFreq(float base, int dim, RopeScaling.Linear l) {
        float[] f = defaultInvFreq(base, dim);
        float factor = (float) l.factor();
        for (int i = 0; i < f.length; i++) {
            f[i] /= factor;
        }
        return f;
    }

    /**
     * HF's dynamic update with {@code seq_len} a tensor (as the rotary module passes it), so the
     * new base is float32 arithmetic: {@code base * ((factor * L / max) - (factor - 1)) ** (d/(d-2))}.
     */
    static float[] dynamicInvFreq(float base, int dim, RopeScaling.DynamicNtk d, int seqLen) {
        long len = Math.max(seqLen, d.originalMaxPositions());
        float t = (float) d.factor() * (float) len;
        t = t / (float) d.originalMaxPositions();
        t = t - (float) (d.factor() - 1);
        // torch's pow(float tensor, Python float) keeps the exponent in double (checked against
        // transformers 5.17 / torch 2.11: narrowing it to float changes the base by an ulp)
        t = (float) Math.pow(t, (double) dim / (dim - 2));
        float newBase = base * t;
        return defaultInvFreq(newBase, dim);
    }

    /** HF {@code _compute_yarn_parameters}. */
    static float[] yarnInvFreq(double theta, int dim, RopeScaling.Yarn y) {
        float base = (float) theta;
        int half = dim / 2;
        float factor = (float) y.factor();
        double low = correctionDim(y.betaFast(), dim, theta, y.originalMaxPositions());
        double high = correctionDim(y.betaSlow(), dim, theta, y.originalMaxPositions());
        if (y.truncate()) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        // HF clamps to dim - 1 (not dim / 2 - 1); kept as is so the ramp matches
        high = Math.min(high, dim - 1);
        if (low == high) {
            high += 0.001; // HF: "Prevent singularity"
        }
        float lowF = (float) low;
        float range = (float) (high - low);
        float[] f = new float[half];
        for (int i = 0; i < half; i++) {
            float pos = posFreq(base, i, dim);
            float extrapolation = 1f / pos;
            float interpolation = 1f / (factor * pos);
            float ramp = Math.clamp(((float) i - lowF) / range, 0f, 1f);
            float extrapolationFactor = 1f - ramp;
            f[i] = interpolation * (1f - extrapolationFactor) + extrapolation * extrapolationFactor;
        }
        return f;
    }

    /** YaRN's inverse dimension formula: the dimension that turns {@code rotations} times over {@code maxPositions}. */
    static double correctionDim(double rotations, int dim, double base, int maxPositions) {
        return (dim * Math.log(maxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
    }

    /** HF {@code _compute_llama3_parameters}. */
    static float[] llama3InvFreq(float base, int dim, RopeScaling.Llama3 l) {
        float[] inv = defaultInvFreq(base, dim);
        float factor = (float) l.factor();
        float lowWavelen = (float) (l.originalMaxPositions() / l.lowFreqFactor());
        float highWavelen = (float) (l.originalMaxPositions() / l.highFreqFactor());
        float twoPi = (float) (2 * Math.PI);
        float oldContext = (float) l.originalMaxPositions();
        float lowFf = (float) l.lowFreqFactor();
        float ffRange = (float) (l.highFreqFactor() - l.lowFreqFactor());
        float[] f = new float[inv.length];
        for (int i = 0; i < inv.length; i++) {
            // torch evaluates scalar / tensor as reciprocal(tensor) * scalar
            float wavelen = (1f / inv[i]) * twoPi;
            float scaled = wavelen > lowWavelen ? inv[i] / factor : inv[i];
            float smooth = ((1f / wavelen) * oldContext - lowFf) / ffRange;
            float smoothed = (1f - smooth) * scaled / factor + smooth * scaled;
            boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            f[i] = medium ? smoothed : scaled;
        }
        return f;
    }

    @Override
    public String toString() {
        return "Rope[rotaryDim=" + rotaryDim + ", headDim=" + headDim + ", theta=" + theta + ", scaling=" + scaling
                + ", maxPositionEmbeddings=" + maxPositionEmbeddings + "]";
    }
}
