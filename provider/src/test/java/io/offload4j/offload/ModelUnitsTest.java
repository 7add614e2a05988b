package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.model.Weight;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The output head cut into units: slices that cover its rows in order, none larger than the largest block (a slice
 * must fit a staging slot), each but the last a whole number of 64-row tiles (so that the GPU's batched head pass runs
 * every slice on the small GEMM; with 625-row slices it fell back to row-by-row kernels).
 */
class ModelUnitsTest {

    @TempDir
    Path dir;

    @ParameterizedTest(name = "vocabulary {0}")
    @ValueSource(ints = {5000, 4999, 151936 / 16, 300})
    void headSlicesCoverTheHeadInWholeTilesNoneLargerThanABlock(int vocabulary) {
        Path file = dir.resolve("wide-head.gguf");
        SyntheticModelWriter.write(new SyntheticModelSpec("wide-head", Architecture.LLAMA, 64, 2, 128, 4, 4, 0,
                vocabulary, 64, QuantPreset.F16, false, 3), file);
        try (Model model = Model.load(file)) {
            ModelUnits units = ModelUnits.of(model.weights(), ModelUnitsTest::bytes);
            long largestBlock = Arrays.stream(units.bytes(), 0, units.blocks()).max().orElseThrow();
            int slices = units.names().length - units.blocks();
            int next = 0;
            for (int u = units.blocks(); u < units.names().length; u++) {
                Weight slice = units.parts()[u][0];
                assertEquals(slices == 1 ? "output" : "output " + (u - units.blocks() + 1) + "/" + slices,
                        units.names()[u]);
                assertEquals(next, units.firstRows()[u], units.names()[u] + " starts where the one before ended");
                assertTrue(units.bytes()[u] <= largestBlock || slices == 1,
                        units.names()[u] + ": " + units.bytes()[u] + " bytes > the largest block's " + largestBlock);
                boolean lastSlice = u == units.names().length - 1;
                assertTrue(lastSlice || slice.rows() % ModelUnits.SLICE_ROW_MULTIPLE == 0,
                        units.names()[u] + " has " + slice.rows() + " rows, not whole 64-row tiles");
                next += slice.rows();
            }
            assertEquals(vocabulary, next, "the slices cover every row of the head");
            if (vocabulary > 1000) {
                assertTrue(slices > 1, "a head this much larger than a block is sliced: " + slices);
            }
        }
    }

    private static long bytes(Weight[] matrices) {
        long n = 0;
        for (Weight w : matrices) {
            n += w.data().byteSize();
        }
        return n;
    }
}
