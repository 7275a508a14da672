/**
 * Chat templates: a Jinja engine of our own (no dependency) for the subset Hugging Face chat
 * templates use, rendering as transformers does (jinja2's immutable sandbox with
 * {@code trim_blocks} and {@code lstrip_blocks}). Internal; the public entry point is
 * {@link io.llmj.ChatTemplate}.
 *
 * <p>Pipeline: {@code Lexer} (jinja2's whitespace rules) → {@code Parser} (jinja2's grammar and
 * precedence, nodes in {@code Node}) → {@code Interpreter} (scopes: a frame per loop iteration and
 * macro call, none for {@code if}), with Python value semantics in {@code Py} and attribute access,
 * operators, filters, tests and methods in {@code Builtins}. Output size, loop iterations, macro
 * depth and syntax nesting are bounded ({@link io.llmj.chat.JinjaTemplate.Limits}).
 */
package io.llmj.chat;
