package io.offload4j.engine.grammar;

import java.util.Arrays;

/**
 * Follows one reply through a {@link Grammar} and says, before each token, which tokens of the vocabulary may
 * come next: the logits mask of constrained decoding. One per sequence; confined to the engine thread.
 *
 * <h2>How</h2>
 * The grammar is run as a nondeterministic pushdown automaton over bytes. A <em>stack</em> is a linked list of
 * nodes in an arena of int arrays: the top node is the next element to match (a byte class, or a JSON string
 * body with its {@link JsonStringBytes} state), the nodes below are where to continue once the rule under way
 * completes. The matcher's state is the set of stacks that are still alive (usually one or two; a grammar
 * with overlapping alternatives, such as two tools whose names share a prefix, has more until the bytes decide).
 *
 * <p>The mask walks the vocabulary's byte tries ({@link GrammarVocabulary}) depth first, advancing the state
 * by one byte per trie edge, so that tokens sharing a prefix share the work, and a subtree is skipped as soon as
 * its first byte is refused (in the middle of JSON structure almost the whole vocabulary is skipped at the
 * root). Inside a free JSON string, where most tokens are allowed, the plain tokens are allowed as one bit set
 * and only the other tokens are walked. Nodes made during the walk are dropped when it returns: the walk does
 * not allocate.
 *
 * <h2>Always complete</h2>
 * Every node carries the fewest bytes that complete its stack ({@link Grammar#restCost} summed down the stack).
 * A token is allowed only if, after it, the reply can still be completed with the tokens left (a byte per token
 * at worst: byte-level BPE has a token for every byte, SentencePiece its {@code <0xNN>} tokens), so when
 * {@code maxTokens} runs out the grammar is complete: an open JSON value is closed by the shortest path the
 * grammar allows, never truncated. End-of-generation tokens are allowed once the grammar is complete.
 */
public final class GrammarMatcher {

    /** A stack that has matched the whole grammar. */
    private static final int ACCEPT = -1;
    private static final int MAX_STACKS = 256;
    private static final int MAX_EXPANSION_DEPTH = 10_000;
    private static final int UNLIMITED = Integer.MAX_VALUE / 4;

    private final Grammar g;
    private final GrammarVocabulary vocab;
    private final int[] controlTokens;
    private final byte[][] controlBytes;
    private final long[] mask;

    // the node arena, and a second one that the live state is compacted into after each token
    private int[] pos;
    private int[] sub;
    private int[] next;
    private int[] cost;
    private int nodeCount;
    private int[] sparePos = new int[0];
    private int[] spareSub = new int[0];
    private int[] spareNext = new int[0];
    private int[] spareCost = new int[0];
    private int[] remap = new int[0];
    private int copied;

    // the live state: its stacks (top node ids, or ACCEPT)
    private int[] state = new int[MAX_STACKS];
    private int stateSize;

    // the depth-first walk's states, one per byte of the token being walked
    private final int[][] levels;
    private final int[] levelSize;
    private final long[] levelBytes;
    private int budget;
    /** In shortest-path mode, the shortest completion before the token; else -1. */
    private int shortestPathFrom = -1;
    private boolean finished;

