package io.offload4j.backend.cpu;

import io.offload4j.model.BlockRecipe;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.LongRope;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.MoeConfig;
import io.offload4j.model.MoeWeights;
import io.offload4j.model.ModelTraits;
import io.offload4j.model.RopeLayout;
import io.offload4j.model.RopeScaling;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;

/**
 * A deliberately naive forward pass in double precision, written from the equations (no KV cache,
 * no chunking, no threads), to check the optimised CPU pass against; its blocks follow the shared
 * {@link BlockRecipe} step by step, the description every device implements. Slow; tiny models only.
 */
final class ReferenceTransformer {

    private final Model model;
    private final ModelConfig c;
    /** RoPE's divisor of each frequency (rope_freqs, or LongRoPE's set for the context), or null. */
    private final float[] ropeDivisors;
    /** transformers' "attention_factor": multiplies cos and sin (LongRoPE), else 1. */
    private final double ropeMagnitude;

    /** For a model without LongRoPE factors (the context then decides nothing). */
    ReferenceTransformer(Model model) {
        this(model, 0);
        if (model.weights().longRope() != null) {
            throw new IllegalArgumentException("a LongRoPE model's reference needs the pass's context");
        }
    }

    /** For a pass prepared for {@code context} positions (which decides LongRoPE's short or long factors). */
    ReferenceTransformer(Model model, int context) {
        this.model = model;
        this.c = model.config();
        LongRope longRope = model.weights().longRope();
        this.ropeDivisors = longRope == null ? model.weights().ropeFrequencyFactors()
                : context > longRope.originalContext() ? longRope.longFactors() : longRope.shortFactors();
        this.ropeMagnitude = longRope == null ? 1 : longRope.attentionFactor();
    }

    /** Logits after the last of {@code tokens} (positions 0..n-1). */
    double[] logits(int[] tokens) {
        double[][] all = allLogits(tokens);
        return all[all.length - 1];
    }

