package io.offload4j.cli;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.GenerationListener;
import io.offload4j.engine.GenerationRequest;
import io.offload4j.engine.GenerationResult;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.hub.ModelResolutionException;
import io.offload4j.hub.ModelResolver;
import io.offload4j.chat.TemplateException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * {@code offload4j-chat}: one-shot or interactive chat with a GGUF model, from the terminal.
 * Text streams to stdout as it is generated; diagnostics and errors go to stderr; the exit code is
 * 0 on success, 1 on a runtime error, 2 on bad usage.
 */
public final class ChatCli {

    private final CliOptions options;
    private final PrintStream out;
    private final PrintStream err;
    private final Supplier<ModelResolver.Builder> resolvers;
    private final InputStream in;

    ChatCli(CliOptions options, InputStream in, PrintStream out, PrintStream err,
            Supplier<ModelResolver.Builder> resolvers) {
        this.options = options;
        this.in = in;
        this.out = out;
        this.err = err;
        this.resolvers = resolvers;
    }

    public static void main(String[] args) {
        if (VectorModuleRelauncher.relaunchIfNeeded(args)) {
            return; // unreachable: the relauncher exits with the child's status
        }
        VectorModuleRelauncher.exitWithParentIfRelaunched();
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true, StandardCharsets.UTF_8);
        System.exit(run(args, out, err));
    }

    /** Runs the CLI and returns its exit code (used by tests, which capture the streams). */
    static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, ModelResolver::builder);
    }

    /** As {@link #run(String[], PrintStream, PrintStream)}, with Hugging Face settings from {@code resolvers} (tests). */
    static int run(String[] args, PrintStream out, PrintStream err, Supplier<ModelResolver.Builder> resolvers) {
        return run(args, System.in, out, err, resolvers);
    }

    /** As {@link #run(String[], PrintStream, PrintStream)}, reading the interactive chat from {@code in} (tests). */
    static int run(String[] args, InputStream in, PrintStream out, PrintStream err,
                   Supplier<ModelResolver.Builder> resolvers) {
        CliOptions options;
        try {
            options = CliOptions.parse(args);
        } catch (CliOptions.UsageException e) {
            err.println("offload4j-chat: " + e.getMessage());
            err.println("Try --help.");
            return 2;
        }
        if (options.help()) {
            out.print(CliOptions.USAGE);
            return 0;
        }
        try {
            return new ChatCli(options, in, out, err, resolvers).execute();
        } catch (ModelResolutionException | ModelFormatException | TemplateException | IllegalArgumentException
                 | IllegalStateException e) {
            err.println("offload4j-chat: " + e.getMessage());
            return 1;
        }
    }

    private int execute() {
        EngineOptions engineOptions = EngineOptions.DEFAULTS.withDevice(options.device()).withThreads(options.threads())
                .withContextLength(options.contextLength()).withContextBeyondTraining(options.contextBeyondTraining())
                .withQuantization(options.quantization());
        try (InferenceEngine engine = InferenceEngine.load(resolveModel(), engineOptions)) {
            if (!options.json()) {
                err.println("offload4j: " + engine.config().name() + " (" + engine.config().architecture().ggufName() + ", "
                        + engine.config().blockCount() + " blocks) on " + engine.deviceDescription() + ", context "
                        + engine.contextLength());
            }
            Prompts prompts = new Prompts(engine);
            if (options.prompt() != null) {
                int[] tokens = options.raw() ? prompts.raw(options.prompt())
                        : prompts.chat(options.system(), List.of(new Prompts.Turn("user", options.prompt())));
                // A completion reads on from its prompt, as llama.cpp shows it.
                String echo = options.raw() ? options.prompt() : "";
                GenerationResult r = generate(engine, tokens, prompts, echo);
                if (options.json()) {
                    out.println(Json.result(r, engine));
                } else {
                    out.println();
                    printStats(r);
                }
                return 0;
            }
            return interactive(engine, prompts);
        }
    }

    /** The model's local path: the file given, or the Hugging Face download (cached after the first run). */
    private Path resolveModel() {
        ModelResolver.Builder builder = resolvers.get();
        if (options.cacheDir() != null) {
            builder.cacheDir(options.cacheDir());
        }
        try (ProgressBarListener progress = new ProgressBarListener(err)) {
            return builder.build().resolve(options.model(), progress);
        } catch (ModelResolutionException e) {
            if (!options.model().equals(CliOptions.DEFAULT_MODEL)) {
                throw e;
            }
            throw new ModelResolutionException(e.getMessage() + "\nWithout --model, offload4j-chat runs its default"
                    + " model, " + CliOptions.DEFAULT_MODEL + ", which it downloads from Hugging Face once. To run"
                    + " without the network, point it at a local GGUF file instead: --model /path/to/model.gguf (for"
                    + " example: --model ../shared/models/stories260K.gguf --raw --prompt \"Once upon a time\""
                    + " --max-tokens 60: its context is 128 tokens).", e);
        }
    }

    private GenerationResult generate(InferenceEngine engine, int[] tokens, Prompts prompts, String echo) {
        return generate(engine, tokens, prompts, echo, options.maxTokens());
    }

    private GenerationResult generate(InferenceEngine engine, int[] tokens, Prompts prompts, String echo,
                                      int maxTokens) {
        List<String> stops = new ArrayList<>(options.stops());
        stops.addAll(prompts.stopStrings(options.raw()));
        GenerationRequest request = new GenerationRequest(tokens, maxTokens, options.sampling(), stops,
                prompts.stopTokens(options.raw()));
        GenerationListener listener = options.json() ? GenerationListener.NONE : new GenerationListener() {
            @Override
            public void onPromptProcessed(int promptTokens, long nanos) {
                out.print(echo); // only once the request was accepted and the prompt is in
            }

            @Override
            public void onText(String text) {
                out.print(text);
                out.flush();
            }
        };
        return engine.generate(request, listener);
    }

    /**
     * Reads messages until an empty line or the end of input. The conversation (or, with {@code --raw}, the text)
     * grows with every exchange; once it would leave less than the reply's room in the context, its oldest
     * exchanges are dropped, as a chat window scrolls, instead of the request being refused.
     */
    private int interactive(InferenceEngine engine, Prompts prompts) {
        err.println("Interactive chat: type a message and press Enter; an empty line or Ctrl-D ends.");
        BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        List<Prompts.Turn> turns = new ArrayList<>(); // raw mode: the text pieces, each a "user" or "assistant" turn
        int replyRoom = replyRoom(engine.contextLength());
        while (true) {
            err.print("> ");
            err.flush();
            String line;
            try {
                line = reader.readLine();
            } catch (IOException e) {
                err.println("offload4j-chat: cannot read input: " + e.getMessage());
                return 1;
            }
            if (line == null || line.isBlank()) {
                return 0;
            }
            turns.add(new Prompts.Turn("user", line));
            int[] tokens = prompt(prompts, turns);
            int dropped = 0;
            while (tokens.length + replyRoom > engine.contextLength() && turns.size() > 1) {
                turns.removeFirst(); // the oldest message, then its reply: the window keeps whole exchanges
                if (!turns.isEmpty() && turns.getFirst().role().equals("assistant")) {
                    turns.removeFirst();
                }
                dropped++;
                tokens = prompt(prompts, turns);
            }
            if (dropped > 0) {
                err.println("[dropped the " + dropped + " oldest exchange" + (dropped == 1 ? "" : "s") + " to fit the"
                        + " context of " + engine.contextLength() + " tokens]");
            }
            if (tokens.length >= engine.contextLength()) {
                turns.removeLast();
                err.println("offload4j-chat: this message alone has " + tokens.length + " tokens, more than the"
                        + " context of " + engine.contextLength() + "; shorten it or start with a larger --context");
                continue;
            }
            int maxTokens = Math.min(options.maxTokens() > 0 ? options.maxTokens() : Integer.MAX_VALUE,
                    engine.contextLength() - tokens.length);
            GenerationResult r = generate(engine, tokens, prompts, "", maxTokens);
            out.println();
            printStats(r);
            turns.add(new Prompts.Turn("assistant", r.text()));
        }
    }

    /** Tokens kept free for the reply: --max-tokens, but never more than half the context. */
    private int replyRoom(int context) {
        int wanted = options.maxTokens() > 0 ? options.maxTokens() : context / 4;
        return Math.max(1, Math.min(wanted, context / 2));
    }

    private int[] prompt(Prompts prompts, List<Prompts.Turn> turns) {
        if (!options.raw()) {
            return prompts.chat(options.system(), turns);
        }
        StringBuilder text = new StringBuilder();
        for (Prompts.Turn t : turns) {
            text.append(t.content());
        }
        return prompts.raw(text.toString());
    }

    private void printStats(GenerationResult r) {
        err.printf(Locale.ROOT, "[%d prompt tokens, %.1f tok/s prefill; %d generated, %.1f tok/s decode; %s]%n",
                r.promptTokenCount(), r.prefillTokensPerSecond(), r.generatedTokenCount(), r.decodeTokensPerSecond(),
                r.finishReason().name().toLowerCase(Locale.ROOT));
    }
}
