package io.llmj;

/**
 * One generated token.
 *
 * @param id      the token id
 * @param text    the text this token completes (may be empty: bytes of a character that spans tokens,
 *                or a possible stop-string prefix, are held back and released with a later token)
 * @param logprob natural log of the token's probability under the model's raw logits
 */
public record Token(int id, String text, float logprob) {}
