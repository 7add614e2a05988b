package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.offload4j.offload.OffloadOptions;
import org.junit.jupiter.api.Test;

class MemoryBudgetTest {

    @Test
    void parsesAutoAndSizes() {
        assertThat(MemoryBudget.valueOf("auto").isAuto()).isTrue();
        assertThat(MemoryBudget.valueOf(" Auto ").bytes()).isEqualTo(OffloadOptions.AUTO);
        assertThat(MemoryBudget.valueOf("6GB").bytes()).isEqualTo(6L << 30);
        assertThat(MemoryBudget.valueOf("512MB").bytes()).isEqualTo(512L << 20);
        assertThat(MemoryBudget.valueOf("1048576").bytes()).isEqualTo(1 << 20);
        assertThat(MemoryBudget.valueOf("0").bytes()).isZero();
        assertThat(MemoryBudget.valueOf("6GB")).hasToString("6GB");
        assertThat(MemoryBudget.valueOf("1536MB")).hasToString("1536MB");
        assertThat(MemoryBudget.valueOf("100")).hasToString("100B");
        assertThat(MemoryBudget.valueOf("0")).hasToString("0B");
        assertThat(MemoryBudget.AUTO).hasToString("auto");
    }

    @Test
    void refusesWhatIsNeitherAutoNorASize() {
        assertThatThrownBy(() -> MemoryBudget.valueOf("lots")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("'lots' is not a memory size: expected 'auto' or a size such as 512MB, 6GB or a number of"
                        + " bytes");
        assertThatThrownBy(() -> MemoryBudget.valueOf("-1GB")).hasMessageContaining("'-1GB' is negative");
        assertThatThrownBy(() -> new MemoryBudget(-2)).hasMessageContaining("was -2");
    }
}
