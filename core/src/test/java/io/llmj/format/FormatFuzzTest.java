package io.llmj.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.llmj.ModelFormatException;
import io.llmj.format.gguf.GgufArray;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufFileTest;
import io.llmj.format.gguf.GgufValueType;
import io.llmj.format.gguf.GgufWriter;
import io.llmj.format.safetensors.SafetensorsFile;
import io.llmj.format.safetensors.SafetensorsTensor;
import io.llmj.quant.GgmlType;
import io.llmj.testing.TestData;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutation fuzzing of the GGUF and safetensors readers: every mutated or truncated copy of a real
 * file must either parse (and then every metadata value and every tensor slice must be readable) or
 * be rejected with {@link ModelFormatException}. Anything else (IndexOutOfBounds, OutOfMemoryError,
 * NegativeArraySize, a JVM crash ...) fails the test.
 *
 * <p>Case {@code i} is generated from {@code new Random(seed + i)}, so a failing case reruns alone with
 * {@code -Dllmj.fuzz.case=i}. By default the loop is time-boxed ({@code llmj.fuzz.seconds}: 60 under
 * {@code CI=true}, else 10); {@code -Dllmj.fuzz.cases=100000} runs exactly that many cases instead.
 */
class FormatFuzzTest {
    static final PrintStream NULL = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    Path tmp;

    /** A seed file with the places worth mutating. */
    record Seed(String name, byte[] bytes, boolean gguf, long headerEnd, long[][] majorFields, long[][] minorFields) {}

