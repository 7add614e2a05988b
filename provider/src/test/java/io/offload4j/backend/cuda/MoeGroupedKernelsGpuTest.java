package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The grouped expert kernels of prompt steps ({@code moe_group}, {@code moe_gate_up_grouped_*},
 * {@code moe_down_grouped_*}, {@code moe_combine}) against the per-slot kernels of decode steps and against a
 * double-precision host reference, for every format the expert kernels are built for, at 16, 64 and 512 tokens with
 * Zipf-skewed routing: popular experts with hundreds of slots (many tiles), experts with none, and slots whose id is
 * -1 (computed elsewhere: skipped). The "pool" cases choose among a few ids of a larger id range, as an expert pool's
 * pass does (slot numbers). Checked: the grouping itself (a stable sort, the tile list), the hidden states and the
 * residual bit for bit equal to the per-slot kernels' (same sums in the same order), within {@link #TOL} of the
 * reference, and a second run identical (no dependence on timing). The tensor-core kernels of the same steps
 * ({@code moe_gather_f16}, {@code moe_gate_up_tc_*}, {@code moe_down_tc_*}; every format but F32), grouped in tiles of
 * 64: the grouping again, the residual within {@link #TOL_TC} of the reference (fp16 inputs and hidden states), the
 * same floats on a second run, and skipped slots left alone.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class MoeGroupedKernelsGpuTest {

    static final double TOL = 1e-3;
    /**
     * The tensor-core path rounds each slot's input and hidden state to fp16 (relative error up to 2^-11 each, as
     * the dense prompt GEMMs do): measured 1.3e-4 … 5.1e-4 over every case here (H100, session 9).
     */
    static final double TOL_TC = 2e-3;
    static final GgmlType[] FORMATS = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
        GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K};
    static final int DIM = 256;
    static final int FFN = 512;
    static final int K = 4;

    static GpuTests.KernelSession gpu;
    static CudaMoeKernels moe;

    @BeforeAll
    static void open() {
        gpu = GpuTests.KernelSession.open();
        moe = new CudaMoeKernels(gpu.kernels);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> l = new ArrayList<>();
        for (GgmlType t : FORMATS) {
            for (int count : new int[] {16, 64, 512}) {
                l.add(Arguments.of(t, count, false));
            }
        }
        for (GgmlType t : new GgmlType[] {GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.F16}) {
            l.add(Arguments.of(t, 64, true));
            l.add(Arguments.of(t, 512, true));
        }
        return l.stream();
    }

    /**
     * Choices of {@code count} tokens: k distinct ids each, drawn with probability ∝ 1 / (rank + 1)^1.3 over
     * {@code used} (so the first has hundreds of slots at 512 tokens and the tail few or none), about one slot in
     * eight replaced by -1, and every choice of token 3 too.
     */
    static int[] routing(SplittableRandom rnd, int count, int[] used) {
        double[] cdf = new double[used.length];
        double sum = 0;
        for (int i = 0; i < used.length; i++) {
            sum += 1 / Math.pow(i + 1, 1.3);
            cdf[i] = sum;
        }
        int[] chosen = new int[count * K];
        for (int t = 0; t < count; t++) {
            for (int j = 0; j < K; j++) {
                int e;
                boolean again;
                do {
                    double u = rnd.nextDouble() * sum;
                    int i = 0;
                    while (cdf[i] < u) {
                        i++;
                    }
                    e = used[i];
                    again = false;
                    for (int q = 0; q < j; q++) {
                        again |= chosen[t * K + q] == e;
                    }
                } while (again);
                chosen[t * K + j] = e;
            }
            for (int j = 0; j < K; j++) {
                if (t == 3 || rnd.nextInt(8) == 0) {
                    chosen[t * K + j] = -1;
                }
            }
        }
        return chosen;
    }

    @ParameterizedTest(name = "{0} tokens={1} pool={2}")
    @MethodSource("cases")
    void groupedMatchesPerSlotAndReference(GgmlType type, int count, boolean pool) {
        gpu.device.makeCurrent();
        // resident: 16 experts, the last two never chosen; pool: 40 ids (slots), 12 of them used, spread out
        int ids = pool ? 40 : 16;
        int[] used;
        if (pool) {
            used = new int[] {37, 2, 19, 5, 30, 11, 24, 8, 33, 14, 27, 0};
        } else {
            used = new int[14];
            for (int i = 0; i < used.length; i++) {
                used[i] = i;
            }
        }
        int experts = used.length; // distinct ids a step may hold (the model's expert count)
        SplittableRandom rnd = new SplittableRandom(type.ordinal() * 7919L + count * 31L + (pool ? 1 : 0));
        int[] chosen = routing(rnd, count, used);
        float[] weights = CudaKernelsGpuTest.randomFloats(rnd, count * K, 1.0);
        float[] xb = CudaKernelsGpuTest.randomFloats(rnd, count * DIM, 2.0);
        float[] x0 = CudaKernelsGpuTest.randomFloats(rnd, count * DIM, 1.0);
        long guRow = type.bytesFor(DIM);
        long downRow = type.bytesFor(FFN);
        long stride = ((FFN * guRow * 2 + DIM * downRow) + 255) / 256 * 256; // gate, up, down of one id, aligned
        byte[] all = new byte[Math.toIntExact(stride * ids)];
        float[][][] gate = new float[ids][][];
        float[][][] up = new float[ids][][];
        float[][][] down = new float[ids][][];
        for (int e = 0; e < ids; e++) {
            byte[] g = RefDequant.randomRows(type, FFN, DIM, rnd);
            byte[] u = RefDequant.randomRows(type, FFN, DIM, rnd);
            byte[] d = RefDequant.randomRows(type, DIM, FFN, rnd);
            int at = Math.toIntExact(e * stride);
            System.arraycopy(g, 0, all, at, g.length);
            System.arraycopy(u, 0, all, at + g.length, u.length);
            System.arraycopy(d, 0, all, at + g.length + u.length, d.length);
            gate[e] = rows(type, g, FFN, DIM);
            up[e] = rows(type, u, FFN, DIM);
            down[e] = rows(type, d, DIM, FFN);
        }

        // the reference: h in double, x0 + Σ_j w_j · down · h in double
        double[] refX = new double[count * DIM];
        for (int t = 0; t < count; t++) {
            for (int r = 0; r < DIM; r++) {
                refX[t * DIM + r] = x0[t * DIM + r];
            }
            for (int j = 0; j < K; j++) {
                int e = chosen[t * K + j];
                if (e < 0) {
                    continue;
                }
                double[] h = new double[FFN];
                for (int r = 0; r < FFN; r++) {
                    h[r] = CudaKernelsGpuTest.silu(CudaKernelsGpuTest.dot(gate[e][r], xb, t * DIM))
                            * CudaKernelsGpuTest.dot(up[e][r], xb, t * DIM);
                }
                for (int r = 0; r < DIM; r++) {
                    double s = 0;
                    for (int i = 0; i < FFN; i++) {
                        s += down[e][r][i] * h[i];
                    }
                    refX[t * DIM + r] += weights[t * K + j] * s;
                }
            }
        }

        int slots = count * K;
        int maxItems = CudaMoeKernels.maxItems(slots, experts, CudaMoeKernels.TILE);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr w = buf.of(all);
            CUdeviceptr gateP = w;
            CUdeviceptr upP = w.withByteOffset(FFN * guRow);
            CUdeviceptr downP = w.withByteOffset(2 * FFN * guRow);
            CUdeviceptr dChosen = buf.of(chosen);
            CUdeviceptr dWeights = buf.of(weights);
            CUdeviceptr dXb = buf.of(xb);
            float[] nanH = new float[slots * FFN];
            Arrays.fill(nanH, Float.NaN); // a skipped slot's row stays untouched
            CUdeviceptr hSlot = buf.of(nanH);
            CUdeviceptr hGrouped = buf.of(nanH);
            CUdeviceptr xSlot = buf.of(x0);
            CUdeviceptr xGrouped = buf.of(x0);
            CUdeviceptr xAgain = buf.of(x0);
            CUdeviceptr y = buf.alloc(4L * slots * DIM);
            CUdeviceptr counts = buf.alloc(4L * ids);
            CUdeviceptr order = buf.alloc(4L * slots);
            CUdeviceptr items = buf.alloc(12L * maxItems);
            CUdeviceptr itemCount = buf.alloc(8);

            // per-slot (decode) kernels
            moe.gateUp(gpu.stream, type, gateP, upP, stride, FFN, guRow, DIM, dXb, dChosen, K, hSlot, slots);
            moe.down(gpu.stream, type, downP, stride, DIM, downRow, FFN, hSlot, dChosen, dWeights, K, xSlot,
                    count);
            // grouped, twice
            for (CUdeviceptr x : new CUdeviceptr[] {xGrouped, xAgain}) {
                moe.group(gpu.stream, dChosen, slots, ids, counts, order, items, itemCount, maxItems,
                        CudaMoeKernels.TILE);
                moe.gateUpGrouped(gpu.stream, type, gateP, upP, stride, FFN, guRow, DIM, dXb, K, items, itemCount,
                        order, hGrouped, maxItems);
                moe.downGrouped(gpu.stream, type, downP, stride, DIM, downRow, FFN, hGrouped, items, itemCount,
                        order, y, maxItems);
                moe.combine(gpu.stream, y, dChosen, dWeights, K, DIM, x, count);
            }
            cuStreamSynchronize(gpu.stream);

            int gotCount = checkGrouping(chosen, ids, CudaMoeKernels.TILE, order, items, itemCount, maxItems);
            float[] hs = GpuTests.Buffers.floats(hSlot, slots * FFN);
            float[] hg = GpuTests.Buffers.floats(hGrouped, slots * FFN);
            float[] xs = GpuTests.Buffers.floats(xSlot, count * DIM);
            float[] xg = GpuTests.Buffers.floats(xGrouped, count * DIM);
            float[] xa = GpuTests.Buffers.floats(xAgain, count * DIM);
            for (int s = 0; s < slots; s++) {
                if (chosen[s] < 0) {
                    assertTrue(Float.isNaN(hg[s * FFN]), "slot " + s + " (id -1) was written");
                }
            }
            assertArrayEquals(hs, hg, type + ": grouped hidden states differ from the per-slot kernels'");
            assertArrayEquals(xs, xg, type + ": grouped residual differs from the per-slot kernels'");
            assertArrayEquals(xg, xa, type + ": a second grouped run differs");
            for (int r = 0; r < DIM; r++) {
                assertEquals(x0[3 * DIM + r], xg[3 * DIM + r], "token 3 has only skipped choices");
            }
            double err = GpuTests.relErr(xg, refX);
            double errSlot = GpuTests.relErr(xs, refX);
            int busiest = 0;
            for (int e : used) {
                int n = 0;
                for (int c : chosen) {
                    n += c == e ? 1 : 0;
                }
                busiest = Math.max(busiest, n);
            }
            String line = String.format("moe grouped %-5s tokens=%3d pool=%-5b tiles=%4d (bound %4d, busiest %3d"
                    + " slots) relErr=%.2e (per-slot %.2e)", type, count, pool, gotCount, maxItems, busiest, err,
                    errSlot);
            GpuTests.report(line);
            assertTrue(err <= TOL, line);

            if (type != GgmlType.F32) {
                // the tensor-core kernels: tiles of 64 slots, fp16 rows in expert order, twice
                assertTrue(CudaMoeKernels.tensorCoresOk(type, type, DIM, FFN), type + " [" + FFN + "][" + DIM + "]");
                int tcItems = CudaMoeKernels.maxItems(slots, experts, CudaMoeKernels.TC_TILE);
                long tcRows = CudaMoeKernels.tensorCoreRows(slots);
                CUdeviceptr a16 = buf.alloc(2L * tcRows * DIM);
                CUdeviceptr h16 = buf.alloc(2L * tcRows * FFN);
                CUdeviceptr xTc = buf.of(x0);
                CUdeviceptr xTcAgain = buf.of(x0);
                int tiles = 0;
                for (CUdeviceptr x : new CUdeviceptr[] {xTc, xTcAgain}) {
                    moe.group(gpu.stream, dChosen, slots, ids, counts, order, items, itemCount, tcItems,
                            CudaMoeKernels.TC_TILE);
                    moe.gatherF16(gpu.stream, dXb, order, itemCount, K, DIM, a16, slots);
                    moe.gateUpTc(gpu.stream, type, gateP, upP, stride, FFN, guRow, DIM, a16, items, itemCount,
                            h16, tcItems);
                    moe.downTc(gpu.stream, type, downP, stride, DIM, downRow, FFN, h16, items, itemCount, order, y,
                            tcItems);
                    moe.combine(gpu.stream, y, dChosen, dWeights, K, DIM, x, count);
                    cuStreamSynchronize(gpu.stream);
                    tiles = checkGrouping(chosen, ids, CudaMoeKernels.TC_TILE, order, items, itemCount, tcItems);
                }
                float[] xt = GpuTests.Buffers.floats(xTc, count * DIM);
                assertArrayEquals(xt, GpuTests.Buffers.floats(xTcAgain, count * DIM),
                        type + ": a second tensor-core run differs");
                for (int r = 0; r < DIM; r++) {
                    assertEquals(x0[3 * DIM + r], xt[3 * DIM + r], "token 3 has only skipped choices");
                }
                double errTc = GpuTests.relErr(xt, refX);
                String tcLine = String.format("moe grouped tensor cores %-5s tokens=%3d pool=%-5b tiles=%3d (bound %3d)"
                        + " relErr=%.2e (fp32 grouped %.2e)", type, count, pool, tiles, tcItems, errTc, err);
                GpuTests.report(tcLine);
                assertTrue(errTc <= TOL_TC, tcLine);
            }
        }
    }

    /**
     * Checks what {@code moe_group} left on the device against the same grouping on the host: {@code order} a
     * stable sort of the slots by id (skipped ones dropped), the work list in tiles of {@code tile} slots, within
     * its bound, and the count of placed slots. Returns the number of tiles.
     */
    private static int checkGrouping(int[] chosen, int ids, int tile, CUdeviceptr order, CUdeviceptr items,
                                     CUdeviceptr itemCount, int maxItems) {
        int slots = chosen.length;
        int[] gotOrder = ints(order, slots);
        int[] gotItems = ints(items, 3 * maxItems);
        int[] counts = ints(itemCount, 2);
        List<Integer> wantOrder = new ArrayList<>();
        List<int[]> wantItems = new ArrayList<>();
        for (int e = 0; e < ids; e++) {
            int first = wantOrder.size();
            for (int s = 0; s < slots; s++) {
                if (chosen[s] == e) {
                    wantOrder.add(s);
                }
            }
            for (int at = first; at < wantOrder.size(); at += tile) {
                wantItems.add(new int[] {e, at, Math.min(tile, wantOrder.size() - at)});
            }
        }
        assertEquals(wantItems.size(), counts[0], "tiles of " + tile + " listed");
        assertEquals(wantOrder.size(), counts[1], "slots placed");
        assertTrue(counts[0] <= maxItems, "tiles within the bound");
        assertArrayEquals(wantOrder.stream().mapToInt(Integer::intValue).toArray(),
                Arrays.copyOf(gotOrder, wantOrder.size()), "slots in expert order, stable");
        for (int i = 0; i < counts[0]; i++) {
            assertArrayEquals(wantItems.get(i), Arrays.copyOfRange(gotItems, 3 * i, 3 * i + 3), "tile " + i);
        }
        return counts[0];
    }

    private static float[][] rows(GgmlType type, byte[] b, int rows, int cols) {
        float[][] out = new float[rows][];
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        for (int r = 0; r < rows; r++) {
            out[r] = RefDequant.row(type, b, r * rowBytes, cols);
        }
        return out;
    }

    private static int[] ints(CUdeviceptr p, int n) {
        int[] v = new int[n];
        cuMemcpyDtoH(Pointer.to(v), p, 4L * n);
        return v;
    }
}
