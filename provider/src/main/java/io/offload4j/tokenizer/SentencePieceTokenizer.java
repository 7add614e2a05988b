package io.offload4j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * SentencePiece-style BPE ({@code tokenizer.ggml.model = llama}), as llama.cpp implements it: the
 * text's spaces become "▁" (with one prepended at the start and after special tokens when
 * {@code add_space_prefix}), the text is split into characters, and the adjacent pair whose
 * concatenation is the vocabulary token with the highest score is merged first (ties: leftmost),
 * until no pair forms a token. Characters left without a token are written as their UTF-8 bytes
 * ({@code <0xNN>} byte-fallback tokens), or as the unknown token where the vocabulary has none.
 */
public final class SentencePieceTokenizer extends AbstractTokenizer {

    static final char SPACE_MARK = '\u2581';

    /** Token of each byte value ({@code <0xNN>}), or -1. */
    private final int[] byteTokens = new int[256];
    /** Tokens that merges may produce and plain text may map to: NORMAL and USER_DEFINED. */
    private final boolean[] textToken;
    /** No such token has "▁" right after another character: text can be encoded word by word. */
    private final boolean chunkable;
    /** False only in tests, to check that word-by-word encoding changes nothing. */
    private final boolean allowChunking;

    SentencePieceTokenizer(Vocabulary vocab) {
        this(vocab, true);
    }

    SentencePieceTokenizer(Vocabulary vocab, boolean allowChunking) {
        super(vocab);
        this.allowChunking = allowChunking;
        int n = vocab.size();
        textToken = new boolean[n];
        for (int i = 0; i < n; i++) {
            int t = vocab.types[i];
            textToken[i] = t == TokenType.NORMAL || t == TokenType.USER_DEFINED || t == TokenType.UNDEFINED;
        }
        boolean spaceInside = false;
        for (int i = 0; i < n && !spaceInside; i++) {
            String text = vocab.tokens[i];
            if (textToken[i]) {
                for (int k = 1; k < text.length(); k++) {
                    if (text.charAt(k) == SPACE_MARK && text.charAt(k - 1) != SPACE_MARK) {
                        spaceInside = true;
                        break;
                    }
                }
            }
        }
        chunkable = !spaceInside;
        for (int b = 0; b < 256; b++) {
            int id = vocab.id(String.format("<0x%02X>", b));
            if (id < 0 && b < 0x80) {
                id = vocab.id(String.valueOf((char) b));
            }
            byteTokens[b] = id;
        }
    }

    @Override
    byte[] piece(int token) {
        String text = vocab.tokens[token];
        if (vocab.types[token] == TokenType.BYTE) {
            if (text.length() == 6 && text.startsWith("<0x") && text.endsWith(">")) {
                try {
                    return new byte[] {(byte) Integer.parseInt(text.substring(3, 5), 16)};
                } catch (NumberFormatException e) {
                    // fall through
                }
            }
            throw new TokenizerException(vocab.modelName + ": token " + token + " '" + text
                    + "' is of type BYTE in '" + Vocabulary.KEY_TOKEN_TYPE + "' but is not of the form <0xNN>");
        }
        return text.replace(SPACE_MARK, ' ').getBytes(StandardCharsets.UTF_8);
    }

    @Override
    boolean stripsLeadingSpace() {
        return vocab.addSpacePrefix;
    }

    @Override
    void encodeText(String fragment, boolean afterSpecial, IntList out) {
        String text = (vocab.addSpacePrefix && afterSpecial ? " " + fragment : fragment).replace(' ', SPACE_MARK);
        if (!chunkable || !allowChunking) {
            encodeChunk(text, new Work(), out);
            return;
        }
        // No token has "▁" after another character, so no merge crosses the start of a word ("▁..." after
        // a non-"▁"): words are encoded one by one with the same result, and repeated words come from a cache.
        Work w = new Work();
        Map<String, int[]> cache = new HashMap<>();
        int len = text.length();
        int start = 0;
        for (int i = 1; i <= len; i++) {
            if (i == len || (text.charAt(i) == SPACE_MARK && text.charAt(i - 1) != SPACE_MARK)) {
                String word = text.substring(start, i);
                int[] ids = cache.get(word);
                if (ids == null) {
                    int before = out.size();
                    encodeChunk(word, w, out);
                    if (cache.size() >= CACHE_LIMIT) {
                        cache.clear();
                    }
                    cache.put(word, out.copyRange(before, out.size()));
                } else {
                    out.addAll(ids);
                }
                start = i;
            }
        }
    }

