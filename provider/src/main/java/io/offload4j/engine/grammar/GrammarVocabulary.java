package io.offload4j.engine.grammar;

import io.offload4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A model's vocabulary as the grammar matcher sees it: every token as the bytes it adds to the reply
 * ({@link Tokenizer#tokenBytes}, which already maps byte-level BPE's GPT-2 characters and SentencePiece's
 * {@code ▁} and {@code <0xNN>} pieces back to bytes), arranged in two byte tries:
 * <ul>
 *   <li>the <em>plain</em> tokens: whole UTF-8 characters with no quote, backslash or control character, which
 *       any free JSON string accepts as they are (kept also as a bit set, so a string state allows them all at
 *       once, see {@link GrammarMatcher});</li>
 *   <li>all other tokens that write text.</li>
 * </ul>
 * Control tokens (they write nothing into the reply) are in neither: end-of-generation tokens are allowed when
 * the grammar is complete, the others only where a grammar names their text. Built once per tokenizer and
 * shared; immutable.
 */
public final class GrammarVocabulary {

    private static final Map<Tokenizer, GrammarVocabulary> CACHE = new WeakHashMap<>();

    final int size;
    final Trie plain;
    final Trie other;
    /** Bit {@code t} set: token {@code t} is plain. */
    final long[] plainBits;
    final int[] endOfGeneration;
    /** The bytes each token writes; null for control tokens, which write none. */
    final byte[][] bytes;
    final int maxTokenBytes;
    final Tokenizer tokenizer;

    private GrammarVocabulary(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        this.size = tokenizer.vocabularySize();
        this.plainBits = new long[(size + 63) >>> 6];
        List<Integer> eog = new ArrayList<>();
        List<byte[]> plainBytes = new ArrayList<>();
        List<Integer> plainIds = new ArrayList<>();
        List<byte[]> otherBytes = new ArrayList<>();
        List<Integer> otherIds = new ArrayList<>();
        int longest = 0;
        this.bytes = new byte[size][];
        for (int t = 0; t < size; t++) {
            if (tokenizer.isEndOfGeneration(t)) {
                eog.add(t);
                continue;
            }
            if (tokenizer.isControl(t)) {
                continue;
            }
            byte[] bytes = tokenizer.tokenBytes(t);
            this.bytes[t] = bytes;
            if (bytes.length == 0) {
                continue; // writes nothing: it would let a reply grow without end
            }
            longest = Math.max(longest, bytes.length);
            if (JsonStringBytes.isPlain(bytes)) {
                plainBits[t >>> 6] |= 1L << (t & 63);
                plainBytes.add(bytes);
                plainIds.add(t);
            } else {
                otherBytes.add(bytes);
                otherIds.add(t);
            }
        }
        this.endOfGeneration = eog.stream().mapToInt(Integer::intValue).toArray();
        this.maxTokenBytes = longest;
        this.plain = new Trie(plainBytes, plainIds);
        this.other = new Trie(otherBytes, otherIds);
    }

    /** The vocabulary of {@code tokenizer}, built on first use (a 150k vocabulary takes a fraction of a second). */
    public static GrammarVocabulary of(Tokenizer tokenizer) {
        synchronized (CACHE) {
            return CACHE.computeIfAbsent(tokenizer, GrammarVocabulary::new);
        }
    }

    public int size() {
        return size;
    }

    /**
     * A byte trie of token texts. Node 0 is the root; the children of node {@code n} are the nodes
     * {@code firstChild[n] .. firstChild[n] + childCount[n] - 1}, in byte order, each entered by {@code edge[child]};
     * the tokens whose bytes end at node {@code n} are {@code tokens[tokenFrom[n] .. tokenEnd[n])}.
     */
    static final class Trie {
        final int[] firstChild;
        final int[] childCount;
        final byte[] edge;
        final int[] tokenFrom;
        final int[] tokenEnd;
        final int[] tokens;
        private int nodes;
        private int tokenCount;

        Trie(List<byte[]> bytes, List<Integer> ids) {
            Integer[] order = new Integer[bytes.size()];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(bytes.get(a), bytes.get(b)));
            byte[][] sorted = new byte[order.length][];
            int[] sortedIds = new int[order.length];
            for (int i = 0; i < order.length; i++) {
                sorted[i] = bytes.get(order[i]);
                sortedIds[i] = ids.get(order[i]);
            }
            int capacity = 1;
            for (byte[] b : sorted) {
                capacity += b.length; // an upper bound on the node count
            }
            firstChild = new int[capacity];
            childCount = new int[capacity];
            edge = new byte[capacity];
            tokenFrom = new int[capacity];
            tokenEnd = new int[capacity];
            tokens = new int[sorted.length];
            nodes = 1;
            build(0, sorted, sortedIds, 0, sorted.length, 0);
        }

        /** Lays out node {@code node} for the sorted tokens {@code [lo, hi)} sharing their first {@code depth} bytes. */
        private void build(int node, byte[][] sorted, int[] ids, int lo, int hi, int depth) {
            tokenFrom[node] = tokenCount;
            int i = lo;
            while (i < hi && sorted[i].length == depth) {
                tokens[tokenCount++] = ids[i++];
            }
            tokenEnd[node] = tokenCount;
            // count the groups by next byte, reserve contiguous child ids, then fill each child
            int groups = 0;
            for (int j = i; j < hi; ) {
                int k = j;
                while (k < hi && sorted[k][depth] == sorted[j][depth]) {
                    k++;
                }
                groups++;
                j = k;
            }
            int first = nodes;
            nodes += groups;
            firstChild[node] = first;
            childCount[node] = groups;
            int child = first;
            for (int j = i; j < hi; ) {
                int k = j;
                while (k < hi && sorted[k][depth] == sorted[j][depth]) {
                    k++;
                }
                edge[child] = sorted[j][depth];
                build(child, sorted, ids, j, k, depth + 1);
                child++;
                j = k;
            }
        }

        int nodeCount() {
            return nodes;
        }
    }
}
