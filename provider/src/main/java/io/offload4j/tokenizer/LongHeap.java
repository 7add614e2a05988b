package io.offload4j.tokenizer;

import java.util.Arrays;

/**
 * A binary min-heap of (unsigned long key, int a, int b) entries, used as the BPE work queue. Keys
 * are compared as unsigned so callers can pack a priority into the high 32 bits and a tie-breaker
 * (the left symbol index) into the low 32 bits. Not thread-safe; one per encode call.
 */
final class LongHeap {

    private long[] keys;
    private int[] as;
    private int[] bs;
    private int size;

    LongHeap(int capacity) {
        capacity = Math.max(8, capacity);
        keys = new long[capacity];
        as = new int[capacity];
        bs = new int[capacity];
    }

    boolean isEmpty() {
        return size == 0;
    }

    void clear() {
        size = 0;
    }

    void push(long key, int a, int b) {
        if (size == keys.length) {
            int n = size * 2;
            keys = Arrays.copyOf(keys, n);
            as = Arrays.copyOf(as, n);
            bs = Arrays.copyOf(bs, n);
        }
        int i = size++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (Long.compareUnsigned(keys[parent], key) <= 0) {
                break;
            }
            keys[i] = keys[parent];
            as[i] = as[parent];
            bs[i] = bs[parent];
            i = parent;
        }
        keys[i] = key;
        as[i] = a;
        bs[i] = b;
    }

    /** Key of the top entry. */
    long topKey() {
        return keys[0];
    }

    int topA() {
        return as[0];
    }

    int topB() {
        return bs[0];
    }

    void pop() {
        int last = --size;
        if (last == 0) {
            return;
        }
        long key = keys[last];
        int a = as[last];
        int b = bs[last];
        int i = 0;
        int half = last >>> 1;
        while (i < half) {
            int child = 2 * i + 1;
            int right = child + 1;
            if (right < last && Long.compareUnsigned(keys[right], keys[child]) < 0) {
                child = right;
            }
            if (Long.compareUnsigned(key, keys[child]) <= 0) {
                break;
            }
            keys[i] = keys[child];
            as[i] = as[child];
            bs[i] = bs[child];
            i = child;
        }
        keys[i] = key;
        as[i] = a;
        bs[i] = b;
    }
}
