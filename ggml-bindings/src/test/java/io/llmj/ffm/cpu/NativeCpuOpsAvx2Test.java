package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** NativeCpuOpsTest's ops at the AVX2 level, which a CPU with a higher level would otherwise never run. */
class NativeCpuOpsAvx2Test extends NativeCpuOpsTest {
    @BeforeAll
    static void level() {
        assumeTrue(NativeCpu.bestIsa().compareTo(NativeCpu.Isa.AVX2) >= 0, "this CPU lacks AVX2");
        NativeCpu.setIsa(NativeCpu.Isa.AVX2);
    }

    @AfterAll
    static void restoreLevel() {
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }
}
