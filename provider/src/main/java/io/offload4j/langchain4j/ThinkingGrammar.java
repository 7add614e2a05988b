package io.offload4j.langchain4j;

import static io.offload4j.engine.grammar.GrammarBuilder.literal;

import io.offload4j.chat.ThinkingFormat;
import io.offload4j.engine.grammar.GrammarBuilder;
import io.offload4j.engine.grammar.GrammarBuilder.Rule;
import io.offload4j.engine.grammar.JsonGrammar;

/**
 * Lets a reasoning model think before a constrained answer: {@code <think>} (unless the prompt opened it already),
 * free text without {@code <}, {@code </think>}, then the answer's grammar. Thinking text may not contain
 * {@code <}, so that the first {@code <} is the end marker and the answer after it is unambiguous.
 */
final class ThinkingGrammar {

    private ThinkingGrammar() {}

    /**
     * @param thinking how the model thinks, or null: the answer alone
     * @param opened   the prompt already opened the thinking
     */
    static Rule wrap(GrammarBuilder b, JsonGrammar json, Rule answer, ThinkingFormat thinking, boolean opened) {
        if (thinking == null) {
            return answer;
        }
        Rule body = b.rule("thinking-text");
        body.alt().alt(GrammarBuilder.chars(0, '<' - 1), body).alt(GrammarBuilder.chars('<' + 1, 255), body);
        Rule thought = b.rule("thinking").alt(body, literal(thinking.end()), json.ws(), answer);
        if (opened) {
            return thought;
        }
        Rule start = b.rule("thinking-start").alt(literal(thinking.start()), thought);
        return b.rule("maybe-thinking").alt(start).alt(answer);
    }
}
