package io.offload4j.spring.boot;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Pattern;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;

/**
 * Checks bound {@link OffloadProperties} before anything is loaded, so that a wrong value stops start-up with a
 * message naming the property, its value and what it accepts, instead of failing deep inside the engine. Runs
 * when the properties are bound ({@link OffloadProperties} is a self-validating target), whether or not the model
 * is loaded at start-up.
 */
final class OffloadPropertiesValidator implements Validator {

    private static final Pattern DEVICE =
            Pattern.compile("auto|cpu|cuda|cuda:\\d{1,4}|cuda:all|cuda:\\d{1,4}(,\\d{1,4})+");
    private static final String P = OffloadProperties.PREFIX + ".";

    @Override
    public boolean supports(Class<?> type) {
        return OffloadProperties.class.isAssignableFrom(type);
    }

    @Override
    public void validate(Object target, Errors errors) {
        OffloadProperties p = (OffloadProperties) target;
        model(p.getModel(), errors);
        String device = p.getDevice() == null ? "" : p.getDevice().trim().toLowerCase(Locale.ROOT);
        if (!DEVICE.matcher(device).matches()) {
            reject(errors, "device", p.getDevice(), "must be auto, cpu, cuda, cuda:N (N = the GPU's index), cuda:all"
                    + " or cuda:N,M,… (one model over several GPUs)");
        }
        atLeast(errors, "threads", p.getThreads(), 0, " (0 = one per processor)");
        atLeast(errors, "contextLength", p.getContextLength(), 0, " (0 = the model's, at most 4096)");
        atLeast(errors, "maxSequences", p.getMaxSequences(), 0, " (0 = auto: from the memory that is free)");
        try {
            io.offload4j.model.Quantization.parse(p.getQuantization(), P + "quantization");
        } catch (IllegalArgumentException e) {
            reject(errors, "quantization", p.getQuantization(), "must be one of "
                    + io.offload4j.model.Quantization.allowed());
        }
        budget(errors, "prefixCache", p.getPrefixCache());
        budget(errors, "gpu.memoryBudget", p.getGpu().getMemoryBudget());
        atLeast(errors, "gpu.prefetchDepth", p.getGpu().getPrefetchDepth(), 1, "");
        atLeast(errors, "gpu.maxBatchRows", p.getGpu().getMaxBatchRows(), 1, "");
        atLeast(errors, "gpu.gemmMinTokens", p.getGpu().getGemmMinTokens(), 1, "");
        if (p.getGpu().getPlacement() == null) {
            reject(errors, "gpu.placement", null, "must be set: auto, stream or cpu");
        }
        budget(errors, "host.pinnedMemoryBudget", p.getHost().getPinnedMemoryBudget());
        speculative(p.getSpeculative(), errors);
        chatModel(p.getChatModel(), errors);
    }

    private static void model(String model, Errors errors) {
        if (model == null || model.isBlank()) {
            reject(errors, "model", model, "must name the model to load: the path of a GGUF file"
                    + ModelLocations.OTHER_FORMS);
            return;
        }
        if (ModelLocations.isHubSpec(model)) {
            return; // resolved (and if need be downloaded) when the engine loads
        }
        Path path;
        try {
            path = Path.of(model.trim());
        } catch (InvalidPathException e) {
            reject(errors, "model", model, "is not a valid path: " + e.getMessage());
            return;
        }
        if (!Files.exists(path)) {
            reject(errors, "model", model, "names no existing file (looked for " + path.toAbsolutePath()
                    + "); set it to the path of a GGUF file" + ModelLocations.OTHER_FORMS);
        } else if (!Files.isReadable(path)) {
            reject(errors, "model", model, "names a file this process cannot read (" + path.toAbsolutePath() + ")");
        }
    }

    private static void speculative(OffloadProperties.Speculative s, Errors errors) {
        int max = s.getMaxDraftTokens();
        if (max < 1 || max > io.offload4j.engine.speculative.SpeculativeOptions.MAX_DRAFT_TOKENS) {
            reject(errors, "speculative.maxDraftTokens", max, "must be 1.."
                    + io.offload4j.engine.speculative.SpeculativeOptions.MAX_DRAFT_TOKENS);
        }
        if (s.isPromptLookup() && s.getDraftModel() != null) {
            reject(errors, "speculative.draftModel", s.getDraftModel(), "cannot be used together with"
                    + " speculative.prompt-lookup; choose one drafter");
        } else if (s.getDraftModel() != null && !Files.exists(s.getDraftModel())) {
            reject(errors, "speculative.draftModel", s.getDraftModel(), "names no existing file (looked for "
                    + s.getDraftModel().toAbsolutePath() + "); set it to a GGUF file or Hugging Face directory");
        }
    }

    private static void chatModel(OffloadProperties.ChatModelProperties c, Errors errors) {
        String g = "chatModel.";
        Double t = c.getTemperature();
        if (t != null && !(t >= 0 && !t.isInfinite())) {
            reject(errors, g + "temperature", t, "must be a finite number >= 0 (0 = greedy)");
        }
        Double topP = c.getTopP();
        if (topP != null && !(topP > 0 && topP <= 1)) {
            reject(errors, g + "topP", topP, "must be in (0, 1] (1 = off)");
        }
        if (c.getTopK() != null) {
            atLeast(errors, g + "topK", c.getTopK(), 0, " (0 = off)");
        }
        Double minP = c.getMinP();
        if (minP != null && !(minP >= 0 && minP < 1)) {
            reject(errors, g + "minP", minP, "must be in [0, 1) (0 = off)");
        }
        Double rp = c.getRepeatPenalty();
        if (rp != null && !(rp > 0 && !rp.isInfinite())) {
            reject(errors, g + "repeatPenalty", rp, "must be a finite number > 0 (1 = off)");
        }
        if (c.getRepeatLastN() != null) {
            atLeast(errors, g + "repeatLastN", c.getRepeatLastN(), 0, "");
        }
        if (c.getMaxTokens() != null) {
            atLeast(errors, g + "maxTokens", c.getMaxTokens(), 1, " (unset = until the context is full)");
        }
        if (c.getStopSequences() != null && c.getStopSequences().stream().anyMatch(s -> s == null || s.isEmpty())) {
            reject(errors, g + "stopSequences", c.getStopSequences(), "must not contain empty texts");
        }
    }

    private static void atLeast(Errors errors, String field, int value, int min, String note) {
        if (value < min) {
            reject(errors, field, value, "must be >= " + min + note);
        }
    }

    private static void budget(Errors errors, String field, MemoryBudget value) {
        if (value == null) {
            reject(errors, field, null, "must be set: a size such as 512MB or 6GB, or auto");
        }
    }

    /**
     * Rejects {@code field} (a Java property path, as Spring's binding result knows it) with a message that
     * starts with the property's full key, e.g. {@code langchain4j.offload.gpu.prefetch-depth must be >= 1, was 0}.
     */
    private static void reject(Errors errors, String field, Object value, String what) {
        String shown = value instanceof String s ? "'" + s + "'" : String.valueOf(value);
        errors.rejectValue(field, "offload4j.invalid", P + kebab(field) + " " + what + ", was " + shown);
    }

    /** {@code gpu.prefetchDepth} → {@code gpu.prefetch-depth}. */
    static String kebab(String javaPath) {
        StringBuilder b = new StringBuilder(javaPath.length() + 4);
        for (char ch : javaPath.toCharArray()) {
            if (Character.isUpperCase(ch)) {
                b.append('-').append(Character.toLowerCase(ch));
            } else {
                b.append(ch);
            }
        }
        return b.toString();
    }
}
