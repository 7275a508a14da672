/**
 * safetensors files ({@link io.llmj.format.safetensors.SafetensorsFile}) and sharded Hugging Face
 * checkpoints ({@link io.llmj.format.safetensors.SafetensorsCheckpoint}), mapped once, with validated
 * headers and zero-copy tensor slices.
 */
package io.llmj.format.safetensors;
