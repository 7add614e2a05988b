package io.offload4j.spring.boot.diagnostics;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * A Spring Boot application as a user writes it (auto-configuration, no beans of its own), compiled for Java 17
 * at test time, so that a test can start it in a JVM of its choice: it starts, then closes its context and exits.
 */
final class ProbeApplication {

    static final String MAIN = "probe.ProbeApp";

    private ProbeApplication() {}

    /** Compiles the application into {@code dir/classes} against {@code classPath}; returns that folder. */
    static Path compile(Path dir, String classPath) throws IOException {
        Path src = Files.createDirectories(dir.resolve("src/probe"));
        Path out = Files.createDirectories(dir.resolve("classes"));
        Files.writeString(src.resolve("ProbeApp.java"), """
                package probe;

                import org.springframework.boot.SpringApplication;
                import org.springframework.boot.WebApplicationType;
                import org.springframework.boot.SpringBootConfiguration;
                import org.springframework.boot.autoconfigure.EnableAutoConfiguration;

                @SpringBootConfiguration
                @EnableAutoConfiguration
                public class ProbeApp {
                    public static void main(String[] args) {
                        SpringApplication app = new SpringApplication(ProbeApp.class);
                        app.setWebApplicationType(WebApplicationType.NONE);
                        app.run(args).close();
                    }
                }
                """);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc = javac.run(null, null, null, "--release", "17", "-proc:none", "-cp", classPath, "-d", out.toString(),
                src.resolve("ProbeApp.java").toString());
        assertThat(rc).as("javac of the probe application").isZero();
        return out;
    }
}
