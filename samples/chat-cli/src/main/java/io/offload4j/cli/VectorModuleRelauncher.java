package io.offload4j.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code java -jar} cannot add the incubating Vector API module from a manifest. Without it the
 * engine falls back to scalar kernels (several times slower), so the CLI starts itself again once
 * with {@code --add-modules jdk.incubator.vector}, passing the terminal through. Set
 * {@code OFFLOAD4J_NO_RELAUNCH=1} to disable this.
 *
 * <p>The two processes live and die together: the parent's shutdown hook (SIGTERM, SIGINT, SIGHUP) stops the child
 * and waits for it, and the child exits on its own when the parent is gone (SIGKILL leaves no hook to run).
 */
final class VectorModuleRelauncher {

    private static final String MODULE = "jdk.incubator.vector";

    private VectorModuleRelauncher() {}

    static boolean relaunchIfNeeded(String[] args) {
        if (ModuleLayer.boot().findModule(MODULE).isPresent() || System.getenv("OFFLOAD4J_NO_RELAUNCH") != null
                || Boolean.getBoolean("offload4j.relaunched")) {
            return false;
        }
        String java = ProcessHandle.current().info().command().orElse(null);
        Path jar;
        try {
            jar = Path.of(ChatCli.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (Exception e) {
            return false;
        }
        if (java == null || !jar.toString().endsWith(".jar")) {
            return false;
        }
        List<String> command = new ArrayList<>();
        command.add(java);
        command.add("--add-modules");
        command.add(MODULE);
        command.add("--enable-native-access=ALL-UNNAMED");
        command.add("-Doffload4j.relaunched=true");
        command.add("-jar");
        command.add(jar.toString());
        command.addAll(List.of(args));
        try {
            System.exit(runChild(command));
        } catch (Exception e) {
            System.err.println("offload4j-chat: could not restart with " + MODULE + " (" + e.getMessage()
                    + "); continuing with scalar kernels");
        }
        return false;
    }

    /** How long a stopped child may take to end before it is killed. */
    static final long STOP_GRACE_SECONDS = 5;

    /** Runs {@code command} with the terminal passed through, and stops it if this JVM is stopped; its exit code. */
    static int runChild(List<String> command) throws IOException, InterruptedException {
        Process child = new ProcessBuilder(command).inheritIO().start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(child), "offload4j-stop-child"));
        return child.waitFor();
    }

    private static void stop(Process child) {
        if (!child.isAlive()) {
            return;
        }
        child.destroy(); // SIGTERM: the child's own shutdown hooks run
        try {
            if (!child.waitFor(STOP_GRACE_SECONDS, TimeUnit.SECONDS)) {
                child.destroyForcibly();
            }
        } catch (InterruptedException e) {
            child.destroyForcibly();
        }
    }

    /** In the relaunched child: exits when the parent that started it ends, however it ends. */
    static void exitWithParentIfRelaunched() {
        if (Boolean.getBoolean("offload4j.relaunched")) {
            exitWithParent();
        }
    }

    static void exitWithParent() {
        ProcessHandle.current().parent().ifPresent(parent -> parent.onExit().thenRun(() -> System.exit(143)));
    }
}
