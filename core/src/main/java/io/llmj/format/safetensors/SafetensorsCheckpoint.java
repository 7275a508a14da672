package io.llmj.format.safetensors;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The safetensors weights of a Hugging Face checkpoint folder: either one {@code model.safetensors}
 * or shards listed by {@code model.safetensors.index.json} ({@code weight_map}: tensor name to shard
 * file name), each tensor resolved to the shard that holds it. All files are mapped into one arena.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {
    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private final Path folder;
    private final List<SafetensorsFile> files;
    private final List<SafetensorsTensor> tensors;
    private final Map<String, SafetensorsTensor> byName;
    private final Map<String, SafetensorsFile> fileOf;
    private final Arena ownedArena;

    private SafetensorsCheckpoint(Path folder, List<SafetensorsFile> files, Map<String, String> weightMap, Path index,
            Arena ownedArena) {
        this.folder = folder;
        this.files = List.copyOf(files);
        this.ownedArena = ownedArena;
        Map<String, SafetensorsTensor> names = new LinkedHashMap<>();
        Map<String, SafetensorsFile> owner = new LinkedHashMap<>();
        List<SafetensorsTensor> all = new ArrayList<>();
        for (SafetensorsFile f : files) {
            for (SafetensorsTensor t : f.tensors()) {
                if (names.putIfAbsent(t.name(), t) != null) {
                    throw new ModelFormatException(f.path(), "tensor " + t.name(), "tensor also appears in "
                            + owner.get(t.name()).path().getFileName());
                }
                owner.put(t.name(), f);
                all.add(t);
            }
        }
        if (weightMap != null) {
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                SafetensorsFile f = owner.get(e.getKey());
                if (f == null || !f.path().getFileName().toString().equals(e.getValue())) {
                    throw new ModelFormatException(index, "weight_map." + e.getKey(), "tensor is not in shard " + e.getValue());
                }
            }
        }
        this.tensors = Collections.unmodifiableList(all);
        this.byName = names;
        this.fileOf = owner;
    }

    /**
     * Opens the safetensors weights in {@code folder} (or the single file {@code folder} names): the
     * index if present, else {@code model.safetensors}, else every {@code *.safetensors} file.
     */
    public static SafetensorsCheckpoint open(Path folder) {
        Arena arena = Arena.ofShared();
        try {
            return open(folder, arena, true);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** As {@link #open(Path)}, with every mapping owned by {@code arena}. */
    public static SafetensorsCheckpoint open(Path folder, Arena arena) {
        return open(folder, arena, false);
    }

    private static SafetensorsCheckpoint open(Path folder, Arena arena, boolean owned) {
        Arena mine = owned ? arena : null;
        if (Files.isRegularFile(folder)) {
            return new SafetensorsCheckpoint(folder.getParent(), List.of(SafetensorsFile.open(folder, arena)), null, null, mine);
        }
        Path index = folder.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            if (!(Json.parse(index) instanceof Map<?, ?> root) || !(root.get("weight_map") instanceof Map<?, ?> wm)) {
                throw new ModelFormatException(index, "weight_map", "missing or not an object");
            }
            Map<String, String> weightMap = new LinkedHashMap<>();
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : wm.entrySet()) {
                if (!(e.getValue() instanceof String shard) || shard.isEmpty() || shard.contains("/")
                        || shard.contains("\\") || shard.equals("..") || shard.equals(".")) {
                    throw new ModelFormatException(index, "weight_map." + e.getKey(), "not a plain file name: " + e.getValue());
                }
                weightMap.put((String) e.getKey(), shard);
                if (!shards.containsKey(shard)) {
                    Path p = folder.resolve(shard);
                    if (!Files.isRegularFile(p)) {
                        throw new ModelFormatException(index, "weight_map." + e.getKey(), "shard " + shard + " is missing");
                    }
                    shards.put(shard, SafetensorsFile.open(p, arena));
                }
            }
            return new SafetensorsCheckpoint(folder, new ArrayList<>(shards.values()), weightMap, index, mine);
        }
        Path single = folder.resolve(SINGLE);
        if (Files.isRegularFile(single)) {
            return new SafetensorsCheckpoint(folder, List.of(SafetensorsFile.open(single, arena)), null, null, mine);
        }
        List<Path> found;
        try (Stream<Path> s = Files.list(folder)) {
            found = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + folder, e);
        }
        if (found.isEmpty()) {
            throw new ModelFormatException(folder, null, "no " + INDEX + ", " + SINGLE + " or *.safetensors file");
        }
        List<SafetensorsFile> files = new ArrayList<>();
        for (Path p : found) {
            files.add(SafetensorsFile.open(p, arena));
        }
        return new SafetensorsCheckpoint(folder, files, null, null, mine);
    }

    public Path folder() {
        return folder;
    }

    /** The files (shards), in index order. */
    public List<SafetensorsFile> files() {
        return files;
    }

    /** All tensors, shard by shard. */
    public List<SafetensorsTensor> tensors() {
        return tensors;
    }

    /** The tensor named {@code name}, or null. */
    public SafetensorsTensor tensor(String name) {
        return byName.get(name);
    }

    /** The shard holding tensor {@code name}, or null. */
    public SafetensorsFile fileOf(String name) {
        return fileOf.get(name);
    }

    @Override
    public void close() {
        if (ownedArena != null && ownedArena.scope().isAlive()) {
            ownedArena.close();
        }
    }
}
