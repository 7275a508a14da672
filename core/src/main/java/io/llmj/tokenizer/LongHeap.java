package io.llmj.tokenizer;

/** A binary min-heap of primitive longs. */
final class LongHeap {
    private long[] a = new long[64];
    private int n;

    void clear() {
        n = 0;
    }

    boolean isEmpty() {
        return n == 0;
    }

    void add(long v) {
        if (n == a.length) {
            a = java.util.Arrays.copyOf(a, n * 2);
        }
        int i = n++;
        while (i > 0) {
            int p = (i - 1) >>> 1;
            if (a[p] <= v) {
                break;
            }
            a[i] = a[p];
            i = p;
        }
        a[i] = v;
    }

    long poll() {
        long top = a[0];
        long v = a[--n];
        int i = 0;
        int half = n >>> 1;
        while (i < half) {
            int c = 2 * i + 1;
            if (c + 1 < n && a[c + 1] < a[c]) {
                c++;
            }
            if (v <= a[c]) {
                break;
            }
            a[i] = a[c];
            i = c;
        }
        if (n > 0) {
            a[i] = v;
        }
        return top;
    }
}
