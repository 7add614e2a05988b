package io.offload4j.cli;

public final class ChatCli {
    public static void main(String[] args) {
        System.err.println("not built yet");
        System.exit(2);
    }
}
