package io.offload4j.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One test per kind of bad input. Each asserts the whole story of the message: what is wrong, where
 * (file, byte offset, key or tensor) and, where there is something to do, what.
 */
class GgufBadInputTest {

    static final String TRUNCATED = "the file is truncated or corrupt: download or convert the model again";
    static final String CORRUPT = "the file is corrupt: download or convert the model again";

    @TempDir
    Path dir;

    /** Parses {@code bytes} as test.gguf and asserts the message names the file and holds every fragment. */
    static ModelFormatException fails(byte[] bytes, String... fragments) {
        return fails(() -> RawGguf.parse(bytes).close(), "test.gguf: ", fragments);
    }

    static ModelFormatException fails(Executable call, String prefix, String... fragments) {
        ModelFormatException e = assertThrows(ModelFormatException.class, call);
        String m = e.getMessage();
        assertTrue(m.startsWith(prefix), () -> "message should start with the file name '" + prefix + "': " + m);
        for (String f : fragments) {
            assertTrue(m.contains(f), () -> "message lacks\n  " + f + "\nmessage:\n  " + m);
        }
        assertTrue(!m.contains("\n"), () -> "one line: " + m);
        return e;
    }

    /** A valid header start with one metadata entry to come. */
    private static RawGguf oneKv() {
        return RawGguf.header(3, 0, 1);
    }

    // ---- file level ------------------------------------------------------------------------------

    @Test
    void emptyFile() throws IOException {
        Path p = Files.createFile(dir.resolve("empty.gguf"));
        fails(() -> GgufFile.open(p), p + ": ", "the file is empty (0 bytes)", "the magic 'GGUF'",
                "is the download or copy incomplete?");
        fails(new byte[0], "the file is empty (0 bytes)");
    }

    @Test
    void fileShorterThanTheMagic() {
        fails(new byte[] {'G', 'G', 'U'}, "the file is only 3 bytes long", "the 4-byte magic 'GGUF'", "incomplete");
    }

    @Test
    void missingFileAndDirectory() throws IOException {
        Path missing = dir.resolve("nope.gguf");
        fails(() -> GgufFile.open(missing), missing + ": ", "no such file; check the model path");
        fails(() -> GgufFile.open(dir), dir + ": ", "is a directory; expected a .gguf file");
    }

    @Test
    void wrongMagic() {
        byte[] b = "GGML and some more bytes".getBytes(StandardCharsets.US_ASCII);
        fails(b, "offset 0: expected the magic 'GGUF', found 'GGML' (bytes 47 47 4d 4c)", "this is not a GGUF file",
                "convert_hf_to_gguf.py");
    }

    @Test
    void safetensorsFile() {
        byte[] json = "{\"__metadata__\":{\"format\":\"pt\"}}".getBytes(StandardCharsets.US_ASCII);
        byte[] b = new RawGguf().u64(json.length).raw(json).zeros(16).bytes();
        fails(b, "offset 0: expected the magic 'GGUF', found", "this looks like a safetensors file",
                "convert the model to GGUF first, e.g. with llama.cpp's convert_hf_to_gguf.py");
    }

