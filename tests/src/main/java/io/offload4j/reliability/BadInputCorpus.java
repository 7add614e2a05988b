package io.offload4j.reliability;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes the bad-input corpus: model files of every kind the engine reads (GGUF, safetensors, the safetensors
 * index, {@code config.json}, {@code tokenizer.json}), each broken in one way an attacker, a bad download or a
 * careless conversion would break it. Every file is small (the largest is a truncated copy of a ~0.5 MB model);
 * the corpus is written afresh on each run rather than committed, so it costs nothing in the repository and a
 * reader sees here exactly how each case is made.
 *
 * <p>{@link CorpusCheck} loads each case with the loader its {@link Kind} names and expects one clear refusal.
 * Run both: {@code java -cp ... io.offload4j.reliability.CorpusCheck [DIR]}.
 */
public final class BadInputCorpus {

    /** Which loader a case goes through. */
    public enum Kind {
        /** {@code InferenceEngine.load} of a .gguf file. */
        GGUF,
        /** {@code SafetensorsFile.open}. */
        SAFETENSORS,
        /** {@code SafetensorsCheckpoint.open} of a directory with a broken index. */
        INDEX,
        /** {@code Model.load} of a directory whose config.json is broken. */
        CONFIG,
        /** {@code HuggingFaceTokenizerFiles.load} of a directory whose tokenizer.json is broken. */
        TOKENIZER,
        /** Loads, but generating from it must fail the request with one clear line (e.g. NaN weights). */
        GENERATE
    }

    /** One corpus entry: where it is, how to load it, and what is wrong with it. */
    public record Case(String name, Kind kind, Path path, String broken) {}

    /** Vocabulary size the tokenizer cases are checked against. */
    public static final int VOCABULARY = 320;

    private final Path root;
    private final List<Case> cases = new ArrayList<>();

    private BadInputCorpus(Path root) {
        this.root = root;
    }

    /** Writes every case under {@code root} (created if needed) and returns them. */
    public static List<Case> write(Path root) throws IOException {
        Files.createDirectories(root);
        BadInputCorpus c = new BadInputCorpus(root);
        c.gguf();
        c.safetensors();
        c.index();
        c.config();
        c.tokenizer();
        return List.copyOf(c.cases);
    }

    /** A small valid model: one block, 64 wide, F32 (about 0.5 MB). */
    static SyntheticModelSpec smallSpec() {
        return new SyntheticModelSpec("corpus", Architecture.LLAMA, 64, 1, 128, 4, 2, 0, VOCABULARY, 128,
                QuantPreset.F32, false, 19);
    }

    // ---- GGUF ----

    private void gguf() throws IOException {
        Path valid = root.resolve("valid.gguf.base");
        SyntheticModelWriter.write(smallSpec(), valid);
        byte[] good = Files.readAllBytes(valid);
        Files.delete(valid);
        ggufCase("empty", new byte[0], "an empty file");
        ggufCase("bad-magic", patch(good, 0, "GGUX".getBytes(StandardCharsets.US_ASCII)), "not GGUF magic");
        ggufCase("version-99", patch(good, 4, le32(99)), "an unknown format version");
        ggufCase("tensor-count-huge", patch(good, 8, le64(1L << 62)), "2^62 tensors announced");
        ggufCase("kv-count-huge", patch(good, 16, le64(1L << 62)), "2^62 metadata entries announced");
        ggufCase("first-key-length-huge", patch(good, 24, le64(1L << 40)), "a 1 TiB key name");
        ggufCase("first-key-length-negative", patch(good, 24, le64(-8)), "a negative key length");
        for (int cut : new int[] {3, 12, 23, 40, 200, 2_000, good.length / 2, good.length - 1}) {
            ggufCase("truncated-at-" + cut, Arrays.copyOf(good, cut), "cut after " + cut + " of " + good.length + " bytes");
        }
        // The tensor info of output_norm.weight: name, u32 dimension count, u64 dimensions, u32 type, u64 offset.
        int info = indexOf(good, "output_norm.weight".getBytes(StandardCharsets.US_ASCII)) + 18;
        ggufCase("tensor-dims-99", patch(good, info, le32(99)), "a tensor with 99 dimensions");
        ggufCase("tensor-dim-huge", patch(good, info + 4, le64(1L << 62)), "a tensor of 2^62 elements");
        ggufCase("tensor-type-200", patch(good, info + 12, le32(200)), "tensor type 200");
        ggufCase("tensor-offset-past-end", patch(good, info + 16, le64(1L << 40)), "data at 1 TiB");
        ggufCase("tensor-offset-misaligned", patch(good, info + 16, le64(readLe64(good, info + 16) + 1)),
                "data offset not aligned");
        // A metadata value: llama.block_count's u32 follows the key and its u32 type.
        int blocks = indexOf(good, "llama.block_count".getBytes(StandardCharsets.US_ASCII)) + 17 + 4;
        ggufCase("block-count-0", patch(good, blocks, le32(0)), "0 blocks");
        ggufCase("block-count-huge", patch(good, blocks, le32(Integer.MAX_VALUE)), "2^31-1 blocks");
        int kvHeads = indexOf(good, "llama.attention.head_count_kv".getBytes(StandardCharsets.US_ASCII)) + 29 + 4;
        ggufCase("kv-heads-3", patch(good, kvHeads, le32(3)), "4 heads in groups of 3");
        int model = indexOf(good, "tokenizer.ggml.model".getBytes(StandardCharsets.US_ASCII));
        ggufCase("no-tokenizer-model", patch(good, model, "tokenizer.ggml.mode_".getBytes(StandardCharsets.US_ASCII)),
                "no tokenizer.ggml.model key");
        Path dir = root.resolve("a-directory.gguf");
        Files.createDirectories(dir);
        cases.add(new Case("a-directory.gguf", Kind.GGUF, dir, "a directory where a file is expected"));
        Path fifo = root.resolve("fifo.gguf");
        if (mkfifo(fifo)) {
            cases.add(new Case("fifo.gguf", Kind.GGUF, fifo, "a FIFO: opening it would wait for a writer"));
        }
        Path nan = root.resolve("nan-weights.gguf");
        Files.write(nan, nanWeights(good));
        cases.add(new Case("nan-weights.gguf", Kind.GENERATE, nan, "NaN in every weight of the output norm"));
    }

