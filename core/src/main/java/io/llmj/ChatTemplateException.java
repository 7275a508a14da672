package io.llmj;

/**
 * A chat template could not be parsed or rendered. {@link #kind()} says which: a syntax error in the
 * template, an error while rendering it (a type error, an undefined value used as an object), a
 * {@code raise_exception(...)} call made by the template itself (its message is the template's), or a
 * resource limit hit by a runaway template. {@link #line()} and {@link #column()} locate the problem
 * in the template source (1-based; 0 when unknown).
 */
public class ChatTemplateException extends LlmjException {
    /** What went wrong. */
    public enum Kind {
        /** The template source is not valid (for our Jinja subset). */
        SYNTAX,
        /** Rendering failed: a type error, an undefined value used, an unsupported feature. */
        RENDER,
        /** The template called {@code raise_exception(message)}; the message is the template's own. */
        RAISED,
        /** A limit on output size, loop iterations or recursion depth was reached. */
        LIMIT
    }

    private final Kind kind;
    private final int line;
    private final int column;
    private final String problem;

    public ChatTemplateException(Kind kind, String problem, int line, int column) {
        super(format(kind, problem, line, column));
        this.kind = kind;
        this.problem = problem;
        this.line = line;
        this.column = column;
    }

    private static String format(Kind kind, String problem, int line, int column) {
        String where = line > 0 ? " at line " + line + ", column " + column : "";
        return switch (kind) {
            case SYNTAX -> "chat template syntax error" + where + ": " + problem;
            case RENDER -> "chat template error" + where + ": " + problem;
            case RAISED -> problem;
            case LIMIT -> "chat template limit reached" + where + ": " + problem;
        };
    }

    public Kind kind() {
        return kind;
    }

    /** 1-based line in the template source, or 0 if unknown. */
    public int line() {
        return line;
    }

    /** 1-based column in the template source, or 0 if unknown. */
    public int column() {
        return column;
    }

    /** The problem without the location prefix. */
    public String problem() {
        return problem;
    }
}
