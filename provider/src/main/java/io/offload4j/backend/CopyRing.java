package io.offload4j.backend;

/**
 * The mechanics of streaming units into an accelerator: a ring of staging slots, a copy stream of its own, pinned
 * host copies of the streamed units (or pinned staging buffers they are gathered into from the file mapping), and
 * events that order copies against compute. It decides nothing: the offload layer's schedule says which unit goes
 * into which slot and when.
 *
 * <p>Copies are identified by a <em>ticket</em> ({@code 0 .. tickets-1}, given at creation): the copy's events are
 * the ticket's, so the compute stream can wait for one copy and its time can be read after the step. Copies land in
 * the order they were issued (one copy stream): waiting for a copy waits for every copy issued before it.
 */
public interface CopyRing extends AutoCloseable {

    /** Slot {@code s}, as device weights a unit can be bound to. */
    DeviceWeights slot(int s);

    /**
     * Issues the copy of {@code unit} into {@code slot} on the copy stream, after the compute that last used the slot
     * (see {@link #slotUsed}); its events are {@code ticket}'s. Allocation-free when the unit is in pinned memory.
     */
    void copy(int unit, int slot, int ticket);

    /** Makes the compute stream wait until copy {@code ticket} has landed. */
    void awaitCopy(int ticket);

    /** Records, on the compute stream, that the work enqueued so far is the last use of {@code slot}'s contents. */
    void slotUsed(int slot);

    /**
     * {@link #slotUsed} for the first {@code count} of {@code slots}, recorded once for all of them (an expert pass
     * reads several slots; one mark on the compute stream serves them all).
     */
    default void slotsUsed(int[] slots, int count) {
        for (int i = 0; i < count; i++) {
            slotUsed(slots[i]);
        }
    }

    /** Time copy {@code ticket} took, once the compute stream has passed it (after the step is synchronised). */
    long copyNanos(int ticket);

    /** Waits for every copy issued so far. */
    void drain();

    /** Bytes of pinned host memory holding streamed units. */
    long pinnedBytes();

    /** Bytes of device memory in the slots. */
    long slotBytes();

    @Override
    void close();
}
