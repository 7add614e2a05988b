package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import java.util.Locale;

/**
 * Whether the next request's KV cache fits in the device memory that is free now, for an engine whose KV caches live
 * in device memory and whose number of running requests is automatic. A request's cache holds the positions it can
 * reach (its prompt and max tokens, {@link Sequence#limit()}), so how many requests fit depends on the requests, not on
 * a count of whole-context caches fixed at start: short requests share the GPU many at a time, long ones fewer. The
 * scheduler asks before admitting each request while others run; when it does not fit, kept conversations are dropped
 * from the prefix cache (oldest first) until it does, and otherwise the request waits for running ones to finish.
 *
 * <p>A request without max tokens starts with a smaller cache that grows as it goes ({@link KvGrowth}: others are
 * suspended, and computed again later, when memory runs short); a request with max tokens holds all its positions
 * from the start, so it never needs more KV memory midway. Asked once per admission and per growth (the driver's
 * free-memory query), never per token.
 */
final class DeviceAdmission {

    private final ForwardPass pass;
    private final long bytesPerPosition;
    private final long marginBytes;

    /**
     * @param bytesPerPosition a KV cache's device bytes per position (an upper bound: sliding-window rings take less)
     * @param marginBytes      device memory left free for everything else (graphs, the driver)
     */
    DeviceAdmission(ForwardPass pass, long bytesPerPosition, long marginBytes) {
        this.pass = pass;
        this.bytesPerPosition = bytesPerPosition;
        this.marginBytes = marginBytes;
    }

    /** Whether a KV cache of {@code capacity} positions fits in the device memory free now, beside the margin. */
    boolean fits(int capacity) {
        long free = pass.freeDeviceMemory();
        return free < 0 || free - marginBytes >= bytesPerPosition * capacity;
    }

    /** For the memory report: what decides admission. */
    String describe() {
        return String.format(Locale.ROOT, "each admitted while the GPU's free memory holds its KV cache (its"
                + " prompt and max tokens, or without max tokens its prompt and a first reply, grown later; %d KiB a"
                + " position) beside a %d MiB margin; kept conversations are dropped to make room",
                bytesPerPosition >> 10, marginBytes >> 20);
    }
}
