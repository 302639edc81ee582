package dev.longctx.bench;

import java.io.Console;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * A progress line on a command's error stream that rewrites itself (a carriage return, then the
 * new text) where the user watches a terminal, and prints nothing where the stream is redirected:
 * a file or a pipe would otherwise keep every update, hundreds per run, between the lines that
 * matter. Results are printed with {@link PrintWriter} as before; {@link #overwrite()} lets a
 * result line replace the progress on a terminal.
 *
 * <p>Threading: one instance per command run, used from one thread at a time.
 */
final class ProgressLine {
    private final PrintWriter err;
    private final boolean live;

    ProgressLine(PrintWriter err, boolean live) {
        this.err = err;
        this.live = live;
    }

    /** A progress line on {@code err}, live when the JVM's console is an interactive terminal. */
    static ProgressLine on(PrintWriter err) {
        Console console = System.console();
        return new ProgressLine(err, console != null && console.isTerminal());
    }

    /** Replaces the line with the formatted text (nothing when not live). */
    void update(String format, Object... args) {
        if (live) {
            err.print('\r');
            err.printf(Locale.ROOT, format, args);
            err.flush();
        }
    }

    /** Ends the line, so that what comes next starts on a fresh one (nothing when not live). */
    void finish() {
        if (live) {
            err.println();
            err.flush();
        }
    }

    /** Returns to the start of the line, so that the next text printed replaces it (nothing when not live). */
    void overwrite() {
        if (live) {
            err.print('\r');
        }
    }
}
