package io.offload4j.hub;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Reads a response body chunk by chunk on the caller's thread, with a limit on how long the server may stay silent.
 * The JDK client's own timeout ends when the headers arrive; a stalled body would otherwise block forever.
 */
final class BodyReader implements Flow.Subscriber<List<ByteBuffer>>, AutoCloseable {

    private static final Object END = new Object();

    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final Duration idleTimeout;
    private volatile Flow.Subscription subscription;
    private boolean finished;

    BodyReader(Flow.Publisher<List<ByteBuffer>> body, Duration idleTimeout) {
        this.idleTimeout = idleTimeout;
        body.subscribe(this);
    }

    /**
     * The next chunk of the body, or null at its end.
     *
     * @throws IOException when the connection fails or nothing arrives for the idle timeout
     */
    List<ByteBuffer> next() throws IOException, InterruptedException {
        if (finished) {
            return null;
        }
        Object item = queue.poll(idleTimeout.toMillis(), TimeUnit.MILLISECONDS);
        if (item == null) {
            close();
            throw new IOException("no data from the server for " + idleTimeout.toSeconds() + " s");
        }
        if (item == END) {
            finished = true;
            return null;
        }
        if (item instanceof Throwable t) {
            finished = true;
            throw t instanceof IOException io ? io : new IOException(t.getMessage(), t);
        }
        @SuppressWarnings("unchecked")
        List<ByteBuffer> chunk = (List<ByteBuffer>) item;
        subscription.request(1);
        return chunk;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        s.request(1);
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        queue.add(item);
    }

    @Override
    public void onError(Throwable throwable) {
        queue.add(throwable);
    }

    @Override
    public void onComplete() {
        queue.add(END);
    }

    /** Stops receiving; the connection is given up if the body was not read to its end. */
    @Override
    public void close() {
        finished = true;
        Flow.Subscription s = subscription;
        if (s != null) {
            s.cancel();
        }
    }
}
