package io.llmj.ffm.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** NativeCpuOpsTest's ops at the SCALAR level, which a CPU with a higher level would otherwise never run. */
class NativeCpuOpsScalarTest extends NativeCpuOpsTest {
    @BeforeAll
    static void level() {
        NativeCpu.setIsa(NativeCpu.Isa.SCALAR);
    }

    @AfterAll
    static void restoreLevel() {
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }
}
