package io.offload4j.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Which files of a safetensors (transformers) repository a model needs, as transformers itself chooses them:
 * {@code config.json}, the tokenizer and generation files that exist, and the weights: the shards that
 * {@code model.safetensors.index.json} names when there is an index (so that a {@code consolidated.safetensors}
 * duplicate next to them is skipped), else every {@code *.safetensors} at the top of the repository. Subfolders
 * (ONNX exports, original checkpoints) are not downloaded.
 */
final class SafetensorsRepo {

    static final String CONFIG = "config.json";
    static final String INDEX = "model.safetensors.index.json";
    /** Small files fetched when the repository has them. */
    static final List<String> OPTIONAL = List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json",
            "special_tokens_map.json", "tokenizer.model",
            // sentence-transformers embedding models: which pooling, whether normalised
            "modules.json", "1_Pooling/config.json", "sentence_bert_config.json");

    private static final ObjectMapper JSON = new ObjectMapper();

    private SafetensorsRepo() {
    }

    /** Whether the listing has weights in safetensors at the top level. */
    static boolean hasWeights(List<String> files) {
        return files.stream().anyMatch(SafetensorsRepo::isTopLevelWeights);
    }

    /** The files to fetch first: the config, the index if any, the tokenizer and generation files there are. */
    static List<String> metadataFiles(List<String> files) {
        List<String> wanted = new ArrayList<>();
        wanted.add(CONFIG);
        if (files.contains(INDEX)) {
            wanted.add(INDEX);
        }
        OPTIONAL.stream().filter(files::contains).forEach(wanted::add);
        return wanted;
    }

    /**
     * The weight files: those the index (already downloaded to {@code index}, or null when there is none) names, else
     * every top-level {@code *.safetensors} in the listing.
     */
    static List<String> weightFiles(RepoId repo, Path index, List<String> files) {
        if (index == null) {
            return files.stream().filter(SafetensorsRepo::isTopLevelWeights).sorted().toList();
        }
        List<String> shards = shardsOf(index, repo);
        for (String shard : shards) {
            if (!files.contains(shard)) {
                throw new ModelResolutionException(repo + "/" + INDEX + " names the shard '" + shard
                        + "', which the repository does not have; the repository is inconsistent; pick another revision"
                        + " or report it to its owner");
            }
        }
        return shards;
    }

    /** Whether {@code snapshot} already holds a complete model: the config and every weight file. */
    static boolean complete(RepoId repo, Path snapshot) {
        if (!Files.isRegularFile(snapshot.resolve(CONFIG))) {
            return false;
        }
        Path index = snapshot.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            try {
                return shardsOf(index, repo).stream().allMatch(s -> Files.isRegularFile(snapshot.resolve(s)));
            } catch (ModelResolutionException e) {
                return false; // a broken index: fetch again (and report it then)
            }
        }
        try (Stream<Path> entries = Files.list(snapshot)) {
            return entries.anyMatch(p -> isTopLevelWeights(p.getFileName().toString()) && Files.isRegularFile(p));
        } catch (IOException e) {
            return false;
        }
    }

    private static List<String> shardsOf(Path index, RepoId repo) {
        JsonNode map;
        try {
            map = JSON.readTree(index.toFile()).path("weight_map");
        } catch (IOException e) {
            throw new ModelResolutionException("cannot read " + repo + "/" + INDEX + " (" + index + "): " + e.getMessage()
                    + "; delete it from the cache and run again", e);
        }
        if (!map.isObject() || map.isEmpty()) {
            throw new ModelResolutionException(repo + "/" + INDEX + " (" + index + ") has no 'weight_map' object naming"
                    + " the shards");
        }
        TreeSet<String> shards = new TreeSet<>();
        for (Iterator<JsonNode> it = map.elements(); it.hasNext(); ) {
            JsonNode v = it.next();
            String shard = v.asText();
            if (!v.isTextual() || shard.isEmpty() || shard.contains("..") || shard.startsWith("/") || shard.contains("\\")) {
                throw new ModelResolutionException(repo + "/" + INDEX + " (" + index + ") maps a tensor to '" + v
                        + "', which is not a file name in the repository");
            }
            shards.add(shard);
        }
        return List.copyOf(shards);
    }

    private static boolean isTopLevelWeights(String path) {
        return !path.contains("/") && path.toLowerCase(Locale.ROOT).endsWith(".safetensors");
    }
}
