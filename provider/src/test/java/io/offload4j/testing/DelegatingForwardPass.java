package io.offload4j.testing;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.ModelConfig;

/**
 * A test's wrapper around a real forward pass (to record calls, force logits, fail on cue): its shape, its KV caches,
 * its memory report and its closing are the wrapped pass's; {@link #forward} is the subclass's to write. {@code forwardAll} and
 * {@code forwardBatch} keep the interface's defaults (one {@code forward} per row) unless the subclass overrides them,
 * so a subclass that changes what {@code forward} computes changes it on every route.
 */
public abstract class DelegatingForwardPass implements ForwardPass {

    protected final ForwardPass pass;

    protected DelegatingForwardPass(ForwardPass pass) {
        this.pass = pass;
    }

    @Override
    public ModelConfig config() {
        return pass.config();
    }

    @Override
    public int maxChunkTokens() {
        return pass.maxChunkTokens();
    }

    @Override
    public int maxContext() {
        return pass.maxContext();
    }

    @Override
    public KvCache newKvCache(int capacity) {
        return pass.newKvCache(capacity);
    }

    @Override
    public String memoryReport() {
        return pass.memoryReport();
    }

    @Override
    public void close() {
        pass.close();
    }
}