    /** Logits after each of {@code tokens} (positions 0..n-1). */
    double[][] allLogits(int[] tokens) {
        int n = tokens.length;
        ModelTraits traits = c.traits();
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) {
            x[t] = row(model.weights().tokenEmbedding(), tokens[t]);
            for (int i = 0; i < x[t].length; i++) {
                x[t][i] *= traits.embeddingScale(); // Gemma: √width (as a float, as transformers rounds it)
            }
        }
        for (BlockWeights b : model.weights().blocks()) {
            block(b, x);
        }
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = matvec(model.weights().output(), rmsNorm(x[t], model.weights().outputNorm()));
            if (traits.finalSoftcap() > 0) {
                for (int i = 0; i < logits[t].length; i++) {
                    logits[t][i] = traits.finalSoftcap() * Math.tanh(logits[t][i] / traits.finalSoftcap());
                }
            }
        }
        return logits;
    }

    /**
     * One block over every token, interpreting the shared description of its order of operations
     * ({@link BlockRecipe#of}) one step at a time: what both devices implement, written out plainly.
     */
    private void block(BlockWeights b, double[][] x) {
        int n = x.length;
        int dim = c.embeddingLength();
        int hd = c.headDim();
        double[][] xb = new double[n][];
        double[][] q = new double[n][];
        double[][] k = new double[n][];
        double[][] v = new double[n][];
        double[][] keys = new double[n][];
        double[][] values = new double[n][];
        double[][] attn = new double[n][];
        double[][] h = new double[n][];
        int[][] chosen = new int[n][];
        double[][] chosenWeight = new double[n][];
        double[][] o = new double[n][];
        boolean sliding = c.traits().sliding(b.index());
        for (BlockRecipe step : BlockRecipe.of(b)) {
            for (int t = 0; t < n; t++) {
                switch (step) {
                    case ATTENTION_NORM -> xb[t] = rmsNorm(x[t], b.attentionNorm());
                    case QKV_PROJECTIONS -> {
                        q[t] = matvec(b.wq(), xb[t]);
                        k[t] = matvec(b.wk(), xb[t]);
                        v[t] = matvec(b.wv(), xb[t]);
                    }
                    case QKV_BIAS -> {
                        add(q[t], b.qBias());
                        add(k[t], b.kBias());
                        add(v[t], b.vBias());
                    }
                    case QK_NORM -> {
                        for (int head = 0; head < c.headCount(); head++) {
                            normHead(q[t], head, b.qNorm());
                        }
                        for (int head = 0; head < c.headCountKv(); head++) {
                            normHead(k[t], head, b.kNorm());
                        }
                    }
                    case ROPE -> {
                        for (int head = 0; head < c.headCount(); head++) {
                            rope(q[t], head, t, sliding);
                        }
                        for (int head = 0; head < c.headCountKv(); head++) {
                            rope(k[t], head, t, sliding);
                        }
                    }
                    case KV_WRITE -> {
                        keys[t] = k[t];
                        values[t] = v[t];
                    }
                    case ATTENTION -> attn[t] = attention(q[t], keys, values, t, hd,
                            sliding ? Math.max(0, t - c.traits().slidingWindow() + 1) : 0);
                    case OUTPUT_PROJECTION -> {
                        o[t] = matvec(b.wo(), attn[t]);
                        if (b.attentionPostNorm() == null) {
                            addTo(x[t], o[t], dim);
                        }
                    }
                    case ATTENTION_POST_NORM -> addTo(x[t], rmsNorm(o[t], b.attentionPostNorm()), dim);
                    case FFN_NORM -> xb[t] = rmsNorm(x[t], b.ffnNorm());
                    case GATE_UP_SWIGLU -> {
                        double[] gate = matvec(b.wGate(), xb[t]);
                        double[] up = matvec(b.wUp(), xb[t]);
                        for (int i = 0; i < gate.length; i++) {
                            gate[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                        }
                        h[t] = gate;
                    }
                    case GATE_UP_GEGLU -> {
                        double[] gate = matvec(b.wGate(), xb[t]);
                        double[] up = matvec(b.wUp(), xb[t]);
                        for (int i = 0; i < gate.length; i++) {
                            double g = gate[i];
                            gate[i] = 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g)))
                                    * up[i];
                        }
                        h[t] = gate;
                    }
                    case DOWN_PROJECTION -> {
                        o[t] = matvec(b.wDown(), h[t]);
                        if (b.ffnPostNorm() == null) {
                            addTo(x[t], o[t], dim);
                        }
                    }
                    case FFN_POST_NORM -> addTo(x[t], rmsNorm(o[t], b.ffnPostNorm()), dim);
                    case MOE_ROUTER -> route(b.moe(), xb[t], chosen, chosenWeight, t);
                    case MOE_EXPERTS -> {
                        MoeWeights m = b.moe();
                        for (int j = 0; j < chosen[t].length; j++) {
                            int e = chosen[t][j];
                            double[] out = ffn(m.gate()[e], m.up()[e], m.down()[e], xb[t]);
                            for (int i = 0; i < dim; i++) {
                                x[t][i] += chosenWeight[t][j] * out[i];
                            }
                        }
                    }
                    case MOE_SHARED_EXPERT -> {
                        MoeWeights m = b.moe();
                        double s = 0;
                        for (int i = 0; i < dim; i++) {
                            s += m.sharedGateInput()[i] * xb[t][i];
                        }
                        double gate = 1 / (1 + Math.exp(-s));
                        double[] out = ffn(m.sharedGate(), m.sharedUp(), m.sharedDown(), xb[t]);
                        for (int i = 0; i < dim; i++) {
                            x[t][i] += gate * out[i];
                        }
                    }
                }
            }
        }
    }

    /**
     * The router as the architectures define it (transformers' Mixtral/Qwen-MoE blocks, llama.cpp's build_moe_ffn):
     * softmax over all experts, the k largest, renormalised if the config says so, times the weights scale.
     */
    private void route(MoeWeights m, double[] xb, int[][] chosen, double[][] chosenWeight, int t) {
        MoeConfig mc = c.moe();
        double[] logits = matvec(m.router(), xb);
        double max = Double.NEGATIVE_INFINITY;
        for (double l : logits) {
            max = Math.max(max, l);
        }
        double z = 0;
        double[] p = new double[logits.length];
        for (int e = 0; e < p.length; e++) {
            p[e] = Math.exp(logits[e] - max);
            z += p[e];
        }
        int k = mc.expertUsedCount();
        Integer[] order = new Integer[p.length];
        for (int e = 0; e < p.length; e++) {
            order[e] = e;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        chosen[t] = new int[k];
        chosenWeight[t] = new double[k];
        double sum = 0;
        for (int j = 0; j < k; j++) {
            chosen[t][j] = order[j];
            chosenWeight[t][j] = p[order[j]] / z;
            sum += chosenWeight[t][j];
        }
        for (int j = 0; j < k; j++) {
            chosenWeight[t][j] = (mc.normalizeTopK() ? chosenWeight[t][j] / sum : chosenWeight[t][j]) * mc.weightsScale();
        }
    }

    /** down · (SiLU(gate · x) ⊙ (up · x)). */
    private static double[] ffn(Weight gate, Weight up, Weight down, double[] x) {
        double[] g = matvec(gate, x);
        double[] u = matvec(up, x);
        for (int i = 0; i < g.length; i++) {
            g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
        }
        return matvec(down, g);
    }

    /**
     * Causal grouped-query attention of token {@code t} over positions first..t (first > 0 in a sliding block),
     * scores scaled by the model's attention scale and soft-capped when it has a cap.
     */
    private double[] attention(double[] q, double[][] keys, double[][] values, int t, int hd, int first) {
        double scale = c.traits().attentionScale();
        double cap = c.traits().attentionSoftcap();
        int group = c.headCount() / c.headCountKv();
        double[] attn = new double[c.queryDim()];
        for (int head = 0; head < c.headCount(); head++) {
            int kvh = head / group;
            double[] w = new double[t + 1];
            double max = Double.NEGATIVE_INFINITY;
            for (int p = first; p <= t; p++) {
                double s = 0;
                for (int d = 0; d < hd; d++) {
                    s += q[head * hd + d] * keys[p][kvh * hd + d];
                }
                w[p] = s * scale;
                if (cap > 0) {
                    w[p] = cap * Math.tanh(w[p] / cap);
                }
                max = Math.max(max, w[p]);
            }
            double z = 0;
            for (int p = first; p <= t; p++) {
                w[p] = Math.exp(w[p] - max);
                z += w[p];
            }
            for (int p = first; p <= t; p++) {
                for (int d = 0; d < hd; d++) {
                    attn[head * hd + d] += w[p] / z * values[p][kvh * hd + d];
                }
            }
        }
        return attn;
    }

    private static void addTo(double[] x, double[] delta, int n) {
        for (int i = 0; i < n; i++) {
            x[i] += delta[i];
        }
    }

    /** RoPE; a sliding block turns by its own base and scaling (Gemma 3's local layers), the others by the model's. */
    private void rope(double[] vec, int head, int pos, boolean sliding) {
        int hd = c.headDim();
        int rd = c.ropeDimensions();
        double base = sliding ? c.traits().slidingRopeBase() : c.ropeFreqBase();
        RopeScaling scaling = sliding ? c.traits().slidingRopeScaling() : c.ropeScaling();
        double linear = scaling.type() == RopeScaling.Type.LINEAR ? scaling.factor() : 1;
        for (int i = 0; i < rd / 2; i++) {
            double theta = pos * Math.pow(base, -2.0 * i / rd) / linear / (ropeDivisors == null ? 1 : ropeDivisors[i]);
            int a = head * hd + (c.ropeLayout() == RopeLayout.ADJACENT_PAIRS ? 2 * i : i);
            int b = c.ropeLayout() == RopeLayout.ADJACENT_PAIRS ? a + 1 : a + rd / 2;
            double x0 = vec[a];
            double x1 = vec[b];
            double cos = Math.cos(theta) * ropeMagnitude;
            double sin = Math.sin(theta) * ropeMagnitude;
            vec[a] = x0 * cos - x1 * sin;
            vec[b] = x0 * sin + x1 * cos;
        }
    }

    private void normHead(double[] vec, int head, float[] weight) {
        int hd = c.headDim();
        double ss = 0;
        for (int d = 0; d < hd; d++) {
            ss += vec[head * hd + d] * vec[head * hd + d];
        }
        double s = 1 / Math.sqrt(ss / hd + c.rmsNormEps());
        for (int d = 0; d < hd; d++) {
            vec[head * hd + d] *= s * weight[d];
        }
    }

    private double[] rmsNorm(double[] x, float[] weight) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double s = 1 / Math.sqrt(ss / x.length + c.rmsNormEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * s * weight[i];
        }
        return out;
    }

    private static double[] add(double[] x, float[] bias) {
        if (bias != null) {
            for (int i = 0; i < x.length; i++) {
                x[i] += bias[i];
            }
        }
        return x;
    }

    private static double[] row(Weight w, int r) {
        float[] f = new float[w.cols()];
        CpuKernels.scalar(w.type()).dequantize(w.data(), r * w.rowBytes(), f, 0, w.cols());
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static double[] matvec(Weight w, double[] x) {
        double[] out = new double[w.rows()];
        for (int r = 0; r < w.rows(); r++) {
            double[] row = row(w, r);
            double s = 0;
            for (int i = 0; i < row.length; i++) {
                s += row[i] * x[i];
            }
            out[r] = s;
        }
        return out;
    }
}