    /**
     * @param grammar the grammar the reply must match
     * @param vocab   the model's vocabulary
     * @throws IllegalArgumentException when the grammar names a control token the vocabulary lacks
     */
    public GrammarMatcher(Grammar grammar, GrammarVocabulary vocab) {
        this.g = grammar;
        this.vocab = vocab;
        this.mask = new long[(vocab.size + 63) >>> 6];
        int levelsNeeded = vocab.maxTokenBytes + 2;
        for (String text : grammar.controlTexts) {
            levelsNeeded = Math.max(levelsNeeded, text.length() * 4 + 2);
        }
        this.levels = new int[levelsNeeded][MAX_STACKS];
        this.levelSize = new int[levelsNeeded];
        this.levelBytes = new long[levelsNeeded * 4];
        int capacity = 1024;
        this.pos = new int[capacity];
        this.sub = new int[capacity];
        this.next = new int[capacity];
        this.cost = new int[capacity];
        int[] ids = new int[grammar.controlTexts.size()];
        byte[][] bytes = new byte[ids.length][];
        int n = 0;
        for (String text : grammar.controlTexts) {
            int id = vocab.tokenizer.tokenId(text);
            if (id >= 0 && vocab.tokenizer.isControl(id)) {
                ids[n] = id;
                bytes[n++] = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            } // a marker that is ordinary text in this vocabulary is matched through the tries
        }
        this.controlTokens = Arrays.copyOf(ids, n);
        this.controlBytes = Arrays.copyOf(bytes, n);
        levelSize[0] = 0;
        expand(g.alternatives[g.root], 0);
        commitLevel(0);
    }

    /** True once an end-of-generation token was accepted. */
    public boolean isFinished() {
        return finished;
    }

    /** True when the text so far is a complete sentence of the grammar (end of generation is allowed). */
    public boolean isComplete() {
        for (int i = 0; i < stateSize; i++) {
            if (state[i] == ACCEPT) {
                return true;
            }
        }
        return false;
    }

    /** The fewest bytes that complete the text so far. */
    public int minCompletionBytes() {
        int best = UNLIMITED;
        for (int i = 0; i < stateSize; i++) {
            best = Math.min(best, state[i] == ACCEPT ? 0 : cost[state[i]]);
        }
        return best;
    }

    /**
     * Computes which tokens may come next, given that at most {@code tokensLeft} tokens (this one included) may
     * still be generated, and sets the logits of all others to negative infinity.
     *
     * @throws IllegalStateException when no token of the vocabulary can continue the grammar
     */
    public void mask(float[] logits, int tokensLeft) {
        computeMask(tokensLeft);
        long[] m = mask;
        int size = vocab.size;
        for (int w = 0; w < m.length; w++) {
            long refused = ~m[w];
            while (refused != 0) {
                int t = (w << 6) + Long.numberOfTrailingZeros(refused);
                if (t >= size) {
                    break;
                }
                logits[t] = Float.NEGATIVE_INFINITY;
                refused &= refused - 1;
            }
        }
        for (int t = size; t < logits.length; t++) {
            logits[t] = Float.NEGATIVE_INFINITY;
        }
    }

    /** Whether the last computed mask allows {@code token}. */
    public boolean allowed(int token) {
        return (mask[token >>> 6] & (1L << (token & 63))) != 0;
    }

    /** Fills the mask (see {@link #mask}); separate for measurements and tests. */
    public void computeMask(int tokensLeft) {
        if (finished) {
            throw new IllegalStateException("the reply has ended; nothing may follow the end-of-generation token");
        }
        fillMask(Math.max(0, tokensLeft - 1), false);
        if (isEmpty(mask)) {
            // Too few tokens are left for the shortest completion at one byte per token: the only hope is that
            // longer tokens close it in time, so allow exactly the tokens that advance along a shortest path.
            fillMask(UNLIMITED, true);
        }
        if (isEmpty(mask)) {
            fillMask(UNLIMITED, false); // the vocabulary cannot follow a shortest path: stay within the grammar
        }
        if (isEmpty(mask)) {
            throw new IllegalStateException("no token of the vocabulary can continue the " + g.rootName()
                    + " grammar here; the vocabulary lacks tokens for the bytes it needs next");
        }
    }

    /**
     * Advances past a generated token.
     *
     * @throws IllegalStateException when the grammar does not allow the token here
     */
    public void accept(int token) {
        if (finished) {
            throw new IllegalStateException("the reply has ended; nothing may follow the end-of-generation token");
        }
        if (isEndOfGeneration(token)) {
            if (!isComplete()) {
                throw new IllegalStateException("end of generation (token " + token + ") before the " + g.rootName()
                        + " grammar is complete");
            }
            finished = true;
            return;
        }
        byte[] bytes = bytesOf(token);
        if (bytes == null || bytes.length == 0 || !advanceAll(bytes)) {
            throw new IllegalStateException("token " + token + " is not allowed by the " + g.rootName()
                    + " grammar here");
        }
        commitLevel(bytes.length);
    }

