package io.offload4j.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;

/**
 * The committed quantization fixtures of {@code src/test/resources/quant/} (made by
 * {@code tests/quant/make-reference.sh}; see its README): slices of llama-quantize outputs and random blocks
 * in Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL and IQ4_XS with gguf-py's reference dequantization, and whole quantized
 * models of {@link QuantFixtureModel}'s F32 weights.
 */
public final class QuantFixtures {
    private static final String ROOT = "/quant/";

    private QuantFixtures() {}

    /** One fixture: {@code rows} rows of {@code cols} values of {@code format}, their bytes and ggml's floats. */
    public record Tensor(String id, GgmlType format, int rows, int cols, int rowBytes, byte[] quantized,
                         float[] reference, String source) {
        @Override
        public String toString() {
            return id + " (" + format + ", " + rows + "x" + cols + ")";
        }
    }

    /** A whole quantized model: its preset, file (copied out of the class path) and tensor formats. */
    public record Model(String preset, String resource, String sha256, List<GgmlType> formats) {
        @Override
        public String toString() {
            return preset;
        }

        /** The model file, copied into {@code dir}. */
        public Path copyTo(Path dir) {
            Path p = dir.resolve(preset + ".gguf");
            try (InputStream in = open(resource)) {
                Files.copy(in, p);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return p;
        }
    }

    public static JsonNode manifest() {
        try (InputStream in = open("manifest.json")) {
            return new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static List<Tensor> tensors() {
        List<Tensor> list = new ArrayList<>();
        for (JsonNode t : manifest().get("tensors")) {
            byte[] q = bytes(t.get("quantized").asText());
            byte[] f = bytes(t.get("reference").asText());
            float[] ref = new float[f.length / 4];
            ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(ref);
            list.add(new Tensor(t.get("id").asText(), GgmlType.valueOf(t.get("format").asText()), t.get("rows").asInt(),
                    t.get("cols").asInt(), t.get("rowBytes").asInt(), q, ref, t.get("source").asText()));
        }
        return list;
    }

    public static List<Model> models() {
        List<Model> list = new ArrayList<>();
        for (JsonNode m : manifest().get("models")) {
            List<GgmlType> formats = new ArrayList<>();
            m.get("tensorTypes").forEach(t -> {
                GgmlType type = GgmlType.valueOf(t.asText());
                if (!formats.contains(type)) {
                    formats.add(type);
                }
            });
            list.add(new Model(m.get("preset").asText(), m.get("file").asText(), m.get("sha256").asText(), formats));
        }
        return list;
    }

    /** {@link #weightsSha256} of the F32 model the fixtures were quantized from. */
    public static String f32WeightsSha256() {
        return manifest().get("f32Model").get("weightsSha256").asText();
    }

    /**
     * SHA-256 over every tensor of a GGUF file, in name order: the name, a newline, the stored bytes (as
     * make_reference.py computes it). Metadata does not enter, so a writer that adds keys keeps the value.
     */
    public static String weightsSha256(Path gguf) {
        try (GgufFile f = GgufFile.open(gguf)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String name : new TreeSet<>(f.tensors().keySet())) {
                sha.update((name + "\n").getBytes(StandardCharsets.UTF_8));
                sha.update(f.tensorData(f.tensors().get(name)).asByteBuffer());
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static InputStream open(String name) {
        InputStream in = QuantFixtures.class.getResourceAsStream(ROOT + name);
        if (in == null) {
            throw new IllegalStateException("test resource " + ROOT + name + " is missing; regenerate the fixtures with"
                    + " tests/quant/make-reference.sh");
        }
        return in;
    }

    private static byte[] bytes(String name) {
        try (InputStream in = open(name)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
