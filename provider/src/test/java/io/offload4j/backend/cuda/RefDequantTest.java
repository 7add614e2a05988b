package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.testing.QuantFixtures;
import io.offload4j.testing.SharedData;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The GPU tests' reference decoder agrees with ggml's dequantization of the K-quant files (no GPU). */
class RefDequantTest {

    /** ... and with ggml's dequantization of the committed Q5_0/Q5_1/Q2_K/Q3_K/IQ4_NL/IQ4_XS fixtures, bit for bit. */
    @Test
    void matchesGgmlFixtures() {
        for (QuantFixtures.Tensor t : QuantFixtures.tensors()) {
            for (int r = 0; r < t.rows(); r++) {
                float[] got = RefDequant.row(t.format(), t.quantized(), r * t.rowBytes(), t.cols());
                for (int c = 0; c < t.cols(); c++) {
                    float w = t.reference()[r * t.cols() + c];
                    assertEquals(Float.floatToRawIntBits(w), Float.floatToRawIntBits(got[c]),
                            t + " row " + r + " col " + c + ": " + got[c] + " vs " + w);
                }
            }
        }
    }

    @Test
    void matchesGgml() throws Exception {
        Path dir = SharedData.require("models/kquant/dequantized");
        List<Path> refs;
        try (Stream<Path> s = Files.list(dir)) {
            refs = s.filter(p -> p.toString().endsWith(".f32")).sorted().toList();
        }
        assumeTrue(!refs.isEmpty());
        for (Path ref : refs) {
            String name = ref.getFileName().toString();
            String preset = name.substring(0, name.indexOf('.'));
            String tensor = name.substring(name.indexOf('.') + 1, name.length() - 4);
            try (GgufFile f = GgufFile.open(dir.getParent().resolve(preset + ".gguf"))) {
                GgufTensorInfo info = f.tensors().get(tensor);
                int cols = (int) info.dim(0);
                int rows = (int) info.dim(1);
                byte[] bytes = f.tensorData(info).toArray(ValueLayout.JAVA_BYTE);
                float[] want = new float[rows * cols];
                ByteBuffer.wrap(Files.readAllBytes(ref)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(want);
                int rowBytes = Math.toIntExact(info.type().bytesFor(cols));
                for (int r = 0; r < rows; r++) {
                    float[] got = RefDequant.row(info.type(), bytes, r * rowBytes, cols);
                    for (int c = 0; c < cols; c++) {
                        float w = want[r * cols + c];
                        assertTrue(got[c] == w || Math.abs(got[c] - w) <= Math.ulp(w),
                                name + " row " + r + " col " + c + ": " + got[c] + " vs " + w);
                    }
                }
            }
        }
    }
}
