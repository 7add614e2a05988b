package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class CpuThreadPoolTest {

    @Test
    void everyIndexIsVisitedExactlyOnceAcrossManyRuns() {
        try (CpuThreadPool pool = new CpuThreadPool(4)) {
            for (int round = 0; round < 500; round++) {
                int n = 1 + round * 7 % 300;
                AtomicIntegerArray visits = new AtomicIntegerArray(n);
                pool.run(n, 3, (start, end, worker) -> {
                    for (int i = start; i < end; i++) {
                        visits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, visits.get(i), "round " + round + " index " + i);
                }
            }
        }
    }

    @Test
    void workerIndicesStayWithinThePool() {
        try (CpuThreadPool pool = new CpuThreadPool(3)) {
            AtomicIntegerArray byWorker = new AtomicIntegerArray(3);
            pool.run(3000, 1, (start, end, worker) -> byWorker.addAndGet(worker, end - start));
            assertEquals(3000, byWorker.get(0) + byWorker.get(1) + byWorker.get(2));
        }
    }

    @Test
    void aFailingTaskIsRethrownToTheCaller() {
        try (CpuThreadPool pool = new CpuThreadPool(2)) {
            IllegalStateException boom = new IllegalStateException("boom");
            assertSame(boom, assertThrows(IllegalStateException.class, () -> pool.run(100, 1, (s, e, w) -> {
                if (s == 57) {
                    throw boom;
                }
            })));
            // The pool is still usable.
            AtomicIntegerArray visits = new AtomicIntegerArray(10);
            pool.run(10, 1, (s, e, w) -> visits.incrementAndGet(s));
            for (int i = 0; i < 10; i++) {
                assertEquals(1, visits.get(i));
            }
        }
    }
}
