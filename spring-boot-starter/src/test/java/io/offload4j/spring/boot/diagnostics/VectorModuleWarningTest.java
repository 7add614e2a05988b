package io.offload4j.spring.boot.diagnostics;

import static org.assertj.core.api.Assertions.assertThat;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An application started on Java 25 the way {@code java -jar} or {@code mvn spring-boot:run} start it without
 * configuration, i.e. without {@code --add-modules jdk.incubator.vector}: it works, and loading the model logs a
 * WARN with the flag and the plugin snippet. (The build's own test JVMs always have the module.)
 */
class VectorModuleWarningTest {

    @TempDir
    Path dir;

    @Test
    void anApplicationWithoutTheVectorModuleWarnsWithTheFlagAndSnippet() throws Exception {
        Path tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path classes = ProbeApplication.compile(dir, classPath);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");

        Process p = new ProcessBuilder(java.toString(), "--enable-native-access=ALL-UNNAMED", "-cp",
                classes + File.pathSeparator + classPath, ProbeApplication.MAIN,
                "--langchain4j.offload.model=" + tiny, "--langchain4j.offload.device=cpu",
                "--langchain4j.offload.threads=1", "--langchain4j.offload.context-length=64")
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String output = new String(out, StandardCharsets.UTF_8);

        assertThat(p.exitValue()).as(output).isZero();
        assertThat(output).contains("WARN").contains("the JVM was started without the Vector API module")
                .contains("java --add-modules jdk.incubator.vector -jar app.jar")
                .contains("<jvmArguments>--add-modules jdk.incubator.vector</jvmArguments>")
                .contains("offload4j: loaded tiny-llama");
    }
}
