package io.offload4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatCliTest {

    /**
     * The greedy continuation of "Once upon a time" by stories260K, as produced by llama.cpp on this
     * GGUF and by llama2.c's run.c on the original checkpoint (shared/models/README.md).
     */
    static final String REFERENCE = "Once upon a time, there was a little girl named Lily. She loved to play outside in"
            + " the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = ChatCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void stories260kGreedyContinuationMatchesLlamaCpp() {
        Path model = SharedData.require("models/stories260K.gguf");
        Run r = run("--model", model.toString(), "--raw", "--prompt", "Once upon a time", "--temperature", "0",
                "--max-tokens", "60");
        assertEquals(0, r.code(), r.err());
        assertEquals(REFERENCE, r.out().strip());
    }

    @Test
    void interactiveChatDropsTheOldestExchangesInsteadOfExitingWhenTheContextIsFull() {
        Path model = SharedData.require("models/stories260K.gguf"); // trained (and run) with 128 positions
        String lines = "Tom went to the park and saw a big dog.\n".repeat(8) + "\n";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = ChatCli.run(new String[] {"--model", model.toString(), "--temperature", "0", "--max-tokens", "30"},
                new java.io.ByteArrayInputStream(lines.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                io.offload4j.hub.ModelResolver::builder);
        String diagnostics = err.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, diagnostics);
        assertTrue(diagnostics.contains("oldest exchange"), diagnostics);
        assertEquals(8, diagnostics.split("prompt tokens", -1).length - 1, "every message got an answer: " + diagnostics);
    }

    @Test
    void chatModeUsesTheModelsChatFormat() {
        // stories260K has no chat template and no chat tokens: the plain fallback format renders the
        // user's text as is, so chat mode continues it exactly as a raw completion does.
        Path model = SharedData.require("models/stories260K.gguf");
        Run r = run("--model", model.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "60");
        assertEquals(0, r.code(), r.err());
        assertEquals(REFERENCE.substring("Once upon a time".length()), r.out().strip());
    }

    @Test
    void jsonOutputHasTokensUsageFinishReasonAndTimings() {
        Path model = SharedData.require("models/stories260K.gguf");
        Run r = run("--model", model.toString(), "--raw", "--prompt", "Once upon a time", "--temperature", "0",
                "--max-tokens", "60", "--json");
        assertEquals(0, r.code(), r.err());
        String json = r.out().strip();
        assertTrue(json.startsWith("{") && json.endsWith("}") && !json.contains("\n"), "one JSON object on one line");
        assertEquals(REFERENCE.substring("Once upon a time".length()), stringField(json, "text"));
        // BOS (1) then the prompt; 60 generated ids.
        assertTrue(json.contains("\"prompt_tokens\":[1,"), json);
        assertEquals(60, field(json, "\"tokens\":\\[([0-9,]*)\\]").split(",").length);
        assertEquals("length", stringField(json, "finish_reason"));
        assertTrue(json.contains("\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":60,\"total_tokens\":65}"), json);
        assertTrue(Double.parseDouble(field(json, "\"decode_tokens_per_second\":([0-9.]+)")) > 0);
        assertTrue(Double.parseDouble(field(json, "\"prefill_tokens_per_second\":([0-9.]+)")) > 0);
    }

    @Test
    void sampledOutputIsReproducibleWithASeed() {
        Path model = SharedData.require("models/stories260K.gguf");
        String[] args = {"--model", model.toString(), "--raw", "--prompt", "Once upon a time", "--temperature", "1.0",
            "--seed", "42", "--max-tokens", "40", "--json"};
        Run a = run(args);
        Run b = run(args);
        assertEquals(0, a.code(), a.err());
        assertEquals(stringField(a.out(), "text"), stringField(b.out(), "text"));
    }

    @Test
    void missingModelIsAClearErrorWithExitCode1() {
        Run r = run("--model", "/nonexistent/model.gguf", "--prompt", "hi");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("/nonexistent/model.gguf") && r.err().contains("no such file"), r.err());
    }

    @Test
    void notAGgufFileIsAClearError(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("model.safetensors");
        Files.writeString(f, "{\"__metadata__\":{}}");
        Run r = run("--model", f.toString(), "--prompt", "hi");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("expected the magic 'GGUF'"), r.err());
    }

    @Test
    void badUsageExitsWith2AndSaysWhy() {
        Run badNumber = run("--model", "x.gguf", "--max-tokens", "many");
        assertEquals(2, badNumber.code());
        assertTrue(badNumber.err().contains("--max-tokens expects a whole number, was 'many'"), badNumber.err());
        Run badTemperature = run("--model", "x.gguf", "--temperature", "-1");
        assertEquals(2, badTemperature.code());
        assertTrue(badTemperature.err().contains("--temperature: temperature must be"), badTemperature.err());
        Run badQuantize = run("--model", "x.gguf", "--quantize", "int4");
        assertEquals(2, badQuantize.code());
        assertTrue(badQuantize.err().contains("--quantize is 'int4'; allowed values: none, q8_0, q4_k, q6_k"),
                badQuantize.err());
        Run unknown = run("--model", "x.gguf", "--frobnicate");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("unknown option '--frobnicate'"), unknown.err());
    }

    /** --quantize q8_0 with --quantize-save: the model runs quantized and the GGUF is kept for the next start. */
    @Test
    void quantizeAtLoadKeepsTheQuantizedModel(@TempDir Path tmp) {
        Path model = SharedData.require("models/stories260K.gguf");
        Path saved = tmp.resolve("stories-q8_0.gguf");
        for (int i = 0; i < 2; i++) { // the second run maps the saved file
            Run r = run("--model", model.toString(), "--raw", "--prompt", "Once upon a time", "--temperature", "0",
                    "--max-tokens", "20", "--quantize", "q8_0", "--quantize-save", saved.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("Once upon a time"), r.out());
            assertTrue(Files.isRegularFile(saved), "kept");
        }
    }

    @Test
    void promptLongerThanTheContextIsRefusedBeforeAnyWork() {
        Path model = SharedData.require("models/stories260K.gguf");
        Run r = run("--model", model.toString(), "--raw", "--prompt", "Once upon a time", "--max-tokens", "500");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("more than the context length 128"), r.err());
        assertEquals("", r.out(), "nothing is printed for a refused request");
    }

    @Test
    void helpPrintsUsage() {
        Run r = run("--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--model MODEL"));
    }

    private static String field(String json, String regex) {
        Matcher m = Pattern.compile(regex).matcher(json);
        assertTrue(m.find(), regex + " in " + json);
        return m.group(1);
    }

    private static String stringField(String json, String name) {
        return field(json, "\"" + name + "\":\"((?:[^\"\\\\]|\\\\.)*)\"").replace("\\n", "\n").replace("\\\"", "\"");
    }
}
