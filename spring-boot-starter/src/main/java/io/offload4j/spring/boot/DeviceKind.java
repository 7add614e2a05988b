package io.offload4j.spring.boot;

import io.offload4j.engine.InferenceEngine;

/** Whether an engine runs on a GPU, so that GPU-only figures (weight placement, GPU cache) are shown only there. */
final class DeviceKind {

    private DeviceKind() {}

    /**
     * True unless the engine runs on the CPU backend. The engine names its device only in its description
     * ({@code "cpu (4 threads, Vector API)"}, {@code "NVIDIA H100 ..., JCuda driver API"}), and the CPU backend's
     * always starts with {@code cpu}.
     */
    static boolean isGpu(InferenceEngine engine) {
        return !engine.deviceDescription().startsWith("cpu");
    }
}
