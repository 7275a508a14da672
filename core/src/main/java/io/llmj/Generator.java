package io.llmj;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.quant.GgmlType;
import io.llmj.sampling.Greedy;
import java.util.List;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.random.RandomGenerator;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * Generates text from one {@link Model} with its own KV cache. One stream at a time per generator:
 * starting a new stream ends the previous one (which then yields no more tokens); use several
 * generators for parallel generations on one model. Tokens are computed lazily as the stream is
 * consumed; closing the stream ends it, closing the generator also frees the cache.
 */
public final class Generator implements AutoCloseable {
    /** Greedy generation chooses tokens on a GPU when the model runs on one; -Dllmj.deviceGreedy=false keeps it on the host. */
    private static final boolean DEVICE_GREEDY = !"false".equalsIgnoreCase(System.getProperty("llmj.deviceGreedy"));

    private final Model model;
    private final GenerationOptions options;
    private final int contextLength;
    private ForwardState state;
    private Run active;
    private volatile GenerationStats lastStats = new GenerationStats(0, 0, 0, 0);

    Generator(Model model, GenerationOptions options) {
        this.model = model;
        this.options = options;
        int ctx = options.contextLength() > 0 ? options.contextLength() : Math.min(model.contextLength(), 4096);
        this.contextLength = ctx;
    }

    /** Streams the continuation of {@code prompt}, tokenized with BOS/EOS as the model's tokenizer rules say. */
    public Stream<Token> stream(String prompt) {
        return stream(model.tokenizer().encode(prompt, true, options.parseSpecial()));
    }

