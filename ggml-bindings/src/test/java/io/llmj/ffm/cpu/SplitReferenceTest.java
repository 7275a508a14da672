package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.Forward;
import io.llmj.arch.Forwards;
import io.llmj.arch.HfTinyReference;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.Placement;
import io.llmj.arch.StoriesReference;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;

/**
 * The reference tests (llama.cpp's logits for stories260K, transformers' for every hf-tiny model)
 * with each model split between two backends as {@code --gpu-layers} splits it between the GPU and
 * the CPU: the first layers on the native CPU backend (in the GPU's role), the others with the
 * embedding and the output on the Java reference backend; split after layer 1 and before the last
 * layer. Same tolerance as unsplit (1e-4): the hidden state crosses over as float32, unchanged.
 */
class SplitReferenceTest {
    static final NativeCpuBackend CPU = new NativeCpuBackend(2);
    static final JavaBackend JAVA = new JavaBackend();

    static Forward split(ModelConfig c, TensorSource src, int nFirst) {
        assertTrue(nFirst > 0 && nFirst < c.nLayers(), "a real split: " + nFirst + " of " + c.nLayers() + " layers");
        Placement p = Placement.split(CPU, nFirst, JAVA, c.nLayers());
        assertTrue(!p.isSingle() && p.backends().size() == 2);
        return Forwards.create(c, src, p);
    }

    @AfterAll
    static void closeBackends() {
        CPU.close();
    }

    @Nested
    class StoriesAfterLayer1 extends StoriesReference {
        @Override
        protected Backend backend() {
            return CPU;
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, 1);
        }
    }

    @Nested
    class StoriesBeforeLastLayer extends StoriesReference {
        @Override
        protected Backend backend() {
            return CPU;
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, c.nLayers() - 1);
        }
    }

    @Nested
    class HfTinyAfterLayer1 extends HfTinyReference {
        @Override
        protected Backend backend() {
            return CPU;
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, 1);
        }
    }

    @Nested
    class HfTinyBeforeLastLayer extends HfTinyReference {
        @Override
        protected Backend backend() {
            return CPU;
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, c.nLayers() - 1);
        }
    }
}
