package io.offload4j.samples.ragweb;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/**
 * Questions about offload4j answered by a local model: the bundled Markdown documents are embedded at start-up,
 * the passages closest to a question are put into the prompt, and the model named by
 * {@code langchain4j.offload.model} (loaded by the offload4j Spring Boot starter) writes the answer.
 */
@SpringBootApplication
@ConfigurationPropertiesScan
public class RagWebApplication {

    public static void main(String[] args) {
        SpringApplication.run(RagWebApplication.class, args);
    }
}
