package dev.longctx.models.fuzz;

import dev.longctx.models.ChatMessage;
import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.longctx.models.tokenizer.ChatTemplate;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * A chat template's source (UTF-8 bytes) parsed and rendered over two conversations through
 * {@link ChatTemplate}, which runs templates from model files on the library's sandboxed
 * interpreter ({@code dev.longctx.models.template}, with limits on steps, output, recursion and
 * memory). Every failure must be a {@link ChatTemplate.TemplateException}; anything else that
 * escapes (including an {@code OutOfMemoryError} or a {@code StackOverflowError}), or an input
 * past the timeout, is a finding.
 *
 * <p>Without {@code JAZZER_FUZZ} this replays {@code ChatTemplateFuzzTestInputs/chatTemplate/}
 * (the fixture chat templates and the engine's conformance templates) as a normal test; with it,
 * it fuzzes (see docs/reliability.md).
 */
class ChatTemplateFuzzTest {
    private static final List<ChatMessage> CHAT = List.of(new ChatMessage("system", "Be brief."),
            new ChatMessage("user", "hi"), new ChatMessage("assistant", "Hello!"),
            new ChatMessage("user", "2+2?"));

    @DictionaryFile(resourcePath = "fuzz-dictionaries/chat-template.dict")
    @FuzzTest(maxDuration = "2h", maxExecutions = 1_000_000)
    // 60 s, not 10 as elsewhere: under Jazzer's coverage instrumentation the interpreter's per-character
    // loops run tens of times slower. A 196-byte template that builds a string past the 32 Mi-char limit
    // (timeout-671d2b9c...) takes 0.2-0.4 s per render uninstrumented, ending in a TemplateException,
    // but its four renders passed 10 s while fuzzing. A real hang still fails, at 60 s.
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void chatTemplate(byte[] data) {
        ChatTemplate t;
        try {
            t = new ChatTemplate(new String(data, StandardCharsets.UTF_8), "<s>", "</s>");
        } catch (ChatTemplate.TemplateException expected) {
            FuzzSupport.assertReported(expected);
            return; // does not parse, or uses a feature the interpreter refuses
        }
        for (var chat : List.of(CHAT, List.of(new ChatMessage("user", "hi")))) {
            for (boolean prompt : new boolean[] {true, false}) {
                try {
                    t.render(chat, prompt);
                } catch (ChatTemplate.TemplateException expected) {
                    FuzzSupport.assertReported(expected);
                    // fails to render, hits a limit, or raise_exception
                }
            }
        }
    }
}
