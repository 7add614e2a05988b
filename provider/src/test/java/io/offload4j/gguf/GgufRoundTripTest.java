package io.offload4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Writer → reader: every value type, arrays, alignment, tensors; offsets and bytes exactly preserved. */
class GgufRoundTripTest {

    @TempDir
    Path dir;

    private static final ValueLayout.OfFloat LE_F32 =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final String NON_ASCII = "héllo wörld ÆØÅ — 世界 🦙 \u0000 nul";

    private Path write(GgufWriter w) {
        Path p = dir.resolve("t" + System.nanoTime() + ".gguf");
        w.write(p);
        return p;
    }

    @Test
    void everyScalarTypeRoundTrips() {
        GgufWriter w = new GgufWriter()
                .put("u8.min", GgufValueType.UINT8, 0).put("u8.max", GgufValueType.UINT8, 255)
                .put("i8.min", GgufValueType.INT8, -128).put("i8.max", GgufValueType.INT8, 127)
                .put("u16.max", GgufValueType.UINT16, 65535).put("i16.min", GgufValueType.INT16, -32768)
                .put("u32.max", GgufValueType.UINT32, 0xffff_ffffL).putUInt32("u32.small", 7)
                .putInt32("i32.min", Integer.MIN_VALUE).put("i32.max", GgufValueType.INT32, Integer.MAX_VALUE)
                .put("u64.big", GgufValueType.UINT64, Long.MAX_VALUE).put("u64.max", GgufValueType.UINT64, -1L)
                .put("i64.min", GgufValueType.INT64, Long.MIN_VALUE)
                .putFloat32("f32", -1.5e-7f).put("f32.nan", GgufValueType.FLOAT32, Float.intBitsToFloat(0x7fc0_1234))
                .put("f64", GgufValueType.FLOAT64, Math.PI).put("f64.negzero", GgufValueType.FLOAT64, -0.0)
                .putBool("b.true", true).putBool("b.false", false)
                .putString("s.ascii", "llama").putString("s.empty", "").putString("s.unicode", NON_ASCII)
                .putString("key with ünïcode ✓", "v");
        try (GgufFile f = GgufFile.open(write(w))) {
            GgufMetadata m = f.metadata();
            assertEquals(3, f.version());
            assertEquals(0, f.tensors().size());
            assertEntry(m, "u8.min", GgufValueType.UINT8, 0);
            assertEntry(m, "u8.max", GgufValueType.UINT8, 255);
            assertEntry(m, "i8.min", GgufValueType.INT8, -128);
            assertEntry(m, "i8.max", GgufValueType.INT8, 127);
            assertEntry(m, "u16.max", GgufValueType.UINT16, 65535);
            assertEntry(m, "i16.min", GgufValueType.INT16, -32768);
            assertEntry(m, "u32.max", GgufValueType.UINT32, 0xffff_ffffL);
            assertEntry(m, "u32.small", GgufValueType.UINT32, 7L);
            assertEntry(m, "i32.min", GgufValueType.INT32, Integer.MIN_VALUE);
            assertEntry(m, "i32.max", GgufValueType.INT32, Integer.MAX_VALUE);
            assertEntry(m, "u64.big", GgufValueType.UINT64, Long.MAX_VALUE);
            assertEntry(m, "u64.max", GgufValueType.UINT64, -1L);
            assertEntry(m, "i64.min", GgufValueType.INT64, Long.MIN_VALUE);
            assertEntry(m, "f32", GgufValueType.FLOAT32, -1.5e-7f);
            assertEquals(0x7fc0_1234, Float.floatToRawIntBits((Float) m.get("f32.nan")), "NaN payload kept");
            assertEntry(m, "f64", GgufValueType.FLOAT64, Math.PI);
            assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits((Double) m.get("f64.negzero")));
            assertEntry(m, "b.true", GgufValueType.BOOL, true);
            assertEntry(m, "b.false", GgufValueType.BOOL, false);
            assertEntry(m, "s.ascii", GgufValueType.STRING, "llama");
            assertEntry(m, "s.empty", GgufValueType.STRING, "");
            assertEntry(m, "s.unicode", GgufValueType.STRING, NON_ASCII);
            assertEntry(m, "key with ünïcode ✓", GgufValueType.STRING, "v");
            // typed accessors
            assertEquals(255, m.getInt("u8.max"));
            assertEquals(0xffff_ffffL, m.getLong("u32.max"));
            assertEquals(Long.MAX_VALUE, m.getLong("u64.big"));
            assertEquals(-1.5e-7f, m.getFloat("f32"));
            assertEquals((float) Math.PI, m.getFloat("f64"));
            assertEquals(7f, m.getFloat("u32.small"));
            assertTrue(m.getBoolean("b.true"));
            assertEquals(NON_ASCII, m.getString("s.unicode"));
            assertEquals(List.copyOf(m.keys()), List.of("u8.min", "u8.max", "i8.min", "i8.max", "u16.max", "i16.min",
                    "u32.max", "u32.small", "i32.min", "i32.max", "u64.big", "u64.max", "i64.min", "f32", "f32.nan",
                    "f64", "f64.negzero", "b.true", "b.false", "s.ascii", "s.empty", "s.unicode", "key with ünïcode ✓"),
                    "file order kept");
        }
    }

    private static void assertEntry(GgufMetadata m, String key, GgufValueType type, Object value) {
        GgufMetadata.Entry e = m.entry(key).orElseThrow(() -> new AssertionError("missing " + key));
        assertEquals(type, e.type(), key);
        assertEquals(value, e.value(), key);
    }

    @Test
    void arraysOfEveryTypeRoundTrip() {
        GgufArray inner1 = new GgufArray(GgufValueType.INT32, new int[] {1, 2, 3});
        GgufArray inner2 = new GgufArray(GgufValueType.INT32, new int[] {});
        GgufArray strings = new GgufArray(GgufValueType.STRING, new String[] {"a", "", NON_ASCII});
        GgufArray deep = new GgufArray(GgufValueType.ARRAY, new GgufArray[] {
                new GgufArray(GgufValueType.ARRAY, new GgufArray[] {new GgufArray(GgufValueType.FLOAT64, new double[] {2.5})})});
        GgufWriter w = new GgufWriter()
                .put("a.u8", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT8, new int[] {0, 1, 128, 255}))
                .put("a.i8", GgufValueType.ARRAY, new GgufArray(GgufValueType.INT8, new int[] {-128, -1, 0, 127}))
                .put("a.u16", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT16, new int[] {0, 65535, 4660}))
                .put("a.i16", GgufValueType.ARRAY, new GgufArray(GgufValueType.INT16, new int[] {-32768, 32767}))
                .put("a.u32", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT32, new long[] {0, 0xffff_ffffL}))
                .putInt32s("a.i32", Integer.MIN_VALUE, -1, Integer.MAX_VALUE)
                .putFloats("a.f32", 1f, -0f, Float.MIN_VALUE, Float.NEGATIVE_INFINITY)
                .put("a.bool", GgufValueType.ARRAY, new GgufArray(GgufValueType.BOOL, new boolean[] {true, false, true}))
                .putStrings("a.str", "<s>", "", "▁the", NON_ASCII)
                .put("a.u64", GgufValueType.ARRAY, new GgufArray(GgufValueType.UINT64, new long[] {-1L, 0}))
                .put("a.i64", GgufValueType.ARRAY, new GgufArray(GgufValueType.INT64, new long[] {Long.MIN_VALUE, 5}))
                .put("a.f64", GgufValueType.ARRAY, new GgufArray(GgufValueType.FLOAT64, new double[] {1e300, -2}))
                .put("a.nested", GgufValueType.ARRAY, new GgufArray(GgufValueType.ARRAY, new GgufArray[] {inner1, inner2, strings}))
                .put("a.deep", GgufValueType.ARRAY, deep);
        for (GgufValueType t : GgufValueType.values()) {
            w.put("empty." + t, GgufValueType.ARRAY, new GgufArray(t, emptyValues(t)));
        }
        try (GgufFile f = GgufFile.open(write(w))) {
            GgufMetadata m = f.metadata();
            assertArray(m, "a.u8", GgufValueType.UINT8, new int[] {0, 1, 128, 255});
            assertArray(m, "a.i8", GgufValueType.INT8, new int[] {-128, -1, 0, 127});
            assertArray(m, "a.u16", GgufValueType.UINT16, new int[] {0, 65535, 4660});
            assertArray(m, "a.i16", GgufValueType.INT16, new int[] {-32768, 32767});
            assertArray(m, "a.u32", GgufValueType.UINT32, new long[] {0, 0xffff_ffffL});
            assertArray(m, "a.i32", GgufValueType.INT32, new int[] {Integer.MIN_VALUE, -1, Integer.MAX_VALUE});
            assertArray(m, "a.f32", GgufValueType.FLOAT32, new float[] {1f, -0f, Float.MIN_VALUE, Float.NEGATIVE_INFINITY});
            assertArray(m, "a.bool", GgufValueType.BOOL, new boolean[] {true, false, true});
            assertArray(m, "a.str", GgufValueType.STRING, new String[] {"<s>", "", "▁the", NON_ASCII});
            assertArray(m, "a.u64", GgufValueType.UINT64, new long[] {-1L, 0});
            assertArray(m, "a.i64", GgufValueType.INT64, new long[] {Long.MIN_VALUE, 5});
            assertArray(m, "a.f64", GgufValueType.FLOAT64, new double[] {1e300, -2});
            assertArrayEquals(new String[] {"<s>", "", "▁the", NON_ASCII}, m.getStringArray("a.str"));
            assertArrayEquals(new int[] {0, 65535, 4660}, m.getIntArray("a.u16"));
            assertArrayEquals(new int[] {-128, -1, 0, 127}, m.getIntArray("a.i8"));
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY, -2f}, m.getFloatArray("a.f64"));

            GgufArray nested = m.getArray("a.nested");
            assertEquals(GgufValueType.ARRAY, nested.elementType());
            GgufArray[] parts = (GgufArray[]) nested.values();
            assertEquals(3, parts.length);
            assertArrayEquals(new int[] {1, 2, 3}, (int[]) parts[0].values());
            assertEquals(GgufValueType.INT32, parts[1].elementType());
            assertEquals(0, parts[1].length());
            assertArrayEquals(new String[] {"a", "", NON_ASCII}, (String[]) parts[2].values());

            GgufArray level1 = ((GgufArray[]) m.getArray("a.deep").values())[0];
            GgufArray level2 = ((GgufArray[]) level1.values())[0];
            assertArrayEquals(new double[] {2.5}, (double[]) level2.values());

            for (GgufValueType t : GgufValueType.values()) {
                GgufArray a = m.getArray("empty." + t);
                assertEquals(t, a.elementType(), "empty array of " + t);
                assertEquals(0, a.length(), "empty array of " + t);
                assertEquals(emptyValues(t).getClass(), a.values().getClass(), "empty array of " + t);
            }
        }
    }

    private static Object emptyValues(GgufValueType t) {
        return switch (t) {
            case UINT8, INT8, UINT16, INT16, INT32 -> new int[0];
            case UINT32, UINT64, INT64 -> new long[0];
            case FLOAT32 -> new float[0];
            case FLOAT64 -> new double[0];
            case BOOL -> new boolean[0];
            case STRING -> new String[0];
            case ARRAY -> new GgufArray[0];
        };
    }

    private static void assertArray(GgufMetadata m, String key, GgufValueType elementType, Object expected) {
        GgufArray a = m.getArray(key);
        assertEquals(GgufValueType.ARRAY, m.entry(key).orElseThrow().type());
        assertEquals(elementType, a.elementType(), key);
        assertEquals(expected.getClass(), a.values().getClass(), key);
        switch (expected) {
            case int[] e -> assertArrayEquals(e, (int[]) a.values(), key);
            case long[] e -> assertArrayEquals(e, (long[]) a.values(), key);
            case float[] e -> assertArrayEquals(e, (float[]) a.values(), key);
            case double[] e -> assertArrayEquals(e, (double[]) a.values(), key);
            case boolean[] e -> assertArrayEquals(e, (boolean[]) a.values(), key);
            case String[] e -> assertArrayEquals(e, (String[]) a.values(), key);
            default -> throw new AssertionError(expected);
        }
    }

    /** A tensor to write: type, shape and its bytes (random, so misplaced bytes show). */
    private record Spec(String name, GgmlType type, long[] dims, byte[] data) {
        static Spec of(String name, GgmlType type, Random random, long... dims) {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            byte[] data = new byte[Math.toIntExact(type.bytesFor(n))];
            random.nextBytes(data);
            return new Spec(name, type, dims, data);
        }
    }

    private static List<Spec> specs() {
        Random r = new Random(42);
        List<Spec> s = new ArrayList<>();
        s.add(Spec.of("vec.f32", GgmlType.F32, r, 7));
        s.add(Spec.of("mat.f16", GgmlType.F16, r, 3, 5));
        s.add(Spec.of("q8.rank2", GgmlType.Q8_0, r, 64, 3));
        s.add(Spec.of("q4k.rank3", GgmlType.Q4_K, r, 256, 2, 3));
        s.add(Spec.of("q6k.rank4", GgmlType.Q6_K, r, 256, 1, 2, 2));
        s.add(Spec.of("i8.rank4", GgmlType.I8, r, 5, 1, 1, 1));
        s.add(Spec.of("bf16", GgmlType.BF16, r, 9, 2));
        s.add(Spec.of("q4_0", GgmlType.Q4_0, r, 32));
        s.add(Spec.of("mxfp4", GgmlType.MXFP4, r, 64, 2));
        s.add(Spec.of("iq2_xxs", GgmlType.IQ2_XXS, r, 256));
        s.add(Spec.of("f64", GgmlType.F64, r, 3));
        return s;
    }

    @ParameterizedTest(name = "alignment {0}")
    @ValueSource(ints = {0, 1, 8, 64, 4096})
    void tensorsOfSeveralTypesAndRanksRoundTrip(int alignment) throws IOException {
        GgufWriter w = new GgufWriter().putString("general.architecture", "test");
        if (alignment != 0) {
            w.alignment(alignment);
        }
        int align = alignment == 0 ? GgufFile.DEFAULT_ALIGNMENT : alignment;
        List<Spec> specs = specs();
        for (Spec s : specs) {
            w.addTensor(s.name, s.type, s.dims, dst -> MemorySegment.copy(MemorySegment.ofArray(s.data), 0, dst, 0, s.data.length));
        }
        byte[] header = w.header();
        Path p = write(w);
        byte[] file = Files.readAllBytes(p);
        assertArrayEquals(header, java.util.Arrays.copyOf(file, header.length), "file starts with header()");

        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(align, f.alignment());
            assertEquals(alignment == 0, !f.metadata().has(GgufFile.ALIGNMENT_KEY));
            assertEquals(GgufFile.alignUp(header.length, align), f.dataStart());
            assertEquals(0, f.dataStart() % align);
            assertEquals(specs.size(), f.tensors().size());
            long expectedOffset = 0;
            int i = 0;
            for (GgufTensorInfo t : f.tensors().values()) {
                Spec s = specs.get(i++);
                assertEquals(s.name, t.name(), "file order");
                assertEquals(s.type, t.type(), s.name);
                assertArrayEquals(s.dims, t.dims(), s.name);
                assertEquals(s.dims.length, t.rank(), s.name);
                assertEquals(1, t.dim(s.dims.length), "dims beyond the rank are 1");
                assertEquals(expectedOffset, t.dataOffset(), s.name + " data offset");
                assertEquals(0, t.dataOffset() % align, s.name + " aligned");
                assertEquals(s.data.length, t.byteSize(), s.name);
                MemorySegment data = f.tensorData(t);
                assertEquals(f.dataStart() + t.dataOffset(), data.address() - f.segment().address(), s.name + " file offset");
                assertArrayEquals(s.data, data.toArray(ValueLayout.JAVA_BYTE), s.name + " bytes");
                int start = Math.toIntExact(f.dataStart() + t.dataOffset());
                assertArrayEquals(s.data, java.util.Arrays.copyOfRange(file, start, start + s.data.length), s.name + " on disk");
                expectedOffset = GgufFile.alignUp(expectedOffset + s.data.length, align);
            }
            assertEquals(f.dataStart() + expectedOffset, file.length, "file ends after the padded last tensor");
        }
        // the same bytes parse from memory too
        try (GgufFile f = GgufFile.parse(p, MemorySegment.ofArray(file))) {
            assertEquals(specs.size(), f.tensors().size());
        }
    }

    /** A GGUF v2 file (same layout as v3, 64-bit counts), built byte by byte. */
    @Test
    void versionTwoFileBuiltByHand() {
        RawGguf b = RawGguf.header(2, 2, 3)
                .kv("general.architecture", GgufValueType.STRING).str("llama")
                .kv("llama.block_count", GgufValueType.UINT32).u32(2)
                .kvArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, 2).f32(-1f).f32(0.5f)
                .tensorInfo("w", GgmlType.F32, 0, 2, 2)
                .tensorInfo("b", GgmlType.F32, 32, 3)
                .padTo(32);
        int dataStart = b.size();
        b.f32(1).f32(2).f32(3).f32(4).padTo(32).f32(7).f32(8).f32(9);
        try (GgufFile f = RawGguf.parse(b.bytes())) {
            assertEquals(2, f.version());
            assertEquals(dataStart, f.dataStart());
            assertEquals("llama", f.metadata().getString("general.architecture"));
            assertEquals(2, f.metadata().getInt("llama.block_count"));
            assertArrayEquals(new float[] {-1f, 0.5f}, f.metadata().getFloatArray("tokenizer.ggml.scores"));
            assertArrayEquals(new float[] {1, 2, 3, 4}, f.tensorData(f.tensors().get("w")).toArray(LE_F32));
            assertArrayEquals(new float[] {7, 8, 9}, f.tensorData(f.tensors().get("b")).toArray(LE_F32));
        }
    }

    @Test
    void rewritingAParsedFileGivesTheSameBytes() throws IOException {
        GgufWriter w = new GgufWriter().alignment(64).putString("general.name", NON_ASCII)
                .put("x.nested", GgufValueType.ARRAY, new GgufArray(GgufValueType.ARRAY,
                        new GgufArray[] {new GgufArray(GgufValueType.UINT8, new int[] {9, 200})}))
                .put("x.u16", GgufValueType.UINT16, 4000).putBool("x.b", true).put("x.f64", GgufValueType.FLOAT64, 0.1);
        for (Spec s : specs()) {
            w.addTensor(s.name, s.type, s.dims, dst -> MemorySegment.copy(MemorySegment.ofArray(s.data), 0, dst, 0, s.data.length));
        }
        Path first = write(w);
        Path second;
        try (GgufFile f = GgufFile.open(first)) {
            GgufWriter copy = new GgufWriter().putAll(f.metadata());
            for (GgufTensorInfo t : f.tensors().values()) {
                copy.addTensor(t.name(), t.type(), t.dims(), dst -> MemorySegment.copy(f.tensorData(t), 0, dst, 0, dst.byteSize()));
            }
            second = write(copy);
        }
        assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second));
    }

    @Test
    void hostileNamesAreEscapedInMessages() {
        byte[] bytes = RawGguf.header(3, 0, 2).kv("a\nb'c", GgufValueType.UINT8).u8(1)
                .kv("a\nb'c", GgufValueType.UINT8).u8(1).bytes();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> RawGguf.parse(bytes));
        assertTrue(e.getMessage().contains("'a\\u000ab\\u0027c' appears a second time"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void writerRejectsValuesItWouldMangle() {
        GgufWriter w = new GgufWriter();
        assertMessage(() -> w.put("k", GgufValueType.UINT8, 256), "metadata key 'k': a UINT8 value must be in 0..255, got Integer 256");
        assertMessage(() -> w.put("k", GgufValueType.UINT32, "7"), "a UINT32 value needs an Integer or Long, got String 7");
        assertMessage(() -> w.put("k", GgufValueType.UINT32, -1L), "must be in 0..4294967295");
        assertMessage(() -> w.put("k", GgufValueType.STRING, 5), "a STRING value needs a String");
        assertMessage(() -> w.put("k", GgufValueType.ARRAY, new GgufArray(GgufValueType.INT8, new int[] {1, 300})),
                "metadata key 'k[1]': a INT8 value must be in -128..127");
        assertMessage(() -> w.put("general.alignment", GgufValueType.UINT32, 48L), "general.alignment must be a UINT32 power of two");
        assertMessage(() -> w.put("general.alignment", GgufValueType.INT32, 32), "general.alignment must be a UINT32 power of two");
        assertMessage(() -> w.alignment(3), "alignment must be a power of two");
        assertMessage(() -> w.addTensor("t", GgmlType.F32, new long[] {4, 0}, d -> { }), "t: dimension 1 is 0");
        assertMessage(() -> w.addTensor("t", GgmlType.Q4_0, new long[] {16}, d -> { }), "t: row length 16 is not a multiple of the Q4_0 block size 32");
        assertMessage(() -> w.addTensor("t", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, d -> { }), "t: rank must be 1..4");
    }

    @Test
    void alignmentSetThroughPutIsUsedForTheLayout() {
        GgufWriter w = new GgufWriter().put(GgufFile.ALIGNMENT_KEY, GgufValueType.UINT32, 128L)
                .addF32("a", new long[] {3}, new float[] {1, 2, 3}).addF32("b", new long[] {1}, new float[] {4});
        try (GgufFile f = GgufFile.open(write(w))) {
            assertEquals(128, f.alignment());
            assertEquals(128, f.tensors().get("b").dataOffset());
            assertEquals(4f, f.tensorData(f.tensors().get("b")).get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
        }
    }

    /** Found by the fuzzer: a copy put general.alignment first, wherever the source had it. */
    @Test
    void putAllKeepsTheAlignmentAndTheKeyOrder() {
        GgufWriter source = new GgufWriter().putString("a", "x").alignment(64).putString("z", "y")
                .addF32("t", new long[] {1}, new float[] {1});
        try (GgufFile f = GgufFile.open(write(source))) {
            try (GgufFile copy = GgufFile.open(write(new GgufWriter().putAll(f.metadata())
                    .addF32("t", new long[] {1}, new float[] {1})))) {
                assertEquals(List.of("a", GgufFile.ALIGNMENT_KEY, "z"), List.copyOf(copy.metadata().keys()));
                assertEquals(64, copy.alignment());
            }
            try (GgufFile copy = GgufFile.open(write(new GgufWriter().putAll(f.metadata()).alignment(16)
                    .addF32("t", new long[] {1}, new float[] {1}).addF32("u", new long[] {1}, new float[] {2})))) {
                assertEquals(List.of("a", GgufFile.ALIGNMENT_KEY, "z"), List.copyOf(copy.metadata().keys()));
                assertEquals(16, copy.alignment());
                assertEquals(16, copy.tensors().get("u").dataOffset());
            }
        }
    }

    @Test
    void tensorDataRefusesAForeignTensor() {
        GgufWriter w = new GgufWriter().addF32("a", new long[] {2}, new float[] {1, 2});
        try (GgufFile f = GgufFile.open(write(w))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> f.tensorData(new GgufTensorInfo("a", new long[] {1000}, GgmlType.F32, 0)));
            assertTrue(e.getMessage().contains("differs from this file's tensor a F32 [2]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> f.tensorData(new GgufTensorInfo("zz", new long[] {1}, GgmlType.F32, 0)));
            assertTrue(e.getMessage().contains("zz F32 [1] is not a tensor of this file"), e.getMessage());
        }
    }

    @Test
    void closingReleasesTheMapping() {
        GgufWriter w = new GgufWriter().addF32("a", new long[] {2}, new float[] {1, 2});
        GgufFile f = GgufFile.open(write(w));
        MemorySegment data = f.tensorData(f.tensors().get("a"));
        f.close();
        f.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> data.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void readerResultsAreUnmodifiable() {
        GgufWriter w = new GgufWriter().putString("k", "v").addF32("a", new long[] {2}, new float[] {1, 2});
        try (GgufFile f = GgufFile.open(write(w))) {
            assertThrows(UnsupportedOperationException.class, () -> f.metadata().entries().clear());
            assertThrows(UnsupportedOperationException.class, () -> f.tensors().clear());
            long[] dims = f.tensors().get("a").dims();
            dims[0] = 99;
            assertEquals(2, f.tensors().get("a").dims()[0], "dims() is a copy");
            assertInstanceOf(String.class, f.metadata().get("k"));
        }
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String expected) {
        Throwable e = assertThrows(Throwable.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(expected),
                () -> "expected a message containing\n  " + expected + "\nbut got " + e);
    }
}
