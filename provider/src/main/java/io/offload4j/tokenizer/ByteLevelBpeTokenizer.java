package io.offload4j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Byte-level BPE ({@code tokenizer.ggml.model = gpt2}): the text is split by the model's
 * {@link PreTokenizer}, each piece's UTF-8 bytes are mapped to GPT-2's byte characters, and within a
 * piece the adjacent pair with the lowest merge rank is merged first (ties: leftmost) until no
 * listed merge applies. With {@code ignore_merges} (Llama 3) a piece that is a token as a whole is
 * taken directly.
 */
public final class ByteLevelBpeTokenizer extends AbstractTokenizer {

    private static final long NO_MERGE = -1L;

    private final PreTokenizer preTokenizer;
    /** (left symbol << 32 | right symbol) → (rank << 32 | merged symbol). */
    private final LongLongMap merges;
    /** Symbol of each byte value. */
    private final int[] byteSymbols = new int[256];
    /** Bytes of symbols beyond the vocabulary (merge parts and results that are not tokens). */
    private final byte[][] extraSymbolBytes;
    /** Token of each byte value, or -1 (to spell out symbols that are not tokens). */
    private final int[] byteTokens = new int[256];

    ByteLevelBpeTokenizer(Vocabulary vocab, String[] mergeLines, PreTokenizer preTokenizer) {
        super(vocab);
        this.preTokenizer = preTokenizer;
        int n = vocab.size();
        Map<String, Integer> extra = new HashMap<>();
        List<String> extraTexts = new ArrayList<>();
        java.util.function.Function<String, Integer> symbol = text -> {
            Integer id = vocab.tokenToId.get(text);
            if (id != null) {
                return id;
            }
            return extra.computeIfAbsent(text, t -> {
                extraTexts.add(t);
                return n + extraTexts.size() - 1;
            });
        };
        for (int b = 0; b < 256; b++) {
            String c = String.valueOf(ByteLevel.charOf(b));
            byteSymbols[b] = symbol.apply(c);
            Integer id = vocab.tokenToId.get(c);
            byteTokens[b] = id == null ? -1 : id;
        }
        merges = new LongLongMap(mergeLines.length);
        for (int rank = 0; rank < mergeLines.length; rank++) {
            String line = mergeLines[rank];
            int sp = line.indexOf(' ', 1);
            if (sp < 0) {
                throw new TokenizerException(vocab.modelName + ": metadata key '" + Vocabulary.KEY_MERGES + "' entry " + rank
                        + " '" + line + "' is not of the form 'left right'; the vocabulary is malformed, re-convert the model");
            }
            String left = line.substring(0, sp);
            String right = line.substring(sp + 1);
            long l = symbol.apply(left);
            long r = symbol.apply(right);
            long merged = symbol.apply(left + right);
            merges.putIfAbsent((l << 32) | r, ((long) rank << 32) | merged); // first (lowest) rank wins
        }
        extraSymbolBytes = new byte[extraTexts.size()][];
        for (int i = 0; i < extraTexts.size(); i++) {
            extraSymbolBytes[i] = ByteLevel.decode(extraTexts.get(i));
        }
    }

    public PreTokenizer preTokenizer() {
        return preTokenizer;
    }

    @Override
    byte[] piece(int token) {
        return ByteLevel.decode(vocab.tokens[token]);
    }

    @Override
    void encodeText(String fragment, boolean afterSpecial, IntList out) {
        int[] bounds = preTokenizer.bounds(fragment);
        Work w = new Work();
        Map<String, int[]> cache = new HashMap<>(); // repeated pieces of this text
        for (int i = 0; i < bounds.length; i += 2) {
            String piece = fragment.substring(bounds[i], bounds[i + 1]);
            int[] ids = cache.get(piece);
            if (ids == null) {
                int before = out.size();
                encodePiece(piece, w, out);
                if (cache.size() >= SentencePieceTokenizer.CACHE_LIMIT) {
                    cache.clear();
                }
                cache.put(piece, out.copyRange(before, out.size()));
            } else {
                out.addAll(ids);
            }
        }
    }

    /** Scratch arrays reused across the pieces of one call. */
    private static final class Work {
        int[] sym = new int[64];
        int[] prev = new int[64];
        int[] next = new int[64];
        final LongHeap queue = new LongHeap(64);

        void ensure(int n) {
            if (sym.length < n) {
                int c = Math.max(n, sym.length * 2);
                sym = new int[c];
                prev = new int[c];
                next = new int[c];
            }
        }
    }

    private void encodePiece(String piece, Work w, IntList out) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        int count = bytes.length;
        if (count == 0) {
            return;
        }
        if (count > 1 && preTokenizer.ignoreMerges()) {
            Integer whole = vocab.tokenToId.get(ByteLevel.encode(bytes));
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        w.ensure(count);
        int[] sym = w.sym;
        int[] prev = w.prev;
        int[] next = w.next;
        for (int i = 0; i < count; i++) {
            sym[i] = byteSymbols[bytes[i] & 0xFF];
            prev[i] = i - 1;
            next[i] = i + 1 == count ? -1 : i + 1;
        }
        LongHeap queue = w.queue;
        queue.clear();
        for (int i = 1; i < count; i++) {
            addBigram(sym, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            long key = queue.topKey();
            int left = (int) key;
            int right = queue.topA();
            queue.pop();
            // stale when either side has been merged since the pair was queued: a rank names one pair
            if (sym[left] < 0 || sym[right] < 0 || next[left] != right) {
                continue;
            }
            long m = merges.get(((long) sym[left] << 32) | sym[right], NO_MERGE);
            if (m == NO_MERGE || (m >>> 32) != (key >>> 32)) {
                continue;
            }
            sym[left] = (int) m;
            sym[right] = -1;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            if (prev[left] >= 0) {
                addBigram(sym, prev[left], left, queue);
            }
            if (next[left] >= 0) {
                addBigram(sym, left, next[left], queue);
            }
        }
        int n = vocab.size();
        for (int i = 0; i != -1; i = next[i]) {
            int s = sym[i];
            if (s < n) {
                out.add(s);
            } else {
                for (byte b : extraSymbolBytes[s - n]) {
                    int t = byteTokens[b & 0xFF];
                    if (t >= 0) {
                        out.add(t);
                    }
                }
            }
        }
    }

    private void addBigram(int[] sym, int left, int right, LongHeap queue) {
        long m = merges.get(((long) sym[left] << 32) | sym[right], NO_MERGE);
        if (m == NO_MERGE) {
            return;
        }
        long rank = m >>> 32;
        queue.push((rank << 32) | left, right, 0); // lowest rank first, then leftmost
    }
}
