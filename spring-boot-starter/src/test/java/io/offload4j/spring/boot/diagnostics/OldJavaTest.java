package io.offload4j.spring.boot.diagnostics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On a JVM older than Java 25 an application with {@code langchain4j.offload.model} stops with one sentence that
 * says what is needed, what was found and how to run with Java 25. The second test proves it on a real older JVM
 * (the machine's Java 17, /usr/bin/java here and on CI): an application compiled for Java 17 is started there
 * with the starter on its class path, as a user on Java 17 would start theirs.
 */
class OldJavaTest {

    @TempDir
    Path dir;

    @Test
    void theSentenceSaysWhatIsNeededWhatWasFoundAndHowToRun() {
        assertThatThrownBy(() -> OffloadStartupChecks.requireJava(21, "21.0.4", "/opt/jdk-21"))
                .isInstanceOfSatisfying(OffloadStartupException.class, e -> {
                    assertThat(e.description()).isEqualTo("offload4j needs Java 25 or newer, but this application"
                            + " runs on Java 21.0.4 (/opt/jdk-21); run it with a Java 25 JDK: set JAVA_HOME to it for"
                            + " mvn spring-boot:run or your IDE, or start the jar with its bin/java --add-modules"
                            + " jdk.incubator.vector -jar app.jar.");
                    assertThat(e.action()).contains("Java 25 JDK");
                });
        OffloadStartupChecks.requireJava(25, "25.0.1", "/opt/jdk-25"); // no exception
        OffloadStartupChecks.requireJava(26, "26", "/opt/jdk-26");
    }

    @Test
    void anApplicationStartedOnJava17StopsWithTheSentence() throws Exception {
        Path oldJava = olderJava().orElse(null);
        Assumptions.assumeTrue(oldJava != null, "no JDK older than 25 found (/usr/bin/java, /usr/lib/jvm/*):"
                + " the start on an old JVM is not tried");
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path classes = ProbeApplication.compile(dir, classPath);

        Process p = new ProcessBuilder(oldJava.toString(), "-cp", classes + java.io.File.pathSeparator + classPath,
                ProbeApplication.MAIN, "--langchain4j.offload.model=" + dir.resolve("any.gguf"))
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String output = new String(out, StandardCharsets.UTF_8);

        assertThat(p.exitValue()).as(output).isNotZero();
        assertThat(output).contains("APPLICATION FAILED TO START")
                .containsPattern("offload4j needs Java 25 or newer, but this application runs on Java 1[7-9]\\S*|"
                        + "offload4j needs Java 25 or newer, but this application runs on Java 2[0-4]\\S*")
                .contains("run it with a Java 25 JDK")
                .doesNotContain("UnsupportedClassVersionError");
    }

    /** A JDK older than 25 (and at least 17, which Spring Boot needs) on this machine. */
    private static Optional<Path> olderJava() {
        List<Path> homes = new ArrayList<>();
        Path usrBinJava = Path.of("/usr/bin/java");
        if (Files.isExecutable(usrBinJava)) {
            try {
                homes.add(usrBinJava.toRealPath().getParent().getParent());
            } catch (IOException e) {
                // a dangling alternatives link: look in /usr/lib/jvm below
            }
        }
        Path jvms = Path.of("/usr/lib/jvm");
        if (Files.isDirectory(jvms)) {
            try (Stream<Path> s = Files.list(jvms)) {
                s.sorted().forEach(homes::add);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        for (Path home : homes) {
            int feature = featureVersion(home);
            if (feature >= 17 && feature < 25 && Files.isExecutable(home.resolve("bin/java"))) {
                return Optional.of(home.resolve("bin/java"));
            }
        }
        return Optional.empty();
    }

    /** The feature version in a JDK's {@code release} file ({@code JAVA_VERSION="17.0.9"}), 0 if unknown. */
    private static int featureVersion(Path home) {
        Path release = home.resolve("release");
        if (!Files.isRegularFile(release)) {
            return 0;
        }
        try {
            for (String line : Files.readAllLines(release)) {
                if (line.startsWith("JAVA_VERSION=")) {
                    String v = line.substring("JAVA_VERSION=".length()).replace("\"", "");
                    int end = v.indexOf('.');
                    return Integer.parseInt(end < 0 ? v : v.substring(0, end));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
