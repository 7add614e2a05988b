package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * The CPU kernels for each supported storage format. The Vector API implementations are used when
 * the {@code jdk.incubator.vector} module is in the boot layer; otherwise the scalar ones.
 */
public final class CpuKernels {

    private static final Map<GgmlType, RowKernel> SCALAR = new EnumMap<>(GgmlType.class);

    static {
        SCALAR.put(GgmlType.F32, new ScalarF32Kernel());
    }

    private CpuKernels() {}

    /** Formats the CPU can compute with. */
    public static Set<GgmlType> supported() {
        return SCALAR.keySet();
    }

    public static boolean isSupported(GgmlType type) {
        return SCALAR.containsKey(type);
    }

    /** True when the Vector API kernels are in use. */
    public static boolean vectorized() {
        return false;
    }

    /** The fastest available kernel for {@code type}. */
    public static RowKernel of(GgmlType type) {
        return scalar(type);
    }

    /** The scalar reference kernel for {@code type}. */
    public static RowKernel scalar(GgmlType type) {
        RowKernel k = SCALAR.get(type);
        if (k == null) {
            throw new IllegalArgumentException("no CPU kernel for " + type + "; supported: " + supported());
        }
        return k;
    }

    public static FloatOps floatOps() {
        return ScalarFloatOps.INSTANCE;
    }
}