    @Test
    void otherKnownNonGgufFiles() {
        fails(new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0}, "found '....' (bytes 1f 8b 08 00)",
                "this is a gzip-compressed file: decompress it first");
        fails("PK\u0003\u0004rest".getBytes(StandardCharsets.ISO_8859_1), "this is a zip archive (a PyTorch checkpoint?)");
        fails(new RawGguf().u32(0x67676a74).u32(3).bytes(), "found 'tjgg'", "a legacy GGML/GGMF/GGJT model from before GGUF");
        fails("FUGG\u0000\u0000\u0000\u0003".getBytes(StandardCharsets.ISO_8859_1), "found 'FUGG'", "big-endian GGUF");
    }

    @Test
    void bigEndianFile() {
        byte[] b = new RawGguf().raw("GGUF".getBytes(StandardCharsets.US_ASCII)).bigEndian().u32(3).u64(0).u64(0).bytes();
        fails(b, "offset 4: this is a big-endian GGUF file (version bytes 00 00 00 03)",
                "only little-endian files are supported");
    }

    static Stream<Arguments> versions() {
        return Stream.of(
                Arguments.of(1L, "unsupported GGUF version 1 (supported: 2 and 3); GGUF version 1 files are obsolete: "
                        + "re-convert the model with a current llama.cpp"),
                Arguments.of(4L, "unsupported GGUF version 4 (supported: 2 and 3); the file was written by a newer GGUF "
                        + "writer: update offload4j"),
                Arguments.of(0L, "unsupported GGUF version 0 (supported: 2 and 3); no GGUF writer produces this version: "
                        + "the file is corrupt"),
                Arguments.of(0xffff_ffffL, "unsupported GGUF version 4294967295 (supported: 2 and 3); no GGUF writer "
                        + "produces this version"),
                Arguments.of(0x0102_0304L, "unsupported GGUF version 16909060"));
    }

    @ParameterizedTest(name = "version {0}")
    @MethodSource("versions")
    void unsupportedVersion(long version, String expected) {
        fails(RawGguf.header((int) version, 0, 0).bytes(), "offset 4: " + expected);
    }

    // ---- truncation -------------------------------------------------------------------------------

    /** Offsets of interesting places in {@link #reference()}. */
    private static final class Layout {
        int keyLength0;
        int keyBytes0;
        int valueType0;
        int stringValue0;
        int u32Key;
        int u32Value;
        int arrayType;
        int arrayCount;
        int arrayElements;
        int stringArrayElement1;
        int tensorName;
        int tensorRank;
        int tensorDims;
        int tensorType;
        int tensorOffset;
        int headerEnd;
        int dataStart;
        int fileEnd;
    }

    /** A valid file whose parts are long enough that a cut inside one is reported as that part. */
    private static byte[] reference(Layout l) {
        RawGguf b = RawGguf.header(3, 1, 4);
        l.keyLength0 = b.size();
        b.u64(20);
        l.keyBytes0 = b.size();
        b.raw("general.architecture".getBytes(StandardCharsets.US_ASCII));
        l.valueType0 = b.size();
        b.u32(GgufValueType.STRING.id());
        l.stringValue0 = b.size();
        b.str("llama-with-a-long-architecture-name");
        l.u32Key = b.size();
        b.kv("llama.block_count", GgufValueType.UINT32);
        l.u32Value = b.size();
        b.u32(2);
        b.kv("tokenizer.ggml.scores", GgufValueType.ARRAY);
        l.arrayType = b.size();
        b.u32(GgufValueType.FLOAT32.id());
        l.arrayCount = b.size();
        b.u64(8);
        l.arrayElements = b.size();
        for (int i = 0; i < 8; i++) {
            b.f32(i);
        }
        b.kvArray("tokenizer.ggml.tokens", GgufValueType.STRING, 3).str("<unk>");
        l.stringArrayElement1 = b.size();
        b.str("<s>-but-a-longer-one").str("</s>");
        l.tensorName = b.size();
        b.str("blk.0.a.tensor.with.a.rather.long.name.weight");
        l.tensorRank = b.size();
        b.u32(2);
        l.tensorDims = b.size();
        b.u64(4).u64(2);
        l.tensorType = b.size();
        b.u32(GgmlType.F32.id());
        l.tensorOffset = b.size();
        b.u64(0);
        l.headerEnd = b.size();
        b.padTo(32);
        l.dataStart = b.size();
        b.zeros(32);
        l.fileEnd = b.size();
        return b.bytes();
    }

    static Stream<Arguments> truncations() {
        Layout l = new Layout();
        reference(l);
        String tensor = "tensor 'blk.0.a.tensor.with.a.rather.long.name.weight'";
        return Stream.of(
                Arguments.of("inside the version", 6, "offset 4: the header is cut off in the version (4 bytes needed, 2 left "
                        + "in the file)"),
                Arguments.of("inside the tensor count", 12, "offset 8: the header is cut off in the tensor count (8 bytes "
                        + "needed, 4 left in the file)"),
                Arguments.of("inside a key's length", l.keyLength0 + 3, "offset 24: the header is cut off in the length of "
                        + "the key of metadata entry 0 (8 bytes needed, 3 left in the file)"),
                Arguments.of("inside a key", l.keyBytes0 + 5, "offset 24: the key of metadata entry 0 claims a length of 20 "
                        + "bytes, but only 5 bytes are left in the file"),
                Arguments.of("inside a value type", l.valueType0 + 1, "offset " + l.valueType0 + ": the header is cut off "
                        + "in the value type of metadata key 'general.architecture' (4 bytes needed, 1 left"),
                Arguments.of("inside a string value", l.stringValue0 + 12, "offset " + l.stringValue0 + ": the STRING value "
                        + "of metadata key 'general.architecture' claims a length of 35 bytes, but only 4 bytes are left"),
                Arguments.of("inside a UINT32 value", l.u32Value + 2, "offset " + l.u32Value + ": the header is cut off in "
                        + "the UINT32 value of metadata key 'llama.block_count' (4 bytes needed, 2 left"),
                Arguments.of("inside an array's element type", l.arrayType + 3, "offset " + l.arrayType + ": the header is "
                        + "cut off in the array element type of metadata key 'tokenizer.ggml.scores'"),
                Arguments.of("inside an array's length", l.arrayCount + 7, "offset " + l.arrayCount + ": the header is cut "
                        + "off in the array length of metadata key 'tokenizer.ggml.scores' (8 bytes needed, 7 left"),
                Arguments.of("inside an array's elements", l.arrayElements + 10, "offset " + l.arrayCount + ": the array of "
                        + "metadata key 'tokenizer.ggml.scores' claims 8 FLOAT32 elements (at least 4 bytes each), but only "
                        + "10 bytes are left in the file"),
                Arguments.of("inside a string array element", l.stringArrayElement1 + 12, "offset " + l.stringArrayElement1
                        + ": the string at element 1 of the array of metadata key 'tokenizer.ggml.tokens' claims a length "
                        + "of 20 bytes, but only 4 bytes are left"),
                Arguments.of("inside a tensor name", l.tensorName + 36, "offset " + l.tensorName + ": the name of tensor "
                        + "info 0 claims a length of 45 bytes, but only 28 bytes are left"),
                Arguments.of("inside a tensor's dimensions", l.tensorDims + 12, "offset " + (l.tensorDims + 8) + ": the "
                        + "header is cut off in the dimensions of " + tensor + " (8 bytes needed, 4 left"),
                Arguments.of("inside a tensor's type", l.tensorType + 2, "offset " + l.tensorType + ": the header is cut off "
                        + "in the ggml type of " + tensor),
                Arguments.of("inside a tensor's data offset", l.tensorOffset + 4, "offset " + l.tensorOffset + ": the "
                        + "header is cut off in the data offset of " + tensor + " (8 bytes needed, 4 left"),
                Arguments.of("at the end of the header", l.headerEnd, "the header ends at offset " + l.headerEnd
                        + " and the tensor data should start at offset " + l.dataStart + ", but the file is only "
                        + l.headerEnd + " bytes long: no tensor data follows"),
                Arguments.of("inside the tensor data", l.fileEnd - 1, tensor + " (F32 [4, 2], 32 bytes at file offset "
                        + l.dataStart + " = data start " + l.dataStart + " + data offset 0) extends past the end of the file ("
                        + (l.fileEnd - 1) + " bytes)"));
    }

    @ParameterizedTest(name = "truncated {0}")
    @MethodSource("truncations")
    void truncatedFile(String where, int length, String expected) {
        byte[] full = reference(new Layout());
        try (GgufFile f = RawGguf.parse(full)) {
            assertEquals(1, f.tensors().size(), "the untruncated reference is valid");
        }
        fails(RawGguf.cut(full, length), "test.gguf: " + expected, TRUNCATED);
    }

    @Test
    void countsLargerThanTheFile() {
        // 1000 entries claimed, 100 zero bytes follow: entry 0 is an empty key with UINT8 0, entry 1 repeats the key
        fails(RawGguf.header(3, 0, 1000).zeros(100).bytes(),
                "offset 37: metadata key '' appears a second time (metadata entry 1)",
                "; note: the metadata count at offset 16 is 1000, but the 100 bytes after offset 24 can hold at most 7 "
                        + "metadata entries");
        fails(RawGguf.header(3, -1, 0).bytes(),
                "offset 24: the header is cut off in the length of the name of tensor info 0 (8 bytes needed, 0 left in "
                        + "the file)", TRUNCATED,
                "; note: the tensor count at offset 8 is 18446744073709551615, but the 0 bytes after offset 24 can hold "
                        + "at most 0 tensor infos");
        fails(RawGguf.header(3, 0, Long.MIN_VALUE).bytes(), "the metadata count at offset 16 is 9223372036854775808");
        // the check of the tensor count uses what is left after the metadata
        fails(RawGguf.header(3, 2, 1).kv("k", GgufValueType.STRING).str("x".repeat(40)).zeros(30).bytes(),
                "offset 93: tensor '' has 0 dimensions", "; note: the tensor count at offset 8 is 2, but the 30 bytes "
                        + "after offset 85 can hold at most 0 tensor infos");
        // a plausible count gets no note
        ModelFormatException e = fails(RawGguf.header(3, 0, 1).kv("k", GgufValueType.BOOL).u8(5).zeros(20).bytes(),
                "offset 37: the BOOL value of metadata key 'k' is the byte 0x05");
        assertTrue(!e.getMessage().contains("note"), e.getMessage());
    }

    // ---- metadata -----------------------------------------------------------------------------------

    @Test
    void stringLengthLargerThanTheFile() {
        fails(oneKv().u64(1L << 40).zeros(20).bytes(),
                "offset 24: the key of metadata entry 0 claims a length of 1099511627776 bytes, but only 20 bytes are left",
                TRUNCATED);
        fails(oneKv().kv("k", GgufValueType.STRING).u64(-2).zeros(20).bytes(),
                "offset 37: the STRING value of metadata key 'k' claims a length of 18446744073709551614 bytes, but only 20",
                TRUNCATED);
    }

    @Test
    void arrayCountLargerThanTheFile() {
        fails(oneKv().kvArray("k", GgufValueType.UINT8, 1L << 62).zeros(16).bytes(),
                "offset 41: the array of metadata key 'k' claims 4611686018427387904 UINT8 elements (at least 1 bytes each),"
                        + " but only 16 bytes are left in the file", TRUNCATED);
        fails(oneKv().kvArray("k", GgufValueType.STRING, 3).u64(0).u64(0).zeros(7).bytes(),
                "the array of metadata key 'k' claims 3 STRING elements (at least 8 bytes each), but only 23 bytes", TRUNCATED);
        fails(oneKv().kvArray("k", GgufValueType.INT64, -1).bytes(), "claims 18446744073709551615 INT64 elements");
    }

    @Test
    void unknownMetadataValueType() {
        fails(oneKv().str("my.key").u32(13).zeros(8).bytes(),
                "offset 38: metadata key 'my.key' has unknown value type 13 (GGUF value types are 0 to 12)", CORRUPT);
        fails(oneKv().str("my.key").u32(-1).zeros(8).bytes(), "has unknown value type 4294967295");
    }

    @Test
    void unknownArrayElementType() {
        fails(oneKv().kv("arr", GgufValueType.ARRAY).u32(42).u64(0).bytes(),
                "offset 39: the array of metadata key 'arr' has unknown element type 42 (GGUF value types are 0 to 12)",
                CORRUPT);
    }

    @Test
    void duplicateKey() {
        fails(RawGguf.header(3, 0, 3).kv("a", GgufValueType.UINT8).u8(1).kv("b", GgufValueType.UINT8).u8(2)
                        .kv("a", GgufValueType.UINT8).u8(3).bytes(),
                "offset 52: metadata key 'a' appears a second time (metadata entry 2); keys must be unique", CORRUPT);
    }

    @Test
    void invalidBool() {
        fails(oneKv().kv("flag", GgufValueType.BOOL).u8(2).bytes(),
                "offset 40: the BOOL value of metadata key 'flag' is the byte 0x02; a BOOL must be 0 or 1", CORRUPT);
        fails(oneKv().kvArray("flags", GgufValueType.BOOL, 3).u8(1).u8(0).u8(0xff).bytes(),
                "offset 55: BOOL element 2 of the array of metadata key 'flags' is the byte 0xff; a BOOL must be 0 or 1",
                CORRUPT);
    }

    @Test
    void nestedArraysDeeperThanTheLimit() {
        RawGguf b = oneKv().kv("deep", GgufValueType.ARRAY);
        for (int i = 0; i < GgufFile.MAX_ARRAY_DEPTH; i++) {
            b.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        b.u32(GgufValueType.UINT8.id()).u64(0);
        byte[] tooDeep = b.bytes();
        fails(tooDeep, "offset " + (40 + 12 * GgufFile.MAX_ARRAY_DEPTH) + ": the array of metadata key 'deep' nests arrays "
                + "more than 8 deep (real models nest at most 1 deep)", CORRUPT);

        RawGguf ok = oneKv().kv("deep", GgufValueType.ARRAY);
        for (int i = 0; i < GgufFile.MAX_ARRAY_DEPTH - 1; i++) {
            ok.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        ok.u32(GgufValueType.UINT8.id()).u64(0);
        try (GgufFile f = RawGguf.parse(ok.bytes())) {
            assertEquals(1, f.metadata().getArray("deep").length(), "8 levels are accepted");
        }
    }

    @Test
    void alignmentNotUint32() {
        fails(oneKv().kv("general.alignment", GgufValueType.INT32).u32(32).bytes(),
                "offset 49: metadata key 'general.alignment' is INT32; GGUF requires UINT32", CORRUPT);
    }

    @Test
    void alignmentNotAPowerOfTwo() {
        fails(oneKv().kv("general.alignment", GgufValueType.UINT32).u32(48).bytes(),
                "offset 49: metadata key 'general.alignment' is 48; it must be a power of two (32 by default)", CORRUPT);
    }

    @Test
    void alignmentZero() {
        fails(oneKv().kv("general.alignment", GgufValueType.UINT32).u32(0).bytes(),
                "offset 49: metadata key 'general.alignment' is 0; it must be a power of two", CORRUPT);
    }

    @Test
    void alignmentTooLarge() {
        fails(oneKv().kv("general.alignment", GgufValueType.UINT32).u32(1L << 31).bytes(),
                "metadata key 'general.alignment' is 2147483648; alignments above 1073741824 bytes are not supported");
    }

    // ---- tensor infos -------------------------------------------------------------------------------

    /** One tensor info (from {@code info}), padding and {@code dataBytes} of data. */
    private static byte[] oneTensor(java.util.function.UnaryOperator<RawGguf> info, int dataBytes) {
        return info.apply(RawGguf.header(3, 1, 0)).padTo(32).zeros(dataBytes).bytes();
    }

    @Test
    void rankZero() {
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 0), 32),
                "offset 33: tensor 't' has 0 dimensions; GGUF tensors have 1 to 4", CORRUPT);
    }

    @Test
    void rankFive() {
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 0, 1, 1, 1, 1, 1), 32),
                "offset 33: tensor 't' has 5 dimensions; GGUF tensors have 1 to 4", CORRUPT);
        fails(oneTensor(b -> b.str("t").u32(-1).zeros(40), 32), "tensor 't' has 4294967295 dimensions");
    }

    @Test
    void zeroDimension() {
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 0, 4, 0), 32),
                "offset 45: dimension 1 of tensor 't' is 0; every dimension must be at least 1", CORRUPT);
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 0, -4), 32),
                "offset 37: dimension 0 of tensor 't' is 18446744073709551612; every dimension must be at least 1");
    }

    @Test
    void rowNotAMultipleOfTheBlockSize() {
        fails(oneTensor(b -> b.tensorInfo("blk.0.attn_q.weight", GgmlType.Q4_K, 0, 384, 2), 1024),
                "offset 55: tensor 'blk.0.attn_q.weight' (Q4_K) has rows of 384 elements, but Q4_K stores blocks of 256 "
                        + "elements: the row length must be a multiple of 256", CORRUPT);
    }

    @Test
    void unknownGgmlTypeId() {
        fails(oneTensor(b -> b.tensorInfo("t", 40, 0, 32), 64), "offset 45: tensor 't' has unknown ggml type id 40; the "
                + "file may use a type newer than this engine knows: update offload4j or re-quantize the model");
        fails(oneTensor(b -> b.tensorInfo("t", 4, 0, 32), 64), "tensor 't' has unknown ggml type id 4 (Q4_2/Q4_3, removed "
                + "from ggml in 2023): re-quantize the model with a current llama.cpp");
        fails(oneTensor(b -> b.tensorInfo("t", 31, 0, 32), 64), "unknown ggml type id 31 (a repacked Q4_0/IQ4_NL layout");
        fails(oneTensor(b -> b.tensorInfo("t", -7, 0, 32), 64), "unknown ggml type id 4294967289; " + CORRUPT);
    }

    @Test
    void dataOffsetNotAligned() {
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 7, 4), 64),
                "offset 49: tensor 't' has data offset 7, which is not a multiple of the alignment 32 (the default; no "
                        + "general.alignment)", CORRUPT);
        fails(RawGguf.header(3, 1, 1).kv("general.alignment", GgufValueType.UINT32).u32(64)
                        .tensorInfo("t", GgmlType.F32, 32, 4).padTo(64).zeros(128).bytes(),
                "tensor 't' has data offset 32, which is not a multiple of the alignment 64 (general.alignment)");
    }

    @Test
    void tensorExtendsPastTheEndOfTheFile() {
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 0, 16), 60),
                "tensor 't' (F32 [16], 64 bytes at file offset 64 = data start 64 + data offset 0) extends past the end of "
                        + "the file (124 bytes)", TRUNCATED);
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, 1L << 62, 16), 64),
                "64 bytes at file offset 4611686018427387968 = data start 64 + data offset 4611686018427387904) extends "
                        + "past the end of the file (128 bytes)");
        fails(oneTensor(b -> b.tensorInfo("t", GgmlType.F32, Long.MAX_VALUE - 31, 16), 64),
                "data offset 9223372036854775776) extends past the end of the file");
    }

    /** The low-bit formats of llama-quantize's presets: their block sizes enter the same checks. */
    @Test
    void truncatedOrMisshapenLowBitTensors() {
        // Two rows of 256 Q2_K values are 2 x 84 bytes; 100 bytes of data hold only part of them.
        fails(oneTensor(b -> b.tensorInfo("blk.0.attn_q.weight", GgmlType.Q2_K, 0, 256, 2), 100),
                "tensor 'blk.0.attn_q.weight' (Q2_K [256, 2], 168 bytes at file offset 96", "extends past the end of the file",
                TRUNCATED);
        fails(oneTensor(b -> b.tensorInfo("blk.0.ffn_down.weight", GgmlType.IQ4_XS, 0, 384, 2), 1024),
                "tensor 'blk.0.ffn_down.weight' (IQ4_XS) has rows of 384 elements, but IQ4_XS stores blocks of 256 "
                        + "elements: the row length must be a multiple of 256", CORRUPT);
        fails(oneTensor(b -> b.tensorInfo("blk.0.ffn_down.weight", GgmlType.Q5_0, 0, 48, 2), 1024),
                "(Q5_0) has rows of 48 elements, but Q5_0 stores blocks of 32 elements", CORRUPT);
    }

    @Test
    void duplicateTensorName() {
        byte[] b = RawGguf.header(3, 2, 0).tensorInfo("w", GgmlType.F32, 0, 8).tensorInfo("w", GgmlType.F32, 32, 8)
                .padTo(32).zeros(64).bytes();
        fails(b, "offset 57: tensor name 'w' appears a second time (tensor info 1); tensor names must be unique", CORRUPT);
    }

    @Test
    void elementCountOverflow() {
        fails(oneTensor(b -> b.tensorInfo("huge", GgmlType.F32, 0, 1L << 32, 1L << 32), 32),
                "offset 48: tensor 'huge' has dimensions [4294967296, 4294967296], more than 2^63-1 elements", CORRUPT);
        fails(oneTensor(b -> b.tensorInfo("huge", GgmlType.F32, 0, 1L << 31, 1L << 31, 4, 1), 32),
                "tensor 'huge' has dimensions [2147483648, 2147483648, 4, ...], more than 2^63-1 elements");
    }

    @Test
    void byteSizeOverflow() {
        fails(oneTensor(b -> b.tensorInfo("wide", GgmlType.F64, 0, 1L << 31, 1L << 30), 32),
                "offset 36: tensor 'wide' (F64 [2147483648, 1073741824]) needs more than 2^63-1 bytes", CORRUPT);
    }

    // ---- typed accessors ----------------------------------------------------------------------------

    private static GgufFile accessorFile() {
        byte[] b = RawGguf.header(3, 0, 8)
                .kv("n", GgufValueType.INT32).u32(5)
                .kv("s", GgufValueType.STRING).str("text")
                .kv("big", GgufValueType.UINT32).u32(0xffff_ffffL)
                .kv("huge", GgufValueType.UINT64).u64(-1)
                .kvArray("ints", GgufValueType.INT32, 2).u32(1).u32(2)
                .kvArray("strs", GgufValueType.STRING, 1).str("a")
                .kvArray("u64s", GgufValueType.UINT64, 2).u64(1).u64(-1)
                .kv("b", GgufValueType.BOOL).u8(1)
                .bytes();
        return RawGguf.parse(b);
    }

    @Test
    void getStringOnAnInteger() {
        try (GgufFile f = accessorFile()) {
            fails(() -> f.metadata().getString("n"), "test.gguf: ",
                    "metadata key 'n' is INT32 (5), expected a string; the file was written for a different model format or is corrupt");
        }
    }

    @Test
    void missingKey() {
        try (GgufFile f = accessorFile()) {
            fails(() -> f.metadata().getString("general.architecture"), "test.gguf: ",
                    "metadata key 'general.architecture' is missing (expected a string); is this a complete GGUF model file?");
            fails(() -> f.metadata().getInt("llama.block_count"), "test.gguf: ",
                    "metadata key 'llama.block_count' is missing (expected an integer)");
            assertEquals(7, f.metadata().getInt("llama.block_count", 7), "a default for an absent key");
        }
    }

    @Test
    void otherTypedAccessorMismatches() {
        try (GgufFile f = accessorFile()) {
            GgufMetadata m = f.metadata();
            fails(() -> m.getInt("s"), "test.gguf: ", "metadata key 's' is STRING ('text'), expected an integer");
            fails(() -> m.getFloat("b"), "test.gguf: ", "metadata key 'b' is BOOL (true), expected a number");
            fails(() -> m.getBoolean("n"), "test.gguf: ", "metadata key 'n' is INT32 (5), expected a bool");
            fails(() -> m.getArray("s"), "test.gguf: ", "metadata key 's' is STRING ('text'), expected an array");
            fails(() -> m.getString("ints"), "test.gguf: ", "metadata key 'ints' is an array of 2 INT32, expected a string");
            fails(() -> m.getStringArray("ints"), "test.gguf: ",
                    "metadata key 'ints' is an array of 2 INT32, expected an array of STRING");
            fails(() -> m.getFloatArray("strs"), "test.gguf: ",
                    "metadata key 'strs' is an array of 1 STRING, expected an array of FLOAT32");
            fails(() -> m.getIntArray("strs"), "test.gguf: ",
                    "metadata key 'strs' is an array of 1 STRING, expected an array of integers");
            fails(() -> m.getInt("big"), "test.gguf: ",
                    "metadata key 'big' is 4294967295, which does not fit a 32-bit integer (expected at most 2147483647)");
            fails(() -> m.getLong("huge"), "test.gguf: ",
                    "metadata key 'huge' is the UINT64 18446744073709551615, which does not fit a signed 64-bit integer");
            fails(() -> m.getIntArray("u64s"), "test.gguf: ",
                    "metadata key 'u64s' element 1 is 18446744073709551615, which does not fit a 32-bit integer");
            fails(() -> m.getInt("s", 3), "test.gguf: ", "metadata key 's' is STRING ('text'), expected an integer");
        }
    }
}
