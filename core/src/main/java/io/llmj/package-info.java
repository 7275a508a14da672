/**
 * llmj: run large language models from Java.
 *
 * <p>This package is the whole public API. Everything under {@code io.llmj.*} sub-packages is internal
 * and may change without notice.
 */
package io.llmj;
