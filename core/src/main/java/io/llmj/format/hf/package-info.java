/** Hugging Face model folders: {@link io.llmj.format.hf.HfConfig} is a typed view of {@code config.json}. */
package io.llmj.format.hf;
