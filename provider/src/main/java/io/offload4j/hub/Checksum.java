package io.offload4j.hub;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * What a downloaded file's content must hash to, read from the hub's ETag: an LFS file's (linked) ETag is the
 * SHA-256 of its content, a plain git file's ETag is its git blob id, the SHA-1 of {@code "blob <size>\0" + content}.
 * Any other ETag announces no checksum, and the file is checked by size only.
 */
final class Checksum {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern GIT_SHA1 = Pattern.compile("[0-9a-f]{40}");

    private final String algorithm;
    private final String expected;
    private final boolean gitBlob;
    private MessageDigest digest;

    private Checksum(String algorithm, String expected, boolean gitBlob) {
        this.algorithm = algorithm;
        this.expected = expected;
        this.gitBlob = gitBlob;
    }

    static Checksum forEtag(String etag) {
        String e = etag.toLowerCase(Locale.ROOT);
        if (SHA256.matcher(e).matches()) {
            return new Checksum("SHA-256", e, false);
        }
        if (GIT_SHA1.matcher(e).matches()) {
            return new Checksum("SHA-1", e, true);
        }
        return new Checksum(null, null, false);
    }

    boolean announced() {
        return algorithm != null;
    }

    String describe() {
        return gitBlob ? "git blob SHA-1 " + expected : "SHA-256 " + expected;
    }

    /**
     * Starts hashing a download whose final size is {@code size} (-1: unknown) and whose first {@code have}
     * bytes are already in {@code partial}; those are hashed now.
     */
    void begin(long size, Path partial, long have) throws IOException {
        digest = null;
        if (algorithm == null || (gitBlob && size < 0)) {
            return; // a git blob id needs the size up front; verify() hashes the whole file then
        }
        digest = newDigest();
        if (gitBlob) {
            digest.update(("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
        }
        if (have > 0) {
            hashFile(partial, have, digest);
        }
    }

    /** Adds bytes just written after the ones already hashed. */
    void update(ByteBuffer bytes) {
        if (digest != null) {
            digest.update(bytes);
        }
    }

    /** The hex digest of the complete file, or null when the ETag announced none. */
    String actual(Path file) throws IOException {
        if (algorithm == null) {
            return null;
        }
        if (digest == null) {
            long size = Files.size(file);
            digest = newDigest();
            if (gitBlob) {
                digest.update(("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
            }
            hashFile(file, size, digest);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    String expected() {
        return expected;
    }

    private MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(algorithm + " is missing from this Java runtime", e);
        }
    }

    private static void hashFile(Path file, long length, MessageDigest digest) throws IOException {
        byte[] buf = new byte[1 << 16];
        long left = length;
        try (InputStream in = Files.newInputStream(file)) {
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    throw new IOException(file + " is shorter than the " + length + " bytes expected");
                }
                digest.update(buf, 0, n);
                left -= n;
            }
        }
    }
}
