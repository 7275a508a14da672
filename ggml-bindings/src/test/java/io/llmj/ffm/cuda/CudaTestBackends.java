package io.llmj.ffm.cuda;

import io.llmj.ffm.cuda.CudaBackend.Gemm;

/** CUDA backends for tests that compare a backend switch on and off. */
final class CudaTestBackends {
    private CudaTestBackends() {}

    /**
     * A backend on device 0 (GEMM from 4 tokens) built while the system property {@code property} is {@code value};
     * the property is restored afterwards (backends read these switches once, when built).
     */
    static CudaBackend with(String property, boolean value, Gemm gemm) {
        String old = System.getProperty(property);
        System.setProperty(property, Boolean.toString(value));
        try {
            return new CudaBackend(0, gemm, 4);
        } finally {
            if (old == null) {
                System.clearProperty(property);
            } else {
                System.setProperty(property, old);
            }
        }
    }
}