    private void ggufCase(String name, byte[] bytes, String broken) throws IOException {
        cases.add(write(Kind.GGUF, name + ".gguf", bytes, broken));
    }

    /** The model with its output norm (F32 ones, found by their bytes) replaced by NaN. */
    private static byte[] nanWeights(byte[] good) {
        byte[] ones = new byte[64 * 4];
        ByteBuffer.wrap(ones).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(filled(64, 1f));
        int at = lastIndexOf(good, ones);
        if (at < 0) {
            throw new IllegalStateException("the synthetic model has no run of 64 F32 ones (its output norm)");
        }
        byte[] nan = new byte[ones.length];
        ByteBuffer.wrap(nan).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(filled(64, Float.NaN));
        return patch(good, at, nan);
    }

    // ---- safetensors ----

    /** A valid file: one 2×2 F32 tensor "w". */
    private static byte[] safetensors(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    private static final String ST_OK = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";

    private void safetensors() throws IOException {
        byte[] good = safetensors(ST_OK, 16);
        stCase("empty", new byte[0], "an empty file");
        stCase("header-length-only", Arrays.copyOf(good, 8), "nothing after the header length");
        stCase("header-length-huge", patch(good, 0, le64(1L << 62)), "a header of 2^62 bytes announced");
        stCase("header-length-negative", patch(good, 0, le64(-1)), "a negative header length");
        stCase("header-past-end", patch(good, 0, le64(good.length)), "a header longer than the file");
        stCase("header-not-json", safetensors("{not json at all}", 16), "a header that is not JSON");
        stCase("header-array", safetensors("[1,2,3]", 16), "a JSON array header");
        stCase("header-nested", safetensors(nested(50_000), 0), "JSON nested 50,000 deep");
        stCase("dtype-unknown", safetensors(ST_OK.replace("F32", "F99"), 16), "an unknown dtype");
        stCase("shape-negative", safetensors(ST_OK.replace("[2,2]", "[-2,2]"), 16), "a negative dimension");
        stCase("shape-huge", safetensors(ST_OK.replace("[2,2]", "[4294967296,4294967296]"), 16),
                "2^64 elements");
        stCase("offsets-past-data", safetensors(ST_OK.replace("[0,16]", "[0,1600]"), 16), "data past the end");
        stCase("offsets-reversed", safetensors(ST_OK.replace("[0,16]", "[16,0]"), 16), "end before start");
        stCase("offsets-mismatch-shape", safetensors(ST_OK.replace("[0,16]", "[0,12]"), 16),
                "12 bytes for 4 floats");
        stCase("offsets-not-numbers", safetensors(ST_OK.replace("[0,16]", "[\"a\",\"b\"]"), 16),
                "offsets that are strings");
        stCase("data-truncated", Arrays.copyOf(good, good.length - 5), "the data cut short");
        Path fifo = root.resolve("fifo.safetensors");
        if (mkfifo(fifo)) {
            cases.add(new Case("fifo.safetensors", Kind.SAFETENSORS, fifo, "a FIFO"));
        }
    }

    private void stCase(String name, byte[] bytes, String broken) throws IOException {
        cases.add(write(Kind.SAFETENSORS, name + ".safetensors", bytes, broken));
    }

    // ---- safetensors index ----

    private void index() throws IOException {
        indexCase("not-json", "{\"weight_map\": ", "an index that is not JSON");
        indexCase("nested", nested(100_000), "JSON nested 100,000 deep");
        indexCase("array", "[]", "a JSON array");
        indexCase("no-weight-map", "{\"metadata\":{}}", "no weight_map");
        indexCase("weight-map-array", "{\"weight_map\":[1]}", "weight_map is an array");
        indexCase("shard-escapes", "{\"weight_map\":{\"w\":\"../outside.safetensors\"}}", "a shard outside the directory");
        indexCase("shard-absolute", "{\"weight_map\":{\"w\":\"/etc/passwd\"}}", "an absolute shard path");
        indexCase("shard-missing", "{\"weight_map\":{\"w\":\"model-00001-of-00002.safetensors\"}}", "a missing shard");
        indexCase("shard-number", "{\"weight_map\":{\"w\":42}}", "a shard name that is a number");
    }

    private void indexCase(String name, String json, String broken) throws IOException {
        Path dir = root.resolve("index-" + name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("model.safetensors.index.json"), json);
        cases.add(new Case("index-" + name, Kind.INDEX, dir, broken));
    }

    // ---- config.json ----

    private void config() throws IOException {
        String ok = "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":64,"
                + "\"intermediate_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                + "\"num_key_value_heads\":2,\"vocab_size\":320,\"max_position_embeddings\":128,"
                + "\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0}";
        configCase("not-json", "{\"hidden_size\": 64,", "not JSON");
        configCase("nested", nested(100_000), "JSON nested 100,000 deep");
        configCase("array", "[1]", "a JSON array");
        configCase("empty-object", "{}", "no keys at all");
        configCase("hidden-size-missing", ok.replace("\"hidden_size\":64,", ""), "no hidden_size");
        configCase("hidden-size-string", ok.replace("\"hidden_size\":64", "\"hidden_size\":\"64\""), "a string size");
        configCase("layers-negative", ok.replace("\"num_hidden_layers\":1", "\"num_hidden_layers\":-1"), "-1 layers");
        configCase("layers-huge", ok.replace("\"num_hidden_layers\":1", "\"num_hidden_layers\":2147483647"),
                "2^31-1 layers");
        configCase("heads-zero", ok.replace("\"num_attention_heads\":4", "\"num_attention_heads\":0"), "0 heads");
        configCase("kv-heads-not-divisor", ok.replace("\"num_key_value_heads\":2", "\"num_key_value_heads\":3"),
                "4 heads in groups of 3");
        configCase("vocab-huge", ok.replace("\"vocab_size\":320", "\"vocab_size\":99999999999"), "a 10^11 vocabulary");
        configCase("unsupported-architecture", ok.replace("LlamaForCausalLM", "GPT2LMHeadModel")
                .replace("\"llama\"", "\"gpt2\""), "an architecture this engine does not run");
    }

    private void configCase(String name, String json, String broken) throws IOException {
        Path dir = root.resolve("config-" + name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), json);
        cases.add(new Case("config-" + name, Kind.CONFIG, dir, broken));
    }

