package io.llmj.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Locates files of the shared test data ({@code ../shared/testdata} beside the checkout, or the
 * {@code llmj.testdata} system property). A missing file skips the test on a developer machine and
 * fails it under {@code CI=true}.
 */
public final class TestData {
    private TestData() {}

    /** The test-data root directory (may not exist). */
    public static Path root() {
        String prop = System.getProperty("llmj.testdata");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        return Path.of("..", "..", "shared", "testdata").toAbsolutePath().normalize();
    }

    /** The test-data file at {@code relative}; skips (or fails under CI) if it is absent. */
    public static Path require(String relative) {
        Path p = root().resolve(relative);
        if (!Files.exists(p)) {
            String msg = "test data missing: " + p;
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail(msg + " (CI=true: missing test data is a failure)");
            }
            Assumptions.abort(msg);
        }
        return p;
    }
}
