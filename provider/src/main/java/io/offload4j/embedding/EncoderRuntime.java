package io.offload4j.embedding;

import io.offload4j.backend.Backend;
import io.offload4j.backend.EncoderPass;
import io.offload4j.model.EncoderModel;
import io.offload4j.tokenizer.EncoderTokenizer;
import io.offload4j.tokenizer.EncoderTokenizers;
import java.nio.file.Path;
import java.util.List;

/**
 * A BERT-family encoder loaded for use: the model, its tokenizer and its pass, and the packing of many inputs into
 * passes of at most {@code batchTokens} rows. The device follows {@link EncoderDeviceChoice}: {@code cpu}, a GPU
 * ({@code cuda}, {@code cuda:N}; the first of a group), or {@code auto}: the GPU where one is usable and takes the
 * encoder (its fp32 weights resident), else the CPU. The load log names the device the encoder runs on.
 */
final class EncoderRuntime implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("io.offload4j.embedding");

    /** What to do with the hidden states of one pass: inputs {@code from ..} of the list, packed. */
    interface PassConsumer {
        void accept(float[] hidden, int from, int[] lengths, int sequences);
    }

    final EncoderModel model;
    final EncoderTokenizer tokenizer;
    final int maxTokens;
    private final Backend backend;
    private final EncoderPass pass;
    private final float[] hidden;
    private final int[] ids;
    private final int[] types;
    private final int[] lengths;

    EncoderRuntime(Path path, EmbeddingOptions options) {
        EncoderModel m = EncoderModel.load(path);
        Backend b = null;
        EncoderPass preparedPass = null;
        try {
            this.tokenizer = m.isGguf() ? EncoderTokenizers.fromGguf(m.ggufMetadata())
                    : EncoderTokenizers.fromDirectory(m.path());
            int limit = m.config().maxTokens();
            // sentence-transformers cuts at max_seq_length, special tokens included
            int trained = m.isGguf() ? 0 : SentenceTransformersConfig.maxSeqLength(m.path());
            int wanted = options.maxTokens() != 0 ? options.maxTokens() : trained != 0 ? trained : limit;
            this.maxTokens = Math.min(wanted, limit);
            int rows = Math.max(options.batchTokens() == 0 ? EmbeddingOptions.ENCODER_BATCH_TOKENS
                    : options.batchTokens(), maxTokens);
            EncoderDeviceChoice.Prepared prepared = EncoderDeviceChoice.prepare(m, rows, options.device(),
                    options.threads());
            b = prepared.backend();
            preparedPass = prepared.pass();
            this.pass = preparedPass;
            this.backend = b;
            this.model = m;
            int dim = m.config().embeddingLength();
            this.hidden = new float[rows * dim];
            this.ids = new int[rows];
            this.types = new int[rows];
            this.lengths = new int[rows];
            LOG.log(System.Logger.Level.INFO, "offload4j: loaded encoder " + m.config().name() + " ("
                    + (m.config().rotary() ? "nomic-bert" : m.config().family()) + ", " + m.config().blockCount() + " layers, " + dim + " wide) on "
                    + pass.description() + ", up to " + maxTokens + " tokens per text, " + rows + " per pass");
        } catch (RuntimeException | Error e) {
            if (preparedPass != null) {
                preparedPass.close();
            }
            if (b != null) {
                b.close();
            }
            m.close();
            throw e;
        }
    }

    /** Runs the inputs in passes of whole inputs, at most {@link EncoderPass#maxRows()} tokens each. */
    synchronized void run(List<EncoderTokenizer.Encoding> inputs, PassConsumer consumer) {
        int i = 0;
        while (i < inputs.size()) {
            int from = i;
            int rows = 0;
            int n = 0;
            while (i < inputs.size() && rows + inputs.get(i).length() <= pass.maxRows()) {
                EncoderTokenizer.Encoding e = inputs.get(i);
                System.arraycopy(e.ids(), 0, ids, rows, e.length());
                System.arraycopy(e.typeIds(), 0, types, rows, e.length());
                lengths[n++] = e.length();
                rows += e.length();
                i++;
            }
            pass.encode(ids, types, lengths, n, hidden);
            consumer.accept(hidden, from, lengths, n);
        }
    }

    /** The classification head of the inputs of the last pass (see {@link EncoderPass#classify}). */
    void classify(float[] hiddenStates, int[] lengths, int sequences, float[] logits) {
        pass.classify(hiddenStates, lengths, sequences, logits);
    }

    @Override
    public void close() {
        try {
            pass.close();
            backend.close();
        } finally {
            model.close();
        }
    }
}
