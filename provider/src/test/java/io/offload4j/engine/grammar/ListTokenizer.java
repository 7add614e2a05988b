package io.offload4j.engine.grammar;

import io.offload4j.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A test tokenizer over a given list of token texts: token 0 is EOS (control, end of generation), token 1 a
 * control token {@code <ctl>}, then every single byte (so any text can be written), then the given pieces.
 * Encoding is not needed by the grammar and is not supported.
 */
final class ListTokenizer implements Tokenizer {

    private final List<byte[]> pieces = new ArrayList<>();
    private final List<String> texts = new ArrayList<>();

    ListTokenizer(List<String> extra) {
        add("</s>");
        add("<ctl>");
        for (int b = 0; b < 256; b++) {
            pieces.add(new byte[] {(byte) b});
            texts.add("<0x" + Integer.toHexString(b) + ">");
        }
        for (String s : extra) {
            add(s);
        }
    }

    private void add(String s) {
        pieces.add(s.getBytes(StandardCharsets.UTF_8));
        texts.add(s);
    }

    /** The id of the single-byte token of {@code b}. */
    static int byteToken(int b) {
        return 2 + b;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        throw new UnsupportedOperationException("the grammar tests build token ids by hand; nothing encodes text here");
    }

    @Override
    public String decode(int[] tokens) {
        StringBuilder b = new StringBuilder();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int t : tokens) {
            if (!isControl(t)) {
                out.writeBytes(pieces.get(t));
            }
        }
        return b.append(out.toString(StandardCharsets.UTF_8)).toString();
    }

    @Override
    public byte[] tokenBytes(int token) {
        return pieces.get(token).clone();
    }

    @Override
    public String tokenText(int token) {
        return texts.get(token);
    }

    @Override
    public int vocabularySize() {
        return pieces.size();
    }

    @Override
    public int bosToken() {
        return -1;
    }

    @Override
    public int eosToken() {
        return 0;
    }

    @Override
    public boolean isEndOfGeneration(int token) {
        return token == 0;
    }

    @Override
    public boolean isControl(int token) {
        return token == 0 || token == 1;
    }

    @Override
    public int tokenId(String text) {
        return texts.indexOf(text);
    }
}
