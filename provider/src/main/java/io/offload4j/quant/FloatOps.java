package io.offload4j.quant;

/** Vector operations on float arrays used by the forward pass (Vector API or scalar). */
public interface FloatOps {

    /** Σ a[aOff+i] * b[bOff+i], i < n. */
    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    /** y[yOff+i] += alpha * x[xOff+i], i < n. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);
}
