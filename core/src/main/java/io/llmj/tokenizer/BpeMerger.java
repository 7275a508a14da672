package io.llmj.tokenizer;

import io.llmj.ModelFormatException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Byte-pair merging by rank over symbol ids: repeatedly merges the adjacent pair with the lowest
 * merge rank (leftmost on ties), the order both llama.cpp and Hugging Face tokenizers use. Pairs are
 * found in a primitive hash map and candidates kept in a heap of packed longs (rank, position);
 * stale heap entries are detected by re-looking up the pair when popped.
 *
 * <p>Merge results that are not vocabulary tokens (tolerated by llama.cpp) get "pseudo" ids at or
 * above {@link #vocabSize()}; {@link #pseudoText(int)} gives their text.
 */
final class BpeMerger {
    private static final int DEAD = Integer.MIN_VALUE;

    private final int vocabSize;
    private final LongIntMap pairs;
    private final int[] mergeResult;
    private final List<String> pseudo = new ArrayList<>();

    /**
     * @param merges       each entry {left, right}
     * @param pseudoResult allow merge results that are not tokens (llama.cpp); otherwise they are an error (HF)
     */
    BpeMerger(Map<String, Integer> vocab, int vocabSize, List<String[]> merges, boolean pseudoResult, Path file,
            String key) {
        this.vocabSize = vocabSize;
        this.pairs = new LongIntMap(merges.size());
        this.mergeResult = new int[merges.size()];
        Map<String, Integer> pseudoIds = new java.util.HashMap<>();
        for (int i = 0; i < merges.size(); i++) {
            String a = merges.get(i)[0];
            String b = merges.get(i)[1];
            String m = a + " " + b;
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            if (ia == null || ib == null) {
                throw new ModelFormatException(file, key + "[" + i + "]", "merge '" + m + "' references a token that is not in the vocabulary");
            }
            String r = a + b;
            Integer ir = vocab.get(r);
            if (ir == null) {
                if (!pseudoResult) {
                    throw new ModelFormatException(file, key + "[" + i + "]", "merge result '" + r + "' is not in the vocabulary");
                }
                ir = pseudoIds.get(r);
                if (ir == null) {
                    ir = vocabSize + pseudo.size();
                    pseudo.add(r);
                    pseudoIds.put(r, ir);
                }
            }
            mergeResult[i] = ir;
            pairs.putIfAbsent(LongIntMap.pair(ia, ib), i);
        }
    }

    /** Splits "left right" merge strings at the first space after position 0 (llama.cpp's rule). */
    static List<String[]> splitMerges(List<String> merges, Path file, String key) {
        List<String[]> out = new ArrayList<>(merges.size());
        for (int i = 0; i < merges.size(); i++) {
            String m = merges.get(i);
            int sp = m == null ? -1 : m.indexOf(' ', 1);
            if (sp < 0) {
                throw new ModelFormatException(file, key + "[" + i + "]", "merge '" + m + "' is not two tokens separated by a space");
            }
            out.add(new String[] {m.substring(0, sp), m.substring(sp + 1)});
        }
        return out;
    }

    int vocabSize() {
        return vocabSize;
    }

    boolean isPseudo(int id) {
        return id >= vocabSize;
    }

    String pseudoText(int id) {
        return pseudo.get(id - vocabSize);
    }

    /** Rank of merging {@code a} then {@code b}, or -1. */
    int rank(int a, int b) {
        return pairs.get(LongIntMap.pair(a, b));
    }

    /**
     * Merges {@code sym[0..n)} in place (negative ids never merge) and returns the new length.
     */
    int merge(int[] sym, int n) {
        if (n < 2) {
            return n;
        }
        int[] next = new int[n];
        int[] prev = new int[n];
        LongHeap heap = new LongHeap();
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        for (int i = 1; i < n; i++) {
            add(heap, sym, i - 1, i);
        }
        while (!heap.isEmpty()) {
            long e = heap.poll();
            int left = (int) e;
            int rank = (int) (e >>> 32);
            if (sym[left] == DEAD) {
                continue;
            }
            int right = next[left];
            if (right < 0 || pairs.get(LongIntMap.pair(sym[left], sym[right])) != rank) {
                continue;
            }
            sym[left] = mergeResult[rank];
            sym[right] = DEAD;
            int nr = next[right];
            next[left] = nr;
            if (nr >= 0) {
                prev[nr] = left;
            }
            if (prev[left] >= 0) {
                add(heap, sym, prev[left], left);
            }
            if (nr >= 0) {
                add(heap, sym, left, nr);
            }
        }
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            sym[k++] = sym[i];
        }
        return k;
    }

    private void add(LongHeap heap, int[] sym, int left, int right) {
        int a = sym[left];
        int b = sym[right];
        if (a == DEAD || b == DEAD || a == -1 || b == -1) {
            return;
        }
        int r = pairs.get(LongIntMap.pair(a, b));
        if (r >= 0) {
            heap.add(((long) r << 32) | left);
        }
    }
}
