/**
 * Tokenizers (internal). {@link io.llmj.tokenizer.Tokenizers#load} picks the implementation:
 * <ul>
 *   <li>{@link io.llmj.tokenizer.LlamaCppTokenizer} - GGUF {@code tokenizer.ggml.*} vocabularies
 *       ({@link io.llmj.tokenizer.Vocabulary}) with llama.cpp@c392e50's behaviour: SentencePiece-BPE by
 *       score ({@code llama}), byte-level BPE with the pre-tokenizer named by {@code tokenizer.ggml.pre}
 *       ({@code gpt2}; regex lists in {@code LlamaPreTokenizers}, splitting in {@code LlamaRegexSplitter}),
 *       WordPiece ({@code bert}), special-token partitioning and {@code detokenize};</li>
 *   <li>{@code HfTokenizer} - Hugging Face {@code tokenizer.json} (BPE model) with its normalizer,
 *       pre-tokenizer, post-processor and decoder.</li>
 * </ul>
 * Both merge with {@code BpeMerger} (rank heap over symbol ids) and decode through
 * {@code AbstractTokenizer}, whose streaming decoder never emits a partial code point.
 */
package io.llmj.tokenizer;
