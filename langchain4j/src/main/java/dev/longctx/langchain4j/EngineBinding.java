package dev.longctx.langchain4j;

import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.exception.RateLimitException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.langchain4j.data.message.AiMessage;
import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.models.Model;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.RequestRejectedException;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.ChatTemplate;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A chat model's hold on a serving engine (its own, or one it was given) and the mapping between
 * LangChain4j's requests and the engine's: {@link ChatRequestParameters} to {@link GenerateOptions}
 * (temperature, top-p, top-k, max output tokens, stop sequences; no temperature means greedy), and
 * a {@link Generation} back to a {@link ChatResponse} with {@link TokenUsage} and
 * {@link FinishReason}. What we cannot honour (tools, JSON response formats, penalties) is an
 * {@link UnsupportedFeatureException}; what the engine refuses keeps its message in LangChain4j's
 * exception of the same meaning.
 *
 * <p>Threading: immutable after construction; any thread.
 */
final class EngineBinding implements AutoCloseable {
    private final ServingEngine engine;
    private final Model ownedModel;
    private final Strategy strategy;
    private final int budgetTokens;
    private final Duration timeout;
    private final String modelName;
    private final Long seed;
    private final int maxOutputTokens;
    private final ChatRequestParameters defaults;

    EngineBinding(ServingEngine engine, Model ownedModel, LongctxModelBuilder<?> b) {
        this.engine = engine;
        this.ownedModel = ownedModel;
        if (ownedModel == null) {
            checkChatTemplate(engine.model());
        }
        this.strategy = b.strategy;
        this.budgetTokens = b.budgetTokens;
        this.timeout = b.timeout;
        this.modelName = b.modelName != null ? b.modelName : name(engine.model().path());
        this.seed = b.seed;
        this.maxOutputTokens = b.maxOutputTokens;
        this.defaults = b.defaults != null ? b.defaults : ChatRequestParameters.builder().modelName(modelName).build();
    }

    static void checkChatTemplate(Model model) {
        if (!model.hasTokenizer() || model.chatTemplate().isEmpty()) {
            throw new IllegalArgumentException("the model " + model.path() + " has no chat template (or no tokenizer): a LangChain4j "
                    + "chat model needs one");
        }
    }

    private static String name(Path path) {
        Path f = path.toAbsolutePath().normalize().getFileName();
        String s = f == null ? "longctx" : f.toString();
        int dot = s.lastIndexOf('.');
        return dot > 0 && (s.endsWith(".gguf") || s.endsWith(".bin")) ? s.substring(0, dot) : s;
    }

    ChatRequestParameters defaults() {
        return defaults;
    }

    String modelName() {
        return modelName;
    }

    ServingEngine engine() {
        return engine;
    }

