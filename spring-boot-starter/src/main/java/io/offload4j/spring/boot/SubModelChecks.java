package io.offload4j.spring.boot;

import io.offload4j.backend.Device;
import org.springframework.validation.Errors;

/** The checks the embedding and scoring models' properties share, each error naming its key and what it accepts. */
final class SubModelChecks {

    private SubModelChecks() {}

    static void check(Errors errors, String prefix, String device, int threads, int batchTokens, int maxTokens) {
        try {
            Device.parse(device);
        } catch (RuntimeException e) {
            errors.rejectValue("device", "offload.device", prefix + ".device = '" + device
                    + "' is not a device: use auto, cpu, cuda or cuda:N");
        }
        if (threads < 0) {
            errors.rejectValue("threads", "offload.threads", prefix + ".threads = " + threads
                    + " must be 0 (one per processor) or more");
        }
        if (batchTokens < 0) {
            errors.rejectValue("batchTokens", "offload.batchTokens", prefix + ".batch-tokens = " + batchTokens
                    + " must be 0 (the model's default) or a positive number of tokens");
        }
        if (maxTokens < 0) {
            errors.rejectValue("maxTokens", "offload.maxTokens", prefix + ".max-tokens = " + maxTokens
                    + " must be 0 (the model's limit) or a positive number of tokens");
        }
    }
}
