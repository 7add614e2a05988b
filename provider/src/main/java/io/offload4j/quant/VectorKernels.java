package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Map;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Entry point and shared pieces of the Vector API kernels. Only {@link CpuKernels} names this class,
 * by reflection, after checking that {@code jdk.incubator.vector} is in the boot layer: no class that
 * touches the Vector API is loaded otherwise.
 *
 * <p>All kernels work in chunks of {@code L} values, {@code L} being the lane count of the preferred
 * float species. Quant bytes are loaded {@code L} at a time into a byte vector of {@code L} lanes and
 * widened lane-for-lane to ints ({@code vpmovsxbd} on x86), so no conversion ever has to pick a "part"
 * of a wider vector. The block layouts need {@code L} to divide 16 (the smallest run of values sharing
 * a scale, in Q6_K, Q3_K and Q2_K), so the quant kernels are used for 8 lanes (AVX2, 256-bit SVE) and 16 lanes
 * (AVX-512); any other width (128-bit NEON) keeps the scalar quant kernels and vectorizes only
 * {@link FloatOps}.
 *
 * <p>Rule for every kernel method: one copy of each loop body, no manual unrolling. Each Vector API
 * call expands into many C2 IR nodes while parsing; past C2's inlining node cutoff the remaining calls
 * are not inlined, and every vector crossing such a call is boxed on the heap (10-50x slower and
 * allocating). C2 unrolls the constant-count chunk loops itself. {@code NoAllocationTest} guards this.
 *
 * <p>Entry points. A kernel method shorter than C2's {@code FreqInlineSize} (325 bytecodes) can be inlined into its
 * caller (the CPU pass's projection loop, {@link RowKernel}'s default scratch {@code dot}), and when that caller is
 * compiled first, the kernel's own profile is still young: C2 then declined this class's small helpers
 * ({@code bytesToInts}, {@code toFloats}, {@code load}, since removed: "low call site frequency"), every vector crossing those calls
 * was boxed, and decode after a prefill ran at 1-4 tok/s instead of 50 in about half the runs of
 * {@code cpu-vs-llama-cpp.sh} (Q4_0, seen in C2's compilation log); with those written out, {@link Le#half} was
 * declined the same way (a call per block: 19 tok/s). Q5_0's, Q5_1's, IQ4_NL's and IQ4_XS's entry points (211-293
 * bytecodes, calling {@code bytesToInts}, {@code toFloats}, {@code load}, Q5_0's own bit helpers and the IQ4 level
 * lookup) had the same exposure: in the log C2 declined those helpers when {@code MatmulTask.project} with the kernel
 * inlined passed its node cutoff ("NodeCountInliningCutoff"), and Q5_0 decoded at 2.3 tok/s after a prefill (41-43
 * with them written out; tests/bench/RESULTS.md, session 5). The
 * Vector API's and the memory API's own methods are {@code @ForceInline}: C2 inlines them regardless of profile, and
 * past the node cutoff it delays them (incremental inlining) rather than declining them. So the short kernels' dot and
 * dequantize methods (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, IQ4_XS, BF16's dot) call them directly, with no
 * vector-valued helper of ours. The longer kernels (the K-quants', F16's, F32's) write them out as well, so no kernel
 * depends on C2 inlining a helper of ours: NoAllocationTest once found Q3_K's dot still boxing after 60 s when it ran
 * after the other kernel tests in one JVM (its helpers declined inside its own compilation; not reproduced in the next
 * run), and the written-out form compiles to the same code. Only {@link #shortsToInts} is left (BF16's dequantize).
 */
final class VectorKernels {
    /**
     * System property overriding the vector width in bits (128, 256 or 512; default: the preferred
     * species). For testing the other widths' code paths on one machine (a width the hardware lacks
     * runs correctly but very slowly, in Java), and for trying 256-bit vectors on AVX-512 machines.
     */
    static final String BITS_PROPERTY = "offload4j.vector.bits";
    static final VectorSpecies<Float> F = floatSpecies();
    static final int L = F.length();
    static final boolean QUANT_KERNELS = L == 8 || L == 16;
    /** Ints with as many lanes as {@link #F} (same shape). */
    static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** Bytes and shorts with as many lanes as {@link #F}; null when no such species exists. */
    static final VectorSpecies<Byte> B = QUANT_KERNELS ? VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * L)) : null;
    static final VectorSpecies<Short> S = QUANT_KERNELS ? VectorSpecies.of(short.class, VectorShape.forBitSize(16 * L)) : null;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorKernels() {}

    private static VectorSpecies<Float> floatSpecies() {
        String bits = System.getProperty(BITS_PROPERTY);
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        return switch (bits.trim()) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(
                    "-D" + BITS_PROPERTY + "=" + bits + ": expected 128, 256 or 512");
        };
    }

    /** Called reflectively by {@link CpuKernels}: adds the vector kernels to {@code into}, returns the float ops. */
    static FloatOps install(Map<GgmlType, RowKernel> into) {
        if (QUANT_KERNELS) {
            for (RowKernel k : new RowKernel[] {
                    new VectorF32Kernel(), new VectorF16Kernel(), new VectorBf16Kernel(),
                    new VectorQ8_0Kernel(), new VectorQ4_0Kernel(), new VectorQ4_1Kernel(),
                    new VectorQ4KKernel(), new VectorQ5KKernel(), new VectorQ6KKernel(),
                    new VectorQ5_0Kernel(), new VectorQ5_1Kernel(), new VectorQ2KKernel(), new VectorQ3KKernel(),
                    new VectorIq4NlKernel(), new VectorIq4XsKernel()}) {
                into.put(k.type(), k);
            }
        }
        return VectorFloatOps.INSTANCE;
    }

    /** Called reflectively by {@link CpuKernels}. */
    static String describe() {
        return "Vector API, " + F.vectorBitSize() + "-bit float species (" + L + " lanes"
                + (F == FloatVector.SPECIES_PREFERRED ? ", preferred)" : "; preferred is "
                        + FloatVector.SPECIES_PREFERRED.vectorBitSize() + "-bit)")
                + (QUANT_KERNELS ? "" : "; quant kernels scalar (need 8 or 16 float lanes)");
    }

    /** {@code L} little-endian shorts at {@code offset}, sign-extended to int lanes. */
    static IntVector shortsToInts(MemorySegment s, long offset) {
        return (IntVector) ShortVector.fromMemorySegment(S, s, offset, LE).castShape(I, 0);
    }

    /**
     * 0, 1, ..., 15: per-lane shift counts for bits packed in a scalar word (Q5_0/Q5_1's {@code qh}), loaded with
     * {@code IntVector.fromArray(I, LANE_INDEX, 0)} (not through a helper of ours: see "Entry points" above).
     */
    static final int[] LANE_INDEX = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
}
