package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Where a model's tensors come from — a GGUF file or a Hugging Face safetensors directory — looked up by
 * their GGUF names, so that one piece of code ({@link TensorBinder}) binds and checks every model. The
 * describing methods let its messages speak the source's language (names, shape order, remedy).
 */
interface TensorSource {

    /** A tensor's format, dimensions in ggml order (row length first) and bytes (a view, never a copy). */
    record Tensor(GgmlType type, long[] ggmlDims, MemorySegment data) {}

    /** The file or directory, for messages. */
    Path path();

    /** The tensor with this GGUF name, or null when the source has none. */
    Tensor find(String ggufName);

    /** How the source names the tensor called {@code ggufName} in GGUF. */
    String sourceName(String ggufName);

    /** A shape written the way this source writes shapes, from ggml-ordered dimensions. */
    String formatShape(long[] ggmlDims);

    /** Says which order {@link #formatShape} uses and where the expected shape comes from. */
    String shapeNote();

    /** What a missing tensor probably means and what to do. */
    String missingHint(String ggufName);
}
