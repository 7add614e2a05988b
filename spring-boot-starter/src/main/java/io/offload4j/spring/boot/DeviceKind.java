package io.offload4j.spring.boot;

import io.offload4j.engine.InferenceEngine;

/** Whether an engine runs on a GPU, so that GPU-only figures (weight placement, GPU cache) are shown only there. */
final class DeviceKind {

    private DeviceKind() {}

    /** True when the engine runs on an accelerator (a GPU) rather than on the CPU backend alone. */
    static boolean isGpu(InferenceEngine engine) {
        return engine.onAccelerator();
    }
}
