package io.offload4j.backend;

/**
 * A device ran out of memory for an allocation: which device, what was being allocated and how much. The offload
 * layer answers it at load with a smaller automatic budget; a request that meets it fails alone, with this message.
 */
public final class DeviceMemoryException extends RuntimeException {

    public DeviceMemoryException(String device, String what, long bytes, Throwable cause) {
        super(String.format(java.util.Locale.ROOT, "%s is out of memory: %s needs %.1f MiB more than it has free; lower"
                + " the GPU memory budget, the context length or the number of sequences served at once, or run on"
                + " the cpu device", device, what, bytes / (double) (1L << 20)), cause);
    }
}
