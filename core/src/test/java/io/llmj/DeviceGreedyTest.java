package io.llmj;

import static io.llmj.testing.Generations.HOST_GREEDY;
import static io.llmj.testing.Generations.assertSameTokens;
import static io.llmj.testing.Generations.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.sampling.Greedy;
import io.llmj.testing.FakeGpuBackend;
import io.llmj.testing.TestData;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Greedy generation with the choice made on the device ({@code Backend.decodeGreedy}), on
 * {@link FakeGpuBackend}, which keeps that contract with the Java reference arithmetic: the generator makes
 * exactly the tokens that the host's greedy choice makes, with the same log-probabilities, and enqueues each
 * step one ahead of the choice it waits for, never past the last token it needs. The CUDA backend's version
 * is checked against the same host choice on the GPU machine (CudaGreedyTest).
 */
class DeviceGreedyTest {
    private static final String PROMPT = "Once upon a time, there was a little";

    @BeforeEach
    void fakeGpu() {
        List<String> names = io.llmj.backend.Backends.providers().stream().map(io.llmj.backend.BackendProvider::name).toList();
        Assumptions.assumeTrue(names.stream().allMatch(n -> n.equals("java") || n.equals("fakegpu")),
                () -> "backends beside java and fakegpu are present: " + names);
        FakeGpuBackend.enable(GpuLayersTest.BIG);
    }

    @AfterEach
    void off() {
        FakeGpuBackend.disable();
    }

    @Test
    void deviceChoiceGeneratesWhatTheHostChoiceDoes() {
        try (Model m = Model.load(GpuLayersTest.stories(), ModelOptions.defaults().withBackend("fakegpu"))) {
            FakeGpuBackend gpu = FakeGpuBackend.created().get(0);
            int[] prompt = m.tokenizer().encode(PROMPT, true, false);
            int p = prompt.length;
            for (int n : new int[] {1, 2, 3, 4, 40}) {
                GenerationOptions.Builder o = GenerationOptions.builder().maxTokens(n).ignoreEndOfGeneration(true);
                List<Token> want;
                try (Generator g = m.generator(o.sampler(HOST_GREEDY).build())) {
                    want = run(g, prompt);
                }
                assertEquals(n, want.size());
                try (Generator g = m.generator(o.sampler(Sampler.greedy()).build())) {
                    for (int round = 0; round < 2; round++) {     // the second run follows a finished one on one state
                        int before = gpu.greedyCalls().size();
                        assertSameTokens(want, run(g, prompt), "maxTokens " + n + ", run " + round);
                        List<String> calls = gpu.greedyCalls().subList(before, gpu.greedyCalls().size());
                        assertEquals(expectedCalls(p, n), calls, "maxTokens " + n);
                    }
                }
            }
        }
    }

    /**
     * The first token comes from the prefill's logits on the host; the step at P (the prompt's length) takes
     * it from the host, the later ones from the device; each step is enqueued before the choice of the one
     * before is read, and none after the step whose choice is the last token.
     */
    private static List<String> expectedCalls(int p, int n) {
        List<String> calls = new ArrayList<>();
        if (n >= 2) {
            calls.add("step " + p + " known");
        }
        for (int k = 1; k < n; k++) {
            int pos = p + k - 1;                                   // the step that makes token k + 1
            if (k + 1 < n) {
                calls.add("step " + (pos + 1));
            }
            calls.add("choice " + pos);
        }
        return calls;
    }

    @Test
    void stopsAtTheContextAndAtStopStringsAsTheHostDoes() {
        try (Model m = Model.load(GpuLayersTest.stories(), ModelOptions.defaults().withBackend("fakegpu"))) {
            int[] prompt = m.tokenizer().encode(PROMPT, true, false);
            List<GenerationOptions.Builder> cases = List.of(
                    GenerationOptions.builder().maxTokens(50).contextLength(prompt.length + 3)
                            .contextPolicy(GenerationOptions.ContextPolicy.STOP),
                    GenerationOptions.builder().maxTokens(50).stopStrings(List.of(" the")),
                    GenerationOptions.builder().maxTokens(110));          // to the end-of-text token, if it comes
            for (int c = 0; c < cases.size(); c++) {
                GenerationOptions.Builder o = cases.get(c);
                List<Token> want;
                try (Generator g = m.generator(o.sampler(HOST_GREEDY).build())) {
                    want = run(g, prompt);
                }
                try (Generator g = m.generator(o.sampler(Sampler.greedy()).build())) {
                    assertSameTokens(want, run(g, prompt), "case " + c);
                    assertSameTokens(want, run(g, prompt), "case " + c + ", again");
                }
            }
        }
    }

    @Test
    void ignoringEndOfGenerationGoesOnToMaxTokens() {
        try (Model m = Model.load(GpuLayersTest.stories(), ModelOptions.defaults().withBackend("java"))) {
            int eos = 0;
            while (!m.tokenizer().isEndOfGeneration(eos)) {
                eos++;
            }
            int id = eos;
            Sampler alwaysEos = (logits, ctx) -> id;
            int[] prompt = m.tokenizer().encode(PROMPT, true, false);
            try (Generator g = m.generator(GenerationOptions.builder().maxTokens(5).sampler(alwaysEos).build())) {
                assertEquals(1, run(g, prompt).size());
            }
            try (Generator g = m.generator(GenerationOptions.builder().maxTokens(5).sampler(alwaysEos)
                    .ignoreEndOfGeneration(true).build())) {
                List<Token> t = run(g, prompt);
                assertEquals(5, t.size());
                assertTrue(t.stream().allMatch(x -> x.id() == id));
            }
        }
    }

    @Test
    void recognisesTheGreedySamplers() {
        assertTrue(Greedy.is(Sampler.greedy()));
        assertTrue(Greedy.is(Sampler.builder().build()));
        assertTrue(Greedy.is(Sampler.builder().topK(5).topP(0.9f).minP(0.1f).seed(3).build()));
        assertFalse(Greedy.is(Sampler.builder().temperature(0.7f).build()));
        assertFalse(Greedy.is(Sampler.builder().penalties(64, 1.1f, 0f, 0f).build()));
        assertFalse(Greedy.is(Sampler.builder().penalties(64, 1f, 0f, 0.5f).build()));
        assertTrue(Greedy.is(Sampler.builder().penalties(0, 1.1f, 0f, 0f).build()));   // last 0: no penalty
        assertFalse(Greedy.is(HOST_GREEDY));
    }
}
