package io.llmj.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.Generator;
import io.llmj.Sampler;
import io.llmj.Token;
import java.util.List;
import java.util.stream.Stream;

/** Shared by the tests of greedy choices made on a device: runs to compare and how they must agree. */
public final class Generations {
    private Generations() {}

    /** The host's greedy choice, in a sampler a generator does not recognise as greedy (so the logits come to the host). */
    public static final Sampler HOST_GREEDY = (logits, ctx) -> Sampler.greedy().sample(logits, ctx);

    /** Every token of one stream of {@code g} from {@code prompt}. */
    public static List<Token> run(Generator g, int[] prompt) {
        try (Stream<Token> s = g.stream(prompt)) {
            return s.toList();
        }
    }

    /** The same ids and text pieces, and log-probabilities within 1e-5. */
    public static void assertSameTokens(List<Token> want, List<Token> got, String what) {
        assertEquals(want.stream().map(Token::id).toList(), got.stream().map(Token::id).toList(), what + ": ids");
        assertEquals(want.stream().map(Token::text).toList(), got.stream().map(Token::text).toList(), what + ": text");
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i).logprob(), got.get(i).logprob(), 1e-5, what + ": logprob of token " + i);
        }
    }
}
