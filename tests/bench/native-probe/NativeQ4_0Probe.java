// Issue 17 probe (session 17), not part of the engine: see README.md in this directory.
package io.offload4j.quant;
import io.offload4j.gguf.GgmlType;
import java.lang.foreign.*;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.*;
import static java.lang.foreign.ValueLayout.*;
public class NativeQ4_0Probe {
  public static void main(String[] args) throws Throwable {
    int cols = Integer.parseInt(args[0]); int chunkRows = 64;
    Linker linker = Linker.nativeLinker();
    SymbolLookup lib = SymbolLookup.libraryLookup(Path.of(System.getProperty("probe.lib", "/tmp/native-probe/libq4_0_int8.so")), Arena.global());
    MethodHandle h = linker.downcallHandle(lib.find("q40_rows").get(), FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS), Linker.Option.critical(true));
    GgmlType type = GgmlType.Q4_0; RowKernel k = CpuKernels.of(type); long rb = type.bytesFor(cols);
    Random r = new Random(1);
    float[] src = new float[cols]; for (int i = 0; i < cols; i++) src[i] = (float) r.nextGaussian();
    float[] x = new float[cols]; for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
    byte[] xq = new byte[cols]; float[] dx = new float[cols / 32]; int[] xs8 = new int[cols / 32];
    for (int b = 0; b < cols / 32; b++) { float amax = 0; for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b*32+i])); float d = amax / 127f; dx[b] = d; int s = 0; for (int i = 0; i < 32; i++) { xq[b*32+i] = (byte) Math.round(x[b*32+i] / d); s += xq[b*32+i]; } xs8[b] = 8 * s; }
    int big = (int) ((256L << 20) / rb) / chunkRows * chunkRows; int small = (int) ((192 << 10) / rb) / chunkRows * chunkRows;
    MemorySegment m = Arena.global().allocate(rb * big, 64);
    for (int i = 0; i < big; i++) { if (i < 64) { src[i] += 0.1f; CpuKernels.scalar(type).quantize(src, 0, m, i * rb, cols);} else MemorySegment.copy(m, (i % 64) * rb, m, i * rb, rb); }
    float[] scratch = new float[4 * cols]; float[] oa = new float[big], ob = new float[big];
    MemorySegment sxq = MemorySegment.ofArray(xq), sdx = MemorySegment.ofArray(dx), sxs = MemorySegment.ofArray(xs8), sob = MemorySegment.ofArray(ob);
    var bean = java.lang.management.ManagementFactory.getThreadMXBean();
    for (int rows : new int[]{small, big}) {
      int reps = rows == small ? 2000 : 2; double[] ta = new double[15], tb = new double[15];
      for (int round = 0; round < 15; round++) {
        long c0 = bean.getCurrentThreadCpuTime();
        for (int rep = 0; rep < reps; rep++) for (int i = 0; i < rows; i++) oa[i] = k.dot(m, i * rb, x, 0, cols, scratch);
        long c1 = bean.getCurrentThreadCpuTime();
        for (int rep = 0; rep < reps; rep++) for (int i = 0; i < rows; i += chunkRows) h.invokeExact(m.asSlice(i * rb), rb, chunkRows, cols, sxq, sdx, sxs, sob.asSlice(4L * i));
        long c2 = bean.getCurrentThreadCpuTime();
        ta[round] = (c1 - c0) / 1e9; tb[round] = (c2 - c1) / 1e9;
      }
      Arrays.sort(ta); Arrays.sort(tb); double bytes = (double) rb * rows * reps;
      double err = 0, nrm = 0; for (int i = 0; i < rows; i++) { err += (oa[i]-ob[i])*(oa[i]-ob[i]); nrm += oa[i]*oa[i]; }
      System.out.printf("Q4_0 cols %d %.1f MiB: Java Vector API %.2f GB/s  native int8 %.2f GB/s  (%.2fx)  relErr %.2e%n", cols, rb*rows/1048576.0, bytes/ta[7]/1e9, bytes/tb[7]/1e9, ta[7]/tb[7], Math.sqrt(err/nrm));
    }
  }
}
