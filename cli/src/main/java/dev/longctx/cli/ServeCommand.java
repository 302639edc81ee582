package dev.longctx.cli;

import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.Model;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.Strategy;
import dev.longctx.server.OpenAiServer;
import dev.longctx.server.ServerLimits;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx serve}: an OpenAI-compatible server (dev.longctx.server) over a serving engine,
 * until interrupted. Every limit of the engine and the HTTP layer is an option.
 */
@Command(name = "serve", description = "Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions,"
        + " /v1/models, /health, /metrics) until interrupted.")
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "GGUF file, llama2.c .bin or Hugging Face folder")
    Path model;

    @Option(names = "--tokenizer", description = "tokenizer.json or llama2.c tokenizer.bin (default: the model's own)")
    Path tokenizerFile;

    @Option(names = "--model-id", description = "the model name clients send (default: the file name without extension)")
    String modelId;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default ${DEFAULT-VALUE}; 0.0.0.0 for all)")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "port (default ${DEFAULT-VALUE}; 0 picks a free one)")
    int port;

    @Option(names = "--api-key", description = "require Authorization: Bearer KEY on /v1/... (default: $LONGCTX_API_KEY, else none)")
    String apiKey;

    @Option(names = "--budget-bytes", defaultValue = "1g", description = "KV budget for all requests and the prefix cache (suffixes k, m, g;"
            + " default ${DEFAULT-VALUE})")
    String budgetBytes;

    @Option(names = "--strategy", defaultValue = "full", description = "strategy of requests that name none: full, streaming, h2o, snapkv,"
            + " quest, duo, sparse-prefill[:...] (default ${DEFAULT-VALUE})")
    String strategy;

    @Option(names = "--profile", description = "head profile JSON (from profile-heads): makes the duo strategy available")
    Path profile;

    @Option(names = "--moa-profile", description = "MoA profile JSON (from profile-heads --moa): makes the moa strategy available"
            + " to requests that give longctx.budget_tokens (windows fitted per request)")
    Path moaProfile;

    @Option(names = "--kv-type", defaultValue = "BF16", description = "KV page dtype: F32, F16, BF16, Q8_0 (default ${DEFAULT-VALUE})")
    DType kvType;

    @Option(names = "--max-concurrent", defaultValue = "16", description = "requests generating at once (default ${DEFAULT-VALUE})")
    int maxRunning;

    @Option(names = "--max-queue", defaultValue = "256", description = "requests waiting before 429 (default ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--max-body-bytes", defaultValue = "8m", description = "largest request body (default ${DEFAULT-VALUE})")
    String maxBody;

    @Option(names = "--max-prompt-tokens", defaultValue = "0", description = "longest prompt (default: the model's context length)")
    int maxPromptTokens;

    @Option(names = "--max-tokens", defaultValue = "4096", description = "most tokens a request may generate (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--timeout", defaultValue = "600", description = "request time limit in seconds (default ${DEFAULT-VALUE})")
    long timeoutSeconds;

    @Option(names = "--chunk", defaultValue = "256", description = "prefill chunk in tokens (default ${DEFAULT-VALUE})")
    int chunk;

    @Option(names = "--step-tokens", defaultValue = "512", description = "token rows per engine step (default ${DEFAULT-VALUE})")
    int stepTokens;

    @Option(names = "--step-attention", defaultValue = "0", description = "query-row x cached-key pairs a step's prefill chunks"
            + " may attend (0: no limit)")
    long stepAttention;

    @Option(names = "--step-attention-ratio", defaultValue = "0", description = "while requests decode, a step's prefill chunks may"
            + " attend this many times their cached keys: keeps their inter-token latency while a long prompt arrives (0: no limit)")
    double stepAttentionRatio;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        HeadProfile heads = profile != null ? HeadProfile.read(profile) : null;
        MoaProfile moa = moaProfile != null ? MoaProfile.read(moaProfile) : null;
        if (strategy.equalsIgnoreCase("moa")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--strategy moa cannot be the default: MoA's windows are"
                    + " fitted to each request's budget; start with --moa-profile FILE and let requests ask for it with"
                    + " longctx.strategy moa and longctx.budget_tokens");
        }
        Strategy defaultStrategy = strategy.equalsIgnoreCase("duo") ? duo(heads) : Strategy.parse(strategy);
        ServerLimits limits = ServerLimits.defaults().withMaxBodyBytes(GenerateCommand.parseBytes(maxBody))
                .withMaxPromptTokens(maxPromptTokens).withMaxTokens(maxTokens).withRequestTimeout(Duration.ofSeconds(timeoutSeconds));
        String key = apiKey != null ? apiKey : System.getenv("LONGCTX_API_KEY");
        Model.Options open = threads == null ? Model.Options.defaults() : Model.Options.defaults().withThreads(threads);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        PrintWriter err = spec.commandLine().getErr();
        try (Model m = Model.open(model, tokenizerFile != null ? open.withTokenizer(tokenizerFile) : open);
             ServingEngine engine = engine(m, defaultStrategy, registry).build()) {
            OpenAiServer.Builder b = OpenAiServer.builder(engine).host(host).port(port).limits(limits);
            if (modelId != null) {
                b.modelId(modelId);
            }
            if (key != null && !key.isBlank()) {
                b.apiKey(key);
            }
            if (heads != null) {
                b.headProfile(heads);
            }
            if (moa != null) {
                b.moaProfile(moa);
            }
            try (OpenAiServer server = b.start()) {
                Thread hook = new Thread(server::close, "longctx-serve-shutdown");
                Runtime.getRuntime().addShutdownHook(hook);
                err.printf("longctx: serving '%s' at %s (Ctrl-C stops)%n", server.modelId(), server.baseUrl());
                err.flush();
                server.awaitShutdown();
            }
        }
        return 0;
    }

    private ServingEngine.Builder engine(Model m, Strategy defaultStrategy, PrometheusMeterRegistry registry) {
        ServingEngine.Builder b = ServingEngine.builder(m).budgetBytes(GenerateCommand.parseBytes(budgetBytes))
                .strategy(defaultStrategy).kvType(kvType).chunkTokens(chunk).stepTokens(stepTokens).maxRunning(maxRunning)
                .maxQueue(maxQueue).meterRegistry(registry).name("serve");
        if (stepAttention > 0) {
            b.stepAttention(stepAttention);
        }
        if (stepAttentionRatio > 0) {
            b.stepAttentionRatio(stepAttentionRatio);
        }
        return b;
    }

    private Strategy duo(HeadProfile heads) {
        if (heads == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--strategy duo needs --profile FILE (see profile-heads)");
        }
        return new Strategy.RetrievalHeads(heads, 0, 0);
    }
}
