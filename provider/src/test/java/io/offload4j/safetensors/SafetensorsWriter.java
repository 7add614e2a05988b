package io.offload4j.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files for tests, the way the Python library does: the JSON header (tensors in the order
 * added, {@code __metadata__} first) padded with spaces to a multiple of 8 bytes, then the tensors packed in order.
 * {@link #raw} builds files whose header is given verbatim, for the malformed cases.
 */
public final class SafetensorsWriter {

    private record Pending(String name, String dtype, long[] shape, byte[] data) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Pending> tensors = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, byte[] data) {
        return add(name, dtype.name(), shape, data);
    }

    /** Any dtype string (also unknown ones), with the bytes as given. */
    public SafetensorsWriter add(String name, String dtype, long[] shape, byte[] data) {
        tensors.add(new Pending(name, dtype, shape.clone(), data));
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public List<String> names() {
        return tensors.stream().map(Pending::name).toList();
    }

    /** The header JSON this writer produces. */
    public String headerJson() {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put(SafetensorsFile.METADATA_KEY, metadata);
        }
        long offset = 0;
        for (Pending t : tensors) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", t.dtype);
            e.put("shape", t.shape);
            e.put("data_offsets", new long[] {offset, offset + t.data.length});
            header.put(t.name, e);
            offset += t.data.length;
        }
        try {
            return JSON.writeValueAsString(header);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    public byte[] bytes() {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Pending t : tensors) {
            data.writeBytes(t.data);
        }
        return raw(headerJson(), data.toByteArray());
    }

    public Path write(Path target) {
        try {
            Files.write(target, bytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return target;
    }

    /** A file from a header given verbatim (padded with spaces to 8 bytes, as the Python writer does) and data. */
    public static byte[] raw(String headerJson, byte[] data) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) {
            b.put((byte) ' ');
        }
        b.put(data);
        return b.array();
    }

    /** Little-endian bytes of float values in {@code dtype} (F32, F16 or BF16; BF16 rounds to nearest even). */
    public static byte[] encode(float[] values, SafetensorsDtype dtype) {
        ByteBuffer b = ByteBuffer.allocate(values.length * dtype.bits() / 8).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case F32 -> b.putFloat(v);
                case F16 -> b.putShort(Float.floatToFloat16(v));
                case BF16 -> b.putShort(bf16(v));
                default -> throw new IllegalArgumentException("cannot encode floats as " + dtype);
            }
        }
        return b.array();
    }

    /** The value {@code v} becomes when stored as {@code dtype} and read back. */
    public static float round(float v, SafetensorsDtype dtype) {
        return switch (dtype) {
            case F32 -> v;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case BF16 -> Float.intBitsToFloat((bf16(v) & 0xffff) << 16);
            default -> throw new IllegalArgumentException("cannot round to " + dtype);
        };
    }

    private static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }
}
