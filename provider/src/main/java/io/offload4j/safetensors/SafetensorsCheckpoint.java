package io.offload4j.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The weights of a Hugging Face model directory: one {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json} ({@code weight_map}: tensor name → shard file), or, without an index,
 * every {@code *.safetensors} file of the directory. Each shard is mapped once; tensor names are unique
 * across them. Closing releases every mapping.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private static final JsonMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** A tensor and the shard holding it. */
    public record Entry(SafetensorsFile file, SafetensorsTensorInfo info) {
        public MemorySegment data() {
            return file.tensorData(info);
        }
    }

    private final Path directory;
    private final List<SafetensorsFile> shards;
    private final Map<String, Entry> tensors;
    private final Path index;

    private SafetensorsCheckpoint(Path directory, List<SafetensorsFile> shards, Map<String, Entry> tensors, Path index) {
        this.directory = directory;
        this.shards = shards;
        this.tensors = tensors;
        this.index = index;
    }

    /** Whether {@code directory} holds safetensors weights (an index or at least one .safetensors file). */
    public static boolean hasWeights(Path directory) {
        return Files.isRegularFile(directory.resolve(INDEX_FILE)) || !safetensorsFiles(directory).isEmpty();
    }

    /** Maps every shard of the directory and checks the index against them. */
    public static SafetensorsCheckpoint open(Path directory) {
        directory = directory.toAbsolutePath().normalize();
        if (!Files.isDirectory(directory)) {
            throw new ModelFormatException(directory, "is not a directory; expected a Hugging Face model directory"
                    + " (config.json, *.safetensors, tokenizer.json)");
        }
        Path index = directory.resolve(INDEX_FILE);
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, Entry> tensors = new LinkedHashMap<>();
            if (Files.isRegularFile(index)) {
                openIndexed(directory, index, opened, tensors);
            } else {
                List<Path> files = Files.isRegularFile(directory.resolve(SINGLE_FILE))
                        ? List.of(directory.resolve(SINGLE_FILE)) : safetensorsFiles(directory);
                if (files.isEmpty()) {
                    throw new ModelFormatException(directory, "has no " + SINGLE_FILE + ", no " + INDEX_FILE
                            + " and no other *.safetensors file; a safetensors directory needs config.json,"
                            + " *.safetensors and tokenizer.json (save the model with save_pretrained(...,"
                            + " safe_serialization=True))");
                }
                for (Path f : files) {
                    SafetensorsFile shard = SafetensorsFile.open(f);
                    opened.add(shard);
                    for (SafetensorsTensorInfo t : shard.tensors().values()) {
                        Entry before = tensors.putIfAbsent(t.name(), new Entry(shard, t));
                        if (before != null) {
                            throw new ModelFormatException(directory, "tensor '" + SafetensorsFile.printable(t.name())
                                    + "' is in both " + before.file().path().getFileName() + " and " + f.getFileName()
                                    + "; without " + INDEX_FILE + " every *.safetensors file of the directory is"
                                    + " loaded, so remove the stray file or add the index");
                        }
                    }
                }
            }
            return new SafetensorsCheckpoint(directory, List.copyOf(opened), Collections.unmodifiableMap(tensors),
                    Files.isRegularFile(index) ? index : null);
        } catch (RuntimeException | Error e) {
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static void openIndexed(Path directory, Path index, List<SafetensorsFile> opened, Map<String, Entry> tensors) {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(index, "is not valid JSON (" + ModelFormatException.jsonProblem(e)
                    + "); download the model's index file again", e);
        } catch (IOException e) {
            throw new ModelFormatException(index, "cannot be read: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new ModelFormatException(index, "has no \"weight_map\" object (tensor name → shard file); download"
                    + " the model's index file again");
        }
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String tensor = e.getKey();
            String where = "weight_map entry '" + SafetensorsFile.printable(tensor) + "'";
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(index, where + " is " + e.getValue() + "; expected a shard file name");
            }
            String shardName = e.getValue().textValue();
            Path shardPath = directory.resolve(shardName).normalize();
            if (shardName.isEmpty() || !directory.equals(shardPath.getParent())) {
                throw new ModelFormatException(index, where + " names shard '" + SafetensorsFile.printable(shardName)
                        + "', which is not a file name inside " + directory + "; shards must sit next to the index");
            }
            SafetensorsFile shard = byName.get(shardName);
            if (shard == null) {
                if (!Files.isRegularFile(shardPath)) {
                    throw new ModelFormatException(index, where + " is in shard '" + shardName + "', which does not"
                            + " exist in " + directory + "; download the missing shard (every file the index names"
                            + " is needed)");
                }
                shard = SafetensorsFile.open(shardPath);
                opened.add(shard);
                byName.put(shardName, shard);
            }
            SafetensorsTensorInfo info = shard.tensors().get(tensor);
            if (info == null) {
                throw new ModelFormatException(index, where + " points to shard '" + shardName + "', but that file"
                        + " has no tensor of this name; the index and the shards come from different saves: download"
                        + " them again together");
            }
            tensors.put(tensor, new Entry(shard, info));
        }
    }

    private static List<Path> safetensorsFiles(Path directory) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(directory, "*.safetensors")) {
            for (Path p : ds) {
                if (Files.isRegularFile(p)) {
                    files.add(p);
                }
            }
        } catch (IOException e) {
            return List.of();
        }
        Collections.sort(files);
        return files;
    }

    public Path directory() {
        return directory;
    }

    /** The index file, if the checkpoint is sharded with one. */
    public Optional<Path> index() {
        return Optional.ofNullable(index);
    }

    public List<SafetensorsFile> shards() {
        return shards;
    }

    /** Every tensor by name. */
    public Map<String, Entry> tensors() {
        return tensors;
    }

    public Optional<Entry> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** "model.safetensors" or "model.safetensors.index.json and its 2 shards": where tensors were looked for. */
    public String describe() {
        if (index != null) {
            return INDEX_FILE + " and its " + shards.size() + " shard" + (shards.size() == 1 ? "" : "s");
        }
        return shards.size() == 1 ? shards.getFirst().path().getFileName().toString()
                : shards.size() + " *.safetensors files";
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }
}
