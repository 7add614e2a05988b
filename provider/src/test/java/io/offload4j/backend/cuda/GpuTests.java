package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What the GPU tests share: the skip-with-a-reason check, the kernel and backend sessions a class opens once, device
 * buffers, and the report lines that {@code tests/gpu/run.sh} collects (every measured error is printed and, with
 * {@code -Doffload4j.report=FILE}, appended to FILE).
 */
final class GpuTests {

    private GpuTests() {}

    /** Skips the calling test (or class, from @BeforeAll) when no usable CUDA device is present, saying why. */
    static void assumeGpu() {
        String r = GpuCondition.reason();
        assumeTrue(r == null, () -> "skipped: no usable CUDA device (" + r + ")");
    }

    static void report(String line) {
        System.out.println("REPORT " + line);
        String file = System.getProperty("offload4j.report");
        if (file != null) {
            try {
                Files.writeString(Path.of(file), line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * What a kernel test class opens in its {@code @BeforeAll} (skipping the class, with the reason, where no usable
     * device is present) and closes in its {@code @AfterAll}: device 0 made current, the kernels loaded, one stream.
     */
    static final class KernelSession implements AutoCloseable {
        final CudaDevice device;
        final CudaKernels kernels;
        final CUstream stream = new CUstream();

        private KernelSession() {
            assumeGpu();
            device = CudaDevice.open(0);
            try {
                device.makeCurrent();
                kernels = new CudaKernels();
            } catch (RuntimeException | Error e) {
                device.close(); // nothing else was opened
                throw e;
            }
            cuStreamCreate(stream, 0);
        }

        static KernelSession open() {
            return new KernelSession();
        }

        @Override
        public void close() {
            device.makeCurrent();
            cuStreamDestroy(stream);
            kernels.close();
            device.close();
        }
    }

    /**
     * The {@link CudaBackend} on device 0 that a model-level GPU test class shares among its tests, opened once before
     * them and closed once after them. A class (annotated {@code @ExtendWith(GpuCondition.class)}) declares
     * {@code @RegisterExtension static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();} and its
     * tests call {@code gpu.backend()}.
     *
     * <p>An extension rather than a base class with a static backend: each class holds its own (no static field that
     * every subclass writes), a class keeps its own {@code @BeforeAll} for what else it opens (a CPU backend), and the
     * open and close live in one place instead of a pair of lifecycle methods per class.
     *
     * <p>Lifetime, as JUnit runs a class: constructing this object touches no CUDA (static extension fields are read
     * before the execution conditions are evaluated); {@link GpuCondition} disables the class, where no usable device
     * is present, before any callback runs, so nothing is opened there ({@link #beforeAll} also skips the class, with
     * the reason, should a class lack the condition). {@link #beforeAll} opens the backend before the class's own
     * {@code @BeforeAll} methods (which JUnit does not call if the opening failed); {@link #afterAll} closes it after
     * the class's {@code @AfterAll} methods, and JUnit calls it also when the opening or a {@code @BeforeAll} method
     * failed part-way. For top-level classes only: a {@code @Nested} class would inherit the callbacks and open a
     * second backend over the first.
     */
    static final class BackendSession implements BeforeAllCallback, AfterAllCallback {
        private CudaBackend backend;

        @Override
        public void beforeAll(ExtensionContext context) {
            assumeGpu();
            backend = new CudaBackend(0);
        }

        @Override
        public void afterAll(ExtensionContext context) {
            if (backend != null) {
                try {
                    backend.close();
                } finally {
                    backend = null;
                }
            }
        }

        /** The open backend; only between this class's {@code @BeforeAll} and {@code @AfterAll}. */
        CudaBackend backend() {
            if (backend == null) {
                throw new IllegalStateException("no CudaBackend is open: called outside its test class's lifetime");
            }
            return backend;
        }
    }

    /** Device buffers that one test allocates and frees together. */
    static final class Buffers implements AutoCloseable {
        private final List<CUdeviceptr> all = new ArrayList<>();

        CUdeviceptr alloc(long bytes) {
            CUdeviceptr p = new CUdeviceptr();
            cuMemAlloc(p, bytes + CudaKernels.PADDING);
            all.add(p);
            return p;
        }

        CUdeviceptr of(byte[] b) {
            CUdeviceptr p = alloc(b.length);
            cuMemcpyHtoD(p, Pointer.to(b), b.length);
            return p;
        }

        CUdeviceptr of(float[] f) {
            CUdeviceptr p = alloc(4L * f.length);
            cuMemcpyHtoD(p, Pointer.to(f), 4L * f.length);
            return p;
        }

        CUdeviceptr of(short[] s) {
            CUdeviceptr p = alloc(2L * s.length);
            cuMemcpyHtoD(p, Pointer.to(s), 2L * s.length);
            return p;
        }

        CUdeviceptr of(int[] v) {
            CUdeviceptr p = alloc(4L * v.length);
            cuMemcpyHtoD(p, Pointer.to(v), 4L * v.length);
            return p;
        }

        CUdeviceptr of(long[] v) {
            CUdeviceptr p = alloc(8L * v.length);
            cuMemcpyHtoD(p, Pointer.to(v), 8L * v.length);
            return p;
        }

        /** The device address of {@code p}, as a number (for tables of addresses that kernels read). */
        static long address(CUdeviceptr p) {
            long[] value = new long[1];
            jcuda.driver.JCudaDriver.cuPointerGetAttribute(Pointer.to(value),
                    jcuda.driver.CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER, p);
            return value[0];
        }

        CUdeviceptr of(double[] v) {
            CUdeviceptr p = alloc(8L * v.length);
            cuMemcpyHtoD(p, Pointer.to(v), 8L * v.length);
            return p;
        }

        static float[] floats(CUdeviceptr p, int n) {
            float[] f = new float[n];
            cuMemcpyDtoH(Pointer.to(f), p, 4L * n);
            return f;
        }

        static short[] shorts(CUdeviceptr p, int n) {
            short[] s = new short[n];
            cuMemcpyDtoH(Pointer.to(s), p, 2L * n);
            return s;
        }

        @Override
        public void close() {
            for (CUdeviceptr p : all) {
                cuMemFree(p);
            }
            all.clear();
        }
    }

    /** max |a - b| / max |b|: the normwise relative error the tolerances are stated in. */
    static double relErr(float[] got, double[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Float.isNaN(got[i])) {
                return Double.POSITIVE_INFINITY;
            }
            num = Math.max(num, Math.abs(got[i] - ref[i]));
            den = Math.max(den, Math.abs(ref[i]));
        }
        return den == 0 ? num : num / den;
    }

    static double relErr(float[] got, float[] ref) {
        double[] r = new double[ref.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = ref[i];
        }
        return relErr(got, r);
    }
}
