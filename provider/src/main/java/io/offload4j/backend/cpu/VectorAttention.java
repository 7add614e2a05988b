package io.offload4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Attention} on the Vector API. Scores: lanes are positions; for each head dimension one
 * load of the transposed keys feeds four query heads (grouped-query attention shares the keys).
 * Softmax: vector max, exp and sum. Output: lanes are head dimensions, the accumulators stay in
 * registers across all positions.
 */
final class VectorAttention implements Attention {
    static final VectorAttention INSTANCE = new VectorAttention();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private VectorAttention() {}

    @Override
    public int padding() {
        return 2 * L;
    }

    @Override
    public void scores(float[] q, int qOff, int n, int hd, float[] keys, int kOff, int stride, int positions,
                       float scale, float[] att, int attOff, int attStride) {
        int g = 0;
        for (; g + 3 < n; g += 4) {
            scores4(q, qOff + g * hd, hd, keys, kOff, stride, positions, scale, att, attOff + g * attStride, attStride);
        }
        for (; g < n; g++) {
            scores1(q, qOff + g * hd, hd, keys, kOff, stride, positions, scale, att, attOff + g * attStride);
        }
    }

    /** att[a + g·attStride + p] = scale · q_g · k_p for four heads; may write up to 2L - 1 past positions. */
    private static void scores4(float[] q, int qi, int hd, float[] keys, int kOff, int stride, int positions, float scale,
                                float[] att, int a, int attStride) {
        int q1 = qi + hd;
        int q2 = q1 + hd;
        int q3 = q2 + hd;
        for (int p = 0; p < positions; p += 2 * L) {
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F), s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
            FloatVector t0 = FloatVector.zero(F), t1 = FloatVector.zero(F), t2 = FloatVector.zero(F), t3 = FloatVector.zero(F);
            for (int d = 0, k = kOff + p; d < hd; d++, k += stride) {
                FloatVector k0 = FloatVector.fromArray(F, keys, k);
                FloatVector k1 = FloatVector.fromArray(F, keys, k + L);
                FloatVector b = FloatVector.broadcast(F, q[qi + d]);
                s0 = k0.fma(b, s0);
                t0 = k1.fma(b, t0);
                b = FloatVector.broadcast(F, q[q1 + d]);
                s1 = k0.fma(b, s1);
                t1 = k1.fma(b, t1);
                b = FloatVector.broadcast(F, q[q2 + d]);
                s2 = k0.fma(b, s2);
                t2 = k1.fma(b, t2);
                b = FloatVector.broadcast(F, q[q3 + d]);
                s3 = k0.fma(b, s3);
                t3 = k1.fma(b, t3);
            }
            int o = a + p;
            s0.mul(scale).intoArray(att, o);
            t0.mul(scale).intoArray(att, o + L);
            s1.mul(scale).intoArray(att, o + attStride);
            t1.mul(scale).intoArray(att, o + attStride + L);
            s2.mul(scale).intoArray(att, o + 2 * attStride);
            t2.mul(scale).intoArray(att, o + 2 * attStride + L);
            s3.mul(scale).intoArray(att, o + 3 * attStride);
            t3.mul(scale).intoArray(att, o + 3 * attStride + L);
        }
    }

    private static void scores1(float[] q, int qi, int hd, float[] keys, int kOff, int stride, int positions, float scale,
                                float[] att, int a) {
        for (int p = 0; p < positions; p += 2 * L) {
            FloatVector s0 = FloatVector.zero(F), t0 = FloatVector.zero(F);
            FloatVector s1 = FloatVector.zero(F), t1 = FloatVector.zero(F);
            int d = 0;
            int k = kOff + p;
            for (; d + 1 < hd; d += 2, k += 2 * stride) {
                FloatVector b = FloatVector.broadcast(F, q[qi + d]);
                s0 = FloatVector.fromArray(F, keys, k).fma(b, s0);
                t0 = FloatVector.fromArray(F, keys, k + L).fma(b, t0);
                b = FloatVector.broadcast(F, q[qi + d + 1]);
                s1 = FloatVector.fromArray(F, keys, k + stride).fma(b, s1);
                t1 = FloatVector.fromArray(F, keys, k + stride + L).fma(b, t1);
            }
            if (d < hd) {
                FloatVector b = FloatVector.broadcast(F, q[qi + d]);
                s0 = FloatVector.fromArray(F, keys, k).fma(b, s0);
                t0 = FloatVector.fromArray(F, keys, k + L).fma(b, t0);
            }
            s0.add(s1).mul(scale).intoArray(att, a + p);
            t0.add(t1).mul(scale).intoArray(att, a + p + L);
        }
    }

    /** Vector tanh (a few ulps, like exp in the softmax): Gemma 2 caps every score, so this is per position. */
    @Override
    public void softcap(float[] x, int from, int to, float cap) {
        int i = from;
        float inv = 1f / cap;
        for (; i + L <= to; i += L) {
            FloatVector.fromArray(F, x, i).mul(inv).lanewise(VectorOperators.TANH).mul(cap).intoArray(x, i);
        }
        for (; i < to; i++) {
            x[i] = cap * (float) Math.tanh(x[i] / cap);
        }
    }

    @Override
    public float softmax(float[] att, int a, int positions) {
        int vec = positions - positions % L;
        // Vector work only where there is a whole vector of positions: C2 can compile the vector part of this method
        // into code that boxes (seen on a 16-lane AVX-512 host: one box per call, CpuForwardBatchTest), and short
        // contexts then need not touch it at all.
        // lanewise(MAX, ..) rather than the convenience max(..): that one's inner virtual call is profiled in
        // FloatVector.max's own method data, which can still be empty when this method is compiled (nothing else calls
        // it); C2 then cannot devirtualize it, every vector of the loop is boxed, and a prefill ran at half speed in
        // about half of the JVM starts (F16 410M pp512: 127-136 vs 224-274 tok/s). Here the call site is this method's.
        float max = Float.NEGATIVE_INFINITY;
        if (vec > 0) {
            FloatVector m = FloatVector.fromArray(F, att, a);
            for (int p = L; p < vec; p += L) {
                m = m.lanewise(VectorOperators.MAX, FloatVector.fromArray(F, att, a + p));
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (int p = vec; p < positions; p++) {
            max = Math.max(max, att[a + p]);
        }
        float s = 0;
        if (vec > 0) {
            FloatVector sum = FloatVector.zero(F);
            for (int p = 0; p < vec; p += L) {
                FloatVector e = FloatVector.fromArray(F, att, a + p).sub(max).lanewise(VectorOperators.EXP);
                e.intoArray(att, a + p);
                sum = sum.add(e);
            }
            s = sum.reduceLanes(VectorOperators.ADD);
        }
        for (int p = vec; p < positions; p++) {
            float e = (float) Math.exp(att[a + p] - max);
            att[a + p] = e;
            s += e;
        }
        return 1f / s;
    }

    /**
     * out[o + d] (+)= Σ_p att[a + p] · values[vOff + p·vStride + d], times inv on the last run: the sums stay in
     * registers within a run and in {@code out} between runs, so a split changes no float.
     */
    @Override
    public void weightedSum(float[] att, int a, float inv, int hd, float[] values, int vOff, int vStride,
                            int positions, float[] out, int o, boolean first, boolean last) {
        float f = last ? inv : 1f;
        int d = 0;
        for (; d + 4 * L <= hd; d += 4 * L) {
            FloatVector o0, o1, o2, o3;
            if (first) {
                o0 = FloatVector.zero(F);
                o1 = FloatVector.zero(F);
                o2 = FloatVector.zero(F);
                o3 = FloatVector.zero(F);
            } else {
                o0 = FloatVector.fromArray(F, out, o + d);
                o1 = FloatVector.fromArray(F, out, o + d + L);
                o2 = FloatVector.fromArray(F, out, o + d + 2 * L);
                o3 = FloatVector.fromArray(F, out, o + d + 3 * L);
            }
            for (int p = 0, v = vOff + d; p < positions; p++, v += vStride) {
                FloatVector w = FloatVector.broadcast(F, att[a + p]);
                o0 = FloatVector.fromArray(F, values, v).fma(w, o0);
                o1 = FloatVector.fromArray(F, values, v + L).fma(w, o1);
                o2 = FloatVector.fromArray(F, values, v + 2 * L).fma(w, o2);
                o3 = FloatVector.fromArray(F, values, v + 3 * L).fma(w, o3);
            }
            o0.mul(f).intoArray(out, o + d);
            o1.mul(f).intoArray(out, o + d + L);
            o2.mul(f).intoArray(out, o + d + 2 * L);
            o3.mul(f).intoArray(out, o + d + 3 * L);
        }
        for (; d + L <= hd; d += L) {
            FloatVector o0 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, out, o + d);
            for (int p = 0, v = vOff + d; p < positions; p++, v += vStride) {
                o0 = FloatVector.fromArray(F, values, v).fma(FloatVector.broadcast(F, att[a + p]), o0);
            }
            o0.mul(f).intoArray(out, o + d);
        }
        for (; d < hd; d++) {
            float s = first ? 0 : out[o + d];
            for (int p = 0, v = vOff + d; p < positions; p++, v += vStride) {
                s += att[a + p] * values[v];
            }
            out[o + d] = s * f;
        }
    }
}