    /** Streams the continuation of the given prompt token ids. */
    public synchronized Stream<Token> stream(int[] promptIds) {
        if (active != null) {
            active.finish();
        }
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("empty prompt: at least one token is needed");
        }
        if (promptIds.length > contextLength) {
            throw new ContextLengthExceededException(promptIds.length, contextLength);
        }
        if (state == null) {
            Forward f = model.forward();
            state = f.newState(contextLength, Math.min(options.batchSize(), contextLength), 1,
                    options.cacheType() == GenerationOptions.CacheType.F16 ? GgmlType.F16 : GgmlType.F32);
        }
        Run run = new Run(promptIds.clone());
        active = run;
        return StreamSupport.stream(run, false).onClose(run::finish);
    }

    /** Generates to the end and returns the text. */
    public String generate(String prompt) {
        StringBuilder sb = new StringBuilder();
        try (Stream<Token> s = stream(prompt)) {
            s.forEach(t -> sb.append(t.text()));
        }
        return sb.toString();
    }

    /** Timings of the most recent generation. */
    public GenerationStats stats() {
        return lastStats;
    }

    @Override
    public synchronized void close() {
        if (active != null) {
            active.finish();
        }
        if (state != null) {
            state.close();
            state = null;
        }
    }

    /** One generation: lazily prefills, samples and decodes as tokens are pulled. */
    private final class Run extends Spliterators.AbstractSpliterator<Token> implements Sampler.Context {
        private final int[] history;
        private int size;
        private final int promptLength;
        private final float[] logits;
        private final float[] work;                 // the sampler's copy of the logits (it may overwrite them)
        private final LogSumExp logSumExp = new LogSumExp();
        private final StreamingDecoder decoder = model.tokenizer().newContinuationDecoder();
        private final StringBuilder pending = new StringBuilder();
        private final RandomGenerator random;
        private boolean prefilled;
        /** Greedy choices made on the device (logits stay there), steps enqueued one ahead ({@link #decodeOnDevice}). */
        private final boolean onDevice;
        /** The position of the last step enqueued on the device, -1 for none. */
        private int enqueued = -1;
        private boolean finished;
        private int produced;
        private long prefillNanos;
        private long decodeNanos;

        Run(int[] prompt) {
            super(Long.MAX_VALUE, Spliterator.ORDERED | Spliterator.NONNULL);
            history = new int[contextLength + 1];
            System.arraycopy(prompt, 0, history, 0, prompt.length);
            size = prompt.length;
            promptLength = prompt.length;
            logits = new float[model.vocabSize()];
            work = new float[logits.length];
            random = new SplittableRandom(options.sampler().seed().orElseGet(System::nanoTime));
            onDevice = DEVICE_GREEDY && Greedy.is(options.sampler()) && model.forward().decodesGreedy(state);
        }

        @Override
        public int[] history() {
            return history;
        }

        @Override
        public int historySize() {
            return size;
        }

        @Override
        public RandomGenerator random() {
            return random;
        }

        @Override
        public boolean tryAdvance(Consumer<? super Token> action) {
            synchronized (Generator.this) {
                if (finished || state == null) {
                    return false;
                }
                if (produced >= options.maxTokens()) {
                    return finishWith(action);
                }
                if (!prefilled) {
                    prefill();
                } else {
                    int pos = size - 1;
                    if (pos >= contextLength) {                       // the last token has no room in the cache
                        if (options.contextPolicy() == GenerationOptions.ContextPolicy.STOP) {
                            return finishWith(action);
                        }
                        finish();
                        throw new ContextLengthExceededException(pos + 1, contextLength);
                    }
                    long t0 = System.nanoTime();
                    if (onDevice) {
                        long choice = decodeOnDevice(pos);
                        decodeNanos += System.nanoTime() - t0;
                        return emit(action, (int) choice, Float.intBitsToFloat((int) (choice >>> 32)));
                    }
                    model.forward().forward(state, new int[] {history[pos]}, pos, false, logits);
                    decodeNanos += System.nanoTime() - t0;
                }
                float logprob;
                int id;
                {
                    System.arraycopy(logits, 0, work, 0, logits.length);
                    id = options.sampler().sample(work, this);
                    if (id < 0 || id >= logits.length) {
                        throw new IllegalStateException("sampler returned token id " + id + " outside the vocabulary");
                    }
                    logprob = (float) (logits[id] - logSumExp.of(logits, logits.length));
                }
                return emit(action, id, logprob);
            }
        }

        /**
         * The device's greedy choice of the token after position {@code pos}. The step at {@code pos} was
         * enqueued one call earlier unless its token came from the host; the step at {@code pos + 1}, which
         * reads this call's choice on the device, is enqueued before waiting, so the device never waits for the
         * host. When generation ends after this token that step was for nothing: it only wrote the cache
         * position after the last one.
         */
        private long decodeOnDevice(int pos) {
            Forward f = model.forward();
            if (enqueued != pos) {
                f.decodeGreedy(state, history[pos], true, pos);
            }
            enqueued = pos;
            if (pos + 1 < contextLength && produced + 1 < options.maxTokens()) {
                f.decodeGreedy(state, 0, false, pos + 1);
                enqueued = pos + 1;
            }
            return f.greedyChoice(state, pos);
        }

        /** Appends the chosen token, hands it to {@code action} with the text it completes, and ends the run where due. */
        private boolean emit(Consumer<? super Token> action, int id, float logprob) {
            history[size++] = id;
            produced++;
            boolean eog = !options.ignoreEndOfGeneration() && model.tokenizer().isEndOfGeneration(id);
            String text = eog ? "" : decoder.next(id);
            pending.append(text);
            boolean last = eog || produced >= options.maxTokens();
            String out = release(last);
            action.accept(new Token(id, out, logprob));
            if (last || finished) {
                finish();
            }
            return true;
        }

        private void prefill() {
            long t0 = System.nanoTime();
            int batch = state.maxBatch;
            for (int start = 0; start < promptLength; start += batch) {
                int n = Math.min(batch, promptLength - start);
                int[] chunk = java.util.Arrays.copyOfRange(history, start, start + n);
                model.forward().forward(state, chunk, start, false, logits);
            }
            prefillNanos = System.nanoTime() - t0;
            prefilled = true;
        }

        /**
         * Text that can be emitted now: everything pending up to a completed stop string (which ends the run),
         * else all but a suffix that could still become a stop string; everything at the end.
         */
        private String release(boolean last) {
            List<String> stops = options.stopStrings();
            for (String s : stops) {
                int i = pending.indexOf(s);
                if (i >= 0) {
                    String out = pending.substring(0, i);
                    pending.setLength(0);
                    finished = true;
                    return out;
                }
            }
            if (last) {
                pending.append(decoder.flush());
                String out = pending.toString();
                pending.setLength(0);
                return out;
            }
            int hold = 0;
            String p = pending.toString();
            for (String s : stops) {
                for (int k = Math.min(s.length() - 1, p.length()); k > hold; k--) {
                    if (p.regionMatches(p.length() - k, s, 0, k)) {
                        hold = k;
                        break;
                    }
                }
            }
            String out = pending.substring(0, pending.length() - hold);
            pending.delete(0, pending.length() - hold);
            return out;
        }

        /** Ends the run; if text is still held back, emits it with a last token. */
        private boolean finishWith(Consumer<? super Token> action) {
            pending.append(decoder.flush());
            boolean emitted = false;
            if (!pending.isEmpty() && size > promptLength) {
                action.accept(new Token(history[size - 1], pending.toString(), 0f));
                pending.setLength(0);
                emitted = true;
            }
            finish();
            return emitted;
        }

        void finish() {
            synchronized (Generator.this) {
                if (active == this) {
                    lastStats = new GenerationStats(promptLength, produced, prefillNanos, decodeNanos);
                }
                finished = true;
                if (active == this) {
                    active = null;
                }
            }
        }
    }
}
