package io.llmj.tokenizer;

import java.text.Normalizer;

/**
 * Code point classification as llama.cpp's {@code unicode.cpp} does it (general category flags and
 * the Unicode White_Space set), the GPT-2 byte-to-character map, and small UTF-8 helpers.
 */
final class Unicode {
    private Unicode() {}

    static boolean isWhitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    static boolean isLetter(int cp) {
        return Character.isLetter(cp);
    }

    static boolean isNumber(int cp) {
        int t = Character.getType(cp);
        return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
    }

    static boolean isPunctuation(int cp) {
        switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                    Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION,
                    Character.FINAL_QUOTE_PUNCTUATION, Character.OTHER_PUNCTUATION:
                return true;
            default:
                return false;
        }
    }

    static boolean isSymbol(int cp) {
        switch (Character.getType(cp)) {
            case Character.MATH_SYMBOL, Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL, Character.OTHER_SYMBOL:
                return true;
            default:
                return false;
        }
    }

    static boolean isControl(int cp) {
        switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE:
                return true;
            default:
                return false;
        }
    }

    static boolean isAccentMark(int cp) {
        switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK:
                return true;
            default:
                return false;
        }
    }

    /** llama.cpp's flags are all zero for unassigned code points (and out-of-range positions). */
    static boolean isDefined(int cp) {
        return Character.getType(cp) != Character.UNASSIGNED || isWhitespace(cp);
    }

    /** First code point of the canonical decomposition (llama.cpp's {@code unicode_cpts_normalize_nfd}). */
    static int nfdBase(int cp) {
        if (cp < 0xC0) {
            return cp;
        }
        String s = Normalizer.normalize(new String(Character.toChars(cp)), Normalizer.Form.NFD);
        return s.codePointAt(0);
    }

    static int toLower(int cp) {
        return Character.toLowerCase(cp);
    }

    // ---- GPT-2 byte-level map ----

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[324];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = direct ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a byte-level character stands for, or -1. */
    static int charToByte(int c) {
        return c >= 0 && c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** UTF-8 bytes of {@code s} mapped to GPT-2 byte-level characters. */
    static String byteEncode(String s) {
        byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        char[] out = new char[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = BYTE_TO_CHAR[b[i] & 0xFF];
        }
        return new String(out);
    }
}