    /**
     * Submits a chat request (parameters already merged with the defaults).
     *
     * @throws UnsupportedFeatureException for tools, JSON response formats, penalties, non-text content
     * @throws InvalidRequestException for a conversation or context the model cannot take
     * @throws RateLimitException when the engine's queue is full
     */
    RequestHandle submit(ChatRequest chat, Session.TokenListener listener) {
        ChatRequestParameters p = chat.parameters();
        refuseUnsupported(p);
        int[] prompt;
        try {
            prompt = engine.model().encodeChat(Messages.convert(chat.messages()));
        } catch (ChatTemplate.TemplateException e) {
            throw new InvalidRequestException("the model's chat template rejected the conversation: " + e.getMessage(), e);
        }
        Strategy s = strategy != null ? strategy : engine.defaultStrategy();
        int max;
        if (p.maxOutputTokens() != null) {
            if (p.maxOutputTokens() <= 0) {
                throw new InvalidRequestException("maxOutputTokens must be positive, got " + p.maxOutputTokens());
            }
            max = p.maxOutputTokens();
        } else {
            int room = s.keepsEveryToken() ? engine.config().maxPositions() - prompt.length : maxOutputTokens;
            if (room <= 0) {
                throw new InvalidRequestException("the conversation's " + prompt.length + " tokens fill the model's context of "
                        + engine.config().maxPositions() + " tokens");
            }
            max = Math.min(maxOutputTokens, room);
        }
        GenerateOptions options = new GenerateOptions(max, sampler(p), null, p.stopSequences() == null ? List.of() : p.stopSequences());
        Request.Builder r = Request.tokens(prompt).options(options).listener(listener);
        if (strategy != null) {
            r.strategy(strategy);
        }
        if (budgetTokens > 0) {
            r.budgetTokens(budgetTokens);
        }
        if (timeout != null) {
            r.timeout(timeout);
        }
        try {
            return engine.submit(r.build());
        } catch (ContextBudgetException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        } catch (RequestRejectedException e) {
            throw switch (e.reason()) {
                case QUEUE_FULL -> new RateLimitException(e.getMessage());
                case TOO_LARGE -> new InvalidRequestException(e.getMessage(), e);
                case CLOSED -> new LangChain4jException(e.getMessage(), e);
            };
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
    }

    private static void refuseUnsupported(ChatRequestParameters p) {
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            throw new UnsupportedFeatureException("tools are not supported by longctx yet (" + p.toolSpecifications().size()
                    + " tool specifications given)");
        }
        if (p.toolChoice() == ToolChoice.REQUIRED) {
            throw new UnsupportedFeatureException("tool choice REQUIRED is not supported by longctx yet");
        }
        if (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON) {
            throw new UnsupportedFeatureException("JSON response formats are not supported by longctx yet");
        }
        if (p.frequencyPenalty() != null && p.frequencyPenalty() != 0) {
            throw new UnsupportedFeatureException("frequencyPenalty is not supported by longctx");
        }
        if (p.presencePenalty() != null && p.presencePenalty() != 0) {
            throw new UnsupportedFeatureException("presencePenalty is not supported by longctx");
        }
    }

    private SamplerConfig sampler(ChatRequestParameters p) {
        double temperature = p.temperature() != null ? p.temperature() : 0;
        if (!(temperature >= 0 && temperature <= 100)) {
            throw new InvalidRequestException("temperature must be in [0, 100], got " + temperature);
        }
        if (temperature == 0) {
            return SamplerConfig.greedy();
        }
        double topP = p.topP() != null ? p.topP() : 1;
        if (!(topP > 0 && topP <= 1)) {
            throw new InvalidRequestException("topP must be in (0, 1], got " + topP);
        }
        int topK = p.topK() != null ? p.topK() : 0;
        if (topK < 0) {
            throw new InvalidRequestException("topK must be >= 0 (0 = off), got " + topK);
        }
        long s = seed != null ? seed : ThreadLocalRandom.current().nextLong();
        return SamplerConfig.sampling(s).withTemperature((float) temperature).withTopP((float) topP).withTopK(topK);
    }

    /** The response for a finished request. */
    ChatResponse response(RequestHandle h, Generation g) {
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(g.text()))
                .metadata(ChatResponseMetadata.builder()
                        .id("longctx-" + h.id())
                        .modelName(modelName)
                        .tokenUsage(new TokenUsage(g.promptIds().length, g.outputIds().length))
                        .finishReason(finishReason(g.finishReason()))
                        .build())
                .build();
    }

    static FinishReason finishReason(dev.longctx.models.session.FinishReason r) {
        return switch (r) {
            case EOS, STOP_STRING -> FinishReason.STOP;
            case LENGTH, CONTEXT_FULL -> FinishReason.LENGTH;
            case CANCELLED, TIMEOUT -> FinishReason.OTHER;
        };
    }

    /** LangChain4j's exception for a request that failed inside the engine. */
    static RuntimeException failure(Throwable e) {
        return e instanceof RuntimeException r && r instanceof LangChain4jException ? r
                : new LangChain4jException("generation failed: " + e.getMessage(), e);
    }

    /** Closes the engine and model opened for this binding; a given engine stays open. */
    @Override
    public void close() {
        if (ownedModel != null) {
            engine.close();
            ownedModel.close();
        }
    }
}
