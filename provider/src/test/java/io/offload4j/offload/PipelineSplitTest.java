package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Consecutive blocks per device, in proportion to each device's weight budget, the head counted on the last. */
class PipelineSplitTest {

    private static long[] blocks(int n, long bytes) {
        long[] b = new long[n];
        Arrays.fill(b, bytes);
        return b;
    }

    @Test
    void equalDevicesTakeEqualShares() {
        assertArrayEquals(new int[] {0, 16, 32}, PipelineSplit.split(blocks(32, 100), 0, new long[] {5, 5}));
        assertArrayEquals(new int[] {0, 8, 16, 24, 32},
                PipelineSplit.split(blocks(32, 100), 0, new long[] {7, 7, 7, 7}));
    }

    @Test
    void theHeadCountsOnTheLastDevice() {
        // 32 blocks of 100 and a head of 800: 4,000 bytes, 2,000 each; the last device's 2,000 are 12 blocks + head
        assertArrayEquals(new int[] {0, 20, 32}, PipelineSplit.split(blocks(32, 100), 800, new long[] {1, 1}));
    }

    @Test
    void sharesFollowTheBudgets() {
        // a device with three times the budget takes three times the blocks
        assertArrayEquals(new int[] {0, 30, 40}, PipelineSplit.split(blocks(40, 10), 0, new long[] {300, 100}));
        assertArrayEquals(new int[] {0, 10, 40}, PipelineSplit.split(blocks(40, 10), 0, new long[] {100, 300}));
    }

    @Test
    void everyDeviceGetsABlockAndTheRunsCoverTheModelInOrder() {
        SplittableRandom r = new SplittableRandom(21);
        for (int trial = 0; trial < 500; trial++) {
            int devices = 2 + r.nextInt(7);
            int n = devices + r.nextInt(60);
            long[] b = new long[n];
            for (int i = 0; i < n; i++) {
                b[i] = 1 + r.nextInt(1000);
            }
            long[] budgets = new long[devices];
            for (int i = 0; i < devices; i++) {
                budgets[i] = 1 + r.nextLong(1L << 40);
            }
            int[] s = PipelineSplit.split(b, r.nextInt(5000), budgets);
            assertEquals(devices + 1, s.length);
            assertEquals(0, s[0]);
            assertEquals(n, s[devices]);
            for (int i = 0; i < devices; i++) {
                assertTrue(s[i + 1] > s[i], "device " + i + " has a block: " + Arrays.toString(s));
            }
        }
    }

    @Test
    void fewerBlocksThanDevicesIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PipelineSplit.split(blocks(2, 10), 0, new long[] {1, 1, 1}));
        assertTrue(e.getMessage().contains("2 blocks cannot be split over 3 devices"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PipelineSplit.split(blocks(4, 10), 0, new long[] {1, 0}));
    }
}
