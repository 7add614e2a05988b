package io.offload4j.engine;

import io.offload4j.backend.KvCache;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Prompt prefixes shared between requests (a RAG app's system prompt and instructions, the same document asked about
 * by several users): before a sequence's next prompt chunk, when another running sequence, or a finished one the
 * {@link PrefixCache} keeps, has already computed more of its prompt than it has, those keys and values are copied
 * from that sequence's KV cache ({@link KvCache#copyPrefix}) instead of computed again. The prefix cache hands a kept
 * cache over whole to a prompt that continues its conversation ({@link PrefixCache#take}); a prompt that shares less
 * with it (too little to be worth destroying it) copies the shared part and leaves it kept
 * ({@link PrefixCache#lend}).
 *
 * <p>Requests that arrive together are prefilled first come, first served ({@link Scheduler}), so the first computes
 * the shared part in its first chunk and each later one copies it before its own first chunk. The copy holds the
 * same values as computing them (the same tokens at the same positions), up to the rounding differences between
 * chunk shapes. The last prompt token is always computed: it yields the first logits.
 *
 * <p>Each sequence still holds its own copy: this saves compute (time to first token), not memory.
 * Confined to the scheduler thread; the loop allocates nothing.
 */
final class LivePrefixCopy {

    /** Fewer shared tokens than this are computed rather than copied (a BOS token and a role header). */
    static final int MIN_TOKENS = 16;

    private final PrefixCache kept;
    private final AtomicLong copiedTokens = new AtomicLong();

    /**
     * @param kept the prefix cache: a lender too, and the judge of whether a sliding-window ring still holds a prefix
     */
    LivePrefixCopy(PrefixCache kept) {
        this.kept = kept;
    }

    /**
     * Copies into {@code s} (in prefill) the longest prefix of its prompt that another sequence of {@code running}, or
     * a kept one, has computed, when that is at least {@link #MIN_TOKENS} more than {@code s} has and the caches can
     * copy.
     */
    void before(Sequence s, List<Sequence> running) {
        int[] prompt = s.prompt();
        int have = s.prefilledTokens();
        KvCache target = s.cache();
        KvCache lender = null;
        int best = have + MIN_TOKENS - 1;
        for (int i = 0; i < running.size(); i++) {
            Sequence d = running.get(i);
            KvCache source = d.cache();
            int computed = d.cachedLength();
            if (d == s || source == null || computed <= best) {
                continue;
            }
            int shared = PrefixCache.commonPrefix(d.history(), prompt, Math.min(computed, prompt.length - 1));
            if (shared > best && kept.holdsPrefix(source, computed, shared) && target.canCopyPrefix(source)) {
                lender = source;
                best = shared;
            }
        }
        PrefixCache.Reuse finished = kept.lend(prompt, best, target);
        if (finished != null) {
            lender = finished.cache();
            best = finished.length();
        }
        if (lender != null) {
            target.copyPrefix(lender, best);
            s.prefixCopied(best);
            copiedTokens.addAndGet(best - have);
        }
    }

    /** Prompt tokens copied from other sequences instead of computed, in total. */
    long copiedTokens() {
        return copiedTokens.get();
    }
}
