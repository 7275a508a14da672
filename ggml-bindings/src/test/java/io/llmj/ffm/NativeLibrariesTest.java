package io.llmj.ffm;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The loader explains every failure: which file, where it looked, and why. */
class NativeLibrariesTest {

    @Test
    void loadsFromTheJarOrLibraryPath() {
        NativeLibraries.Result r = NativeLibraries.cpuStatus();
        assertTrue(r.ok(), r.failure());
        assertTrue(r.file().getFileName().toString().equals("libllmj.so"));
    }

    @Test
    void missingLibraryPathNamesTheFileAndTheProperty(@TempDir Path dir) {
        NativeLibraries.Result r = NativeLibraries.loadOwn("libllmj.so", dir.toString());
        assertFalse(r.ok());
        assertTrue(r.failure().contains(dir.resolve("libllmj.so").toString()), r.failure());
        assertTrue(r.failure().contains("-Dllmj.library.path"), r.failure());
    }

    @Test
    void unloadableFileSaysWhy(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("libllmj.so"), "not an ELF file");
        NativeLibraries.Result r = NativeLibraries.loadOwn("libllmj.so", dir.toString());
        assertFalse(r.ok());
        assertTrue(r.failure().contains("cannot load") && r.failure().contains(Platform.describe()), r.failure());
    }

    @Test
    void missingSystemLibraryListsWhereItLooked() {
        NativeLibraries.Result r = NativeLibraries.loadSystem("libllmj-no-such-library.so.99");
        assertFalse(r.ok());
        assertTrue(r.failure().contains("not found") && r.failure().contains("/usr/local/cuda/lib64"), r.failure());
        assertTrue(r.failure().contains("-Dllmj.cuda.path"), r.failure());
    }
}