    /**
     * Advances past some text (for tests and for text forced into the reply). Returns false if the grammar
     * refuses it; the matcher is then at an unspecified point of the text and should not be used further.
     */
    public boolean acceptBytes(byte[] bytes) {
        if (finished) {
            return false;
        }
        int chunk = levels.length - 1;
        for (int from = 0; from < bytes.length; from += chunk) {
            int n = Math.min(chunk, bytes.length - from);
            if (!advanceAll(bytes, from, n)) {
                return false;
            }
            commitLevel(n);
        }
        return true;
    }

    private boolean advanceAll(byte[] bytes) {
        return advanceAll(bytes, 0, bytes.length);
    }

    private boolean advanceAll(byte[] bytes, int from, int n) {
        loadState();
        for (int i = 0; i < n; i++) {
            advance(i, bytes[from + i] & 0xFF);
            if (levelSize[i + 1] == 0) {
                return false;
            }
        }
        return true;
    }

    private byte[] bytesOf(int token) {
        for (int i = 0; i < controlTokens.length; i++) {
            if (controlTokens[i] == token) {
                return controlBytes[i];
            }
        }
        if (vocab.tokenizer.isControl(token)) {
            return null;
        }
        return vocab.bytes[token];
    }

    private boolean isEndOfGeneration(int token) {
        for (int t : vocab.endOfGeneration) {
            if (t == token) {
                return true;
            }
        }
        return false;
    }

    /**
     * @param budget       most bytes the completion may need after the token
     * @param shortestPath allow only tokens after which the shortest completion is shorter by the token's length
     */
    private void fillMask(int budget, boolean shortestPath) {
        Arrays.fill(mask, 0);
        this.budget = budget;
        int mark = nodeCount;
        loadState();
        this.shortestPathFrom = shortestPath ? minCost(0) : -1;
        if (isComplete()) {
            for (int t : vocab.endOfGeneration) {
                mask[t >>> 6] |= 1L << (t & 63);
            }
        }
        if (!shortestPath && hasFreeStringWithin(budget)) {
            long[] plain = vocab.plainBits;
            for (int w = 0; w < plain.length; w++) {
                mask[w] |= plain[w];
            }
        } else {
            walk(vocab.plain, 0, 0);
        }
        walk(vocab.other, 0, 0);
        for (int i = 0; i < controlTokens.length; i++) {
            byte[] b = controlBytes[i];
            boolean ok = true;
            for (int k = 0; k < b.length && ok; k++) {
                advance(k, b[k] & 0xFF);
                ok = levelSize[k + 1] > 0;
            }
            if (ok && fits(b.length)) {
                int t = controlTokens[i];
                mask[t >>> 6] |= 1L << (t & 63);
            }
        }
        nodeCount = mark;
    }

    /** A stack inside a free JSON string between characters: every plain token keeps it where it is. */
    private boolean hasFreeStringWithin(int budget) {
        for (int i = 0; i < levelSize[0]; i++) {
            int t = levels[0][i];
            if (t != ACCEPT && g.kind[pos[t]] == Grammar.STRING_BODY && sub[t] == JsonStringBytes.BETWEEN
                    && cost[t] <= budget) {
                return true;
            }
        }
        return false;
    }

