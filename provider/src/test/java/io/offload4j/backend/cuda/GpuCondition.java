package io.offload4j.backend.cuda;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Disables GPU test classes on machines without a usable CUDA device, with the reason (no driver
 * library, no device, too old a GPU) as the skip message.
 */
public final class GpuCondition implements ExecutionCondition {

    private static volatile String reason;
    private static volatile boolean probed;

    static String reason() {
        if (!probed) {
            synchronized (GpuCondition.class) {
                if (!probed) {
                    reason = CudaDevice.unavailableReason(0);
                    probed = true;
                }
            }
        }
        return reason;
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String r = reason();
        return r == null ? ConditionEvaluationResult.enabled("CUDA device 0 is usable")
                : ConditionEvaluationResult.disabled("skipped: no usable CUDA device (" + r + ")");
    }
}
