package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Once compiled, {@code dot} (with and without scratch) and {@code dequantize} allocate nothing. For the Vector API kernels this
 * is the property that breaks silently: when C2 cannot inline or intrinsify a vector operation (for
 * instance once a method grows past its inlining node cutoff) every vector it touches is boxed on
 * the heap and the kernel gets many times slower. Until C2 has compiled a kernel the interpreter and
 * C1 do allocate, so each kernel is called in batches until a batch allocates nothing, up to a
 * deadline. Most of this test's time is C2 compiling the vector kernels.
 */
class NoAllocationTest {
    private static final int N = 256;
    private static final int CALLS = 500;
    /**
     * Per kernel and operation: C2 compiling a vector kernel on a busy machine can take seconds, and with fifteen
     * formats' kernels queued a 2-core machine once needed more than 20 (Q6_K's dot, its code unchanged). A kernel
     * that C2 compiled to boxing code still fails, only later.
     */
    private static final long DEADLINE_NANOS = 60_000_000_000L;

    @Test
    void hotPathAllocatesNothing() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Random r = new Random(5);
        float[] x = QuantTestData.gaussian(r, N);
        float[] out = new float[N];
        float[] scratch = new float[RowKernel.DOT_SCRATCH];
        try (Arena arena = Arena.ofShared()) {
            for (GgmlType type : QuantTestData.FORMATS) {
                byte[] bytes = QuantTestData.randomBlocks(type, N / type.blockSize(), r);
                MemorySegment row = arena.allocate(bytes.length);
                MemorySegment.copy(MemorySegment.ofArray(bytes), 0, row, 0, bytes.length);
                for (RowKernel k : new RowKernel[] {CpuKernels.of(type), CpuKernels.scalar(type)}) {
                    for (int op = 0; op < 3; op++) {
                        long allocated;
                        float sink = 0;
                        long deadline = System.nanoTime() + DEADLINE_NANOS;
                        do {
                            long a0 = mx.getCurrentThreadAllocatedBytes();
                            for (int i = 0; i < CALLS; i++) {
                                switch (op) {
                                    case 0 -> sink += k.dot(row, 0, x, 0, N);
                                    case 1 -> k.dequantize(row, 0, out, 0, N);
                                    default -> sink += k.dot(row, 0, x, 0, N, scratch);
                                }
                            }
                            allocated = mx.getCurrentThreadAllocatedBytes() - a0;
                        } while (allocated > 0 && System.nanoTime() < deadline);
                        out[0] += sink;
                        assertEquals(0, allocated, k.getClass().getSimpleName()
                                + new String[] {".dot", ".dequantize", ".dot (scratch)"}[op]
                                + " still allocates after warm-up (bytes per " + CALLS + " calls)");
                    }
                }
            }
        }
    }
}
