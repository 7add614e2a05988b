package io.offload4j.model;

import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import java.nio.file.Path;
import java.util.Arrays;

/** The tensors of a GGUF file, as they are. */
final class GgufTensorSource implements TensorSource {

    private final GgufFile file;

    GgufTensorSource(GgufFile file) {
        this.file = file;
    }

    @Override
    public Path path() {
        return file.path();
    }

    @Override
    public Tensor find(String ggufName) {
        GgufTensorInfo info = file.tensors().get(ggufName);
        return info == null ? null : new Tensor(info.type(), info.dims(), file.tensorData(info));
    }

    @Override
    public String sourceName(String ggufName) {
        return ggufName;
    }

    @Override
    public String formatShape(long[] ggmlDims) {
        return Arrays.toString(ggmlDims);
    }

    @Override
    public String shapeNote() {
        return "(ggml order: row length first) from the model's metadata; the file's metadata and tensors disagree";
    }

    @Override
    public String missingHint(String ggufName) {
        return "incomplete or mis-converted file?";
    }
}
