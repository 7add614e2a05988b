package io.offload4j.embedding;

import io.offload4j.backend.Accelerator;
import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.backend.Device;
import io.offload4j.backend.EncoderPass;
import io.offload4j.model.EncoderModel;

/**
 * Where a BERT-family encoder runs: {@code cpu} on the CPU; {@code cuda} / {@code cuda:N} on that GPU, or an error
 * saying why it cannot (no usable GPU, not enough free memory for the fp32 weights, a head size the kernels do not
 * take); a group of GPUs ({@code cuda:0,1}, {@code cuda:all}) on its first GPU alone (an encoder fits one GPU);
 * {@code auto} on the GPU where one is usable and the encoder fits, else on the CPU, with a WARN naming the reason
 * when a GPU was there but refused it.
 */
final class EncoderDeviceChoice {

    private static final System.Logger LOG = System.getLogger("io.offload4j.embedding");

    /** A pass and the backend that owns its device; closing the pass first, then the backend. */
    record Prepared(Backend backend, EncoderPass pass) {}

    private EncoderDeviceChoice() {}

    static Prepared prepare(EncoderModel model, int rows, String deviceName, int threads) {
        Device device = Device.parse(deviceName);
        return switch (device.kind()) {
            case CPU -> on(Device.CPU, model, rows, threads);
            case CUDA -> on(device, model, rows, threads);
            case CUDA_GROUP -> {
                int first = device.ordinals().isEmpty() ? 0 : device.ordinals().getFirst();
                LOG.log(System.Logger.Level.INFO, "offload4j: encoder " + model.config().name() + " runs on cuda:"
                        + first + " alone (device '" + deviceName + "'): an encoder is not split over GPUs");
                yield on(Device.cuda(first), model, rows, threads);
            }
            case AUTO -> {
                Backend b = Backends.create(Device.AUTO, threads);
                if (!(b instanceof Accelerator)) { // no usable GPU: the CPU
                    yield new Prepared(b, prepareOrClose(b, model, rows));
                }
                try {
                    yield new Prepared(b, b.prepareEncoder(model, rows));
                } catch (RuntimeException e) {
                    b.close();
                    LOG.log(System.Logger.Level.WARNING, "offload4j: encoder " + model.config().name() + " runs on"
                            + " the CPU: the GPU cannot take it (" + e.getMessage() + ")");
                    yield on(Device.CPU, model, rows, threads);
                }
            }
        };
    }

    private static Prepared on(Device device, EncoderModel model, int rows, int threads) {
        Backend b = Backends.create(device, threads);
        return new Prepared(b, prepareOrClose(b, model, rows));
    }

    private static EncoderPass prepareOrClose(Backend b, EncoderModel model, int rows) {
        try {
            return b.prepareEncoder(model, rows);
        } catch (RuntimeException | Error e) {
            b.close();
            throw e;
        }
    }
}
