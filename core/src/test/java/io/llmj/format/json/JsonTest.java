package io.llmj.format.json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void parsesEveryValueKind() {
        Object v = Json.parse(" {\"a\": [1, -2.5e1, true, false, null], \"s\": \"x\\u00e9\\n\\\"\", \"big\": 12345678901234567890} ");
        Map<?, ?> m = (Map<?, ?>) v;
        assertEquals(List.of(1L, -25.0, true, false), ((List<?>) m.get("a")).subList(0, 4));
        assertNull(((List<?>) m.get("a")).get(4));
        assertEquals("xé\n\"", m.get("s"));
        assertEquals(1.2345678901234567e19, m.get("big"));
    }

    @Test
    void roundTrips() {
        String text = "{\"ids\":[1,2,3],\"text\":\"a\\\"b\\n\",\"x\":1.5,\"n\":null}";
        assertEquals(text, Json.write(Json.parse(text)));
    }

    @Test
    void rejectsMalformedInputWithOffset() {
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "01", "\"abc", "tru", "[1] x", "\"\\q\""}) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> Json.parse(bad), bad);
            assertTrue(e.getMessage().contains("offset"), e.getMessage());
        }
    }

    @Test
    void limitsNesting() {
        String deep = "[".repeat(100_000);
        assertThrows(ModelFormatException.class, () -> Json.parse(deep));
    }
}
