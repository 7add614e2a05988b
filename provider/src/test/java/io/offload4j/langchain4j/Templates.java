package io.offload4j.langchain4j;

import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;

/** The real chat templates in shared/templates (copied from llama.cpp's models/templates). */
final class Templates {

    private Templates() {}

    static String source(String file) throws IOException {
        return Files.readString(SharedData.require("templates/" + file));
    }
}
