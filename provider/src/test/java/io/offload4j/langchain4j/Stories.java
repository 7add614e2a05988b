package io.offload4j.langchain4j;

import io.offload4j.engine.EngineOptions;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;

/** The shared stories260K model: a real (tiny) Llama trained on children's stories, with no chat template. */
final class Stories {

    /** Greedy continuation of "Once upon a time", known from llama2.c and llama.cpp. */
    static final String CONTINUATION = ", there was a little girl named Lily. She loved to play outside in the park.";

    /** Context for the tests: the model was trained on 128 tokens; the tests' prompts and replies fit 256. */
    static final int CONTEXT = 256;

    private Stories() {}

    static Path path() {
        return SharedData.require("models/stories260K.gguf");
    }

    /**
     * One CPU thread: the model is tiny, and without a worker pool the tests do not depend on the scheduling of
     * several threads on a machine that other builds load (handing dozens of sections per token to a descheduled
     * worker made a test 50 times slower there).
     */
    static OffloadEngine engine() {
        // stories260K was trained on 128-token sequences: the tests' longer prompts need the explicit opt-in
        return OffloadEngine.builder().modelPath(path()).device("cpu").threads(1).contextLength(CONTEXT)
                .contextBeyondTraining(true).build();
    }

    static OffloadEngine engine(EngineOptions options) {
        return OffloadEngine.builder().modelPath(path()).options(options).build();
    }
}
