package io.offload4j.engine.grammar;

import java.util.List;

/**
 * A compiled byte-level context-free grammar (built by {@link GrammarBuilder}); immutable and shared by every
 * sequence that uses it. The alternatives of all rules are laid out in one array of <em>elements</em>; a position
 * {@code p} is an element: {@link #CLASS} (one byte of a class), {@link #RULE} (a reference), {@link #STRING_BODY}
 * (see {@link GrammarBuilder.StringBody}) or {@link #END} (the alternative is complete).
 *
 * <p>For the shortest-completion logic it also knows, for every position, the fewest bytes that complete the
 * alternative from there ({@link #restCost}): a {@link GrammarMatcher} adds these up along a stack to learn how
 * many bytes (so at most how many tokens) are still needed to close the value it is writing.
 */
public final class Grammar {

    static final int END = 0;
    static final int CLASS = 1;
    static final int RULE = 2;
    static final int STRING_BODY = 3;

    private static final int INFINITE = Integer.MAX_VALUE / 4;

    final int[] kind;
    final int[] arg;
    /** {@code classBytes[c * 256 + b]}: byte {@code b} is in class {@code c}. */
    final boolean[] classBytes;
    /** The 4 words of 64 bits of each class, for the set of bytes a state can accept next. */
    final long[] classBits;
    final int[][] alternatives;
    final String[] ruleNames;
    final int root;
    final int[] ruleMinLength;
    final int[] restCost;
    final List<String> controlTexts;

    Grammar(int[] kind, int[] arg, boolean[][] classes, int[][] alternatives, String[] ruleNames, int root,
            List<String> controlTexts) {
        this.kind = kind;
        this.arg = arg;
        this.alternatives = alternatives;
        this.ruleNames = ruleNames;
        this.root = root;
        this.controlTexts = controlTexts;
        this.classBytes = new boolean[classes.length * 256];
        this.classBits = new long[classes.length * 4];
        for (int c = 0; c < classes.length; c++) {
            for (int b = 0; b < 256; b++) {
                if (classes[c][b]) {
                    classBytes[c * 256 + b] = true;
                    classBits[c * 4 + (b >>> 6)] |= 1L << (b & 63);
                }
            }
        }
        this.ruleMinLength = minLengths();
        for (int r = 0; r < ruleMinLength.length; r++) {
            if (ruleMinLength[r] >= INFINITE) {
                throw new IllegalArgumentException("grammar rule '" + ruleNames[r] + "' derives no finite text: every"
                        + " alternative refers back to it; give it an alternative that ends");
            }
        }
        this.restCost = new int[kind.length];
        for (int p = kind.length - 1; p >= 0; p--) {
            restCost[p] = kind[p] == END ? 0 : elementMinLength(p) + restCost[p + 1];
        }
        rejectLeftRecursion();
    }

    /** The start rule. */
    public String rootName() {
        return ruleNames[root];
    }

    /** Texts of the control tokens this grammar may produce (see {@link GrammarBuilder#allowControlToken}). */
    public List<String> controlTexts() {
        return controlTexts;
    }

    /** The fewest bytes of any text the grammar accepts. */
    public int minLength() {
        return ruleMinLength[root];
    }

    private int elementMinLength(int p) {
        return switch (kind[p]) {
            case CLASS -> 1;
            case RULE -> ruleMinLength[arg[p]];
            default -> 0;
        };
    }

    private int[] minLengths() {
        int[] min = new int[alternatives.length];
        java.util.Arrays.fill(min, INFINITE);
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < alternatives.length; r++) {
                for (int start : alternatives[r]) {
                    long sum = 0;
                    for (int p = start; kind[p] != END; p++) {
                        sum += switch (kind[p]) {
                            case CLASS -> 1;
                            case RULE -> min[arg[p]];
                            default -> 0;
                        };
                    }
                    if (sum < min[r]) {
                        min[r] = (int) sum;
                        changed = true;
                    }
                }
            }
        }
        return min;
    }

    /** Left recursion would make the matcher expand a rule forever: refused here, with the rules involved. */
    private void rejectLeftRecursion() {
        int n = alternatives.length;
        boolean[] nullable = new boolean[n];
        for (int r = 0; r < n; r++) {
            nullable[r] = ruleMinLength[r] == 0;
        }
        // state: 0 unvisited, 1 on the current path, 2 done
        int[] state = new int[n];
        for (int r = 0; r < n; r++) {
            if (state[r] == 0) {
                visitLeftCorners(r, nullable, state, new java.util.ArrayDeque<>());
            }
        }
    }

    private void visitLeftCorners(int r, boolean[] nullable, int[] state, java.util.ArrayDeque<String> path) {
        state[r] = 1;
        path.addLast(ruleNames[r]);
        for (int start : alternatives[r]) {
            for (int p = start; kind[p] != END; p++) {
                if (kind[p] == RULE) {
                    int s = arg[p];
                    if (state[s] == 1) {
                        throw new IllegalArgumentException("grammar rule '" + ruleNames[s] + "' is left-recursive ("
                                + String.join(" -> ", path) + " -> " + ruleNames[s] + "); write the repetition with"
                                + " right recursion");
                    }
                    if (state[s] == 0) {
                        visitLeftCorners(s, nullable, state, path);
                    }
                    if (!nullable[s]) {
                        break;
                    }
                } else if (kind[p] == CLASS) {
                    break;
                }
            }
        }
        path.removeLast();
        state[r] = 2;
    }
}