    @Test
    void mutatedFilesParseOrAreRejected() throws IOException {
        List<Seed> seeds = new ArrayList<>();
        seeds.add(ggufSeed("stories260K.gguf", Files.readAllBytes(TestData.require("models/stories260K.gguf"))));
        seeds.add(ggufSeed("ggml-vocab-bert-bge.gguf", Files.readAllBytes(TestData.require("vocab/ggml-vocab-bert-bge.gguf"))));
        seeds.add(ggufSeed("synthetic-all-types.gguf", syntheticGguf()));
        seeds.add(safetensorsSeed("hf-tiny/qwen3/model.safetensors",
                Files.readAllBytes(TestData.require("hf-tiny/qwen3/model.safetensors"))));

        long seed = Long.getLong("llmj.fuzz.seed", 0x5EED_2026L);
        Integer fixedCases = Integer.getInteger("llmj.fuzz.cases");
        Integer onlyCase = Integer.getInteger("llmj.fuzz.case");
        boolean ci = "true".equalsIgnoreCase(System.getenv("CI"));
        long seconds = Long.getLong("llmj.fuzz.seconds", ci ? 60 : 10);
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;

        long start = System.nanoTime();
        int cases = 0;
        int ok = 0;
        int rejected = 0;
        int[] perSeedOk = new int[seeds.size()];
        int[] perSeedRejected = new int[seeds.size()];
        long[] perSeedNanos = new long[seeds.size()];
        Map<String, Integer> reasons = new TreeMap<>();
        List<String> failures = new ArrayList<>();
        for (int i = onlyCase == null ? 0 : onlyCase; ; i++) {
            if (onlyCase != null ? i > onlyCase : fixedCases != null ? i >= fixedCases : System.nanoTime() > deadline) {
                break;
            }
            Random r = new Random(seed + i);
            int s = i % seeds.size();
            Seed sd = seeds.get(s);
            StringBuilder what = new StringBuilder();
            byte[] b = mutate(sd, r, what);
            boolean viaFile = r.nextInt(200) == 0;
            cases++;
            long t0 = System.nanoTime();
            try {
                if (viaFile) {
                    Path p = tmp.resolve("case" + (sd.gguf ? ".gguf" : ".safetensors"));
                    Files.write(p, b);
                    check(sd, p, null);
                } else {
                    check(sd, null, b);
                }
                ok++;
                perSeedOk[s]++;
                perSeedNanos[s] += System.nanoTime() - t0;
            } catch (ModelFormatException e) {
                rejected++;
                perSeedRejected[s]++;
                perSeedNanos[s] += System.nanoTime() - t0;
                String msg = e.getMessage();
                int colon = msg.lastIndexOf(": ");
                String reason = msg.substring(colon + 2).replaceAll("[0-9]+", "N");
                reason = reason.length() > 50 ? reason.substring(0, 50) : reason;
                reasons.merge(reason, 1, Integer::sum);
            } catch (Throwable t) {
                perSeedNanos[s] += System.nanoTime() - t0;
                if (failures.size() < 10) {
                    failures.add("case " + i + " (" + sd.name + ", " + what + (viaFile ? ", via file" : "") + "): " + t);
                    if (failures.size() == 1) {
                        t.printStackTrace();
                    }
                }
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        System.out.printf("fuzz: %d cases in %.1f s (%.0f/s): %d parsed ok, %d rejected with ModelFormatException, %d other failures%n",
                cases, secs, cases / secs, ok, rejected, cases - ok - rejected);
        for (int s = 0; s < seeds.size(); s++) {
            System.out.printf("  %-34s ok %7d  rejected %7d  %.3f ms/case (mutation excluded)%n", seeds.get(s).name, perSeedOk[s],
                    perSeedRejected[s], perSeedNanos[s] / 1e6 / Math.max(1, perSeedOk[s] + perSeedRejected[s]));
        }
        reasons.entrySet().stream().sorted((a, c) -> c.getValue() - a.getValue()).limit(12)
                .forEach(e -> System.out.printf("  %7d  %s%n", e.getValue(), e.getKey()));
        if (!failures.isEmpty()) {
            fail((cases - ok - rejected) + " cases failed with something other than ModelFormatException:\n"
                    + String.join("\n", failures));
        }
        assertEquals(cases, ok + rejected);
    }

    /** Mutated config.json texts: HfConfig either reads them (and every accessor answers) or throws ModelFormatException. */
    @Test
    void mutatedConfigsParseOrAreRejected() throws IOException {
        List<String> configs = new ArrayList<>();
        for (String m : List.of("llama2", "llama3", "llama3-bf16", "mistral", "qwen2", "qwen3", "phi3", "gemma2")) {
            configs.add(Files.readString(TestData.require("hf-tiny/" + m + "/config.json")));
        }
        long seed = Long.getLong("llmj.fuzz.seed", 0x5EED_2026L);
        Integer fixed = Integer.getInteger("llmj.fuzz.cases");
        int cases = fixed != null ? fixed / 10 : 5000;
        String alphabet = "0123456789-.e[]{},:\"nultrfa ";
        int ok = 0;
        int rejected = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < cases; i++) {
            Random r = new Random(seed + i);
            StringBuilder sb = new StringBuilder(configs.get(i % configs.size()));
            for (int m = 1 + r.nextInt(3); m > 0 && sb.length() > 0; m--) {
                int pos = r.nextInt(sb.length());
                switch (r.nextInt(3)) {
                    case 0 -> sb.setCharAt(pos, alphabet.charAt(r.nextInt(alphabet.length())));
                    case 1 -> sb.delete(pos, Math.min(sb.length(), pos + 1 + r.nextInt(12)));
                    default -> sb.insert(pos, alphabet.charAt(r.nextInt(alphabet.length())));
                }
            }
            try {
                io.llmj.format.hf.HfConfig c = io.llmj.format.hf.HfConfig.parse(io.llmj.format.json.Json.parse(sb.toString()), null);
                List<Runnable> calls = List.of(c::modelType, c::architectures, c::hiddenSize, c::numHiddenLayers,
                        c::numAttentionHeads, c::numKeyValueHeads, c::headDim, c::intermediateSize, c::vocabSize, c::rmsNormEps,
                        c::maxPositionEmbeddings, c::tieWordEmbeddings, c::ropeParameters, c::ropeTheta, c::ropeType,
                        c::partialRotaryFactor, c::slidingWindow, c::attnLogitSoftcapping, c::finalLogitSoftcapping,
                        c::queryPreAttnScalar, c::layerTypes, c::hiddenAct, c::quantizationConfig, c::dtype, c::bosTokenId,
                        c::eosTokenIds);
                for (Runnable call : calls) {
                    try {
                        call.run();
                    } catch (ModelFormatException e) {
                        // a missing or mistyped key: fine
                    }
                }
                ok++;
            } catch (ModelFormatException e) {
                rejected++;
            } catch (Throwable t) {
                if (failures.size() < 10) {
                    failures.add("config case " + i + ": " + t);
                }
            }
        }
        System.out.printf("config fuzz: %d cases: %d read, %d rejected, %d other failures%n", cases, ok, rejected,
                cases - ok - rejected);
        if (!failures.isEmpty()) {
            fail(String.join("\n", failures));
        }
    }

    static void check(Seed sd, Path file, byte[] b) {
        if (sd.gguf) {
            try (GgufFile f = file != null ? GgufFile.open(file) : GgufFile.read(MemorySegment.ofArray(b), Path.of(sd.name))) {
                GgufFileTest.touchEverything(f);
                ModelDescriber.describe(f, NULL);
            }
        } else {
            try (SafetensorsFile f = file != null ? SafetensorsFile.open(file) : SafetensorsFile.read(MemorySegment.ofArray(b), Path.of(sd.name))) {
                long sum = f.metadata().size();
                for (SafetensorsTensor t : f.tensors()) {
                    MemorySegment d = t.data();
                    if (d.byteSize() != t.elements() * t.dtype().bytes()) {
                        throw new AssertionError("size mismatch " + t);
                    }
                    if (d.byteSize() > 0) {
                        sum += d.get(ValueLayout.JAVA_BYTE, 0) + d.get(ValueLayout.JAVA_BYTE, d.byteSize() - 1);
                    }
                }
                ModelDescriber.describe(f, NULL);
                if (sum == Long.MIN_VALUE) {
                    throw new AssertionError();
                }
            }
        }
    }

    static final long[] INTERESTING = {0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 33, 64, 255, 256, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000,
        0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL, 0x1_0000_0000L, Long.MAX_VALUE, Long.MIN_VALUE, -1, -2, 1L << 62, 1L << 40};

    static byte[] mutate(Seed sd, Random r, StringBuilder what) {
        byte[] b = sd.bytes.clone();
        int n = 1 + (r.nextInt(4) == 0 ? r.nextInt(4) : 0);
        for (int m = 0; m < n; m++) {
            int kind = r.nextInt(100);
            if (b.length == 0) {
                break;
            }
            int hdr = (int) Math.max(1, Math.min(b.length, sd.headerEnd));
            int pos = r.nextInt(4) == 0 ? r.nextInt(b.length) : r.nextInt(hdr);
            pos = Math.min(pos, b.length - 1);
            if (kind < 20) { // bit flips
                int flips = 1 + r.nextInt(8);
                what.append("flip ").append(flips).append(" bits near ").append(pos).append("; ");
                for (int k = 0; k < flips; k++) {
                    int p = Math.min(b.length - 1, Math.max(0, pos + r.nextInt(64) - 32));
                    b[p] ^= (byte) (1 << r.nextInt(8));
                }
            } else if (kind < 50) { // overwrite a length/count/type/offset field
                long[][] fields = sd.minorFields.length > 0 && r.nextInt(4) == 0 ? sd.minorFields : sd.majorFields;
                long[] f = fields[r.nextInt(fields.length)];
                long v = fieldValue(b, f, r);
                what.append("field@").append(f[0]).append("/").append(f[1]).append("=").append(v).append("; ");
                ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                if (f[0] + f[1] <= b.length) {
                    if (f[1] == 8) {
                        bb.putLong((int) f[0], v);
                    } else if (f[1] == 4) {
                        bb.putInt((int) f[0], (int) v);
                    } else {
                        b[(int) f[0]] = (byte) v;
                    }
                }
            } else if (kind < 60) { // random bytes overwritten
                int len = 1 + r.nextInt(16);
                what.append("overwrite ").append(len).append("@").append(pos).append("; ");
                for (int k = 0; k < len && pos + k < b.length; k++) {
                    b[pos + k] = (byte) r.nextInt(256);
                }
            } else if (kind < 72) { // insertion
                int len = 1 + r.nextInt(r.nextBoolean() ? 8 : 64);
                what.append("insert ").append(len).append("@").append(pos).append("; ");
                byte[] ins = new byte[len];
                r.nextBytes(ins);
                if (r.nextBoolean()) {
                    Arrays.fill(ins, (byte) (r.nextBoolean() ? 0 : 0xFF));
                }
                byte[] nb = new byte[b.length + len];
                System.arraycopy(b, 0, nb, 0, pos);
                System.arraycopy(ins, 0, nb, pos, len);
                System.arraycopy(b, pos, nb, pos + len, b.length - pos);
                b = nb;
            } else if (kind < 82) { // deletion
                int len = Math.min(b.length - pos, 1 + r.nextInt(r.nextBoolean() ? 8 : 64));
                what.append("delete ").append(len).append("@").append(pos).append("; ");
                byte[] nb = new byte[b.length - len];
                System.arraycopy(b, 0, nb, 0, pos);
                System.arraycopy(b, pos + len, nb, pos, b.length - pos - len);
                b = nb;
            } else if (kind < 92) { // truncation
                int len = r.nextInt(3) == 0 ? r.nextInt(b.length) : Math.min(b.length, r.nextInt(hdr + 64));
                what.append("truncate to ").append(len).append("; ");
                b = Arrays.copyOf(b, len);
            } else { // replace with an ASCII digit or JSON punctuation (for safetensors headers) or 0xFF run
                String chars = "0123456789-.e[]{},:\"";
                int len = 1 + r.nextInt(4);
                what.append("chars ").append(len).append("@").append(pos).append("; ");
                for (int k = 0; k < len && pos + k < b.length; k++) {
                    b[pos + k] = (byte) chars.charAt(r.nextInt(chars.length()));
                }
            }
        }
        return b;
    }

    static long fieldValue(byte[] b, long[] f, Random r) {
        long orig = 0;
        if (f[0] + f[1] <= b.length) {
            ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            orig = f[1] == 8 ? bb.getLong((int) f[0]) : f[1] == 4 ? bb.getInt((int) f[0]) : b[(int) f[0]];
        }
        return switch (r.nextInt(5)) {
            case 0 -> orig + r.nextInt(9) - 4;
            case 1 -> orig * 2;
            case 2 -> r.nextLong();
            case 3 -> b.length - r.nextInt(64);
            default -> INTERESTING[r.nextInt(INTERESTING.length)];
        };
    }

    /** A GGUF using every value type, nested arrays and several tensor types. */
    byte[] syntheticGguf() throws IOException {
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "fuzz")
                .putUInt32("general.alignment", 64)
                .putUInt8("u8", 1).putInt8("i8", -1).putUInt16("u16", 2).putInt16("i16", -2)
                .putUInt32("u32", 3).putInt32("i32", -3).putUInt64("u64", 4).putInt64("i64", -4)
                .putFloat32("f32", 0.5f).putFloat64("f64", 0.25).putBool("b", true).putString("s", "text")
                .putArray("a_u8", new GgufArray(GgufValueType.UINT8, new byte[] {1, 2, 3}))
                .putArray("a_i16", new GgufArray(GgufValueType.INT16, new short[] {1, 2}))
                .putArray("a_u64", new GgufArray(GgufValueType.UINT64, new long[] {1, -1}))
                .putArray("a_f64", new GgufArray(GgufValueType.FLOAT64, new double[] {1, 2}))
                .putArray("a_bool", new GgufArray(GgufValueType.BOOL, new boolean[] {true, false}))
                .putStringArray("a_s", List.of("x", "yy", "zzz"))
                .putArray("a_nested", new GgufArray(GgufValueType.ARRAY, new GgufArray[] {
                    new GgufArray(GgufValueType.INT32, new int[] {1, 2}),
                    new GgufArray(GgufValueType.ARRAY, new GgufArray[] {new GgufArray(GgufValueType.STRING, new String[] {"q"})})}));
        w.addTensor("f32", new long[] {4, 2}, GgmlType.F32, MemorySegment.ofArray(new float[8]));
        w.addTensor("q4k", new long[] {256, 2}, GgmlType.Q4_K, MemorySegment.ofArray(new byte[2 * 144]));
        w.addTensor("q8", new long[] {32, 1, 1, 2}, GgmlType.Q8_0, MemorySegment.ofArray(new byte[2 * 34]));
        w.addTensor("bf16", new long[] {3}, GgmlType.BF16, MemorySegment.ofArray(new byte[6]));
        Path p = tmp.resolve("synthetic.gguf");
        w.write(p);
        return Files.readAllBytes(p);
    }