    private void walk(GrammarVocabulary.Trie trie, int node, int level) {
        long[] bytes = levelBytes;
        int base = level * 4;
        bytes[base] = bytes[base + 1] = bytes[base + 2] = bytes[base + 3] = 0;
        int[] tops = levels[level];
        for (int i = 0; i < levelSize[level]; i++) {
            int t = tops[i];
            if (t == ACCEPT) {
                continue;
            }
            int p = pos[t];
            if (g.kind[p] == Grammar.CLASS) {
                int c = g.arg[p] * 4;
                bytes[base] |= g.classBits[c];
                bytes[base + 1] |= g.classBits[c + 1];
                bytes[base + 2] |= g.classBits[c + 2];
                bytes[base + 3] |= g.classBits[c + 3];
            } else {
                JsonStringBytes.addAllowedBytes(sub[t], bytes, base);
            }
        }
        int from = trie.firstChild[node];
        int to = from + trie.childCount[node];
        for (int c = from; c < to; c++) {
            int b = trie.edge[c] & 0xFF;
            if ((bytes[base + (b >>> 6)] & (1L << (b & 63))) == 0) {
                continue;
            }
            int mark = nodeCount;
            advance(level, b);
            if (levelSize[level + 1] > 0) {
                int tokensFrom = trie.tokenFrom[c];
                int tokensEnd = trie.tokenEnd[c];
                if (tokensEnd > tokensFrom && fits(level + 1)) {
                    for (int k = tokensFrom; k < tokensEnd; k++) {
                        int t = trie.tokens[k];
                        mask[t >>> 6] |= 1L << (t & 63);
                    }
                }
                if (trie.childCount[c] > 0) {
                    walk(trie, c, level + 1);
                }
            }
            nodeCount = mark;
        }
    }

    /** Whether a token of {@code length} bytes, which led to walk level {@code length}, keeps the reply completable. */
    private boolean fits(int length) {
        int after = minCost(length);
        return shortestPathFrom >= 0 ? after + length <= shortestPathFrom : after <= budget;
    }

    private int minCost(int level) {
        int best = UNLIMITED;
        int[] tops = levels[level];
        for (int i = 0; i < levelSize[level]; i++) {
            int t = tops[i];
            best = Math.min(best, t == ACCEPT ? 0 : cost[t]);
        }
        return best;
    }

    /** Level {@code level + 1} := the stacks of level {@code level} advanced by byte {@code b}. */
    private void advance(int level, int b) {
        levelSize[level + 1] = 0;
        int[] tops = levels[level];
        int n = levelSize[level];
        for (int i = 0; i < n; i++) {
            int t = tops[i];
            if (t == ACCEPT) {
                continue;
            }
            int p = pos[t];
            if (g.kind[p] == Grammar.CLASS) {
                if (g.classBytes[g.arg[p] * 256 + b]) {
                    expandAt(p + 1, 0, next[t], level + 1);
                }
            } else { // STRING_BODY
                int s = JsonStringBytes.next(sub[t], b);
                if (s == JsonStringBytes.BETWEEN) {
                    expandAt(p, 0, next[t], level + 1);
                } else if (s > 0) {
                    addTop(p, s, next[t], level + 1);
                }
            }
        }
    }

    private void expand(int[] alternatives, int level) {
        for (int start : alternatives) {
            expandAt(start, 0, ACCEPT, level);
        }
    }

    /**
     * Adds to {@code level} the stacks that continue at position {@code p} (string state {@code s}) with
     * {@code rest} below: rule references are replaced by their alternatives and completed alternatives
     * return to the node below, until every top is a byte class or a string body.
     */
    private void expandAt(int p, int s, int rest, int level) {
        expandAt(p, s, rest, level, 0);
    }

    private void expandAt(int p, int s, int rest, int level, int depth) {
        if (depth > MAX_EXPANSION_DEPTH) {
            throw new IllegalStateException("the " + g.rootName() + " grammar expands without end at element " + p);
        }
        switch (g.kind[p]) {
            case Grammar.END -> {
                if (rest == ACCEPT) {
                    addAccept(level);
                } else {
                    expandAt(pos[rest], sub[rest], next[rest], level, depth + 1);
                }
            }
            case Grammar.CLASS -> addTop(p, 0, rest, level);
            case Grammar.STRING_BODY -> {
                addTop(p, s, rest, level);
                if (s == JsonStringBytes.BETWEEN) {
                    expandAt(p + 1, 0, rest, level, depth + 1); // the body may end here
                }
            }
            default -> { // RULE
                int continuation = g.kind[p + 1] == Grammar.END ? rest : newNode(p + 1, 0, rest);
                for (int start : g.alternatives[g.arg[p]]) {
                    expandAt(start, 0, continuation, level, depth + 1);
                }
            }
        }
    }

