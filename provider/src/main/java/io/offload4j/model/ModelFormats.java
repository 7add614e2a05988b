package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Checks, before a device prepares anything, that it can compute with every matrix of a model. */
public final class ModelFormats {

    private ModelFormats() {}

    /** Every matrix a forward pass computes with: the token embedding, each block's seven, the output head. */
    public static List<Weight> matrices(ModelWeights w) {
        List<Weight> all = new ArrayList<>(List.of(w.tokenEmbedding(), w.output()));
        for (BlockWeights b : w.blocks()) {
            all.addAll(List.of(b.matrices()));
        }
        return all;
    }

    /**
     * @param device how the device is named in the message ("the CUDA backend")
     * @param remedy what the user can do instead
     * @throws ModelFormatException naming the first tensor stored in a format not in {@code supported}
     */
    public static void require(Model model, Set<GgmlType> supported, String device, String remedy) {
        for (Weight m : matrices(model.weights())) {
            if (!supported.contains(m.type())) {
                throw new ModelFormatException(model.path(), "tensor '" + m.name() + "' is stored as " + m.type()
                        + ", which " + device + " cannot compute with; supported formats: " + supported + " ("
                        + remedy + ")");
            }
        }
    }
}
