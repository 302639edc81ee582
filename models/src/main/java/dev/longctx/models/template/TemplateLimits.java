package dev.longctx.models.template;

/**
 * The bounds a template render runs under: a chat template comes from a model file, so it is
 * hostile input, a program we run. Every bound that is hit fails the parse or render with a
 * {@link TemplateError}; none of them lets a template exhaust the JVM's memory, stack or time.
 * Immutable and thread-safe.
 *
 * @param maxSourceChars    longest template source accepted, in chars
 * @param maxNestingDepth   deepest nesting of blocks, brackets and sub-expressions (the parser's
 *                          recursion and the height of an expression's tree)
 * @param maxSteps          evaluation steps per render: one per expression node, statement and loop
 *                          iteration, plus one per 64 chars or 16 elements a string or collection
 *                          operation builds
 * @param maxOutputChars    longest output, and longest string any expression may build, in chars
 * @param maxRangeLength    most elements {@code range()} may produce
 * @param maxCollectionSize most elements of a list or dict the template builds
 * @param maxCallDepth      deepest nesting of macro calls (recursion)
 * @param maxValueDepth     deepest nesting of lists and dicts that are printed, compared, converted
 *                          to JSON or passed in
 */
public record TemplateLimits(int maxSourceChars, int maxNestingDepth, long maxSteps, int maxOutputChars,
                             int maxRangeLength, int maxCollectionSize, int maxCallDepth, int maxValueDepth) {

    /** The defaults; each is explained where it is set. */
    public static final TemplateLimits DEFAULT = new TemplateLimits(
            // Shipped chat templates (tool-calling ones included) are 1-20K chars; 256K leaves >10x
            // headroom and refuses megabyte-sized junk before it is even lexed.
            256 * 1024,
            // jinja2 itself gives up (Python's recursion limit) at about 80 nested brackets, so no
            // template that works in transformers nests deeper than this; it keeps our recursion
            // far inside a default 1 MiB thread stack.
            100,
            // Templates in the styles of Llama 3.1, Qwen 2.5, Mistral, Gemma, Phi-3 and DeepSeek spend
            // 20-60 steps per message (plus one per 64 chars copied), so this allows conversations of
            // 100K+ messages, while the evaluator burns through it in 0.1-0.3 s (warm; about 1 s cold):
            // a runaway loop fails fast.
            10_000_000L,
            // A long-context engine renders conversations of millions of tokens: 32 Mi chars is about
            // 8M tokens of text, 64 MiB of memory at most per string.
            32 * 1024 * 1024,
            // The same bound as jinja2's sandbox (MAX_RANGE).
            100_000,
            // Lists and dicts a template builds from a conversation stay far below; 1M references
            // is about 8-16 MiB.
            1_000_000,
            // Recursive macros in real templates (JSON-schema renderers) recurse about 10 deep;
            // jinja2 itself stops at a few hundred (Python's recursion limit).
            100,
            // Tool schemas nest 10-20 deep; Python's json module stops near 1000.
            128);

    /** Checks every bound is positive. */
    public TemplateLimits {
        if (maxSourceChars <= 0 || maxNestingDepth <= 0 || maxSteps <= 0 || maxOutputChars <= 0 || maxRangeLength <= 0
                || maxCollectionSize <= 0 || maxCallDepth <= 0 || maxValueDepth <= 0) {
            throw new IllegalArgumentException("template limits must be positive: " + this);
        }
    }

    /** These limits with a different step budget. */
    public TemplateLimits withMaxSteps(long steps) {
        return new TemplateLimits(maxSourceChars, maxNestingDepth, steps, maxOutputChars, maxRangeLength, maxCollectionSize,
                maxCallDepth, maxValueDepth);
    }

    /** These limits with a different output (and string) size bound. */
    public TemplateLimits withMaxOutputChars(int chars) {
        return new TemplateLimits(maxSourceChars, maxNestingDepth, maxSteps, chars, maxRangeLength, maxCollectionSize,
                maxCallDepth, maxValueDepth);
    }
}
