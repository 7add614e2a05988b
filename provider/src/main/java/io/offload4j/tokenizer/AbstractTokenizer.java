package io.offload4j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * What every tokenizer shares: splitting out special tokens, BOS/EOS, decoding pieces to bytes,
 * end-of-generation and control queries. Subclasses encode plain text fragments and say what bytes
 * each token stands for. Immutable and thread-safe once constructed.
 */
abstract class AbstractTokenizer implements Tokenizer {

    final Vocabulary vocab;
    /** Decoded bytes of each token (control and unknown tokens: their text; unused: nothing). */
    private final byte[][] pieces;

    AbstractTokenizer(Vocabulary vocab) {
        this.vocab = vocab;
        int n = vocab.size();
        pieces = new byte[n][];
        for (int i = 0; i < n; i++) {
            pieces[i] = switch (vocab.types[i]) {
                case TokenType.CONTROL, TokenType.UNKNOWN, TokenType.USER_DEFINED -> Vocabulary.utf8(vocab.tokens[i]);
                case TokenType.UNUSED -> new byte[0];
                default -> piece(i);
            };
        }
    }

    /** The bytes a NORMAL, BYTE or UNDEFINED token decodes to. */
    abstract byte[] piece(int token);

    /**
     * Encodes a fragment of plain text (no special tokens in it) and appends the ids.
     *
     * @param afterSpecial the fragment starts the text or follows a special token
     */
    abstract void encodeText(String fragment, boolean afterSpecial, IntList out);

    /** True when decode drops one leading space of the first decoded token (SentencePiece's space prefix). */
    boolean stripsLeadingSpace() {
        return false;
    }

    public Vocabulary vocabulary() {
        return vocab;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addSpecial && vocab.addBos) {
            out.add(vocab.bos);
        }
        int[] match = new int[2];
        int pos = 0;
        boolean afterSpecial = true;
        int n = text.length();
        while (pos < n) {
            int start = vocab.specials.find(text, pos, parseSpecial, match);
            int end = start < 0 ? n : start;
            if (start >= 0 && (vocab.strip[match[0]] & Vocabulary.LSTRIP) != 0) {
                while (end > pos && isAsciiSpace(text.charAt(end - 1))) {
                    end--;
                }
            }
            if (end > pos) {
                encodeText(text.substring(pos, end), afterSpecial, out);
                afterSpecial = false;
            }
            if (start < 0) {
                break;
            }
            out.add(match[0]);
            afterSpecial = true;
            pos = match[1];
            if ((vocab.strip[match[0]] & Vocabulary.RSTRIP) != 0) {
                while (pos < n && isAsciiSpace(text.charAt(pos))) {
                    pos++;
                }
            }
        }
        if (addSpecial && vocab.addEos) {
            out.add(vocab.eos);
        }
        return out.toArray();
    }

    private static boolean isAsciiSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    @Override
    public String decode(int[] tokens) {
        byte[] buf = new byte[Math.max(16, tokens.length * 4)];
        int len = 0;
        boolean first = true;
        for (int t : tokens) {
            checkToken(t);
            if (vocab.types[t] == TokenType.CONTROL) {
                continue;
            }
            byte[] p = pieces[t];
            int from = 0;
            if (first && stripsLeadingSpace() && p.length > 0 && p[0] == ' ') {
                from = 1;
            }
            first = false;
            if (len + p.length > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + p.length));
            }
            System.arraycopy(p, from, buf, len, p.length - from);
            len += p.length - from;
        }
        return new String(buf, 0, len, StandardCharsets.UTF_8);
    }

    /** The bytes of a token; control tokens give their text (decode and the streaming detokenizer skip them). */
    @Override
    public byte[] tokenBytes(int token) {
        checkToken(token);
        return pieces[token].clone();
    }

    /** Internal, not copied. */
    byte[] pieceRef(int token) {
        return pieces[token];
    }

    @Override
    public String tokenText(int token) {
        checkToken(token);
        return vocab.tokens[token];
    }

    @Override
    public int vocabularySize() {
        return vocab.size();
    }

    @Override
    public int bosToken() {
        return vocab.bos;
    }

    @Override
    public int eosToken() {
        return vocab.eos;
    }

    /** End-of-turn id ({@code tokenizer.ggml.eot_token_id} or a token named like {@code <|eot_id|>}), or -1. */
    @Override
    public int eotToken() {
        return vocab.eot;
    }

    /** Unknown-token id, or -1. */
    public int unknownToken() {
        return vocab.unk;
    }

    /** Whether {@link #encode} with {@code addSpecial} adds BOS. */
    @Override
    public boolean addsBos() {
        return vocab.addBos;
    }

    /** Whether {@link #encode} with {@code addSpecial} adds EOS. */
    public boolean addsEos() {
        return vocab.addEos;
    }

    @Override
    public boolean isEndOfGeneration(int token) {
        return token >= 0 && token < vocab.size() && vocab.endOfGeneration[token];
    }

    @Override
    public boolean isControl(int token) {
        return token >= 0 && token < vocab.size() && vocab.types[token] == TokenType.CONTROL;
    }

    /** The token's type ({@link TokenType}). */
    public int tokenType(int token) {
        checkToken(token);
        return vocab.types[token];
    }

    /** The id of a token text, or -1. */
    @Override
    public int tokenId(String text) {
        return vocab.id(text);
    }

    final void checkToken(int token) {
        if (token < 0 || token >= vocab.size()) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of "
                    + vocab.size() + " tokens of " + vocab.modelName);
        }
    }
}
