package io.offload4j.langchain4j;

import dev.langchain4j.model.chat.request.json.JsonAnyOfSchema;
import dev.langchain4j.model.chat.request.json.JsonArraySchema;
import dev.langchain4j.model.chat.request.json.JsonBooleanSchema;
import dev.langchain4j.model.chat.request.json.JsonEnumSchema;
import dev.langchain4j.model.chat.request.json.JsonIntegerSchema;
import dev.langchain4j.model.chat.request.json.JsonNullSchema;
import dev.langchain4j.model.chat.request.json.JsonNumberSchema;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonReferenceSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.request.json.JsonSchemaElement;
import dev.langchain4j.model.chat.request.json.JsonStringSchema;
import io.offload4j.chat.ThinkingFormat;
import io.offload4j.engine.grammar.Grammar;
import io.offload4j.engine.grammar.GrammarBuilder;
import io.offload4j.engine.grammar.GrammarBuilder.Rule;
import io.offload4j.engine.grammar.JsonGrammar;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * LangChain4j's JSON Schema types as grammar rules (see {@link JsonGrammar}): objects with their declared
 * properties in order (required ones always, optional ones may be left out, no others), arrays, enumerations,
 * strings, integers, numbers, booleans, null, {@code anyOf}, and {@code $ref} to the definitions of the root
 * object, recursive ones included. A {@code JsonRawSchema} (schema text LangChain4j does not model) is refused
 * by the chat models before this; nested in another schema it is taken as any JSON value.
 */
final class JsonSchemaGrammar {

    private final JsonGrammar json;
    private final Map<String, JsonSchemaElement> definitions = new HashMap<>();
    private final Map<String, Rule> references = new HashMap<>();

    private JsonSchemaGrammar(JsonGrammar json) {
        this.json = json;
    }

    /** The grammar of a JSON reply matching {@code schema}, or of any JSON value when it is null. */
    static Grammar of(JsonSchema schema) {
        return of(schema, null, false);
    }

    /**
     * The same, after the model's thinking ({@link ThinkingGrammar}) when {@code thinking} is not null.
     *
     * @param opened the prompt already opened the thinking
     */
    static Grammar of(JsonSchema schema, ThinkingFormat thinking, boolean opened) {
        GrammarBuilder b = new GrammarBuilder();
        JsonGrammar json = new JsonGrammar(b);
        Rule value = schema == null || schema.rootElement() == null ? json.value()
                : new JsonSchemaGrammar(json).element(schema.rootElement());
        return b.build(ThinkingGrammar.wrap(b, json, json.root(value), thinking, opened));
    }

    /** The rule of one value matching {@code element}, written into {@code json}'s builder. */
    static Rule rule(JsonGrammar json, JsonSchemaElement element) {
        return new JsonSchemaGrammar(json).element(element);
    }

    private Rule element(JsonSchemaElement e) {
        return switch (e) {
            case null -> json.value();
            case JsonObjectSchema o -> object(o);
            case JsonArraySchema a -> json.arrayOf(element(a.items()));
            case JsonStringSchema s -> json.string();
            case JsonIntegerSchema i -> json.integer();
            case JsonNumberSchema n -> json.number();
            case JsonBooleanSchema bool -> json.bool();
            case JsonNullSchema n -> json.nul();
            case JsonEnumSchema en -> json.enumOf(en.enumValues());
            case JsonAnyOfSchema any -> {
                List<Rule> alternatives = new ArrayList<>();
                for (JsonSchemaElement alternative : any.anyOf()) {
                    alternatives.add(element(alternative));
                }
                yield json.oneOf(alternatives);
            }
            case JsonReferenceSchema ref -> reference(ref.reference());
            default -> json.value(); // JsonRawSchema and types LangChain4j may add later: any JSON value
        };
    }

    private Rule object(JsonObjectSchema o) {
        if (o.definitions() != null) {
            definitions.putAll(o.definitions());
        }
        Map<String, JsonSchemaElement> properties = o.properties() == null ? Map.of() : o.properties();
        if (properties.isEmpty() && !Boolean.FALSE.equals(o.additionalProperties())) {
            return json.anyObject(); // a map, or an object whose properties the schema leaves open
        }
        List<String> required = o.required() == null ? List.of() : o.required();
        List<JsonGrammar.Property> declared = new ArrayList<>();
        for (Map.Entry<String, JsonSchemaElement> p : properties.entrySet()) {
            declared.add(new JsonGrammar.Property(p.getKey(), element(p.getValue()), required.contains(p.getKey())));
        }
        return json.objectOf(declared);
    }

    /** A rule per referenced definition, made before its body so that recursive references reach it. */
    private Rule reference(String reference) {
        String name = definitionName(reference);
        Rule rule = references.get(name);
        if (rule != null) {
            return rule;
        }
        JsonSchemaElement definition = definitions.get(name);
        if (definition == null) {
            throw new IllegalArgumentException("the JSON schema refers to '" + reference + "', which is not among the"
                    + " definitions of its root object " + definitions.keySet());
        }
        rule = json.builder().rule("ref:" + name);
        references.put(name, rule);
        rule.alt(element(definition));
        return rule;
    }

    private static String definitionName(String reference) {
        for (String prefix : List.of("#/$defs/", "#/definitions/")) {
            if (reference.startsWith(prefix)) {
                return reference.substring(prefix.length());
            }
        }
        return reference;
    }
}
