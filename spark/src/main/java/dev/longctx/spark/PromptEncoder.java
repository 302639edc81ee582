package dev.longctx.spark;

import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;

/**
 * Turns one input row into prompt token ids, on the task's thread (so tokenization runs in
 * parallel across tasks, off the engine's thread): the text rendered into the template and
 * encoded (or sent through the chat template), or the row's token ids as they are. A row that
 * cannot give a prompt throws {@link BadRowException}.
 *
 * <p>Threading: immutable; the model's tokenizer is thread-safe.
 */
final class PromptEncoder {
    private final DocumentInference spec;
    private final Model model;
    private final int column;

    /**
     * @throws IllegalArgumentException when the settings cannot work with this model (text without
     *     a tokenizer, chat without a chat template): every row would fail, so the task does
     */
    PromptEncoder(DocumentInference spec, Model model, int column) {
        this.spec = spec;
        this.model = model;
        this.column = column;
        if (spec.textInput() && !model.hasTokenizer()) {
            throw new IllegalArgumentException(model + " has no tokenizer, so it cannot encode a text column: "
                    + "give token ids (tokensColumn) or a model with a vocabulary");
        }
        if (spec.chat() && model.chatTemplate().isEmpty()) {
            throw new IllegalArgumentException(model + " has no chat template: drop chat(...) and use a prompt template");
        }
    }

    /** A row that cannot become a prompt; its message goes to the error column. */
    static final class BadRowException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        BadRowException(String message) {
            super(message);
        }
    }

    int[] encode(Row row) {
        if (row.isNullAt(column)) {
            throw new BadRowException("the " + (spec.textInput() ? "document" : "token array") + " is null");
        }
        if (!spec.textInput()) {
            List<Object> ids = row.getList(column);
            if (ids.isEmpty()) {
                throw new BadRowException("the token array is empty");
            }
            int[] out = new int[ids.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(ids.get(i) instanceof Integer id)) {
                    throw new BadRowException("token " + i + " of the array is null");
                }
                out[i] = id;
            }
            return out;
        }
        String text = row.getString(column);
        if (text.isBlank()) {
            throw new BadRowException("the document is " + (text.isEmpty() ? "empty" : "blank"));
        }
        String prompt = spec.template().replace(DocumentInference.PLACEHOLDER, text);
        if (!spec.chat()) {
            return model.tokenizer().encode(prompt);
        }
        List<ChatMessage> messages = new ArrayList<>(2);
        if (spec.systemPrompt() != null) {
            messages.add(ChatMessage.system(spec.systemPrompt()));
        }
        messages.add(ChatMessage.user(prompt));
        return model.encodeChat(messages);
    }
}
