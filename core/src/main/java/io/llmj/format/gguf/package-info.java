/**
 * GGUF (versions 2 and 3): {@link io.llmj.format.gguf.GgufFile} maps a file (or every part of a split
 * model) once and exposes typed metadata and zero-copy tensor slices; every field read from the file
 * is validated before use. {@link io.llmj.format.gguf.GgufWriter} writes version 3 files in the layout
 * llama.cpp and gguf-py use.
 *
 * <pre>{@code
 * try (GgufFile f = GgufFile.open(Path.of("model.gguf"))) {
 *     String arch = f.string("general.architecture").orElseThrow();
 *     long layers = f.integer(arch + ".block_count").orElseThrow();
 *     MemorySegment embd = f.tensor("token_embd.weight").data();
 * }
 * }</pre>
 */
package io.llmj.format.gguf;
