package io.offload4j.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 19: the relaunched child must not outlive its parent. A parent JVM runs {@link Parent} (the relauncher's
 * child handling, with a child that prints its pid and waits); the test stops the parent as a service manager or a
 * terminal would, and checks that the child ends too.
 */
@Timeout(60)
class RelaunchLifecycleTest {

    /** The parent: starts the child as the relauncher does and waits for it. */
    public static final class Parent {
        public static void main(String[] args) throws Exception {
            System.exit(VectorModuleRelauncher.runChild(List.of(java(), "-cp", System.getProperty("java.class.path"),
                    Child.class.getName())));
        }
    }

    /** The child: exits with its parent as the relaunched CLI does, prints its pid, then idles. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            VectorModuleRelauncher.exitWithParent();
            System.out.println(ProcessHandle.current().pid());
            System.out.flush();
            Thread.sleep(120_000);
        }
    }

    private static String java() {
        return ProcessHandle.current().info().command().orElseThrow();
    }

    private static ProcessHandle childOf(Process parent) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(parent.getInputStream(), StandardCharsets.UTF_8));
        long pid = Long.parseLong(out.readLine().strip());
        return ProcessHandle.of(pid).orElseThrow();
    }

    private static Process startParent() throws Exception {
        return new ProcessBuilder(java(), "-cp", System.getProperty("java.class.path"), Parent.class.getName())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    @Test
    void sigtermToTheParentStopsTheChild() throws Exception {
        Process parent = startParent();
        ProcessHandle child = childOf(parent);
        assertTrue(child.isAlive());
        parent.destroy(); // SIGTERM
        assertTrue(parent.waitFor(20, TimeUnit.SECONDS), "the parent ends");
        child.onExit().get(20, TimeUnit.SECONDS);
        assertFalse(child.isAlive(), "the child ended with its parent");
    }

    @Test
    void aKilledParentStillTakesTheChildWithIt() throws Exception {
        Process parent = startParent();
        ProcessHandle child = childOf(parent);
        parent.destroyForcibly(); // SIGKILL: no shutdown hook runs in the parent
        child.onExit().get(20, TimeUnit.SECONDS);
        assertFalse(child.isAlive(), "the child noticed that its parent is gone");
    }

}
