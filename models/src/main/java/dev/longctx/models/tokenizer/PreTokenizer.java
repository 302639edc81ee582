package dev.longctx.models.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits normalised text into the pieces BPE runs on (Hugging Face {@code pre_tokenizer}). Each
 * implementation documents the {@code tokenizers} component it follows.
 */
interface PreTokenizer {
    /**
     * The pieces of {@code text}.
     *
     * @param atStart whether {@code text} starts the input (Metaspace's {@code prepend_scheme: first})
     */
    List<String> split(String text, boolean atStart);

    /**
     * {@code Split}: cuts around the matches of a pattern. Behaviours: {@code Isolated} (matches
     * and gaps are pieces), {@code Removed} (gaps only), {@code MergedWithPrevious} /
     * {@code MergedWithNext} (each match joins its neighbour), {@code Contiguous} (runs of matches
     * form one piece); {@code invert} swaps matches and gaps.
     */
    record Split(Pattern pattern, String behavior, boolean invert) implements PreTokenizer {
        @Override
        public List<String> split(String text, boolean atStart) {
            // (start, end, isMatch) runs covering the text
            List<int[]> runs = new ArrayList<>();
            Matcher m = pattern.matcher(text);
            int at = 0;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue; // empty matches do not split (as the regex crate's find_iter pieces)
                }
                if (m.start() > at) {
                    runs.add(new int[] {at, m.start(), invert ? 1 : 0});
                }
                runs.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                at = m.end();
            }
            if (at < text.length()) {
                runs.add(new int[] {at, text.length(), invert ? 1 : 0});
            }
            List<String> out = new ArrayList<>();
            switch (behavior) {
                case "Isolated" -> runs.forEach(r -> out.add(text.substring(r[0], r[1])));
                case "Removed" -> runs.stream().filter(r -> r[2] == 0).forEach(r -> out.add(text.substring(r[0], r[1])));
                case "MergedWithPrevious" -> {
                    StringBuilder cur = new StringBuilder();
                    for (int[] r : runs) {
                        cur.append(text, r[0], r[1]);
                        if (r[2] == 1) {
                            out.add(cur.toString());
                            cur.setLength(0);
                        }
                    }
                    if (!cur.isEmpty()) {
                        out.add(cur.toString());
                    }
                }
                case "MergedWithNext" -> {
                    StringBuilder cur = new StringBuilder();
                    for (int[] r : runs) {
                        if (r[2] == 1 && !cur.isEmpty()) {
                            out.add(cur.toString());
                            cur.setLength(0);
                        }
                        cur.append(text, r[0], r[1]);
                    }
                    if (!cur.isEmpty()) {
                        out.add(cur.toString());
                    }
                }
                case "Contiguous" -> {
                    StringBuilder cur = new StringBuilder();
                    int kind = -1;
                    for (int[] r : runs) {
                        if (r[2] != kind && !cur.isEmpty()) {
                            out.add(cur.toString());
                            cur.setLength(0);
                        }
                        cur.append(text, r[0], r[1]);
                        kind = r[2];
                    }
                    if (!cur.isEmpty()) {
                        out.add(cur.toString());
                    }
                }
                default -> throw new IllegalStateException("unchecked Split behavior " + behavior);
            }
            return out;
        }
    }

    /**
     * {@code ByteLevel}: optionally a leading space, optionally GPT-2's split regex, then every
     * piece's UTF-8 bytes shown through {@link ByteLevel}'s table.
     */
    record ByteLevelPre(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        /** GPT-2's pattern, as in {@code tokenizers}' ByteLevel pre-tokenizer. */
        static final Pattern GPT2 = Pattern.compile(
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                Pattern.UNICODE_CHARACTER_CLASS);

        @Override
        public List<String> split(String text, boolean atStart) {
            String t = addPrefixSpace && !text.startsWith(" ") ? " " + text : text;
            List<String> pieces = useRegex ? new Split(GPT2, "Isolated", false).split(t, atStart) : List.of(t);
            List<String> out = new ArrayList<>(pieces.size());
            for (String p : pieces) {
                out.add(ByteLevel.encode(p.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            }
            return out;
        }
    }

    /**
     * {@code Metaspace}: spaces become the replacement character ("▁"); the replacement is
     * prepended ({@code always}, or {@code first}: only to text that starts the input) unless the
     * text already starts with it; with {@code split}, each "▁" starts a new piece.
     */
    record Metaspace(char replacement, String prependScheme, boolean splitPieces) implements PreTokenizer {
        @Override
        public List<String> split(String text, boolean atStart) {
            String t = text.replace(' ', replacement);
            boolean prepend = prependScheme.equals("always") || (prependScheme.equals("first") && atStart);
            if (prepend && !t.startsWith(String.valueOf(replacement))) {
                t = replacement + t;
            }
            if (!splitPieces) {
                return List.of(t);
            }
            List<String> out = new ArrayList<>();
            int start = 0;
            for (int i = 1; i < t.length(); i++) {
                if (t.charAt(i) == replacement) {
                    out.add(t.substring(start, i));
                    start = i;
                }
            }
            if (start < t.length()) {
                out.add(t.substring(start));
            }
            return out;
        }
    }

    /** {@code Sequence}: each pre-tokenizer splits every piece of the one before. */
    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public List<String> split(String text, boolean atStart) {
            List<String> pieces = List.of(text);
            for (PreTokenizer p : steps) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < pieces.size(); i++) {
                    next.addAll(p.split(pieces.get(i), atStart && i == 0));
                }
                pieces = next;
            }
            return pieces;
        }
    }
}
