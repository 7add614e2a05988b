package io.offload4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file over 2 GiB, written sparse (header, then {@code setLength}, then a few marker bytes), so
 * offsets beyond {@code Integer.MAX_VALUE} are exercised in a second and without 2 GiB of disk.
 */
class GgufLargeFileTest {

    private static final long BIG = (1L << 31) + 64; // bytes of the I8 tensor: more than 2 GiB

    @TempDir
    Path dir;

    @Test
    void tensorDataBeyondTwoGibIsReadable() throws IOException {
        GgufWriter w = new GgufWriter().putString("general.architecture", "sparse")
                .addTensor("big", GgmlType.I8, new long[] {BIG}, dst -> { throw new AssertionError("not filled"); })
                .addTensor("marker", GgmlType.I8, new long[] {16, 2}, dst -> { throw new AssertionError("not filled"); });
        byte[] header = w.header();
        long dataStart = GgufFile.alignUp(header.length, 32);
        long markerOffset = GgufFile.alignUp(BIG, 32);
        long fileSize = dataStart + markerOffset + 32;
        byte[] marker = new byte[32];
        for (int i = 0; i < marker.length; i++) {
            marker[i] = (byte) (0xA0 + i);
        }
        byte[] bigTail = {1, 2, 3, 4, 5, 6, 7, 8};

        Path p = dir.resolve("sparse-over-2gib.gguf");
        try {
            assumeTrue(Files.getFileStore(dir).getUsableSpace() > (16 << 20),
                    "skipped: the temporary file system " + dir + " has less than 16 MiB free");
            try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
                raf.write(header);
                raf.setLength(fileSize);
                raf.seek(dataStart + BIG - bigTail.length);
                raf.write(bigTail);
                raf.seek(dataStart + markerOffset);
                raf.write(marker);
            } catch (IOException e) {
                assumeTrue(false, "skipped: the temporary file system cannot hold a sparse " + fileSize + "-byte file at "
                        + p + ": " + e);
            }
            assertEquals(fileSize, Files.size(p));

            try (GgufFile f = GgufFile.open(p)) {
                assertTrue(f.segment().byteSize() > Integer.MAX_VALUE);
                assertEquals(dataStart, f.dataStart());
                GgufTensorInfo markerInfo = f.tensors().get("marker");
                assertEquals(markerOffset, markerInfo.dataOffset());
                assertTrue(markerInfo.dataOffset() > (1L << 31), "data offset beyond 2^31");
                assertArrayEquals(marker, f.tensorData(markerInfo).toArray(ValueLayout.JAVA_BYTE));

                MemorySegment big = f.tensorData(f.tensors().get("big"));
                assertEquals(BIG, big.byteSize());
                byte[] tail = big.asSlice(BIG - bigTail.length, bigTail.length).toArray(ValueLayout.JAVA_BYTE);
                assertArrayEquals(bigTail, tail, "last bytes of the >2 GiB tensor");
                assertEquals(0, big.get(ValueLayout.JAVA_BYTE, 1L << 30), "a hole reads as zero");
                assertEquals(0, big.get(ValueLayout.JAVA_BYTE, 0));
            }

            // One byte short: the marker tensor now ends past the end of the file, at an offset > 2^31.
            try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
                raf.setLength(fileSize - 1);
            }
            ModelFormatException e = org.junit.jupiter.api.Assertions.assertThrows(ModelFormatException.class,
                    () -> GgufFile.open(p).close());
            assertTrue(e.getMessage().contains("tensor 'marker' (I8 [16, 2], 32 bytes at file offset "
                    + (dataStart + markerOffset) + " = data start " + dataStart + " + data offset " + markerOffset
                    + ") extends past the end of the file (" + (fileSize - 1) + " bytes)"), e.getMessage());
        } finally {
            Files.deleteIfExists(p);
        }
    }
}
