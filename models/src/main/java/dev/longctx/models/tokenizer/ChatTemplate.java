package dev.longctx.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A model's chat template (the Jinja template in {@code tokenizer_config.json}'s
 * {@code chat_template} or GGUF's {@code tokenizer.chat_template}), rendered with Jinjava the way
 * transformers' {@code apply_chat_template} renders it: {@code trim_blocks} and
 * {@code lstrip_blocks} on, variables {@code messages}, {@code add_generation_prompt},
 * {@code bos_token} and {@code eos_token}, and the function {@code raise_exception(message)}, which
 * makes rendering fail with that message. Immutable and thread-safe.
 */
public final class ChatTemplate {
    /** One message of a conversation. */
    public record Message(String role, String content) {
        public Message {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
        }
    }

    /** A template refused a conversation ({@code raise_exception}) or failed to render. */
    public static final class TemplateException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        TemplateException(String message) {
            super(message);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RAISED = "raise_exception: ";

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    /**
     * @param template the Jinja source
     * @param bosToken the text of the BOS token ({@code bos_token}), or ""
     * @param eosToken the text of the EOS token, or ""
     */
    public ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = Objects.requireNonNull(template, "template");
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
    }

    /** Called by templates: fails the rendering with {@code message}. */
    public static String raiseException(String message) {
        throw new IllegalStateException(RAISED + message);
    }

    /**
     * The template of a Hugging Face model folder: {@code tokenizer_config.json}'s
     * {@code chat_template} (a string, or a list of named templates, of which {@code default} is
     * taken), or a {@code chat_template.jinja} file; BOS/EOS texts from the same config.
     *
     * @throws ModelFormatException when the folder has no template
     */
    public static ChatTemplate fromHfFolder(Path dir) throws IOException {
        return findInHfFolder(dir).orElseThrow(() -> new ModelFormatException(dir.toString(), -1,
                "no chat template (tokenizer_config.json chat_template or chat_template.jinja)"));
    }

    /** As {@link #fromHfFolder}, empty when the folder has no template. */
    public static Optional<ChatTemplate> findInHfFolder(Path dir) throws IOException {
        Path config = dir.resolve("tokenizer_config.json");
        JsonNode c = Files.exists(config) ? JSON.readTree(Files.readString(config, StandardCharsets.UTF_8)) : JSON.createObjectNode();
        String template = null;
        JsonNode t = c.get("chat_template");
        if (t != null && t.isTextual()) {
            template = t.asText();
        } else if (t != null && t.isArray()) {
            for (JsonNode named : t) {
                if (named.path("name").asText().equals("default")) {
                    template = named.path("template").asText();
                }
            }
        }
        Path jinja = dir.resolve("chat_template.jinja");
        if (template == null && Files.exists(jinja)) {
            template = Files.readString(jinja, StandardCharsets.UTF_8);
        }
        if (template == null) {
            return Optional.empty();
        }
        return Optional.of(new ChatTemplate(template, tokenText(c.get("bos_token")), tokenText(c.get("eos_token"))));
    }

    /** tokenizer_config.json writes special tokens as a string or as {"content": ...}. */
    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) {
            return "";
        }
        return n.isTextual() ? n.asText() : n.path("content").asText("");
    }

    /** The template embedded in a GGUF file, with BOS/EOS texts from its vocabulary. */
    public static ChatTemplate fromGguf(GgufFile g, Tokenizer tokenizer) {
        Object t = g.metadata().get("tokenizer.chat_template");
        if (!(t instanceof String s)) {
            throw new ModelFormatException(g.toString(), -1, "no tokenizer.chat_template in the file");
        }
        return new ChatTemplate(s, tokenizer.bosId() >= 0 ? tokenizer.token(tokenizer.bosId()) : "",
                tokenizer.eosId() >= 0 ? tokenizer.token(tokenizer.eosId()) : "");
    }

    /**
     * Renders a conversation.
     *
     * @param addGenerationPrompt whether to end with the template's opening of an assistant turn
     * @throws TemplateException with the template's own message when it rejects the conversation
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            list.add(map);
        }
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", list);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        RenderResult r = jinjava.renderForResult(template, vars);
        for (TemplateError e : r.getErrors()) {
            String raised = raisedMessage(e);
            if (raised != null) {
                throw new TemplateException(raised);
            }
        }
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new TemplateException("chat template failed at line " + e.getLineno() + ": " + e.getMessage());
            }
        }
        return r.getOutput();
    }

    private static String raisedMessage(TemplateError e) {
        for (Throwable t = e.getException(); t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && m.contains(RAISED)) {
                return m.substring(m.indexOf(RAISED) + RAISED.length());
            }
        }
        String m = e.getMessage();
        return m != null && m.contains(RAISED) ? m.substring(m.indexOf(RAISED) + RAISED.length()) : null;
    }
}
