package io.llmj.quant;

import io.llmj.LlmjException;

/**
 * Quantizing or synthesizing a model failed for a reason the caller can act on: an unknown target type
 * name, a source tensor of a type that cannot be requantized, a row length no type (or fallback) fits.
 */
public class QuantizationException extends LlmjException {
    public QuantizationException(String message) {
        super(message);
    }

    public QuantizationException(String message, Throwable cause) {
        super(message, cause);
    }
}
