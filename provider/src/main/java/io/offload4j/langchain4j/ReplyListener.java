package io.offload4j.langchain4j;

import io.offload4j.engine.GenerationListener;

/**
 * Feeds a generation's text (and the text of marker control tokens, which decode to nothing) first through a
 * {@link ThinkingSplitter}, then the answer part into a {@link ReplyAssembler}. Subclasses receive what may be
 * shown as it comes: {@link #shown} for answer text, {@link #thought} for thinking.
 */
class ReplyListener implements GenerationListener {

    private final OffloadEngine engine;
    private final ThinkingSplitter splitter;
    private final ReplyAssembler assembler;

    ReplyListener(OffloadEngine engine, ThinkingSplitter splitter, ReplyAssembler assembler) {
        this.engine = engine;
        this.splitter = splitter;
        this.assembler = assembler;
    }

    @Override
    public void onToken(int token) {
        if (engine.isMarkerToken(token)) {
            accept(engine.inferenceEngine().tokenizer().tokenText(token));
        }
    }

    @Override
    public void onText(String text) {
        accept(text);
    }

    private void accept(String text) {
        route(splitter.accept(text));
    }

    private void route(ThinkingSplitter.Split split) {
        if (!split.thinking().isEmpty()) {
            thought(split.thinking());
        }
        if (!split.answer().isEmpty()) {
            shown(assembler.accept(split.answer()));
        }
    }

    /** Ends the reply: flushes held-back text through both stages and returns the assembled reply. */
    ReplyAssembler.Reply finishReply() {
        route(splitter.finish());
        return assembler.finish();
    }

    /** All thinking of the reply, or null. */
    String thinking() {
        return splitter.thinking();
    }

    /** Answer text that may be shown now (streaming); nothing to do when the reply is returned whole. */
    void shown(String text) {}

    /** Thinking text as it comes (streaming); nothing to do when the reply is returned whole. */
    void thought(String text) {}
}