    /** Records the offsets and widths of the structural fields of a valid GGUF. */
    static Seed ggufSeed(String name, byte[] b) {
        List<long[]> major = new ArrayList<>();
        List<long[]> minor = new ArrayList<>();
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        major.add(new long[] {4, 4});
        major.add(new long[] {8, 8});
        major.add(new long[] {16, 8});
        long tensors = bb.getLong(8);
        long kvs = bb.getLong(16);
        int[] pos = {24};
        for (long i = 0; i < kvs; i++) {
            major.add(new long[] {pos[0], 8});
            pos[0] += 8 + (int) bb.getLong(pos[0]);
            major.add(new long[] {pos[0], 4});
            int type = bb.getInt(pos[0]);
            pos[0] += 4;
            walkValue(bb, type, pos, major, minor);
        }
        for (long i = 0; i < tensors; i++) {
            major.add(new long[] {pos[0], 8});
            pos[0] += 8 + (int) bb.getLong(pos[0]);
            major.add(new long[] {pos[0], 4});
            int nd = bb.getInt(pos[0]);
            pos[0] += 4;
            for (int d = 0; d < nd; d++) {
                major.add(new long[] {pos[0], 8});
                pos[0] += 8;
            }
            major.add(new long[] {pos[0], 4});
            major.add(new long[] {pos[0] + 4, 8});
            pos[0] += 12;
        }
        return new Seed(name, b, true, pos[0] + 64, major.toArray(long[][]::new), minor.toArray(long[][]::new));
    }

