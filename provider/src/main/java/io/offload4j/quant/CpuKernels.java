package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * The CPU kernels for each supported storage format. The Vector API implementations are used when
 * the {@code jdk.incubator.vector} module is in the boot layer (the JVM was started with
 * {@code --add-modules jdk.incubator.vector}) and the system property {@code offload4j.vector} is not
 * {@code false}; otherwise the scalar ones. The choice is made once, when this class initialises.
 *
 * <p>Kernels are stateless and thread-safe; callers should look one up once per tensor, not per row.
 */
public final class CpuKernels {

    /** System property that turns the Vector API kernels off when {@code false}. */
    public static final String VECTOR_PROPERTY = "offload4j.vector";

    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    /** Loaded by name only, so that a JVM without the incubator module never links against it. */
    private static final String VECTOR_KERNELS = "io.offload4j.quant.VectorKernels";

    private static final Map<GgmlType, RowKernel> SCALAR = new EnumMap<>(GgmlType.class);
    private static final Map<GgmlType, RowKernel> FAST = new EnumMap<>(GgmlType.class);
    private static final FloatOps FLOAT_OPS;
    private static final boolean VECTORIZED;
    private static final String DESCRIPTION;

    static {
        for (RowKernel k : new RowKernel[] {
                new ScalarF32Kernel(), new ScalarF16Kernel(), new ScalarBf16Kernel(),
                new ScalarQ8_0Kernel(), new ScalarQ4_0Kernel(), new ScalarQ4_1Kernel(),
                new ScalarQ4KKernel(), new ScalarQ5KKernel(), new ScalarQ6KKernel(),
                new ScalarQ5_0Kernel(), new ScalarQ5_1Kernel(), new ScalarQ2KKernel(), new ScalarQ3KKernel(),
                new ScalarIq4NlKernel(), new ScalarIq4XsKernel()}) {
            SCALAR.put(k.type(), k);
        }
        FAST.putAll(SCALAR);
        FloatOps ops = ScalarFloatOps.INSTANCE;
        boolean vectorized = false;
        String description;
        if (!ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent()) {
            description = "scalar (module " + VECTOR_MODULE + " not in the boot layer; start the JVM with --add-modules "
                    + VECTOR_MODULE + " for the Vector API kernels)";
        } else if ("false".equalsIgnoreCase(System.getProperty(VECTOR_PROPERTY))) {
            description = "scalar (-D" + VECTOR_PROPERTY + "=false)";
        } else {
            try {
                Class<?> c = Class.forName(VECTOR_KERNELS, true, CpuKernels.class.getClassLoader());
                Method install = c.getDeclaredMethod("install", Map.class);
                Map<GgmlType, RowKernel> vector = new EnumMap<>(GgmlType.class);
                ops = (FloatOps) install.invoke(null, vector);
                FAST.putAll(vector);
                vectorized = !vector.isEmpty();
                description = (String) c.getDeclaredMethod("describe").invoke(null);
            } catch (InvocationTargetException e) {
                throw new ExceptionInInitializerError(e.getCause());
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
        FLOAT_OPS = ops;
        VECTORIZED = vectorized;
        DESCRIPTION = description;
    }

    private CpuKernels() {}

    /** Formats the CPU can compute with. */
    public static Set<GgmlType> supported() {
        return Collections.unmodifiableSet(SCALAR.keySet());
    }

    public static boolean isSupported(GgmlType type) {
        return SCALAR.containsKey(type);
    }

    /** True when {@link #of} returns Vector API kernels. */
    public static boolean vectorized() {
        return VECTORIZED;
    }

    /** Which kernels are in use and why, for logs and benchmark reports. */
    public static String description() {
        return DESCRIPTION;
    }

    /** The fastest available kernel for {@code type}. */
    public static RowKernel of(GgmlType type) {
        return lookup(FAST, type);
    }

    /** The scalar reference kernel for {@code type}. */
    public static RowKernel scalar(GgmlType type) {
        return lookup(SCALAR, type);
    }

    /** The fastest available float-array operations. */
    public static FloatOps floatOps() {
        return FLOAT_OPS;
    }

    /** The scalar float-array operations. */
    public static FloatOps scalarFloatOps() {
        return ScalarFloatOps.INSTANCE;
    }

    private static RowKernel lookup(Map<GgmlType, RowKernel> kernels, GgmlType type) {
        RowKernel k = kernels.get(type);
        if (k == null) {
            throw new IllegalArgumentException("no CPU kernel for " + type + "; supported: " + supported());
        }
        return k;
    }
}
