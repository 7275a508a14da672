package io.llmj.ffm;

import io.llmj.ffm.generated.llmj.Llmj;

/** Maps llmj.h status codes to exceptions, with the thread-local message from {@code llmj_last_error}. */
public final class NativeStatus {
    private NativeStatus() {}

    /** Throws unless {@code status} is LLMJ_OK. Must run on the thread that made the call. */
    public static void check(int status, String call) {
        if (status == Llmj.LLMJ_OK()) {
            return;
        }
        String detail = Llmj.llmj_last_error().reinterpret(4096).getString(0);
        String message = call + " failed (" + name(status) + "): " + detail;
        if (status == Llmj.LLMJ_ERR_INVALID_ARGUMENT()) {
            throw new IllegalArgumentException(message);
        }
        if (status == Llmj.LLMJ_ERR_UNSUPPORTED()) {
            throw new UnsupportedOperationException(message);
        }
        throw new NativeException(status, message);
    }

    /** The symbolic name of a status code. */
    public static String name(int status) {
        return switch (status) {
            case 0 -> "LLMJ_OK";
            case 1 -> "LLMJ_ERR_INVALID_ARGUMENT";
            case 2 -> "LLMJ_ERR_UNSUPPORTED";
            case 3 -> "LLMJ_ERR_OUT_OF_MEMORY";
            case 4 -> "LLMJ_ERR_CUDA";
            case 5 -> "LLMJ_ERR_INTERNAL";
            default -> "status " + status;
        };
    }
}
