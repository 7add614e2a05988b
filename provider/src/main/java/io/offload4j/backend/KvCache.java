package io.offload4j.backend;

/** The keys and values of one sequence, per block and position, on the device that computes it. */
public interface KvCache extends AutoCloseable {

    /** Positions it can hold. */
    int capacity();

    /** Device or host bytes it occupies. */
    long byteSize();

    @Override
    void close();
}
