package dev.longctx.models.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.longctx.models.tokenizer.ChatTemplate;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * A chat template's source (UTF-8 bytes) rendered over a short conversation through
 * {@link ChatTemplate}'s public API. A template that does not parse or raises is a
 * {@link ChatTemplate.TemplateException}; anything else that escapes is a finding.
 *
 * <p>This target is written against the current Jinjava-backed {@code ChatTemplate}, which a
 * sandboxed template engine is to replace; no long fuzzing campaign has been run on it (see
 * docs/reliability.md). Without {@code JAZZER_FUZZ} it replays
 * {@code ChatTemplateFuzzTestInputs/chatTemplate/} (the real templates of the test fixtures) as a
 * normal test.
 */
class ChatTemplateFuzzTest {
    private static final List<ChatTemplate.Message> CHAT = List.of(new ChatTemplate.Message("system", "Be brief."),
            new ChatTemplate.Message("user", "hi"), new ChatTemplate.Message("assistant", "Hello!"),
            new ChatTemplate.Message("user", "2+2?"));

    @FuzzTest(maxDuration = "10m")
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void chatTemplate(byte[] data) {
        String source = new String(data, StandardCharsets.UTF_8);
        try {
            new ChatTemplate(source, "<s>", "</s>").render(CHAT, true);
            new ChatTemplate(source, "<s>", "</s>").render(List.of(new ChatTemplate.Message("user", "hi")), false);
        } catch (ChatTemplate.TemplateException expected) {
            // a template that does not parse, or raise_exception
        }
    }
}
