package io.offload4j.gguf;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The key/value metadata of a GGUF file, with typed accessors whose errors name the file, the key,
 * the type found and the type expected.
 */
public final class GgufMetadata {

    /** One value with the type it was stored as (needed to write it back unchanged). */
    public record Entry(GgufValueType type, Object value) {}

    private final Path file;
    private final Map<String, Entry> entries;

    public GgufMetadata(Path file, Map<String, Entry> entries) {
        this.file = file;
        this.entries = Collections.unmodifiableMap(new LinkedHashMap<>(entries));
    }

    /** For the reader: {@code entries} is already an unmodifiable map nobody else holds (no copy). */
    GgufMetadata(Path file, Map<String, Entry> entries, boolean owned) {
        this.file = file;
        this.entries = owned ? entries : Collections.unmodifiableMap(new LinkedHashMap<>(entries));
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public Set<String> keys() {
        return entries.keySet();
    }

    public boolean has(String key) {
        return entries.containsKey(key);
    }

    public Optional<Entry> entry(String key) {
        return Optional.ofNullable(entries.get(key));
    }

    /** The raw value (see {@link GgufArray} for arrays), or {@code null}. */
    public Object get(String key) {
        Entry e = entries.get(key);
        return e == null ? null : e.value();
    }

    public String getString(String key) {
        return as(key, String.class, "a string");
    }

    public Optional<String> optString(String key) {
        return has(key) ? Optional.of(getString(key)) : Optional.empty();
    }

    /**
     * Any integer type, widened to long.
     *
     * @throws ModelFormatException also for a UINT64 value above {@link Long#MAX_VALUE}
     */
    public long getLong(String key) {
        Object v = require(key, "an integer");
        if (v instanceof Integer i) {
            return i;
        }
        if (v instanceof Long l) {
            if (l < 0 && entries.get(key).type() == GgufValueType.UINT64) {
                throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is the UINT64 " + Long.toUnsignedString(l)
                        + ", which does not fit a signed 64-bit integer; the value is corrupt");
            }
            return l;
        }
        throw wrongType(key, "an integer");
    }

    /** Any integer type that fits an int. */
    public int getInt(String key) {
        long v = getLong(key);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is " + v + ", which does not fit a 32-bit integer"
                    + " (expected at most " + Integer.MAX_VALUE + ")");
        }
        return (int) v;
    }

    public int getInt(String key, int defaultValue) {
        return has(key) ? getInt(key) : defaultValue;
    }

    /** FLOAT32, FLOAT64 or any integer, as float. */
    public float getFloat(String key) {
        Object v = require(key, "a number");
        if (v instanceof Number n) {
            return n.floatValue();
        }
        throw wrongType(key, "a number");
    }

    public float getFloat(String key, float defaultValue) {
        return has(key) ? getFloat(key) : defaultValue;
    }

    public boolean getBoolean(String key) {
        return as(key, Boolean.class, "a bool");
    }

    public boolean getBoolean(String key, boolean defaultValue) {
        return has(key) ? getBoolean(key) : defaultValue;
    }

    public GgufArray getArray(String key) {
        return as(key, GgufArray.class, "an array");
    }

    public String[] getStringArray(String key) {
        GgufArray a = getArray(key);
        if (a.values() instanceof String[] s) {
            return s;
        }
        throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is an " + a + ", expected an array of STRING");
    }

    /** FLOAT32 or FLOAT64 elements, as floats. */
    public float[] getFloatArray(String key) {
        GgufArray a = getArray(key);
        if (a.values() instanceof float[] f) {
            return f;
        }
        if (a.values() instanceof double[] d) {
            float[] f = new float[d.length];
            for (int i = 0; i < d.length; i++) {
                f[i] = (float) d[i];
            }
            return f;
        }
        throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is an " + a + ", expected an array of FLOAT32");
    }

    /** Integer elements that fit an int. */
    public int[] getIntArray(String key) {
        GgufArray a = getArray(key);
        if (a.values() instanceof int[] i) {
            return i;
        }
        if (a.values() instanceof long[] l) {
            int[] r = new int[l.length];
            for (int i = 0; i < l.length; i++) {
                boolean unsigned = a.elementType() == GgufValueType.UINT64;
                if (l[i] < Integer.MIN_VALUE || l[i] > Integer.MAX_VALUE || (unsigned && l[i] < 0)) {
                    throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' element " + i + " is "
                            + (unsigned ? Long.toUnsignedString(l[i]) : l[i]) + ", which does not fit a 32-bit integer");
                }
                r[i] = (int) l[i];
            }
            return r;
        }
        throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is an " + a + ", expected an array of integers");
    }

    private <T> T as(String key, Class<T> type, String expected) {
        Object v = require(key, expected);
        if (type.isInstance(v)) {
            return type.cast(v);
        }
        throw wrongType(key, expected);
    }

    private Object require(String key, String expected) {
        Entry e = entries.get(key);
        if (e == null) {
            throw new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is missing (expected " + expected
                    + "); is this a complete GGUF model file?");
        }
        return e.value();
    }

    private ModelFormatException wrongType(String key, String expected) {
        Entry e = entries.get(key);
        String found = e.type() == GgufValueType.ARRAY ? "an " + e.value() : e.type() + " " + shortValue(e.value());
        return new ModelFormatException(file, "metadata key '" + GgufFile.printable(key) + "' is " + found + ", expected " + expected
                + "; the file was written for a different model format or is corrupt");
    }

    private static String shortValue(Object v) {
        String s = v instanceof String str ? "'" + GgufFile.printable(str.length() > 60 ? str.substring(0, 60) + "..." : str)
                + "'" : String.valueOf(v);
        return "(" + s + ")";
    }
}
