package dev.longctx.langchain4j;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.longctx.models.ChatMessage;
import java.util.ArrayList;
import java.util.List;

/**
 * LangChain4j messages as the chat template sees them: system, user and assistant text. Images,
 * audio, tool calls and tool results are refused with an {@link UnsupportedFeatureException} naming
 * what is not supported.
 *
 * <p>Threading: stateless; any thread.
 */
final class Messages {
    private Messages() {
    }

    static List<ChatMessage> convert(List<dev.langchain4j.data.message.ChatMessage> messages) {
        if (messages == null || messages.isEmpty()) {
            throw new dev.langchain4j.exception.InvalidRequestException("a chat request needs at least one message");
        }
        List<ChatMessage> out = new ArrayList<>(messages.size());
        for (dev.langchain4j.data.message.ChatMessage m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> ChatMessage.system(s.text());
                case UserMessage u -> ChatMessage.user(text(u));
                case AiMessage a -> {
                    if (a.hasToolExecutionRequests()) {
                        throw new UnsupportedFeatureException("tool calls are not supported by longctx yet (an AiMessage with tool "
                                + "execution requests)");
                    }
                    yield ChatMessage.assistant(a.text() == null ? "" : a.text());
                }
                default -> throw new UnsupportedFeatureException(m.type() + " messages are not supported by longctx yet (only"
                        + " system, user and AI text)");
            });
        }
        return out;
    }

    private static String text(UserMessage u) {
        if (u.hasSingleText()) {
            return u.singleText();
        }
        StringBuilder sb = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t)) {
                throw new UnsupportedFeatureException(c.type() + " content is not supported by longctx (text only)");
            }
            sb.append(t.text());
        }
        return sb.toString();
    }
}
