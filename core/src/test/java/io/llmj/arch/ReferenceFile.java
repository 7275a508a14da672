package io.llmj.arch;

import io.llmj.format.json.Json;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Helpers to read the JSON reference files of ../shared/testdata. */
public final class ReferenceFile {
    private ReferenceFile() {}

    @SuppressWarnings("unchecked")
    public static Map<String, Object> read(Path p) {
        return (Map<String, Object>) Json.parse(p);
    }

    public static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    public static float[] floats(Object list) {
        List<?> l = (List<?>) list;
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).floatValue();
        }
        return out;
    }

    public static float[][] matrix(Object list) {
        List<?> l = (List<?>) list;
        float[][] out = new float[l.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = floats(l.get(i));
        }
        return out;
    }

    /** Largest |a - b| over the first min(len) elements. */
    public static double maxAbsDiff(float[] a, float[] b, int off) {
        double m = 0;
        for (int i = 0; i < b.length; i++) {
            m = Math.max(m, Math.abs(a[off + i] - b[i]));
        }
        return m;
    }

    public static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[off + i] > a[off + best]) {
                best = i;
            }
        }
        return best;
    }
}