    static void walkValue(ByteBuffer bb, int type, int[] pos, List<long[]> major, List<long[]> minor) {
        switch (type) {
            case 0, 1, 7 -> pos[0] += 1;
            case 2, 3 -> pos[0] += 2;
            case 4, 5, 6 -> pos[0] += 4;
            case 10, 11, 12 -> pos[0] += 8;
            case 8 -> {
                minor.add(new long[] {pos[0], 8});
                pos[0] += 8 + (int) bb.getLong(pos[0]);
            }
            case 9 -> {
                major.add(new long[] {pos[0], 4});
                major.add(new long[] {pos[0] + 4, 8});
                int et = bb.getInt(pos[0]);
                long n = bb.getLong(pos[0] + 4);
                pos[0] += 12;
                for (long i = 0; i < n; i++) {
                    walkValue(bb, et, pos, major, minor);
                }
            }
            default -> throw new IllegalStateException("seed is not valid GGUF");
        }
    }

    /** The header length field and the positions of the JSON header's numbers. */
    static Seed safetensorsSeed(String name, byte[] b) {
        long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        List<long[]> major = new ArrayList<>();
        major.add(new long[] {0, 8});
        List<long[]> minor = new ArrayList<>();
        for (int i = 8; i < 8 + n; i++) {
            if (b[i] >= '0' && b[i] <= '9') {
                minor.add(new long[] {i, 1});
            }
        }
        return new Seed(name, b, false, 8 + n, major.toArray(long[][]::new), minor.toArray(long[][]::new));
    }
}
