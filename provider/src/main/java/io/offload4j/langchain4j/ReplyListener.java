package io.offload4j.langchain4j;

import io.offload4j.engine.GenerationListener;

/** Feeds a generation's text (and tool-call special tokens, which decode to nothing) into a {@link ReplyAssembler}. */
class ReplyListener implements GenerationListener {

    private final OffloadEngine engine;
    private final ReplyAssembler assembler;

    ReplyListener(OffloadEngine engine, ReplyAssembler assembler) {
        this.engine = engine;
        this.assembler = assembler;
    }

    ReplyAssembler assembler() {
        return assembler;
    }

    @Override
    public void onToken(int token) {
        if (engine.isToolMarker(token)) {
            shown(assembler.accept(engine.inferenceEngine().tokenizer().tokenText(token)));
        }
    }

    @Override
    public void onText(String text) {
        shown(assembler.accept(text));
    }

    /** Text that may be shown now (streaming); nothing to do when the reply is returned whole. */
    void shown(String text) {}
}
