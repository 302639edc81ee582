package dev.longctx.core.kernels.panama;

import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.kernels.spi.Quantization;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species every Panama kernel uses, chosen once when this class initialises: the
 * machine's preferred width, or {@code -Dlongctx.vectorBits}. Constants, so C2 folds them.
 *
 * <p>Part of {@link PanamaVectorKernels}, which states the contract; static and stateless (scratch
 * is per thread), so safe from any thread.
 */
final class PanamaSpecies {
    private PanamaSpecies() {
    }

    /**
     * System property setting the vector width in bits ({@code 128}, {@code 256} or {@code 512}):
     * the tests run every kernel at each width; users leave it unset (the machine's preferred
     * width). Read once, when this class initialises: the species must stay constants for C2.
     */
    static final String VECTOR_BITS_PROPERTY = "longctx.vectorBits";

    static final String VECTOR_BITS = System.getProperty(VECTOR_BITS_PROPERTY, "").trim();

    static final VectorSpecies<Float> FS = floatSpecies(VECTOR_BITS);

    static final int FL = FS.length();

    static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());

    /** Shorts for FL lanes of half floats; only built when the shape exists (FL >= 4). */
    static final VectorSpecies<Short> SS = FL >= 4
            ? VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, FL * 16))) : null;

    static final VectorSpecies<Byte> BS = ByteVector.SPECIES_128;

    /** Float vectors per 16 bytes converted with B2F. */
    static final int PARTS16 = 16 / Math.max(1, Math.min(16, FL));

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static final int QK = Quantization.QK;

    /** Tokens per block of the transposed activation layout (see VectorKernels). */
    static final int TB = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;

    /** The float species of {@code bits} (128, 256, 512), or the preferred one for "" and anything else
     * ({@link PanamaVectorKernels#unsupportedReason()} reports a bad value). */
    static VectorSpecies<Float> floatSpecies(String bits) {
        return switch (bits) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> FloatVector.SPECIES_PREFERRED;
        };
    }
}