    // ---- tokenizer.json ----

    private void tokenizer() throws IOException {
        tokenizerCase("not-json", "{\"model\": {", "not JSON");
        tokenizerCase("nested", nested(100_000), "JSON nested 100,000 deep");
        tokenizerCase("array", "[]", "a JSON array");
        tokenizerCase("no-model", "{\"version\":\"1.0\"}", "no model");
        tokenizerCase("wordpiece", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", "an unsupported model type");
        tokenizerCase("vocab-array", "{\"model\":{\"type\":\"BPE\",\"vocab\":[1,2],\"merges\":[]}}", "vocab is an array");
        tokenizerCase("vocab-id-huge", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":2147483647},\"merges\":[]}}",
                "a token id of 2^31-1");
        tokenizerCase("vocab-id-negative", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-5},\"merges\":[]}}",
                "a negative token id");
        tokenizerCase("merges-garbage", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[42,{}]}}",
                "merges that are neither strings nor pairs");
        tokenizerCase("added-token-beyond", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                + "\"added_tokens\":[{\"id\":100000,\"content\":\"<x>\",\"special\":true}]}", "an added token id past the vocabulary");
    }

    private void tokenizerCase(String name, String json, String broken) throws IOException {
        Path dir = root.resolve("tokenizer-" + name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("tokenizer.json"), json);
        cases.add(new Case("tokenizer-" + name, Kind.TOKENIZER, dir, broken));
    }

    // ---- helpers ----

    private Case write(Kind kind, String fileName, byte[] bytes, String broken) throws IOException {
        Path p = root.resolve(fileName);
        Files.write(p, bytes);
        return new Case(fileName, kind, p, broken);
    }

    /** {@code {"a":{"a":...1...}}}, {@code depth} objects deep. */
    static String nested(int depth) {
        return "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
    }

    private static byte[] patch(byte[] base, int at, byte[] with) {
        byte[] b = base.clone();
        System.arraycopy(with, 0, b, at, with.length);
        return b;
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private static float[] filled(int n, float v) {
        float[] f = new float[n];
        Arrays.fill(f, v);
        return f;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new IllegalStateException("the synthetic model lacks " + new String(needle, StandardCharsets.US_ASCII));
    }

    private static long readLe64(byte[] b, int at) {
        return ByteBuffer.wrap(b, at, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private static int lastIndexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = hay.length - needle.length; i >= 0; i--) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** Makes a FIFO with {@code mkfifo}; false where there is none (the FIFO cases are then left out). */
    private static boolean mkfifo(Path p) {
        try {
            return new ProcessBuilder("mkfifo", p.toString()).start().waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
