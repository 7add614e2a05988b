package io.offload4j.cli;

import io.offload4j.engine.SamplingParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line, parsed and checked. Bad input is a {@link UsageException} with a message for the user. */
record CliOptions(Path model, String prompt, String system, boolean raw, int maxTokens, SamplingParams sampling,
                  String device, int threads, int contextLength, boolean json, List<String> stops, boolean help) {

    static final String USAGE = """
            Usage: offload4j-chat --model PATH [options]

              --model PATH          GGUF model file or Hugging Face model directory (required)
              --prompt TEXT         one-shot: answer TEXT and exit (without it: interactive chat)
              --system TEXT         system message for chat mode
              --raw                 plain completion: no chat template, BOS as the model's metadata says
              --max-tokens N        most tokens to generate (default 256; 0 = until the context is full)
              --temperature T       0 = greedy (default 0.8)
              --top-k K             (default 40; 0 = off)
              --top-p P             (default 0.95; 1 = off)
              --min-p P             (default 0.05; 0 = off)
              --repeat-penalty R    (default 1.0 = off)
              --seed S              makes sampling reproducible
              --stop TEXT           stop before TEXT (repeatable)
              --device D            auto | cpu | cuda (default auto)
              --threads N           CPU threads (default: one per core)
              --context N           context length (default: the model's, at most 4096)
              --json                print one JSON object (text, token ids, finish reason, usage, timings)
              --help                this text
            """;

    static CliOptions parse(String[] args) {
        Path model = null;
        String prompt = null;
        String system = null;
        boolean raw = false;
        boolean json = false;
        boolean help = false;
        int maxTokens = 256;
        String device = "auto";
        int threads = 0;
        int context = 0;
        List<String> stops = new ArrayList<>();
        SamplingParams s = SamplingParams.DEFAULTS;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--model" -> model = Path.of(value(args, ++i, a));
                case "--prompt" -> prompt = value(args, ++i, a);
                case "--system" -> system = value(args, ++i, a);
                case "--raw" -> raw = true;
                case "--json" -> json = true;
                case "--help", "-h" -> help = true;
                case "--max-tokens" -> maxTokens = intValue(args, ++i, a, 0);
                case "--temperature" -> s = checked(a, doubleValue(args, ++i, a), s::withTemperature);
                case "--top-k" -> s = s.withTopK(intValue(args, ++i, a, 0));
                case "--top-p" -> s = checked(a, doubleValue(args, ++i, a), s::withTopP);
                case "--min-p" -> s = checked(a, doubleValue(args, ++i, a), s::withMinP);
                case "--repeat-penalty" -> s = checked(a, doubleValue(args, ++i, a), s::withRepeatPenalty);
                case "--seed" -> s = s.withSeed(longValue(args, ++i, a));
                case "--stop" -> stops.add(value(args, ++i, a));
                case "--device" -> device = value(args, ++i, a);
                case "--threads" -> threads = intValue(args, ++i, a, 0);
                case "--context" -> context = intValue(args, ++i, a, 0);
                default -> throw new UsageException("unknown option '" + a + "'");
            }
        }
        if (!help && model == null) {
            throw new UsageException("--model PATH is required");
        }
        return new CliOptions(model, prompt, system, raw, maxTokens, s, device, threads, context, json, List.copyOf(stops), help);
    }

    /** Applies a sampling setting, turning its validation error into a usage error naming the option. */
    private static SamplingParams checked(String option, double value, java.util.function.DoubleFunction<SamplingParams> with) {
        try {
            return with.apply(value);
        } catch (IllegalArgumentException e) {
            throw new UsageException(option + ": " + e.getMessage());
        }
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new UsageException(option + " needs a value");
        }
        return args[i];
    }

    private static int intValue(String[] args, int i, String option, int min) {
        String v = value(args, i, option);
        try {
            int n = Integer.parseInt(v);
            if (n < min) {
                throw new UsageException(option + " must be at least " + min + ", was " + n);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException(option + " expects a whole number, was '" + v + "'");
        }
    }

    private static long longValue(String[] args, int i, String option) {
        String v = value(args, i, option);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException(option + " expects a whole number, was '" + v + "'");
        }
    }

    private static double doubleValue(String[] args, int i, String option) {
        String v = value(args, i, option);
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException(option + " expects a number, was '" + v + "'");
        }
    }

    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
