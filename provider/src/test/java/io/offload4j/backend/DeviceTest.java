package io.offload4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Devices as users write them, one GPU or several, and the errors for what is not a device. */
class DeviceTest {

    @Test
    void parsesEveryForm() {
        assertEquals(Device.AUTO, Device.parse(null));
        assertEquals(Device.AUTO, Device.parse(" AUTO "));
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(3), Device.parse("cuda:3"));
        assertEquals(Device.ALL_GPUS, Device.parse("cuda:all"));
        assertEquals(Device.cudaGroup(List.of(0, 1, 3)), Device.parse("cuda:0,1,3"));
        assertEquals(Device.cudaGroup(List.of(0, 0)), Device.parse("cuda:0, 0"));
        for (String s : new String[] {"auto", "cpu", "cuda:2", "cuda:all", "cuda:1,0"}) {
            assertEquals(s, Device.parse(s).toString(), "written back as parsed");
        }
        assertEquals(3, Device.cuda(3).ordinal());
    }

    @Test
    void rejectsWhatIsNotADevice() {
        for (String bad : new String[] {"tpu", "cuda:", "cuda:-1", "cuda:1,", "cuda:a,b", "cuda:0;1", "cuda:all,1"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse(bad), bad);
            assertTrue(e.getMessage().contains("cuda:all or cuda:N,M"), e.getMessage());
        }
        assertThrows(IllegalStateException.class, () -> Device.ALL_GPUS.ordinal(), "a group is not one GPU");
        assertThrows(IllegalArgumentException.class, () -> Device.cudaGroup(List.of(2)), "one GPU is not a group");
        String many = "cuda:" + String.join(",", java.util.Collections.nCopies(Device.MAX_GROUP + 1, "0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Device.parse(many)).getMessage()
                .contains("at most " + Device.MAX_GROUP));
    }
}
