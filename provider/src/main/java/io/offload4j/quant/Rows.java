package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;

/** Argument checks shared by all kernels; called once per row, never inside a block loop. */
final class Rows {
    private Rows() {}

    /**
     * The number of blocks in a row of {@code n} elements of {@code type}.
     *
     * @throws IllegalArgumentException when {@code n} is negative or not a whole number of blocks
     */
    static int blocks(GgmlType type, int n) {
        int bs = type.blockSize();
        if (n < 0 || n % bs != 0) {
            throw new IllegalArgumentException(type + " rows hold whole " + bs + "-element blocks; n=" + n
                    + " is not a multiple of the block size " + bs);
        }
        return n / bs;
    }
}