    static final int CACHE_LIMIT = 1 << 16;

    /** Scratch arrays reused across the chunks of one call. */
    private static final class Work {
        int[] start = new int[64];
        int[] size = new int[64];
        int[] prev = new int[64];
        int[] next = new int[64];
        final LongHeap queue = new LongHeap(64);

        void ensure(int n) {
            if (start.length < n) {
                int c = Math.max(n, start.length * 2);
                start = new int[c];
                size = new int[c];
                prev = new int[c];
                next = new int[c];
            }
        }
    }

    private void encodeChunk(String text, Work w, IntList out) {
        int len = text.length();
        w.ensure(len);
        // one symbol per code point: start (char index), length in chars (0 once merged away), links
        int[] start = w.start;
        int[] size = w.size;
        int[] prev = w.prev;
        int[] next = w.next;
        int count = 0;
        for (int i = 0; i < len; ) {
            int cp = text.codePointAt(i);
            int cl = Character.charCount(cp);
            start[count] = i;
            size[count] = cl;
            prev[count] = count - 1;
            next[count] = i + cl == len ? -1 : count + 1;
            count++;
            i += cl;
        }
        LongHeap queue = w.queue;
        queue.clear();
        for (int i = 1; i < count; i++) {
            tryAddBigram(text, start, size, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            int left = (int) queue.topKey();
            int right = queue.topA();
            int total = queue.topB();
            queue.pop();
            if (size[left] == 0 || size[right] == 0 || size[left] + size[right] != total) {
                continue; // one side was merged into something else since
            }
            size[left] = total;
            size[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            if (prev[left] >= 0) {
                tryAddBigram(text, start, size, prev[left], left, queue);
            }
            if (next[left] >= 0) {
                tryAddBigram(text, start, size, left, next[left], queue);
            }
        }
        for (int i = 0; i != -1 && count > 0; i = next[i]) {
            String piece = text.substring(start[i], start[i] + size[i]);
            Integer id = vocab.tokenToId.get(piece);
            if (id != null && textToken[id]) {
                out.add(id);
            } else {
                byteFallback(piece, out);
            }
        }
    }

    private void tryAddBigram(String text, int[] start, int[] size, int left, int right, LongHeap queue) {
        int total = size[left] + size[right];
        Integer id = vocab.tokenToId.get(text.substring(start[left], start[left] + total));
        if (id == null || !textToken[id]) {
            return;
        }
        // highest score first, then leftmost: the heap pops the smallest unsigned key
        long priority = ~sortableFloat(vocab.scores[id]) & 0xFFFF_FFFFL;
        queue.push((priority << 32) | left, right, total);
    }

    /** Maps a float to an unsigned-comparable int with the same order. */
    private static int sortableFloat(float f) {
        int bits = Float.floatToIntBits(f);
        bits ^= (bits >> 31) & 0x7FFF_FFFF; // negative floats: reverse their order
        return bits ^ 0x8000_0000;          // signed order to unsigned order
    }

    private void byteFallback(String piece, IntList out) {
        String unescaped = piece.replace(SPACE_MARK, ' ');
        // one code point; the space mark maps back to ' ' only if that byte has a token
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        boolean all = true;
        for (byte b : bytes) {
            if (byteTokens[b & 0xFF] < 0) {
                all = false;
                break;
            }
        }
        if (all) {
            for (byte b : bytes) {
                out.add(byteTokens[b & 0xFF]);
            }
            return;
        }
        if (vocab.unk < 0) {
            throw new IllegalArgumentException("cannot encode '" + unescaped + "' with the vocabulary of "
                    + vocab.modelName + ": no token, no byte-fallback tokens <0xNN> and no unknown token");
        }
        out.add(vocab.unk);
    }
}
