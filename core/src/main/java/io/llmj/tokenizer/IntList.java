package io.llmj.tokenizer;

import java.util.Arrays;

/** A growable list of primitive ints. */
final class IntList {
    private int[] a;
    private int n;

    IntList() {
        this(16);
    }

    IntList(int cap) {
        a = new int[Math.max(4, cap)];
    }

    void add(int v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, n * 2);
        }
        a[n++] = v;
    }

    void addAll(int[] v) {
        addAll(v, 0, v.length);
    }

    void addAll(int[] v, int from, int to) {
        int len = to - from;
        if (n + len > a.length) {
            a = Arrays.copyOf(a, Math.max(n + len, n * 2));
        }
        System.arraycopy(v, from, a, n, len);
        n += len;
    }

    int get(int i) {
        return a[i];
    }

    void set(int i, int v) {
        a[i] = v;
    }

    int size() {
        return n;
    }

    void truncate(int size) {
        n = Math.min(n, size);
    }

    void clear() {
        n = 0;
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
