package io.llmj.ffm.cuda;

import io.llmj.ffm.cuda.CudaBackend.Gemm;
import java.util.HashMap;
import java.util.Map;

/** CUDA backends for tests that compare a backend switch on and off. */
final class CudaTestBackends {
    private CudaTestBackends() {}

    /**
     * A backend on device 0 (GEMM from 4 tokens) built while the system property {@code property} is {@code value};
     * the property is restored afterwards (backends read these switches once, when built).
     */
    static CudaBackend with(String property, boolean value, Gemm gemm) {
        return with(Map.of(property, value), gemm);
    }

    /** As above with every property of {@code settings} set to its value. */
    static CudaBackend with(Map<String, Boolean> settings, Gemm gemm) {
        Map<String, String> old = new HashMap<>();
        for (Map.Entry<String, Boolean> e : settings.entrySet()) {
            old.put(e.getKey(), System.getProperty(e.getKey()));
            System.setProperty(e.getKey(), Boolean.toString(e.getValue()));
        }
        try {
            return new CudaBackend(0, gemm, 4);
        } finally {
            for (Map.Entry<String, String> e : old.entrySet()) {
                if (e.getValue() == null) {
                    System.clearProperty(e.getKey());
                } else {
                    System.setProperty(e.getKey(), e.getValue());
                }
            }
        }
    }
}
