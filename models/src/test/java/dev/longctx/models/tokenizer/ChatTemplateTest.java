package dev.longctx.models.tokenizer;

import dev.longctx.models.ChatMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.SharedFixtures;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Chat templates rendered as transformers' apply_chat_template renders them (fixture made by make_chat_templates.py). */
class ChatTemplateTest {

    @Test
    void everyTemplateAndConversationRendersAsTransformers() throws Exception {
        JsonNode root = new ObjectMapper().readTree(Files.readString(SharedFixtures.resource("fixtures/chat-templates.json")));
        int checked = 0;
        for (JsonNode c : root.get("cases")) {
            String name = c.get("template").asText();
            ChatTemplate t = new ChatTemplate(root.get("templates").get(name).asText(), root.get("bos_token").asText(),
                    root.get("eos_token").asText());
            List<ChatMessage> messages = new ArrayList<>();
            c.get("messages").forEach(m -> messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText())));
            boolean gen = c.get("add_generation_prompt").asBoolean();
            String where = name + " with " + messages.size() + " messages, generation prompt " + gen;
            if (c.has("error")) {
                var e = assertThrows(ChatTemplate.TemplateException.class, () -> t.render(messages, gen), where);
                assertEquals(c.get("error").asText(), e.getMessage(), where);
            } else {
                assertEquals(c.get("rendered").asText(), t.render(messages, gen), where);
            }
            checked++;
        }
        assertEquals(30, checked);
    }
}
