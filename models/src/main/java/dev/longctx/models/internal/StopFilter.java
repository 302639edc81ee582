package dev.longctx.models.internal;

import java.util.List;

/**
 * The streamed text of one request with its stop strings held back: {@link #accept} takes each
 * new piece of decoded text and returns what may be shown now, keeping back any ending that could
 * still grow into a stop string, so a client never sees part of one. Sessions and the serving
 * engine both stream through it. Internal. Not thread-safe: one generation, one thread.
 */
public final class StopFilter {
    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    /** Characters of {@link #text} already handed out. */
    private int emitted;
    private boolean stopped;

    public StopFilter(List<String> stops) {
        this.stops = stops;
    }

    /** Whether a stop string has been found (the text ends before it). */
    public boolean stopped() {
        return stopped;
    }

    /** Adds {@code piece} and returns the text that can be shown now (possibly empty). */
    public String accept(String piece) {
        if (stopped || piece.isEmpty()) {
            return "";
        }
        int before = text.length();
        text.append(piece);
        int cut = -1;
        for (String s : stops) {
            int at = text.indexOf(s, Math.max(0, before - s.length() + 1));
            if (at >= 0 && (cut < 0 || at < cut)) {
                cut = at;
            }
        }
        if (cut >= 0) {
            stopped = true;
            text.setLength(cut);
            return release(cut);
        }
        return release(text.length() - heldBack());
    }

    /** The rest of the text once generation ends without a stop string. */
    public String flush() {
        return release(text.length());
    }

    /** All the text shown or to be shown: the output. */
    public String text() {
        return text.toString();
    }

    private String release(int upTo) {
        if (upTo <= emitted) {
            return "";
        }
        String out = text.substring(emitted, upTo);
        emitted = upTo;
        return out;
    }

    /** The length of the longest ending of the text that is a proper prefix of a stop string. */
    private int heldBack() {
        int best = 0;
        int n = text.length();
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, n - emitted); k > best; k--) {
                if (CharSequence.compare(text.subSequence(n - k, n), s.subSequence(0, k)) == 0) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }
}
