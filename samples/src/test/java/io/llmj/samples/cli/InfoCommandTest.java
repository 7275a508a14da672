package io.llmj.samples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class InfoCommandTest {
    private static String run(String... args) {
        StringWriter out = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute(args));
        return out.toString();
    }

    @Test
    void infoListsCpuFeaturesAndCudaStatus() {
        String out = run("info");
        assertTrue(out.contains("CPU features: "), out);
        assertTrue(out.contains("CPU kernels: "), out);
        // either devices are listed or the reason CUDA cannot be used is given
        assertTrue(out.contains("CUDA: unavailable: ") || out.contains("  device #0 "), out);
    }

    @Test
    void versionNamesLlmjAndJava() {
        String out = run("--version");
        assertTrue(out.startsWith("llmj "), out);
        assertTrue(out.contains("Java "), out);
    }
}
