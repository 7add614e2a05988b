package io.offload4j.offload;

import io.offload4j.backend.KvCache;

/**
 * One sequence's keys and values for a tiered pass: the accelerator's cache for every block, and, when the plan has
 * CPU blocks, the CPU's cache for those, kept in step by {@link KvHandOff} so that either device can take the next
 * step.
 */
final class TieredKvCache implements KvCache {

    final TieredForwardPass owner;
    final KvCache accelerator;
    final KvCache cpu;          // null without CPU blocks
    private boolean closed;

    TieredKvCache(TieredForwardPass owner, KvCache accelerator, KvCache cpu) {
        this.owner = owner;
        this.accelerator = accelerator;
        this.cpu = cpu;
    }

    @Override
    public int capacity() {
        return accelerator.capacity();
    }

    /** Both caches may hold a sliding-window ring: the smaller rewind holds for the pair. */
    @Override
    public int maxRewind() {
        return cpu == null ? accelerator.maxRewind() : Math.min(accelerator.maxRewind(), cpu.maxRewind());
    }

    /** Both parts can copy from the source's (nothing is copied unless both can). */
    @Override
    public boolean canCopyPrefix(KvCache source) {
        return source instanceof TieredKvCache src && src.owner == owner && accelerator.canCopyPrefix(src.accelerator)
                && (cpu == null ? src.cpu == null : src.cpu != null && cpu.canCopyPrefix(src.cpu));
    }

    @Override
    public void copyPrefix(KvCache source, int positions) {
        KvCache.requireCopyable(this, source, positions);
        TieredKvCache src = (TieredKvCache) source;
        accelerator.copyPrefix(src.accelerator, positions);
        if (cpu != null) {
            cpu.copyPrefix(src.cpu, positions);
        }
    }

    /** The accelerator's bytes: what limits how many sequences run at once. */
    @Override
    public long byteSize() {
        return accelerator.byteSize();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        accelerator.close();
        if (cpu != null) {
            cpu.close();
        }
    }
}
