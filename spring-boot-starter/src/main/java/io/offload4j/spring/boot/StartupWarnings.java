package io.offload4j.spring.boot;

import java.util.Optional;

/**
 * What a loaded application may run but should not run unnoticed: the CPU's scalar kernels because the JVM was
 * started without the Vector API module, or a context longer than the model was trained for. The loader logs them
 * at WARN.
 */
final class StartupWarnings {

    static final String VECTOR_MODULE = "jdk.incubator.vector";

    private StartupWarnings() {}

    /** Whether this JVM was started with the Vector API module. */
    static boolean vectorModulePresent() {
        return ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent();
    }

    /** The warning when the Vector API module is missing, with the exact flag and where to put it. */
    static Optional<String> vectorModule(boolean present) {
        if (present) {
            return Optional.empty();
        }
        return Optional.of("offload4j: the JVM was started without the Vector API module, so the CPU runs its"
                + " scalar kernels, several times slower. Start it with --add-modules " + VECTOR_MODULE
                + ": java --add-modules " + VECTOR_MODULE + " -jar app.jar; for mvn spring-boot:run, in the pom:"
                + " <plugin><groupId>org.springframework.boot</groupId><artifactId>spring-boot-maven-plugin"
                + "</artifactId><configuration><jvmArguments>--add-modules " + VECTOR_MODULE + "</jvmArguments>"
                + "</configuration></plugin>; anywhere else: JDK_JAVA_OPTIONS=--add-modules=" + VECTOR_MODULE);
    }

    /**
     * The warning when {@code langchain4j.offload.context-length} exceeds the context the model was trained for:
     * positions past it are accepted but the model's answers degrade there.
     */
    static Optional<String> contextBeyondTraining(int requested, int trained, String modelName) {
        if (requested <= 0 || trained <= 0 || requested <= trained) {
            return Optional.empty();
        }
        return Optional.of("offload4j: " + OffloadProperties.PREFIX + ".context-length=" + requested
                + " exceeds the " + trained + " tokens " + modelName + " was trained for; answers degrade past "
                + trained + " tokens. Set it to at most " + trained + ", or 0 for the model's own (capped at 4096).");
    }
}
