package io.offload4j.model;

import io.offload4j.gguf.ModelFormatException;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Loads a model saved by Hugging Face transformers ({@code save_pretrained}): {@code config.json} plus
 * {@code model.safetensors} or sharded {@code model-0000X-of-0000N.safetensors} with their index, in F32, F16 or
 * BF16. The weights stay in the mapped shards; the result computes exactly what the same weights converted to
 * GGUF by llama.cpp compute. Supported: {@code LlamaForCausalLM}, {@code MistralForCausalLM} (as llama),
 * {@code Qwen2ForCausalLM}, {@code Qwen3ForCausalLM}, {@code Phi3ForCausalLM}, {@code Gemma2ForCausalLM},
 * {@code Gemma3ForCausalLM} and the text model of {@code Gemma3ForConditionalGeneration}. The tokenizer files are
 * read by the tokenizer package.
 */
public final class HuggingFaceModels {

    public static final String CONFIG_FILE = "config.json";
    /** Says what a model directory must hold; every error about a missing file ends with it. */
    public static final String REQUIRED_FILES = "a safetensors directory needs config.json, *.safetensors and tokenizer.json";

    private HuggingFaceModels() {}

    /** Whether {@code path} is a directory that looks like a Hugging Face model (it has a config.json). */
    public static boolean isModelDirectory(Path path) {
        return Files.isDirectory(path) && Files.isRegularFile(path.resolve(CONFIG_FILE));
    }

    /** Maps and validates the model in {@code directory}. */
    public static Model load(Path directory) {
        Path dir = directory.toAbsolutePath().normalize();
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new ModelFormatException(dir, "has no " + CONFIG_FILE + "; " + REQUIRED_FILES
                    + " (a GGUF model is a single .gguf file: pass that file instead)");
        }
        HuggingFaceConfig hf = HuggingFaceConfig.read(configFile, dir.getFileName().toString());
        if (!SafetensorsCheckpoint.hasWeights(dir)) {
            throw new ModelFormatException(dir, "has no *.safetensors file; " + REQUIRED_FILES
                    + " (PyTorch .bin checkpoints: re-save with save_pretrained(..., safe_serialization=True))");
        }
        ModelConfig config = ModelConfig.fromMetadata(configFile, hf.metadata(), hf.vocabularySize())
                .withRopeLayout(RopeLayout.HALVES);
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir);
        try {
            HuggingFaceTensorSource source = new HuggingFaceTensorSource(checkpoint, hf);
            Model model = Model.assemble(dir, hf.metadata(), null, checkpoint, config, source);
            source.checkEverythingUsed();
            return model;
        } catch (RuntimeException | Error e) {
            checkpoint.close();
            throw e;
        }
    }
}
