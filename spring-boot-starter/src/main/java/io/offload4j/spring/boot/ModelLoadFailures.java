package io.offload4j.spring.boot;

import io.offload4j.gguf.ModelFormatException;
import io.offload4j.spring.boot.diagnostics.OffloadStartupException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a failure to resolve or load the model into an {@link OffloadStartupException}: a description naming the
 * property and its value, and an action in property wording. Spring Boot shows it as its failure report; a lazily
 * loading request gets it as its error.
 */
final class ModelLoadFailures {

    private static final String MODEL = OffloadProperties.PREFIX + ".model";
    private static final String DEVICE = OffloadProperties.PREFIX + ".device";
    private static final Pattern CLI_DEVICE = Pattern.compile("--device[ =](\\S+?)([,;)]|$|\\s)");

    private ModelLoadFailures() {}

    /** The Hugging Face Hub could not give the model (network, unknown repository, gated, offline, checksum). */
    static OffloadStartupException hubUnreachable(String spec, RuntimeException e) {
        Throwable why = e.getCause() != null ? e.getCause() : e;
        return new OffloadStartupException(MODEL + " = '" + spec + "' could not be fetched from the Hugging Face"
                + " Hub: " + why.getMessage(),
                "Check that this machine reaches the Hub (HF_ENDPOINT, a proxy) and that the repository and"
                        + " quantization exist; for a gated repository set HF_TOKEN. Or download the file once and set "
                        + MODEL + " to its path, or " + OffloadProperties.PREFIX + ".cache-dir to a hub cache that"
                        + " has it (HF_HUB_OFFLINE=1 then uses only the cache).", e);
    }

    /** The path names nothing (deleted since start-up, or a lazily loaded model's path was never checked). */
    static OffloadStartupException missing(String spec, Path path) {
        return new OffloadStartupException(MODEL + " = '" + spec + "' names no existing file (looked for "
                + path.toAbsolutePath() + ").", "Set " + MODEL + " to the path of a GGUF file"
                + ModelLocations.OTHER_FORMS + ".");
    }

    /** The engine could not load the model: a file that is no model, or a device that cannot run it. */
    static OffloadStartupException loadFailed(String spec, Path path, String device, RuntimeException e) {
        String message = propertyWording(e.getMessage());
        if (e instanceof ModelFormatException) {
            String what = Files.isDirectory(path) ? "is a directory the engine cannot load as a model"
                    : "is not a model file the engine can read";
            return new OffloadStartupException(MODEL + " = '" + spec + "' " + what + ": " + message,
                    "Set " + MODEL + " to a GGUF file (e.g. a Q4_K_M or Q8_0 quantization) or to a Hugging Face"
                            + " model directory (config.json, *.safetensors, tokenizer.json); a file whose download"
                            + " stopped early is truncated and must be fetched again.", e);
        }
        if (device.trim().toLowerCase(Locale.ROOT).startsWith("cuda")) {
            return new OffloadStartupException(MODEL + " = '" + spec + "' could not be loaded on " + DEVICE + " = '"
                    + device + "': " + message,
                    "Without a usable NVIDIA GPU (driver installed, compute capability 8.0 or newer) set " + DEVICE
                            + "=cpu, or auto (the GPU when one is usable, else the CPU). Out of GPU memory: lower "
                            + OffloadProperties.PREFIX + ".context-length, " + OffloadProperties.PREFIX
                            + ".max-sequences or " + OffloadProperties.PREFIX + ".gpu.memory-budget.", e);
        }
        return new OffloadStartupException(MODEL + " = '" + spec + "' could not be loaded on " + DEVICE + " = '"
                + device + "': " + message,
                "See the reason above; on a machine short of memory choose a smaller quantization or lower "
                        + OffloadProperties.PREFIX + ".context-length and " + OffloadProperties.PREFIX
                        + ".max-sequences.", e);
    }

    /**
     * The engine's messages are written for its command line ({@code use --device cpu}); in a Spring application
     * the same advice is a property: {@code langchain4j.offload.device=cpu}.
     */
    static String propertyWording(String message) {
        if (message == null) {
            return "";
        }
        Matcher m = CLI_DEVICE.matcher(message);
        return m.replaceAll(r -> Matcher.quoteReplacement(DEVICE + "=" + r.group(1) + r.group(2)));
    }
}
