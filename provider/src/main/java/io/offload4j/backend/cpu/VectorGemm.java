package io.offload4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Gemm} on the Vector API: register tiles of 4 weight rows × 2 tokens, so each step loads 6
 * vectors for 8 fused multiply-adds (a row-by-row dot product loads 2 per 1 and is bound by loads).
 * 4 × 2 measured fastest on AVX2 (61 GFLOP/s a core against 41 for 4 × 3, whose 12 accumulators
 * plus operands overflow the 16 vector registers); AVX-512 takes 4 × 4 and 4 × 3 first ({@link #WIDE_TILES}).
 */
final class VectorGemm implements Gemm {
    static final VectorGemm INSTANCE = new VectorGemm();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private VectorGemm() {}

    @Override
    public void swiglu(float[] g, float[] u, int from, int to) {
        int i = from;
        for (int end = to - L; i <= end; i += L) {
            FloatVector v = FloatVector.fromArray(F, g, i);
            // lanewise(NEG / DIV) rather than neg() / div(): as in VectorAttention.softmax, a convenience method that
            // only this loop calls may have no type profile for its inner call when this is compiled (boxed vectors)
            FloatVector e = v.lanewise(VectorOperators.NEG).lanewise(VectorOperators.EXP).add(1f);
            v.lanewise(VectorOperators.DIV, e).mul(FloatVector.fromArray(F, u, i)).intoArray(g, i);
        }
        for (; i < to; i++) {
            float v = g[i];
            g[i] = v / (1f + (float) Math.exp(-v)) * u[i];
        }
    }

    @Override
    public void geglu(float[] g, float[] u, int from, int to) {
        int i = from;
        for (int end = to - L; i <= end; i += L) {
            FloatVector x = FloatVector.fromArray(F, g, i);
            FloatVector inner = x.mul(x).mul(0.044715f).add(1f).mul(x).mul(0.7978845608028654f);
            x.mul(0.5f).mul(inner.lanewise(VectorOperators.TANH).add(1f)).mul(FloatVector.fromArray(F, u, i))
                    .intoArray(g, i);
        }
        Gemm.super.geglu(g, u, i, to);
    }

    /** Two vectors of tokens per panel: 6 rows × 2 vectors = 12 accumulators, 2 loads + 6 broadcasts per step. */
    private static final int P = 2 * L;
    private static final int PACKED_ROWS = 6;

    @Override
    public int panelTokens() {
        return P;
    }

    @Override
    public int packedRowTile() {
        return PACKED_ROWS;
    }

    /**
     * Tokens per panel for a chunk of {@code count}: one vector of tokens up to a vector's width (a speculative
     * verification's 9 rows, a small decode batch), two beyond. A two-vector panel padded from 9 tokens to 32 (AVX-512)
     * computes 3.5× the useful work; the narrow one 1.8×, at half the broadcasts per multiply-add of the wide one.
     */
    private static int panelWidth(int count) {
        return count <= L ? L : P;
    }

    @Override
    public void pack(float[] in, int count, int cols, float[] panel, int kFrom, int kTo) {
        int pw = panelWidth(count);
        int blocks = (count + pw - 1) / pw;
        for (int b = 0; b < blocks; b++) {
            int base = b * cols * pw;
            for (int j = 0; j < pw; j++) {
                int t = b * pw + j;
                if (t < count) {
                    int src = t * cols;
                    for (int k = kFrom; k < kTo; k++) {
                        panel[base + k * pw + j] = in[src + k];
                    }
                } else {
                    for (int k = kFrom; k < kTo; k++) {
                        panel[base + k * pw + j] = 0f;
                    }
                }
            }
        }
    }

    @Override
    public void multiplyPacked(float[] w, int wOff, int rows, float[] panel, int count, int cols, float[] out,
                               int outOff, int outStride, float[] scratch) {
        if (panelWidth(count) == L) {
            int i = 0;
            for (; i + PACKED_ROWS <= rows; i += PACKED_ROWS) {
                narrow6(w, wOff + i * cols, cols, panel, scratch);
                scatter(scratch, L, PACKED_ROWS, 0, count, out, outOff + i, outStride);
            }
            for (; i < rows; i++) {
                FloatVector a = FloatVector.zero(F);
                for (int k = 0, w0 = wOff + i * cols; k < cols; k++) {
                    a = FloatVector.broadcast(F, w[w0 + k]).fma(FloatVector.fromArray(F, panel, k * L), a);
                }
                a.intoArray(scratch, 0);
                scatter(scratch, L, 1, 0, count, out, outOff + i, outStride);
            }
            return;
        }
        int blocks = (count + P - 1) / P;
        int i = 0;
        for (; i + PACKED_ROWS <= rows; i += PACKED_ROWS) {
            for (int b = 0; b < blocks; b++) {
                panel6(w, wOff + i * cols, cols, panel, b * cols * P, scratch);
                scatter(scratch, P, PACKED_ROWS, b * P, count, out, outOff + i, outStride);
            }
        }
        for (; i < rows; i++) {
            for (int b = 0; b < blocks; b++) {
                panel1(w, wOff + i * cols, cols, panel, b * cols * P, scratch);
                scatter(scratch, P, 1, b * P, count, out, outOff + i, outStride);
            }
        }
    }

    /** scratch[r * L + j] = Σ_k w[w0 + r·cols + k] · panel[k·L + j], r < 6, j < L: a one-vector panel. */
    private static void narrow6(float[] w, int w0, int cols, float[] panel, float[] scratch) {
        int w1 = w0 + cols;
        int w2 = w1 + cols;
        int w3 = w2 + cols;
        int w4 = w3 + cols;
        int w5 = w4 + cols;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F), a4 = FloatVector.zero(F), a5 = FloatVector.zero(F);
        for (int k = 0, p = 0; k < cols; k++, p += L) {
            FloatVector b = FloatVector.fromArray(F, panel, p);
            a0 = FloatVector.broadcast(F, w[w0 + k]).fma(b, a0);
            a1 = FloatVector.broadcast(F, w[w1 + k]).fma(b, a1);
            a2 = FloatVector.broadcast(F, w[w2 + k]).fma(b, a2);
            a3 = FloatVector.broadcast(F, w[w3 + k]).fma(b, a3);
            a4 = FloatVector.broadcast(F, w[w4 + k]).fma(b, a4);
            a5 = FloatVector.broadcast(F, w[w5 + k]).fma(b, a5);
        }
        a0.intoArray(scratch, 0);
        a1.intoArray(scratch, L);
        a2.intoArray(scratch, 2 * L);
        a3.intoArray(scratch, 3 * L);
        a4.intoArray(scratch, 4 * L);
        a5.intoArray(scratch, 5 * L);
    }

    /** scratch[r * P + j] = Σ_k w[w0 + r·cols + k] · panel[p0 + k·P + j], r < 6, j < P. */
    private static void panel6(float[] w, int w0, int cols, float[] panel, int p0, float[] scratch) {
        int w1 = w0 + cols;
        int w2 = w1 + cols;
        int w3 = w2 + cols;
        int w4 = w3 + cols;
        int w5 = w4 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        FloatVector a40 = FloatVector.zero(F), a41 = FloatVector.zero(F);
        FloatVector a50 = FloatVector.zero(F), a51 = FloatVector.zero(F);
        for (int k = 0, p = p0; k < cols; k++, p += P) {
            FloatVector b0 = FloatVector.fromArray(F, panel, p);
            FloatVector b1 = FloatVector.fromArray(F, panel, p + L);
            FloatVector x = FloatVector.broadcast(F, w[w0 + k]);
            a00 = x.fma(b0, a00);
            a01 = x.fma(b1, a01);
            x = FloatVector.broadcast(F, w[w1 + k]);
            a10 = x.fma(b0, a10);
            a11 = x.fma(b1, a11);
            x = FloatVector.broadcast(F, w[w2 + k]);
            a20 = x.fma(b0, a20);
            a21 = x.fma(b1, a21);
            x = FloatVector.broadcast(F, w[w3 + k]);
            a30 = x.fma(b0, a30);
            a31 = x.fma(b1, a31);
            x = FloatVector.broadcast(F, w[w4 + k]);
            a40 = x.fma(b0, a40);
            a41 = x.fma(b1, a41);
            x = FloatVector.broadcast(F, w[w5 + k]);
            a50 = x.fma(b0, a50);
            a51 = x.fma(b1, a51);
        }
        a00.intoArray(scratch, 0);
        a01.intoArray(scratch, L);
        a10.intoArray(scratch, P);
        a11.intoArray(scratch, P + L);
        a20.intoArray(scratch, 2 * P);
        a21.intoArray(scratch, 2 * P + L);
        a30.intoArray(scratch, 3 * P);
        a31.intoArray(scratch, 3 * P + L);
        a40.intoArray(scratch, 4 * P);
        a41.intoArray(scratch, 4 * P + L);
        a50.intoArray(scratch, 5 * P);
        a51.intoArray(scratch, 5 * P + L);
    }

    private static void panel1(float[] w, int w0, int cols, float[] panel, int p0, float[] scratch) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        for (int k = 0, p = p0; k < cols; k++, p += P) {
            FloatVector x = FloatVector.broadcast(F, w[w0 + k]);
            a0 = x.fma(FloatVector.fromArray(F, panel, p), a0);
            a1 = x.fma(FloatVector.fromArray(F, panel, p + L), a1);
        }
        a0.intoArray(scratch, 0);
        a1.intoArray(scratch, L);
    }

    /** out[o + t·stride + r] = scratch[r·pw + j] for the panel's tokens t = t0 + j < count ({@code pw} wide). */
    private static void scatter(float[] scratch, int pw, int rows, int t0, int count, float[] out, int o, int stride) {
        int n = Math.min(pw, count - t0);
        for (int j = 0; j < n; j++) {
            int dst = o + (t0 + j) * stride;
            for (int r = 0; r < rows; r++) {
                out[dst + r] = scratch[r * pw + j];
            }
        }
    }

    @Override
    public int rowTile() {
        return 4;
    }

    /**
     * Whether {@link #multiply} takes 4 × 4 and 4 × 3 tiles before 4 × 2: with AVX-512's 32 vector registers their
     * 16 (12) accumulators and operands fit, and each step loads 8 vectors for 16 multiply-adds (7 for 12) instead of 6
     * for 8. Measured on the 2-vCPU AVX-512 build machine, one thread, weights and tokens in cache (4096 columns, 12
     * rows): 9 tokens 66 → 87 GFLOP/s, 16 tokens 69 → 95. AVX2's 16 registers (8-float vectors) keep 4 × 2.
     */
    private static final boolean WIDE_TILES = L >= 16;

    @Override
    public void multiply(float[] w, int wOff, int rows, float[] in, int inOff, int count, int cols, float[] out, int outOff,
                         int outStride) {
        int vecCols = cols - cols % L;
        int i = 0;
        for (; i + 3 < rows; i += 4) {
            int t = 0;
            for (; WIDE_TILES && t + 3 < count; t += 4) {
                tile4x4(w, wOff + i * cols, in, inOff + t * cols, cols, vecCols, out, outOff + t * outStride + i, outStride);
            }
            for (; WIDE_TILES && t + 2 < count; t += 3) {
                tile4x3(w, wOff + i * cols, in, inOff + t * cols, cols, vecCols, out, outOff + t * outStride + i, outStride);
            }
            for (; t + 1 < count; t += 2) {
                tile4x2(w, wOff + i * cols, in, inOff + t * cols, cols, vecCols, out, outOff + t * outStride + i, outStride);
            }
            for (; t < count; t++) {
                tile4x1(w, wOff + i * cols, in, inOff + t * cols, cols, vecCols, out, outOff + t * outStride + i);
            }
        }
        for (; i < rows; i++) {
            for (int t = 0; t < count; t++) {
                out[outOff + t * outStride + i] = dot(w, wOff + i * cols, in, inOff + t * cols, cols, vecCols);
            }
        }
    }

    /**
     * {@link #tile4x2} for 4 tokens. The tiles are written out, one per shape, rather than as a loop over arrays of
     * accumulators: C2 keeps named vector locals in registers, while vectors stored in an array are boxed.
     */
    private static void tile4x4(float[] w, int w0, float[] in, int x0, int cols, int vecCols, float[] out, int o,
                                int stride) {
        int w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
        int x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F), a33 = FloatVector.zero(F);
        for (int k = 0; k < vecCols; k += L) {
            FloatVector v0 = FloatVector.fromArray(F, in, x0 + k);
            FloatVector v1 = FloatVector.fromArray(F, in, x1 + k);
            FloatVector v2 = FloatVector.fromArray(F, in, x2 + k);
            FloatVector v3 = FloatVector.fromArray(F, in, x3 + k);
            FloatVector r = FloatVector.fromArray(F, w, w0 + k);
            a00 = r.fma(v0, a00);
            a01 = r.fma(v1, a01);
            a02 = r.fma(v2, a02);
            a03 = r.fma(v3, a03);
            r = FloatVector.fromArray(F, w, w1 + k);
            a10 = r.fma(v0, a10);
            a11 = r.fma(v1, a11);
            a12 = r.fma(v2, a12);
            a13 = r.fma(v3, a13);
            r = FloatVector.fromArray(F, w, w2 + k);
            a20 = r.fma(v0, a20);
            a21 = r.fma(v1, a21);
            a22 = r.fma(v2, a22);
            a23 = r.fma(v3, a23);
            r = FloatVector.fromArray(F, w, w3 + k);
            a30 = r.fma(v0, a30);
            a31 = r.fma(v1, a31);
            a32 = r.fma(v2, a32);
            a33 = r.fma(v3, a33);
        }
        float s00 = a00.reduceLanes(VectorOperators.ADD);
        float s01 = a01.reduceLanes(VectorOperators.ADD);
        float s02 = a02.reduceLanes(VectorOperators.ADD);
        float s03 = a03.reduceLanes(VectorOperators.ADD);
        float s10 = a10.reduceLanes(VectorOperators.ADD);
        float s11 = a11.reduceLanes(VectorOperators.ADD);
        float s12 = a12.reduceLanes(VectorOperators.ADD);
        float s13 = a13.reduceLanes(VectorOperators.ADD);
        float s20 = a20.reduceLanes(VectorOperators.ADD);
        float s21 = a21.reduceLanes(VectorOperators.ADD);
        float s22 = a22.reduceLanes(VectorOperators.ADD);
        float s23 = a23.reduceLanes(VectorOperators.ADD);
        float s30 = a30.reduceLanes(VectorOperators.ADD);
        float s31 = a31.reduceLanes(VectorOperators.ADD);
        float s32 = a32.reduceLanes(VectorOperators.ADD);
        float s33 = a33.reduceLanes(VectorOperators.ADD);
        for (int k = vecCols; k < cols; k++) {
            float r0 = w[w0 + k];
            float r1 = w[w1 + k];
            float r2 = w[w2 + k];
            float r3 = w[w3 + k];
            s00 += r0 * in[x0 + k]; s01 += r0 * in[x1 + k]; s02 += r0 * in[x2 + k]; s03 += r0 * in[x3 + k];
            s10 += r1 * in[x0 + k]; s11 += r1 * in[x1 + k]; s12 += r1 * in[x2 + k]; s13 += r1 * in[x3 + k];
            s20 += r2 * in[x0 + k]; s21 += r2 * in[x1 + k]; s22 += r2 * in[x2 + k]; s23 += r2 * in[x3 + k];
            s30 += r3 * in[x0 + k]; s31 += r3 * in[x1 + k]; s32 += r3 * in[x2 + k]; s33 += r3 * in[x3 + k];
        }
        out[o] = s00;
        out[o + 1] = s10;
        out[o + 2] = s20;
        out[o + 3] = s30;
        out[o + stride] = s01;
        out[o + stride + 1] = s11;
        out[o + stride + 2] = s21;
        out[o + stride + 3] = s31;
        out[o + 2 * stride] = s02;
        out[o + 2 * stride + 1] = s12;
        out[o + 2 * stride + 2] = s22;
        out[o + 2 * stride + 3] = s32;
        out[o + 3 * stride] = s03;
        out[o + 3 * stride + 1] = s13;
        out[o + 3 * stride + 2] = s23;
        out[o + 3 * stride + 3] = s33;
    }

    /** {@link #tile4x2} for 3 tokens. */
    private static void tile4x3(float[] w, int w0, float[] in, int x0, int cols, int vecCols, float[] out, int o,
                                int stride) {
        int w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
        int x1 = x0 + cols, x2 = x1 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F);
        for (int k = 0; k < vecCols; k += L) {
            FloatVector v0 = FloatVector.fromArray(F, in, x0 + k);
            FloatVector v1 = FloatVector.fromArray(F, in, x1 + k);
            FloatVector v2 = FloatVector.fromArray(F, in, x2 + k);
            FloatVector r = FloatVector.fromArray(F, w, w0 + k);
            a00 = r.fma(v0, a00);
            a01 = r.fma(v1, a01);
            a02 = r.fma(v2, a02);
            r = FloatVector.fromArray(F, w, w1 + k);
            a10 = r.fma(v0, a10);
            a11 = r.fma(v1, a11);
            a12 = r.fma(v2, a12);
            r = FloatVector.fromArray(F, w, w2 + k);
            a20 = r.fma(v0, a20);
            a21 = r.fma(v1, a21);
            a22 = r.fma(v2, a22);
            r = FloatVector.fromArray(F, w, w3 + k);
            a30 = r.fma(v0, a30);
            a31 = r.fma(v1, a31);
            a32 = r.fma(v2, a32);
        }
        float s00 = a00.reduceLanes(VectorOperators.ADD);
        float s01 = a01.reduceLanes(VectorOperators.ADD);
        float s02 = a02.reduceLanes(VectorOperators.ADD);
        float s10 = a10.reduceLanes(VectorOperators.ADD);
        float s11 = a11.reduceLanes(VectorOperators.ADD);
        float s12 = a12.reduceLanes(VectorOperators.ADD);
        float s20 = a20.reduceLanes(VectorOperators.ADD);
        float s21 = a21.reduceLanes(VectorOperators.ADD);
        float s22 = a22.reduceLanes(VectorOperators.ADD);
        float s30 = a30.reduceLanes(VectorOperators.ADD);
        float s31 = a31.reduceLanes(VectorOperators.ADD);
        float s32 = a32.reduceLanes(VectorOperators.ADD);
        for (int k = vecCols; k < cols; k++) {
            float r0 = w[w0 + k];
            float r1 = w[w1 + k];
            float r2 = w[w2 + k];
            float r3 = w[w3 + k];
            s00 += r0 * in[x0 + k]; s01 += r0 * in[x1 + k]; s02 += r0 * in[x2 + k];
            s10 += r1 * in[x0 + k]; s11 += r1 * in[x1 + k]; s12 += r1 * in[x2 + k];
            s20 += r2 * in[x0 + k]; s21 += r2 * in[x1 + k]; s22 += r2 * in[x2 + k];
            s30 += r3 * in[x0 + k]; s31 += r3 * in[x1 + k]; s32 += r3 * in[x2 + k];
        }
        out[o] = s00;
        out[o + 1] = s10;
        out[o + 2] = s20;
        out[o + 3] = s30;
        out[o + stride] = s01;
        out[o + stride + 1] = s11;
        out[o + stride + 2] = s21;
        out[o + stride + 3] = s31;
        out[o + 2 * stride] = s02;
        out[o + 2 * stride + 1] = s12;
        out[o + 2 * stride + 2] = s22;
        out[o + 2 * stride + 3] = s32;
    }

    private static void tile4x2(float[] w, int w0, float[] in, int x0, int cols, int vecCols, float[] out, int o,
                                int stride) {
        int w1 = w0 + cols;
        int w2 = w1 + cols;
        int w3 = w2 + cols;
        int x1 = x0 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        for (int k = 0; k < vecCols; k += L) {
            FloatVector v0 = FloatVector.fromArray(F, in, x0 + k);
            FloatVector v1 = FloatVector.fromArray(F, in, x1 + k);
            FloatVector r = FloatVector.fromArray(F, w, w0 + k);
            a00 = r.fma(v0, a00);
            a01 = r.fma(v1, a01);
            r = FloatVector.fromArray(F, w, w1 + k);
            a10 = r.fma(v0, a10);
            a11 = r.fma(v1, a11);
            r = FloatVector.fromArray(F, w, w2 + k);
            a20 = r.fma(v0, a20);
            a21 = r.fma(v1, a21);
            r = FloatVector.fromArray(F, w, w3 + k);
            a30 = r.fma(v0, a30);
            a31 = r.fma(v1, a31);
        }
        float s00 = a00.reduceLanes(VectorOperators.ADD), s01 = a01.reduceLanes(VectorOperators.ADD);
        float s10 = a10.reduceLanes(VectorOperators.ADD), s11 = a11.reduceLanes(VectorOperators.ADD);
        float s20 = a20.reduceLanes(VectorOperators.ADD), s21 = a21.reduceLanes(VectorOperators.ADD);
        float s30 = a30.reduceLanes(VectorOperators.ADD), s31 = a31.reduceLanes(VectorOperators.ADD);
        for (int k = vecCols; k < cols; k++) {
            float v0 = in[x0 + k], v1 = in[x1 + k];
            float r0 = w[w0 + k], r1 = w[w1 + k], r2 = w[w2 + k], r3 = w[w3 + k];
            s00 += r0 * v0; s01 += r0 * v1;
            s10 += r1 * v0; s11 += r1 * v1;
            s20 += r2 * v0; s21 += r2 * v1;
            s30 += r3 * v0; s31 += r3 * v1;
        }
        out[o] = s00;
        out[o + 1] = s10;
        out[o + 2] = s20;
        out[o + 3] = s30;
        out[o + stride] = s01;
        out[o + stride + 1] = s11;
        out[o + stride + 2] = s21;
        out[o + stride + 3] = s31;
    }

    private static void tile4x1(float[] w, int w0, float[] in, int x0, int cols, int vecCols, float[] out, int o) {
        int w1 = w0 + cols;
        int w2 = w1 + cols;
        int w3 = w2 + cols;
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        for (int k = 0; k < vecCols; k += L) {
            FloatVector v = FloatVector.fromArray(F, in, x0 + k);
            a0 = FloatVector.fromArray(F, w, w0 + k).fma(v, a0);
            a1 = FloatVector.fromArray(F, w, w1 + k).fma(v, a1);
            a2 = FloatVector.fromArray(F, w, w2 + k).fma(v, a2);
            a3 = FloatVector.fromArray(F, w, w3 + k).fma(v, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int k = vecCols; k < cols; k++) {
            float v = in[x0 + k];
            s0 += w[w0 + k] * v;
            s1 += w[w1 + k] * v;
            s2 += w[w2 + k] * v;
            s3 += w[w3 + k] * v;
        }
        out[o] = s0;
        out[o + 1] = s1;
        out[o + 2] = s2;
        out[o + 3] = s3;
    }

    static float dot(float[] a, int aOff, float[] b, int bOff, int n, int vecN) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int k = 0;
        for (; k + L < vecN; k += 2 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + k + L).fma(FloatVector.fromArray(F, b, bOff + k + L), acc1);
        }
        for (; k < vecN; k += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; k < n; k++) {
            s += a[aOff + k] * b[bOff + k];
        }
        return s;
    }
}
