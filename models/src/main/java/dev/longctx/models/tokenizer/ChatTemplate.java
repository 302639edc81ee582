package dev.longctx.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.template.Template;
import dev.longctx.models.template.TemplateError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A model's chat template (the Jinja template in {@code tokenizer_config.json}'s
 * {@code chat_template} or GGUF's {@code tokenizer.chat_template}), rendered the way transformers'
 * {@code apply_chat_template} renders it (jinja2's sandbox with {@code trim_blocks} and
 * {@code lstrip_blocks}): variables {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token}, {@code tools} and {@code documents} (none), and the
 * functions {@code raise_exception(message)}, which makes rendering fail with that message, and
 * {@code strftime_now(format)}.
 *
 * <p>A template from a model file is hostile input: it runs on this library's own sandboxed
 * interpreter, which gives it no access to Java objects and bounds its time (evaluation steps),
 * output, recursion and memory; every failure is a {@link TemplateException}. The template is
 * parsed once, in the constructor. Immutable and thread-safe.
 */
public final class ChatTemplate {
    /** A template refused a conversation ({@code raise_exception}) or failed to render. */
    public static final class TemplateException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        TemplateException(String message) {
            super(message);
        }

        TemplateException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Template template;
    private final String bosToken;
    private final String eosToken;

    /**
     * @param template the Jinja source
     * @param bosToken the text of the BOS token ({@code bos_token}), or ""
     * @param eosToken the text of the EOS token, or ""
     * @throws TemplateException when the template does not parse (the message gives line:column)
     *                           or uses a feature the interpreter refuses
     */
    public ChatTemplate(String template, String bosToken, String eosToken) {
        Objects.requireNonNull(template, "template");
        try {
            this.template = Template.parse(template);
        } catch (TemplateError e) {
            throw wrap(e);
        }
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
    }

    private static TemplateException wrap(TemplateError e) {
        if (e.kind() == TemplateError.Kind.RAISED) {
            return new TemplateException(e.getMessage(), e);
        }
        return new TemplateException("chat template error" + (e.line() > 0 ? " at line " + e.line() + ":" + e.column() : "") + ": "
                + e.reason(), e);
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
     *                           ({@code raise_exception}); otherwise with the line:column and what
     *                           went wrong (an undefined value misused, a limit exceeded...)
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * Renders a conversation with extra template variables, e.g. {@code date_string},
     * {@code enable_thinking} or {@code tools} (strings, numbers, booleans, null, and maps and
     * lists of them). Extras may replace {@code bos_token}, {@code eos_token}, {@code tools} and
     * {@code documents}; {@code messages} and {@code add_generation_prompt} always come from the
     * arguments.
     *
     * @throws TemplateException as {@link #render(List, boolean)}, or when an extra value has an
     *                           unsupported type
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> extraVariables) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            list.add(map);
        }
        Map<String, Object> vars = new HashMap<>();
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        vars.put("tools", null);
        vars.put("documents", null);
        vars.putAll(extraVariables);
        vars.put("messages", list);
        vars.put("add_generation_prompt", addGenerationPrompt);
        try {
            return template.render(vars, Clock.systemDefaultZone());
        } catch (TemplateError e) {
            throw wrap(e);
        }
    }
}
