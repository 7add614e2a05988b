package io.offload4j.model;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Quantize at load: the format, and where the quantized model is kept.
 *
 * @param format    what F32/F16/BF16 matrices become; {@link Quantization#NONE} loads the model as it is
 * @param cacheFile the quantized GGUF to write, and to map directly on the next start while it still matches the
 *                  source (a directory: a file named after the model inside it); null writes a temporary file
 *                  that is deleted as soon as it is mapped (or at exit, where the system cannot delete a mapped
 *                  file)
 */
public record LoadQuantization(Quantization format, Path cacheFile) {

    public static final LoadQuantization NONE = new LoadQuantization(Quantization.NONE, null);

    public LoadQuantization {
        Objects.requireNonNull(format, "format");
    }

    public boolean enabled() {
        return format != Quantization.NONE;
    }

    public LoadQuantization withFormat(Quantization f) {
        return new LoadQuantization(f, cacheFile);
    }

    public LoadQuantization withCacheFile(Path p) {
        return new LoadQuantization(format, p);
    }
}
