package io.offload4j.reliability;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Load and soak for the rag-web sample over HTTP, on the loopback interface only: rounds of mixed requests from
 * several clients ({@code POST /api/chat} and the SSE stream, whose answers must equal those of a sequential run when
 * the server samples greedily; clients that hang up after 300 ms; 1 MB bodies, which must get 413; blank questions,
 * which must get 400), bounded by a number of rounds and a time limit. After each round it waits for the engine to
 * be idle and reports the server's heap and RSS (from {@code /api/stats}), the failures, and the tokens generated
 * in the round (hung-up clients must not keep generating).
 *
 * <pre>
 * java -cp ... io.offload4j.reliability.RagWebSoak --url http://127.0.0.1:8080 [--rounds N] [--requests N]
 *     [--clients N] [--minutes M] [--greedy]
 * </pre>
 * {@code --greedy} says that the server runs at temperature 0 (compare answers). Exits 1 on any failure.
 */
public final class RagWebSoak {

    /** How much load, for how long; {@code greedy}: the server samples greedily, so answers must repeat. */
    public record Options(int rounds, int requestsPerRound, int clients, long maxSeconds, boolean greedy) {
        public static final Options CI = new Options(3, 20, 4, 90, true);
    }

    /** What one round measured (server-side memory from {@code /api/stats}). */
    public record Round(int index, int requests, int failures, int hungUp, long generatedTokens, long heapUsedBytes,
                        long rssBytes, double seconds) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "round %3d: %4d requests, %d failed, %d hung up; %d tokens generated;"
                            + " server heap %d MB, RSS %d MB; %.1f s", index, requests, failures, hungUp,
                    generatedTokens, heapUsedBytes >> 20, rssBytes >> 20, seconds);
        }
    }

    public record Report(List<Round> rounds, List<String> failures) {
        public boolean ok() {
            return failures.isEmpty();
        }
    }

    private static final String[] QUESTIONS = {"What is offload4j?", "Which devices can it use?",
            "How fast is decoding?", "Which quantization formats can it run?"};
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final Options options;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<String> reference = new ArrayList<>();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());

    private RagWebSoak(URI base, Options options) {
        this.base = base;
        this.options = options;
    }

    /** Runs the soak against the server at {@code base}, which must be on this machine's loopback interface. */
    public static Report run(URI base, Options options, PrintStream log) throws IOException, InterruptedException {
        requireLoopback(base);
        return new RagWebSoak(base, options).run(log);
    }

    static void requireLoopback(URI base) throws IOException {
        if (!"http".equals(base.getScheme()) || base.getHost() == null || !isLoopback(base.getHost())) {
            throw new IllegalArgumentException("--url must be http:// on the loopback interface (127.0.0.1,"
                    + " localhost), not " + base + ": a soak sends a lot of traffic and must not leave this machine");
        }
    }

    /** "localhost" or a loopback IP literal; any other name is refused without a DNS lookup. */
    private static boolean isLoopback(String host) {
        if (host.equalsIgnoreCase("localhost")) {
            return true;
        }
        boolean literal = host.matches("[0-9.]+") || host.startsWith("[");
        try {
            return literal && InetAddress.getByName(host).isLoopbackAddress();
        } catch (IOException e) {
            return false;
        }
    }

    private Report run(PrintStream log) throws IOException, InterruptedException {
        for (String q : QUESTIONS) {
            reference.add(answer(q, "ref" + reference.size()));
        }
        List<Round> rounds = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(options.maxSeconds());
        ExecutorService clients = Executors.newFixedThreadPool(options.clients());
        try {
            for (int r = 0; r < options.rounds() && System.nanoTime() < deadline; r++) {
                Round round = round(r, clients);
                rounds.add(round);
                log.println(round);
            }
        } finally {
            clients.shutdownNow();
        }
        return new Report(List.copyOf(rounds), List.copyOf(failures));
    }

    private Round round(int index, ExecutorService clients) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        long generatedBefore = stats().path("engine").path("generatedTokens").asLong();
        AtomicInteger failed = new AtomicInteger();
        AtomicInteger hungUp = new AtomicInteger();
        List<Future<?>> work = new ArrayList<>();
        for (int i = 0; i < options.requestsPerRound(); i++) {
            int id = index * options.requestsPerRound() + i;
            work.add(clients.submit(() -> request(id, failed, hungUp)));
        }
        for (Future<?> f : work) {
            try {
                f.get(120, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                failed.incrementAndGet();
                fail("round " + index + ": a client did not finish: " + e);
            }
        }
        JsonNode s = awaitIdle(index);
        return new Round(index, work.size(), failed.get(), hungUp.get(),
                s.path("engine").path("generatedTokens").asLong() - generatedBefore,
                s.path("jvm").path("heapUsedBytes").asLong(), s.path("jvm").path("rssBytes").asLong(),
                (System.nanoTime() - t0) / 1e9);
    }

    /** The stats once no request runs (hung-up clients' generations must end within seconds). */
    private JsonNode awaitIdle(int round) throws IOException, InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        JsonNode s = stats();
        while (s.path("engine").path("running").asInt() + s.path("engine").path("queued").asInt() > 0) {
            if (System.nanoTime() > until) {
                fail("round " + round + ": 10 s after its last client finished the engine still runs "
                        + s.path("engine").path("running").asInt() + " requests (generating for nobody?)");
                return s;
            }
            Thread.sleep(100);
            s = stats();
        }
        return s;
    }

    private void request(int id, AtomicInteger failed, AtomicInteger hungUp) {
        int q = id % QUESTIONS.length;
        int kind = id % 10;
        try {
            if (kind < 5) {
                check(id, q, answer(QUESTIONS[q], "c" + id), failed);
            } else if (kind < 7) {
                check(id, q, streamedAnswer(QUESTIONS[q], "c" + id), failed);
            } else if (kind == 7) {
                hangUpAfter(300, "{\"conversationId\":\"h" + id + "\",\"message\":\"" + QUESTIONS[q] + "\"}");
                hungUp.incrementAndGet();
            } else if (kind == 8) {
                expectStatus(id, post("{\"message\":\"" + "a".repeat(1 << 20) + "\"}"), 413, failed);
            } else {
                expectStatus(id, post("{\"message\":\"   \"}"), 400, failed);
            }
        } catch (IOException | RuntimeException e) {
            failed.incrementAndGet();
            fail("request " + id + " (kind " + kind + "): " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void check(int id, int q, String answer, AtomicInteger failed) {
        if (options.greedy() && !answer.equals(reference.get(q))) {
            failed.incrementAndGet();
            fail("request " + id + ": the answer to '" + QUESTIONS[q] + "' differs from the sequential run's: '"
                    + answer + "' vs '" + reference.get(q) + "'");
        }
    }

    private void expectStatus(int id, HttpResponse<String> r, int status, AtomicInteger failed) {
        if (r.statusCode() != status) {
            failed.incrementAndGet();
            fail("request " + id + ": status " + r.statusCode() + " instead of " + status + ": " + r.body());
        }
    }

    private String answer(String question, String conversation) throws IOException, InterruptedException {
        HttpResponse<String> r = post("{\"conversationId\":\"" + conversation + "\",\"message\":\"" + question + "\"}");
        if (r.statusCode() != 200) {
            throw new IOException("POST /api/chat: status " + r.statusCode() + ": " + r.body());
        }
        return JSON.readTree(r.body()).path("answer").asText();
    }

    /** The {@code done} event's answer of {@code GET /api/chat/stream}. */
    private String streamedAnswer(String question, String conversation) throws IOException, InterruptedException {
        URI uri = base.resolve("/api/chat/stream?conversationId=" + conversation + "&message="
                + URLEncoder.encode(question, StandardCharsets.UTF_8));
        HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(uri).GET().build(),
                HttpResponse.BodyHandlers.ofInputStream());
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String event = null;
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("event:")) {
                    event = line.substring(6).strip();
                } else if (line.startsWith("data:") && "done".equals(event)) {
                    return JSON.readTree(line.substring(5)).path("answer").asText();
                } else if (line.startsWith("data:") && "failure".equals(event)) {
                    throw new IOException("the stream failed: " + line.substring(5));
                }
            }
        }
        throw new IOException("the stream ended without a done event");
    }

    private HttpResponse<String> post(String body) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(base.resolve("/api/chat")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Sends {@code POST /api/chat} on a raw socket and closes it after {@code millis}, as an impatient client. */
    private void hangUpAfter(long millis, String body) throws IOException, InterruptedException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /api/chat HTTP/1.1\r\nHost: " + base.getHost() + "\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + b.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            Thread.sleep(millis);
        }
    }

    private JsonNode stats() throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/api/stats")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }

    private void fail(String line) {
        if (failures.size() < 50) {
            failures.add(line);
        }
    }

    public static void main(String[] args) throws Exception {
        URI url = null;
        int rounds = 20;
        int requests = 100;
        int clients = 8;
        double minutes = 10;
        boolean greedy = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--url" -> url = URI.create(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                case "--clients" -> clients = Integer.parseInt(args[++i]);
                case "--minutes" -> minutes = Double.parseDouble(args[++i]);
                case "--greedy" -> greedy = true;
                default -> {
                    System.err.println("unknown argument " + args[i] + "; see the class comment of " + RagWebSoak.class);
                    System.exit(2);
                }
            }
        }
        if (url == null) {
            System.err.println("--url http://127.0.0.1:PORT of a running rag-web is required");
            System.exit(2);
        }
        Report report = run(url, new Options(rounds, requests, clients, (long) (minutes * 60), greedy), System.out);
        report.failures().forEach(f -> System.out.println("FAILURE " + f));
        System.out.println(report.ok() ? "soak passed: " + report.rounds().size() + " rounds"
                : "soak FAILED: " + report.failures().size() + " failures");
        System.exit(report.ok() ? 0 : 1);
    }
}
