package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.BackendUnavailableException;
import io.llmj.backend.Backend;
import io.llmj.backend.Backends;
import org.junit.jupiter.api.Test;

/** Runs everywhere: CUDA is either usable with devices listed, or unusable with a reason, never a crash. */
class CudaAvailabilityTest {
    @Test
    void availabilityIsExplained() {
        String why = Cuda.unavailableReason();
        if (why == null) {
            assertFalse(Cuda.devices().isEmpty());
            try (Backend b = Backends.create("cuda")) {
                assertTrue(b.name().equals("cuda"));
            }
        } else {
            assertFalse(why.isBlank());
            assertTrue(Cuda.devices().isEmpty());
            BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Backends.create("cuda"));
            assertTrue(e.getMessage().contains(why), e.getMessage());
            try (Backend b = Backends.best()) {     // the best remaining backend is still chosen
                assertTrue(b.name().equals("cpu"), b.name());
            }
        }
    }
}
