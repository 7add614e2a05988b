package io.offload4j.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes the fuzzer's seed corpus: small valid files (from {@link GgufWriter} and by hand), truncated
 * and damaged ones. Names say what to expect: {@code valid-*} parse, {@code truncated-*} and
 * {@code invalid-*} are rejected (checked by {@link GgufFuzzTest#seedCorpusIsPresentAndMeaningful}).
 *
 * <p>Run from the repository root (after a test-compile):
 * {@code java -cp provider/target/classes:provider/target/test-classes io.offload4j.gguf.GgufSeedCorpus}
 */
public final class GgufSeedCorpus {

    static final String DIR = "provider/src/test/resources/io/offload4j/gguf/GgufFuzzTestInputs/parseAndRead";

    private GgufSeedCorpus() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : DIR);
        Files.createDirectories(dir);
        for (var e : seeds().entrySet()) {
            Files.write(dir.resolve(e.getKey()), e.getValue());
        }
        System.out.println("wrote " + seeds().size() + " seeds to " + dir.toAbsolutePath());
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("valid-empty-v3", RawGguf.header(3, 0, 0).bytes());
        s.put("valid-empty-v2", RawGguf.header(2, 0, 0).bytes());
        s.put("valid-scalars", written(new GgufWriter()
                .put("u8", GgufValueType.UINT8, 200).put("i8", GgufValueType.INT8, -3)
                .put("u16", GgufValueType.UINT16, 60000).put("i16", GgufValueType.INT16, -300)
                .putUInt32("u32", 4_000_000_000L).putInt32("i32", -5).putFloat32("f32", 1.5f)
                .putBool("bool", true).putString("str", "héllo ✓")
                .put("u64", GgufValueType.UINT64, -1L).put("i64", GgufValueType.INT64, -9L)
                .put("f64", GgufValueType.FLOAT64, 2.25)));
        GgufWriter arrays = new GgufWriter()
                .put("a.u8", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT8, new int[] {1, 255}))
                .put("a.i16", GgufValueType.ARRAY, new GgufArray(GgufValueType.INT16, new int[] {-2, 3}))
                .put("a.u32", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT32, new long[] {7, 0xffff_ffffL}))
                .putInt32s("a.i32", 1, -1).putFloats("a.f32", 0.5f, -2f)
                .put("a.bool", GgufValueType.ARRAY, new GgufArray(GgufValueType.BOOL, new boolean[] {true, false}))
                .putStrings("a.str", "", "x", "▁yz")
                .put("a.u64", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT64, new long[] {1}))
                .put("a.f64", GgufValueType.ARRAY, new GgufArray(GgufValueType.FLOAT64, new double[] {1e-3}))
                .put("a.empty", GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, new String[0]))
                .put("a.nested", GgufValueType.ARRAY, new GgufArray(GgufValueType.ARRAY, new GgufArray[] {
                        new GgufArray(GgufValueType.INT8, new int[] {1, 2}),
                        new GgufArray(GgufValueType.ARRAY, new GgufArray[] {new GgufArray(GgufValueType.STRING, new String[] {"n"})})}));
        s.put("valid-arrays", written(arrays));
        s.put("valid-vocab", written(vocab()));
        s.put("valid-tensors", written(tensors(new GgufWriter().putString("general.architecture", "llama"))));
        s.put("valid-tensors-align8", written(tensors(new GgufWriter().alignment(8))));
        s.put("valid-tensors-align1", written(tensors(new GgufWriter().alignment(1).putUInt32("llama.block_count", 1))));
        s.put("valid-one-f32", written(new GgufWriter().addF32("w", new long[] {2, 2}, new float[] {1, 2, 3, 4})));
        s.put("valid-v2-by-hand", RawGguf.header(2, 1, 2)
                .kv("general.architecture", GgufValueType.STRING).str("llama")
                .kvArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, 2).f32(-1).f32(0)
                .tensorInfo("t", GgmlType.F16, 0, 4).padTo(32).zeros(32).bytes());
        s.put("valid-vocab-only-unpadded", RawGguf.header(3, 0, 1).kvArray("tokenizer.ggml.tokens", GgufValueType.STRING, 2)
                .str("<s>").str("\u2581a").bytes());

        byte[] t = written(tensors(new GgufWriter().putString("general.architecture", "llama")));
        int header = headerLength(t);
        for (int cut : new int[] {2, 6, 20, 30, 40, header / 2, header - 3, header + 1, dataEnd(t) - 1}) {
            s.put("truncated-tensors-at-" + cut, Arrays.copyOf(t, cut));
        }
        byte[] a = written(arrays);
        for (int cut : new int[] {a.length / 3, a.length / 2, a.length - 2}) {
            s.put("truncated-arrays-at-" + cut, Arrays.copyOf(a, cut));
        }
        s.put("invalid-bool", RawGguf.header(3, 0, 1).kv("b", GgufValueType.BOOL).u8(2).bytes());
        s.put("invalid-duplicate-key", RawGguf.header(3, 0, 2).kv("k", GgufValueType.UINT8).u8(1)
                .kv("k", GgufValueType.UINT8).u8(1).bytes());
        s.put("invalid-alignment", RawGguf.header(3, 0, 1).kv("general.alignment", GgufValueType.UINT32).u32(48).bytes());
        s.put("invalid-big-endian", new RawGguf().raw((byte) 'G', (byte) 'G', (byte) 'U', (byte) 'F').bigEndian()
                .u32(3).u64(0).u64(0).bytes());
        s.put("invalid-unaligned-offset", RawGguf.header(3, 1, 0).tensorInfo("t", GgmlType.F32, 4, 1).padTo(32)
                .zeros(64).bytes());
        return s;
    }

    private static GgufWriter vocab() {
        String[] tokens = {"<unk>", "<s>", "</s>", "<0x0A>", "\u2581the", "\u2581a", "ing", "é", "世界", "🦙"};
        float[] scores = new float[tokens.length];
        int[] types = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            scores[i] = -i;
            types[i] = i < 3 ? 3 : i == 3 ? 6 : 1;
        }
        return new GgufWriter().putString("tokenizer.ggml.model", "llama").putStrings("tokenizer.ggml.tokens", tokens)
                .putFloats("tokenizer.ggml.scores", scores).putInt32s("tokenizer.ggml.token_type", types)
                .putUInt32("tokenizer.ggml.bos_token_id", 1).putBool("tokenizer.ggml.add_bos_token", true);
    }

    private static GgufWriter tensors(GgufWriter w) {
        w.addF32("norm", new long[] {4}, new float[] {1, 2, 3, 4});
        w.addTensor("f16", GgmlType.F16, new long[] {2, 3}, GgufSeedCorpus::pattern);
        w.addTensor("q4_0", GgmlType.Q4_0, new long[] {32}, GgufSeedCorpus::pattern);
        w.addTensor("q8_0", GgmlType.Q8_0, new long[] {32, 1, 2}, GgufSeedCorpus::pattern);
        w.addTensor("q4_k", GgmlType.Q4_K, new long[] {256}, GgufSeedCorpus::pattern);
        w.addTensor("i8", GgmlType.I8, new long[] {3, 1, 1, 2}, GgufSeedCorpus::pattern);
        return w;
    }

    private static void pattern(MemorySegment dst) {
        for (long i = 0; i < dst.byteSize(); i++) {
            dst.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 37 + 11));
        }
    }

    /** Where the last tensor's bytes end (the file may be padded beyond). */
    private static int dataEnd(byte[] file) {
        try (GgufFile f = RawGguf.parse(file)) {
            long end = 0;
            for (GgufTensorInfo t : f.tensors().values()) {
                end = Math.max(end, f.dataStart() + t.dataOffset() + t.byteSize());
            }
            return (int) end;
        }
    }

    private static int headerLength(byte[] file) {
        try (GgufFile f = RawGguf.parse(file)) {
            return (int) f.dataStart();
        }
    }

    private static byte[] written(GgufWriter w) {
        try {
            Path tmp = Files.createTempFile("seed", ".gguf");
            try {
                w.write(tmp);
                return Files.readAllBytes(tmp);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
