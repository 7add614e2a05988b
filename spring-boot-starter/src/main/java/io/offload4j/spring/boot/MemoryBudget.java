package io.offload4j.spring.boot;

import java.util.Locale;
import java.util.Objects;
import org.springframework.util.unit.DataSize;

/**
 * A memory amount that may also be {@code auto}: the engine then sizes it from what the machine has. Bound from
 * properties such as {@code 6GB}, {@code 512MB}, {@code 1073741824} (bytes) or {@code auto}, through
 * {@link #valueOf(String)}, which Spring's conversion service finds by name.
 *
 * @param bytes the amount in bytes, or {@link #AUTO_BYTES} for {@code auto}
 */
public record MemoryBudget(long bytes) {

    /** The byte count that stands for {@code auto}; equal to {@code OffloadOptions.AUTO} and
     *  {@code EngineOptions.AUTO_PREFIX_CACHE}, so it can be handed to the engine as is. */
    public static final long AUTO_BYTES = -1;

    /** {@code auto}. */
    public static final MemoryBudget AUTO = new MemoryBudget(AUTO_BYTES);

    public MemoryBudget {
        if (bytes < 0 && bytes != AUTO_BYTES) {
            throw new IllegalArgumentException("a memory budget must be >= 0 bytes or 'auto', was " + bytes);
        }
    }

    /**
     * Parses {@code auto} (any case) or a {@link DataSize} ({@code 512MB}, {@code 6GB}, plain bytes).
     *
     * @throws IllegalArgumentException for anything else, saying what is accepted
     */
    public static MemoryBudget valueOf(String text) {
        Objects.requireNonNull(text, "text");
        String t = text.trim();
        if (t.toLowerCase(Locale.ROOT).equals("auto")) {
            return AUTO;
        }
        DataSize size;
        try {
            size = DataSize.parse(t);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + text + "' is not a memory size: expected 'auto' or a size such"
                    + " as 512MB, 6GB or a number of bytes", e);
        }
        if (size.isNegative()) {
            throw new IllegalArgumentException("'" + text + "' is negative: expected 'auto' or a size >= 0");
        }
        return new MemoryBudget(size.toBytes());
    }

    /** A fixed amount. */
    public static MemoryBudget of(DataSize size) {
        return new MemoryBudget(size.toBytes());
    }

    public boolean isAuto() {
        return bytes == AUTO_BYTES;
    }

    /** {@code auto}, or the size in the largest unit that divides it ({@code 6GB}, {@code 1536MB}, {@code 100B}). */
    @Override
    public String toString() {
        if (isAuto()) {
            return "auto";
        }
        String[] units = {"TB", "GB", "MB", "KB"};
        for (int i = 0; i < units.length; i++) {
            long unit = 1L << (10 * (units.length - i));
            if (bytes != 0 && bytes % unit == 0) {
                return bytes / unit + units[i];
            }
        }
        return bytes + "B";
    }
}