    private void addAccept(int level) {
        int[] tops = levels[level];
        for (int i = 0; i < levelSize[level]; i++) {
            if (tops[i] == ACCEPT) {
                return;
            }
        }
        push(level, ACCEPT);
    }

    private void addTop(int p, int s, int rest, int level) {
        int[] tops = levels[level];
        for (int i = 0; i < levelSize[level]; i++) {
            int t = tops[i];
            if (t != ACCEPT && pos[t] == p && sub[t] == s && next[t] == rest) {
                return;
            }
        }
        push(level, newNode(p, s, rest));
    }

    private void push(int level, int node) {
        int n = levelSize[level];
        if (n == MAX_STACKS) {
            throw new IllegalStateException("the " + g.rootName() + " grammar is too ambiguous: more than "
                    + MAX_STACKS + " parses are alive at once; make its alternatives differ earlier");
        }
        levels[level][n] = node;
        levelSize[level] = n + 1;
    }

    private int newNode(int p, int s, int rest) {
        if (nodeCount == pos.length) {
            int capacity = pos.length * 2;
            pos = Arrays.copyOf(pos, capacity);
            sub = Arrays.copyOf(sub, capacity);
            next = Arrays.copyOf(next, capacity);
            cost = Arrays.copyOf(cost, capacity);
        }
        int n = nodeCount++;
        pos[n] = p;
        sub[n] = s;
        next[n] = rest;
        int own = g.restCost[p] + (g.kind[p] == Grammar.STRING_BODY ? JsonStringBytes.cost(s) : 0);
        cost[n] = (int) Math.min(UNLIMITED, (long) own + (rest == ACCEPT ? 0 : cost[rest]));
        return n;
    }

    /** Level 0 := the live state. */
    private void loadState() {
        System.arraycopy(state, 0, levels[0], 0, stateSize);
        levelSize[0] = stateSize;
    }

    /**
     * The live state := the stacks of {@code level}, copied (tails shared as before) into the second arena, which
     * then becomes the arena: everything else made since the last token is dropped at once.
     */
    private void commitLevel(int level) {
        int used = nodeCount;
        if (remap.length < used) {
            remap = new int[Math.max(used, remap.length * 2)];
        }
        Arrays.fill(remap, 0, used, -2); // old node id -> new id; -2: not copied yet
        if (sparePos.length < pos.length) {
            sparePos = new int[pos.length];
            spareSub = new int[pos.length];
            spareNext = new int[pos.length];
            spareCost = new int[pos.length];
        }
        copied = 0;
        int n = levelSize[level];
        int[] tops = levels[level];
        for (int i = 0; i < n; i++) {
            state[i] = copy(tops[i]);
        }
        stateSize = n;
        int[] t;
        t = pos; pos = sparePos; sparePos = t;
        t = sub; sub = spareSub; spareSub = t;
        t = next; next = spareNext; spareNext = t;
        t = cost; cost = spareCost; spareCost = t;
        nodeCount = copied;
    }

    private int copy(int node) {
        if (node == ACCEPT) {
            return ACCEPT;
        }
        if (remap[node] != -2) {
            return remap[node];
        }
        int rest = copy(next[node]);
        int id = copied++;
        sparePos[id] = pos[node];
        spareSub[id] = sub[node];
        spareNext[id] = rest;
        spareCost[id] = cost[node]; // the same stack below, so the same cost
        remap[node] = id;
        return id;
    }

    private static boolean isEmpty(long[] bits) {
        for (long w : bits) {
            if (w != 0) {
                return false;
            }
        }
        return true;
    }
}
