package io.offload4j.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Path NAME = Path.of("test.safetensors");

    @TempDir
    Path dir;

    @Test
    void readsWhatTheWriterWrote() throws IOException {
        float[] a = {1f, -2.5f, 3.25f, 0f, 7f, -8f};
        Path f = new SafetensorsWriter()
                .metadata("format", "pt")
                .add("a", SafetensorsDtype.F32, new long[] {2, 3}, SafetensorsWriter.encode(a, SafetensorsDtype.F32))
                .add("b", SafetensorsDtype.BF16, new long[] {4}, SafetensorsWriter.encode(new float[] {1, 2, 3, 4},
                        SafetensorsDtype.BF16))
                .add("empty", SafetensorsDtype.F16, new long[] {0, 5}, new byte[0])
                .write(dir.resolve("m.safetensors"));
        try (SafetensorsFile s = SafetensorsFile.open(f)) {
            assertEquals(Map.of("format", "pt"), s.metadata());
            assertEquals(java.util.List.of("a", "b", "empty"), java.util.List.copyOf(s.tensors().keySet()));
            SafetensorsTensorInfo info = s.tensors().get("a");
            assertEquals(SafetensorsDtype.F32, info.dtype());
            assertArrayEquals(new long[] {2, 3}, info.shape());
            assertEquals(0, s.dataStart() % 8, "the header is padded to 8 bytes");
            assertArrayEquals(a, s.tensorData(info).toArray(F32));
            assertEquals(GgmlType.BF16, s.tensors().get("b").dtype().ggmlType().orElseThrow());
            assertEquals(8, s.tensorData(s.tensors().get("b")).byteSize());
            assertEquals(0, s.tensorData(s.tensors().get("empty")).byteSize());
        }
    }

    @Test
    void mapsFilesItDoesNotOwnWithoutClosingThem() {
        byte[] bytes = new SafetensorsWriter().add("x", SafetensorsDtype.F32, new long[] {1}, new byte[4]).bytes();
        SafetensorsFile s = SafetensorsFile.parse(NAME, MemorySegment.ofArray(bytes));
        s.close();
        assertEquals(4, s.tensorData(s.tensors().get("x")).byteSize());
    }

    /** Mixed dtypes leave tensors at any byte offset; the engine's kernels read unaligned data. */
    @Test
    void tensorsAfterAnOddSizedOneAreUnaligned() {
        float[] v = {1.5f, -2.25f, 3f};
        byte[] b = new SafetensorsWriter()
                .add("odd", SafetensorsDtype.BF16, new long[] {1}, SafetensorsWriter.encode(new float[] {1}, SafetensorsDtype.BF16))
                .add("f32", SafetensorsDtype.F32, new long[] {3}, SafetensorsWriter.encode(v, SafetensorsDtype.F32))
                .bytes();
        SafetensorsFile s = SafetensorsFile.parse(NAME, MemorySegment.ofArray(b));
        SafetensorsTensorInfo t = s.tensors().get("f32");
        assertEquals(2, t.begin());
        float[] out = new float[3];
        io.offload4j.quant.CpuKernels.scalar(GgmlType.F32).dequantize(s.tensorData(t), 0, out, 0, 3);
        assertArrayEquals(v, out);
    }

    // ---- one test per message ----

    @Test
    void missingFile() {
        fails(() -> SafetensorsFile.open(dir.resolve("nope.safetensors")), "no such file; check the model path");
    }

    @Test
    void directoryInsteadOfFile() {
        fails(() -> SafetensorsFile.open(dir), "is a directory; expected a .safetensors file");
    }

    @Test
    void shorterThanTheLengthField() {
        fails(new byte[] {1, 2, 3}, "the file is only 3 bytes long; a safetensors file starts with an 8-byte header"
                + " length; the file is truncated");
    }

    @Test
    void ggufFile() {
        byte[] b = new byte[32];
        b[0] = 'G';
        b[1] = 'G';
        b[2] = 'U';
        b[3] = 'F';
        fails(b, "offset 0: this is a GGUF file, not safetensors; pass the .gguf file itself");
    }

    @Test
    void headerLengthBeyondTheFile() {
        byte[] ok = new SafetensorsWriter().add("x", SafetensorsDtype.F32, new long[] {1}, new byte[4]).bytes();
        ByteBuffer.wrap(ok).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1000);
        fails(ok, "offset 0: the header length is 1000 bytes, but only " + (ok.length - 8) + " bytes follow it in the"
                + " file; the file is truncated or corrupt");
    }

    @Test
    void headerLengthWithTheTopBitSet() {
        byte[] b = new byte[16];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -2);
        fails(b, "offset 0: the header length is 18446744073709551614 bytes, but only 8 bytes follow it");
    }

    @Test
    void headerLongerThanTheFormatAllows() throws IOException {
        Path f = dir.resolve("huge.safetensors");
        long n = SafetensorsFile.MAX_HEADER_BYTES + 8;
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(8 + n); // sparse: costs no disk
            r.write(ByteBuffer.allocate(9).order(ByteOrder.LITTLE_ENDIAN).putLong(n).put((byte) '{').array());
        }
        fails(() -> SafetensorsFile.open(f), "offset 0: the header length is " + n + " bytes, more than the format's"
                + " limit of 100000000; the file is corrupt");
    }

    @Test
    void headerNotAnObject() {
        fails(SafetensorsWriter.raw("[1, 2]", new byte[0]), "offset 8: the JSON header must start with '{', found byte 0x5b");
    }

    @Test
    void malformedJsonNamesTheOffset() {
        byte[] b = SafetensorsWriter.raw("{\"x\": {\"dtype\": \"F32\",, }}", new byte[0]);
        fails(b, "offset 30: the JSON header is malformed: Unexpected character (','");
    }

    @Test
    void duplicateTensorName() {
        String h = "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}";
        fails(SafetensorsWriter.raw(h, new byte[8]), "the JSON header is malformed: Duplicate field 'x'");
    }

    @Test
    void metadataNotAnObject() {
        fails(SafetensorsWriter.raw("{\"__metadata__\": [1]}", new byte[0]),
                "header entry '__metadata__' is an array; it must be an object of strings");
    }

    @Test
    void metadataValueNotAString() {
        fails(SafetensorsWriter.raw("{\"__metadata__\": {\"format\": 1}}", new byte[0]),
                "header entry '__metadata__.format' is 1; metadata values must be strings");
    }

    @Test
    void tensorEntryNotAnObject() {
        fails(SafetensorsWriter.raw("{\"w\": 3}", new byte[0]),
                "tensor 'w': the header entry is 3; expected an object with dtype, shape and data_offsets");
    }

    @Test
    void missingDtype() {
        fails(SafetensorsWriter.raw("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", new byte[4]),
                "tensor 'w': the header entry has no 'dtype'; the file is corrupt");
    }

    @Test
    void dtypeNotAString() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": 7, \"shape\": [1], \"data_offsets\": [0, 4]}}", new byte[4]),
                "tensor 'w': dtype is 7; expected a string such as \"BF16\"");
    }

    @Test
    void unknownDtype() {
        byte[] b = new SafetensorsWriter().add("w", "F12", new long[] {2}, new byte[4]).bytes();
        fails(b, "tensor 'w': unknown dtype 'F12'; known: BOOL, U8");
    }

    @Test
    void shapeNotAnArray() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", new byte[16]),
                "tensor 'w': shape is 4; expected an array of dimension sizes");
    }

    @Test
    void negativeDimension() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 8]}}",
                new byte[8]), "tensor 'w': shape[1] is -1; expected a non-negative integer");
    }

    @Test
    void elementCountOverflows() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296],"
                + " \"data_offsets\": [0, 8]}}", new byte[8]), "has more than 2^63-1 elements");
    }

    @Test
    void dataOffsetsNotAPair() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", new byte[4]),
                "tensor 'w': data_offsets is [0]; expected [begin, end]");
    }

    @Test
    void offsetsEndBeforeTheyBegin() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", new byte[4]),
                "tensor 'w': data_offsets [4, 0] end before they begin");
    }

    @Test
    void tensorBeyondTheEndOfTheFile() {
        byte[] full = new SafetensorsWriter().add("w", SafetensorsDtype.F32, new long[] {4}, new byte[16]).bytes();
        fails(java.util.Arrays.copyOf(full, full.length - 4), "tensor 'w': data_offsets [0, 16] reach past the end of"
                + " the file: the data section after the header holds only 12 bytes; the file is truncated");
    }

    @Test
    void sizeDisagreesWithShapeAndDtype() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"BF16\", \"shape\": [3, 2], \"data_offsets\": [0, 8]}}",
                new byte[8]), "tensor 'w': BF16 [3, 2] is 6 elements of 16 bits = 12 bytes, but data_offsets [0, 8]"
                + " hold 8 bytes");
    }

    @Test
    void subByteTypesMustFillWholeBytes() {
        fails(SafetensorsWriter.raw("{\"w\": {\"dtype\": \"F4\", \"shape\": [3], \"data_offsets\": [0, 2]}}",
                new byte[2]), "tensor 'w': F4 [3] is 3 elements of 4 bits = 12 bits, but data_offsets [0, 2] hold 2 bytes");
    }

    @Test
    void overlappingTensors() {
        String h = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}";
        fails(SafetensorsWriter.raw(h, new byte[12]), "tensors 'a' (data_offsets [0, 8]) and 'b' ([4, 12]) overlap");
    }

    @Test
    void gapBetweenTensors() {
        String h = "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}";
        byte[] b = SafetensorsWriter.raw(h, new byte[12]);
        long start = b.length - 12;
        fails(b, "file offsets " + (start + 4) + " to " + (start + 8) + " belong to no tensor (a gap before tensor 'b',"
                + " data_offsets [8, 12]); safetensors files have no gaps");
    }

    @Test
    void bytesAfterTheLastTensor() {
        byte[] b = SafetensorsWriter.raw("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                new byte[10]);
        fails(b, "the tensors end at file offset " + (b.length - 6) + ", but the file has 6 more bytes");
    }

    @Test
    void controlCharactersInNamesAreEscaped() {
        byte[] b = new SafetensorsWriter().add("bad\nname", "F99", new long[] {1}, new byte[4]).bytes();
        fails(b, "tensor 'bad\\u000aname': unknown dtype 'F99'");
    }

    @Test
    void headerIsUtf8() {
        byte[] b = new SafetensorsWriter().add("gewicht_ä", SafetensorsDtype.F32, new long[] {1}, new byte[4]).bytes();
        SafetensorsFile s = SafetensorsFile.parse(NAME, MemorySegment.ofArray(b));
        assertTrue(s.tensors().containsKey("gewicht_ä"));
        assertTrue(s.headerJson().contains("\"gewicht_ä\""), s.headerJson());
    }

    private static void fails(byte[] bytes, String expected) {
        fails(() -> SafetensorsFile.parse(NAME, MemorySegment.ofArray(bytes)), expected);
    }

    static void fails(org.junit.jupiter.api.function.Executable e, String expected) {
        ModelFormatException x = assertThrows(ModelFormatException.class, e);
        assertTrue(x.getMessage().contains(expected), "expected message containing\n  " + expected + "\nbut got\n  "
                + x.getMessage());
    }

    static void write(Path p, byte[] b) {
        try {
            Files.write(p, b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
