package dev.longctx.bench;

/** Placeholder entry point; replaced by the quick core benchmark. */
public final class BenchMain {
    private BenchMain() {
    }

    /** Entry point. */
    public static void main(String[] args) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
