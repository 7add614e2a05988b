package io.offload4j.spring.boot;

import io.offload4j.langchain4j.OffloadEngine;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The application's engine, obtained once: at start-up, or on the first request when
 * {@code langchain4j.offload.load-on-startup=false}. The health indicator and the meters ask it
 * {@link #ifLoaded()} so that looking at the application never triggers a load.
 *
 * <p>It does not own the engine: the engine is a bean, closed by the context.
 */
public final class OffloadEngineHolder {

    private final Supplier<OffloadEngine> source;
    private volatile OffloadEngine engine;
    private volatile RuntimeException failure;
    private final List<Consumer<OffloadEngine>> onLoad = new CopyOnWriteArrayList<>();

    /** @param source gives the engine bean, creating it on the first call */
    public OffloadEngineHolder(Supplier<OffloadEngine> source) {
        this.source = source;
    }

    /**
     * The engine, loading it if that has not happened yet (the caller waits). A failed load is rethrown, and
     * tried again on the next call: the cause (a missing file, no free memory) may have been fixed meanwhile.
     */
    public OffloadEngine get() {
        OffloadEngine e = engine;
        if (e != null) {
            return e;
        }
        synchronized (this) {
            if (engine == null) {
                OffloadEngine loaded;
                try {
                    loaded = source.get();
                    failure = null;
                } catch (RuntimeException ex) {
                    failure = ex;
                    throw ex;
                }
                engine = loaded;
                onLoad.forEach(action -> action.accept(loaded));
            }
            return engine;
        }
    }

    /**
     * Runs {@code action} with the engine once it is loaded: now if it is, else right after the load (on the
     * loading thread). What needs the loaded model's name or device, such as the meters, registers this way.
     */
    public void whenLoaded(Consumer<OffloadEngine> action) {
        synchronized (this) {
            if (engine == null) {
                onLoad.add(action);
                return;
            }
        }
        action.accept(engine);
    }

    /** The engine if it has been loaded; never loads it. */
    public Optional<OffloadEngine> ifLoaded() {
        return Optional.ofNullable(engine);
    }

    /** Why the last load failed, if it did and no load has succeeded since. */
    public Optional<RuntimeException> lastFailure() {
        return Optional.ofNullable(failure);
    }
}
