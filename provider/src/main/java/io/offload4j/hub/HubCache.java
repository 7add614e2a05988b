package io.offload4j.hub;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The Hugging Face hub cache on disk, laid out as {@code huggingface_hub} lays it out:
 * <pre>
 * {cacheDir}/models--owner--repo/
 *     blobs/{etag}                       the files' contents, named by their ETag (git SHA-1 or LFS SHA-256)
 *     blobs/{etag}.incomplete            a download in progress (never looks complete)
 *     snapshots/{commit}/{path/in/repo}  relative symlinks into blobs/
 *     refs/main                          the commit that main pointed to at the last download
 * {cacheDir}/.locks/models--owner--repo/{etag}.lock
 * </pre>
 */
final class HubCache {

    static final String REVISION = "main";
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    private final Path root;

    HubCache(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    Path root() {
        return root;
    }

    Path repoDir(RepoId repo) {
        return root.resolve(repo.cacheFolderName());
    }

    Path blob(RepoId repo, String etag) {
        return repoDir(repo).resolve("blobs").resolve(etag);
    }

    Path incomplete(RepoId repo, String etag) {
        return repoDir(repo).resolve("blobs").resolve(etag + ".incomplete");
    }

    Path lockFile(RepoId repo, String etag) {
        return root.resolve(".locks").resolve(repo.cacheFolderName()).resolve(etag + ".lock");
    }

    Path snapshot(RepoId repo, String commit) {
        return repoDir(repo).resolve("snapshots").resolve(commit);
    }

    Path pointer(RepoId repo, String commit, String pathInRepo) {
        checkRepoPath(repo, pathInRepo);
        return snapshot(repo, commit).resolve(pathInRepo);
    }

    /** A path inside a repository must stay inside its snapshot folder, whatever the hub sends. */
    static void checkRepoPath(RepoId repo, String path) {
        boolean bad = path.isEmpty() || path.startsWith("/") || path.contains("\\") || path.indexOf('\0') >= 0;
        for (String segment : path.split("/", -1)) {
            bad |= segment.isEmpty() || segment.equals(".") || segment.equals("..");
        }
        if (bad) {
            throw new ModelResolutionException("'" + path + "' is not a usable file path in repo " + repo
                    + " (empty, absolute, or with '.', '..' or backslashes)");
        }
    }

    /** The commit {@code refs/main} records, if any (a malformed ref counts as none). */
    Optional<String> mainCommit(RepoId repo) {
        Path ref = repoDir(repo).resolve("refs").resolve(REVISION);
        try {
            if (!Files.isRegularFile(ref)) {
                return Optional.empty();
            }
            String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
            return COMMIT.matcher(commit).matches() ? Optional.of(commit) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The snapshot directory of the commit main pointed to last, if it exists. */
    Optional<Path> mainSnapshot(RepoId repo) {
        return mainCommit(repo).map(c -> snapshot(repo, c)).filter(Files::isDirectory);
    }

    /** The cached copy of {@code pathInRepo} at main's last known commit, if present and intact (not a dangling link). */
    Optional<Path> cachedFile(RepoId repo, String pathInRepo) {
        checkRepoPath(repo, pathInRepo);
        return mainSnapshot(repo).map(s -> s.resolve(pathInRepo)).filter(Files::isRegularFile);
    }

    /** Records that main points at {@code commit}, written like {@code huggingface_hub} writes it (no newline). */
    void writeMainRef(RepoId repo, String commit) throws IOException {
        Path ref = repoDir(repo).resolve("refs").resolve(REVISION);
        if (mainCommit(repo).filter(commit::equals).isPresent()) {
            return;
        }
        Files.createDirectories(ref.getParent());
        Path tmp = Files.createTempFile(ref.getParent(), REVISION, ".tmp");
        try {
            Files.writeString(tmp, commit, StandardCharsets.UTF_8);
            moveAtomically(tmp, ref);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Makes {@code snapshots/{commit}/{pathInRepo}} a relative symlink to the blob. Where the file system has no
     * symlinks, the blob is copied to the pointer's place instead.
     */
    Path link(RepoId repo, String commit, String pathInRepo, String etag) throws IOException {
        Path blob = blob(repo, etag);
        Path pointer = pointer(repo, commit, pathInRepo);
        Files.createDirectories(pointer.getParent());
        if (Files.isRegularFile(pointer)) {
            Path target = pointer.toRealPath();
            if (target.equals(blob.toRealPath())) {
                return pointer;
            }
        }
        Files.deleteIfExists(pointer); // a dangling or stale link
        Path relative = pointer.getParent().relativize(blob);
        try {
            Files.createSymbolicLink(pointer, relative);
        } catch (FileAlreadyExistsException e) {
            // Another process linked it in between; it points to the same content-addressed blob.
        } catch (UnsupportedOperationException | FileSystemException e) {
            Files.copy(blob, pointer, StandardCopyOption.REPLACE_EXISTING);
        }
        return pointer;
    }

    /** Moves {@code from} onto {@code to} atomically where the file system allows, else with a plain replace. */
    static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
