package io.offload4j.tokenizer;

/** The token types of {@code tokenizer.ggml.token_type} (values as llama.cpp and gguf-py write them). */
public final class TokenType {

    private TokenType() {}

    public static final int UNDEFINED = 0;
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;
    public static final int UNUSED = 5;
    public static final int BYTE = 6;

    static String name(int type) {
        return switch (type) {
            case NORMAL -> "NORMAL";
            case UNKNOWN -> "UNKNOWN";
            case CONTROL -> "CONTROL";
            case USER_DEFINED -> "USER_DEFINED";
            case UNUSED -> "UNUSED";
            case BYTE -> "BYTE";
            default -> "UNDEFINED(" + type + ")";
        };
    }
}
