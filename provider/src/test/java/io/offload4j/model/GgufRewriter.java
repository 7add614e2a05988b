package io.offload4j.model;

import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.gguf.GgufWriter;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.function.Predicate;

/** Test helper: copies a GGUF file with edited metadata and a subset of its tensors. */
final class GgufRewriter {

    private GgufRewriter() {}

    static Path rewrite(Path source, Path target, Consumer<GgufWriter> edits, Predicate<String> keepTensor) {
        try (GgufFile in = GgufFile.open(source)) {
            GgufWriter w = new GgufWriter();
            w.putAll(in.metadata());
            edits.accept(w);
            for (GgufTensorInfo t : in.tensors().values()) {
                if (keepTensor.test(t.name())) {
                    MemorySegment data = in.tensorData(t);
                    w.addTensor(t.name(), t.type(), t.dims(), dst -> dst.copyFrom(data));
                }
            }
            w.write(target);
        }
        return target;
    }
}
