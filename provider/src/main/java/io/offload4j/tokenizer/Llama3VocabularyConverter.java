package io.offload4j.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Builds the Llama 3 / 3.1 / 3.2 vocabulary from Meta's tiktoken file ({@code tokenizer.model}: one
 * {@code base64-bytes rank} per line) the way Hugging Face converts tiktoken files: each token's bytes
 * become byte-level text, and every split of a token into two tokens becomes a merge, merges ordered by
 * the rank of the token they make (ties: by the ranks of the left, then the right part). The 256
 * special tokens follow at ids 128000.. in the order of Meta's llama-models {@code llama3_1/api/tokenizer.py}.
 *
 * <p>As a tool: {@code java ... io.offload4j.tokenizer.Llama3VocabularyConverter tokenizer.model[.gz] out.gguf}
 * writes a vocabulary-only GGUF (tokens, token types, merges, {@code pre = llama-bpe}, special ids).
 */
public final class Llama3VocabularyConverter {

    public static final int NUM_SPECIAL_TOKENS = 256;

    /** Named special tokens from id 128000 on; the rest are {@code <|reserved_special_token_N|>}, N from 2. */
    static final List<String> NAMED_SPECIAL_TOKENS = List.of(
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>",
            "<|step_id|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eom_id|>",
            "<|eot_id|>",
            "<|python_tag|>");

    private Llama3VocabularyConverter() {}

    /** The 256 special token texts, in id order. */
    public static List<String> specialTokens() {
        List<String> all = new ArrayList<>(NAMED_SPECIAL_TOKENS);
        for (int i = 0; all.size() < NUM_SPECIAL_TOKENS; i++) {
            all.add("<|reserved_special_token_" + (2 + i) + "|>");
        }
        return all;
    }

    /** Reads a tiktoken file (gzip-compressed when the name ends with .gz) and converts it. */
    public static ConvertedVocabulary convert(Path tiktokenFile) {
        try (InputStream raw = Files.newInputStream(tiktokenFile);
             InputStream in = tiktokenFile.toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw) {
            return convert(in, tiktokenFile.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tiktoken file " + tiktokenFile, e);
        }
    }

    static ConvertedVocabulary convert(InputStream in, String where) throws IOException {
        List<String> byRank = new ArrayList<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
        String line;
        int lineNo = 0;
        while ((line = r.readLine()) != null) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            int sp = line.indexOf(' ');
            if (sp < 0) {
                throw new TokenizerException(where + ":" + lineNo + ": expected 'base64-token rank', found '" + line + "'");
            }
            int rank;
            byte[] bytes;
            try {
                bytes = Base64.getDecoder().decode(line.substring(0, sp));
                rank = Integer.parseInt(line.substring(sp + 1).trim());
            } catch (IllegalArgumentException e) {
                throw new TokenizerException(where + ":" + lineNo + ": malformed line '" + line + "': " + e.getMessage(), e);
            }
            if (rank != byRank.size()) {
                throw new TokenizerException(where + ":" + lineNo + ": rank " + rank + " out of order (expected "
                        + byRank.size() + "); is this a tiktoken BPE file?");
            }
            byRank.add(ByteLevel.encode(bytes));
        }
        if (byRank.isEmpty()) {
            throw new TokenizerException(where + ": no tokens in the tiktoken file");
        }
        String[] merges = mergesFromRanks(byRank);
        int base = byRank.size();
        List<String> specials = specialTokens();
        String[] tokens = new String[base + specials.size()];
        int[] types = new int[tokens.length];
        for (int i = 0; i < base; i++) {
            tokens[i] = byRank.get(i);
            types[i] = TokenType.NORMAL;
        }
        for (int i = 0; i < specials.size(); i++) {
            tokens[base + i] = specials.get(i);
            types[base + i] = TokenType.CONTROL;
        }
        int bos = base + specials.indexOf("<|begin_of_text|>");
        int eos = base + specials.indexOf("<|end_of_text|>");
        int pad = base + specials.indexOf("<|finetune_right_pad_id|>");
        return new ConvertedVocabulary("llama-3", "llama-bpe", tokens, types, merges, bos, eos, pad, true);
    }

    /**
     * Merges from ranked byte-level tokens (one char per byte): for each token, in rank order, every
     * split into two tokens that both exist, sorted by (rank of left, rank of right).
     */
    static String[] mergesFromRanks(List<String> byRank) {
        Map<String, Integer> rank = new HashMap<>(byRank.size() * 2);
        for (int i = 0; i < byRank.size(); i++) {
            rank.putIfAbsent(byRank.get(i), i);
        }
        List<String> merges = new ArrayList<>(byRank.size() * 2);
        List<long[]> local = new ArrayList<>();
        for (String token : byRank) {
            if (token.length() < 2) {
                continue;
            }
            local.clear();
            for (int i = 1; i < token.length(); i++) {
                Integer l = rank.get(token.substring(0, i));
                Integer r = l == null ? null : rank.get(token.substring(i));
                if (r != null) {
                    local.add(new long[] {l, r, i});
                }
            }
            local.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
            for (long[] m : local) {
                int at = (int) m[2];
                merges.add(token.substring(0, at) + " " + token.substring(at));
            }
        }
        return merges.toArray(new String[0]);
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: Llama3VocabularyConverter <tokenizer.model[.gz]> <out.gguf>");
            System.err.println("  converts Meta's Llama 3 tiktoken file into a vocabulary-only GGUF (pre = llama-bpe)");
            System.exit(2);
        }
        ConvertedVocabulary v = convert(Path.of(args[0]));
        v.writeGguf(Path.of(args[1]));
        System.out.println("wrote " + args[1] + ": " + v.tokens().length + " tokens, " + v.merges().length + " merges");
    }
}
