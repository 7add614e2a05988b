package io.offload4j.tokenizer;

import java.util.Arrays;

/** A growable list of ints (token ids) without boxing. Not thread-safe; used per call. */
final class IntList {

    private int[] data;
    private int size;

    IntList() {
        this(16);
    }

    IntList(int capacity) {
        data = new int[Math.max(4, capacity)];
    }

    void add(int value) {
        if (size == data.length) {
            data = Arrays.copyOf(data, data.length * 2);
        }
        data[size++] = value;
    }

    void addAll(int[] values) {
        if (size + values.length > data.length) {
            data = Arrays.copyOf(data, Math.max(data.length * 2, size + values.length));
        }
        System.arraycopy(values, 0, data, size, values.length);
        size += values.length;
    }

    int[] copyRange(int from, int to) {
        return Arrays.copyOfRange(data, from, to);
    }

    int get(int index) {
        return data[index];
    }

    int size() {
        return size;
    }

    /** Drops every value from index {@code newSize} on. */
    void truncate(int newSize) {
        size = Math.min(size, newSize);
    }

    int[] toArray() {
        return Arrays.copyOf(data, size);
    }
}
