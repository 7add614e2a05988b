package io.offload4j.hub;

import java.io.IOException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.function.ToIntFunction;

/**
 * How often and how patiently failed requests are repeated: {@code retries} more times, pausing {@code backoff},
 * then twice as long each time (at most 30 s).
 */
record Retry(int retries, Duration backoff) {

    private static final Duration MAX_PAUSE = Duration.ofSeconds(30);

    interface Call<T> {
        T send() throws IOException, InterruptedException;
    }

    /**
     * Sends a metadata request, repeating it on a transient status (429, 5xx) or a network error other than a refused
     * connection; a refused or unresolvable connection means the hub is unreachable and is reported at once, so that
     * the cache can answer instead. Returns the last response, whatever its status.
     */
    <T> T call(Call<T> call, ToIntFunction<T> status) throws IOException, InterruptedException {
        for (int attempt = 1; ; attempt++) {
            T response;
            try {
                response = call.send();
            } catch (ConnectException e) {
                throw e;
            } catch (IOException e) {
                if (attempt > retries) {
                    throw e;
                }
                pause(attempt);
                continue;
            }
            if (!HubErrors.transientStatus(status.applyAsInt(response)) || attempt > retries) {
                return response;
            }
            pause(attempt);
        }
    }

    /** Waits before retry number {@code attempt} (1 = the first retry). */
    void pause(int attempt) throws InterruptedException {
        long millis = backoff.toMillis() << Math.min(attempt - 1, 20);
        Thread.sleep(Math.min(millis, MAX_PAUSE.toMillis()));
    }
}
