package io.offload4j.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code java -jar} cannot add the incubating Vector API module from a manifest. Without it the
 * engine falls back to scalar kernels (several times slower), so the CLI starts itself again once
 * with {@code --add-modules jdk.incubator.vector}, passing the terminal through. Set
 * {@code OFFLOAD4J_NO_RELAUNCH=1} to disable this.
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
            Process p = new ProcessBuilder(command).inheritIO().start();
            System.exit(p.waitFor());
        } catch (Exception e) {
            System.err.println("offload4j-chat: could not restart with " + MODULE + " (" + e.getMessage()
                    + "); continuing with scalar kernels");
        }
        return false;
    }
}
