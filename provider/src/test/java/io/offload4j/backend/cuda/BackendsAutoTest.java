package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import org.junit.jupiter.api.Test;

/** Device selection works with or without a GPU: auto never throws, cuda says why it cannot run. */
class BackendsAutoTest {

    @Test
    void autoPicksAUsableBackend() {
        String reason = CudaDevice.unavailableReason(0);
        try (Backend b = Backends.create("auto", 1)) {
            assertNotNull(b.description());
            if (reason != null) {
                assertTrue(b.description().startsWith("cpu"), b.description());
            } else {
                assertTrue(b.description().startsWith("cuda:0"), b.description());
            }
        }
    }

    @Test
    void cudaWithoutADeviceExplainsWhy() {
        String reason = CudaDevice.unavailableReason(0);
        if (reason != null) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.create("cuda", 1));
            assertTrue(e.getMessage().contains("--device cpu"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Backends.create("cuda:99", 1));
    }
}
