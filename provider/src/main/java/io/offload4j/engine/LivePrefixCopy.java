package io.offload4j.engine;

import io.offload4j.backend.KvCache;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Prompt prefixes shared by sequences that run at the same time (a RAG app's system prompt and instructions, the
 * same document asked about by several users): before a sequence's next prompt chunk, when another running sequence
 * has already computed more of its prompt than it has, those keys and values are copied from that sequence's KV
 * cache ({@link KvCache#copyPrefix}) instead of computed again. The {@link PrefixCache} serves prompts that continue
 * a <em>finished</em> sequence; this serves the ones that start like a live one.
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

    private final int draftRows;
    private final AtomicLong copiedTokens = new AtomicLong();

    /**
     * @param draftRows rows a sequence may have written past its cached tokens (with speculative decoding, its last
     *                  verification's rejected drafts): a sliding-window ring must still hold the window before the
     *                  copied prefix after those too
     */
    LivePrefixCopy(int draftRows) {
        this.draftRows = draftRows;
    }

    /**
     * Copies into {@code s} (in prefill) the longest prefix of its prompt that another sequence of {@code running}
     * has computed, when that is at least {@link #MIN_TOKENS} more than {@code s} has and the caches can copy.
     */
    void before(Sequence s, List<Sequence> running) {
        int[] prompt = s.prompt();
        int have = s.prefilledTokens();
        KvCache target = s.cache();
        Sequence donor = null;
        int best = have + MIN_TOKENS - 1;
        for (int i = 0; i < running.size(); i++) {
            Sequence d = running.get(i);
            KvCache source = d.cache();
            int computed = d.cachedLength();
            if (d == s || source == null || computed <= best) {
                continue;
            }
            int shared = PrefixCache.commonPrefix(d.history(), prompt, Math.min(computed, prompt.length - 1));
            if (shared > best && (long) computed - shared + draftRows <= source.maxRewind()
                    && target.canCopyPrefix(source)) {
                donor = d;
                best = shared;
            }
        }
        if (donor != null) {
            target.copyPrefix(donor.cache(), best);
            s.prefixCopied(best);
            copiedTokens.addAndGet(best - have);
        }
    }

    /** Prompt tokens copied from other sequences instead of computed, in total. */
    long copiedTokens() {
        return copiedTokens.get();
    }
}
