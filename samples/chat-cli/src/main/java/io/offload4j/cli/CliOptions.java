package io.offload4j.cli;

import io.offload4j.engine.SamplingParams;
import io.offload4j.model.LoadQuantization;
import io.offload4j.model.Quantization;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line, parsed and checked. Bad input is a {@link UsageException} with a message for the user. */
record CliOptions(String model, Path cacheDir, String prompt, String system, boolean raw, int maxTokens, SamplingParams sampling,
                  String device, int threads, int contextLength, boolean contextBeyondTraining, boolean json, List<String> stops, boolean help,
                  LoadQuantization quantization) {

    /** A small instruct model (Qwen2.5 0.5B Instruct, Q8_0, 0.5 GB), downloaded once when no --model is given. */
    static final String DEFAULT_MODEL = "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf";

    static final String USAGE = """
            Usage: offload4j-chat [--model MODEL] [options]

              --model MODEL         the model (default: Qwen2.5 0.5B Instruct, Q8_0, 0.5 GB, downloaded from
                                    Hugging Face on the first run): a GGUF file, a Hugging Face model
                                    directory (config.json + *.safetensors), or one from Hugging Face, downloaded once
                                    into the Hugging Face cache with a progress bar:
                                      hf:owner/repo/file.gguf   that file (also hf:owner/repo/sub/dir/file.gguf)
                                      owner/repo:Q4_K_M         the repo's GGUF file of that quantization
                                      hf:owner/repo             a safetensors repo (config, weights, tokenizer)
                                    HF_TOKEN (gated/private repos), HF_ENDPOINT, HF_HUB_OFFLINE=1 and
                                    HF_HUB_CACHE / HF_HOME are honoured as by the huggingface_hub tools
              --cache-dir DIR       Hugging Face cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub or
                                    ~/.cache/huggingface/hub)
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
              --device D            auto | cpu | cuda | cuda:N | cuda:all | cuda:N,M,... (default auto)
              --threads N           CPU threads (default: one per core)
              --context N           context length (default: the model's, at most 4096)
              --context-beyond-training  allow --context above the model's trained context (only
                                    for a model stretched for it with RoPE scaling)
              --quantize Q          quantize F16/BF16/F32 weights as they load: none | q8_0 | q4_k | q6_k
                                    (q4_k is llama.cpp's Q4_K_M mix; default none)
              --quantize-save PATH  keep the quantized model as a GGUF file (or in folder PATH) and map it
                                    directly on the next start while the source is unchanged
              --json                print one JSON object (text, token ids, finish reason, usage, timings)
              --help                this text
            """;

    static CliOptions parse(String[] args) {
        String model = null;
        Path cacheDir = null;
        String prompt = null;
        String system = null;
        boolean raw = false;
        boolean json = false;
        boolean help = false;
        int maxTokens = 256;
        String device = "auto";
        int threads = 0;
        int context = 0;
        boolean contextBeyondTraining = false;
        LoadQuantization quantization = LoadQuantization.NONE;
        List<String> stops = new ArrayList<>();
        SamplingParams s = SamplingParams.DEFAULTS;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--model" -> model = value(args, ++i, a);
                case "--cache-dir" -> cacheDir = pathValue(args, ++i, a);
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
                case "--context-beyond-training" -> contextBeyondTraining = true;
                case "--quantize" -> quantization = quantization.withFormat(quantizationValue(args, ++i, a));
                case "--quantize-save" -> quantization = quantization.withCacheFile(pathValue(args, ++i, a));
                default -> throw new UsageException("unknown option '" + a + "'");
            }
        }
        if (model == null) {
            model = DEFAULT_MODEL;
        }
        return new CliOptions(model, cacheDir, prompt, system, raw, maxTokens, s, device, threads, context,
                contextBeyondTraining, json, List.copyOf(stops), help, quantization);
    }

    private static Quantization quantizationValue(String[] args, int i, String option) {
        try {
            return Quantization.parse(value(args, i, option), option);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
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

    private static Path pathValue(String[] args, int i, String option) {
        String v = value(args, i, option);
        try {
            return Path.of(v);
        } catch (java.nio.file.InvalidPathException e) {
            throw new UsageException(option + " expects a folder path, was '" + v + "': " + e.getMessage());
        }
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
