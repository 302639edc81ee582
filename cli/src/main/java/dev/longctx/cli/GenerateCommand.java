package dev.longctx.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Generates text from a prompt under a long-context strategy and budget, streaming it to stdout. */
@Command(name = "generate", description = "Generate text from a prompt, streaming tokens; progress and tokens/s on stderr.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "GGUF file, llama2.c .bin or Hugging Face folder")
    Path model;

    @Option(names = "--tokenizer", description = "tokenizer.json or llama2.c tokenizer.bin (default: the model's own)")
    Path tokenizerFile;

    @Option(names = "--prompt", description = "the prompt text")
    String prompt;

    @Option(names = "--prompt-file", description = "read the prompt from a UTF-8 file")
    Path promptFile;

    @Option(names = "--chat", description = "wrap the prompt as a user message with the model's chat template")
    boolean chat;

    @Option(names = "--system", description = "system message (with --chat)")
    String system;

    @Option(names = "--strategy", defaultValue = "full",
            description = "full, streaming, h2o, snapkv, quest, tidal[:S:R], recycled[:STRIDE], sirllm[:DECAY[:RECENT]], "
                    + "infllm[:TOPK[:REPS]], think[:RATIO[:INNER]], longheads, sink-calib, duo (with --profile), moa (with "
                    + "--moa-profile and --budget), squeezed[:KEEP[:FIXED]], "
                    + "sparse-prefill[:vertical-slash|a-shape|top-k|hip|hip-token|hyper] (default ${DEFAULT-VALUE})")
    String strategy;

    @Option(names = "--profile", description = "head profile JSON for --strategy duo (from profile-heads)")
    Path profile;

    @Option(names = "--moa-profile", description = "MoA profile JSON for --strategy moa (from profile-heads --moa); its windows "
            + "are fitted to --budget tokens per KV head over the prompt plus --max-tokens")
    Path moaProfile;

    @Option(names = "--budget", description = "KV budget in tokens per KV head")
    Integer budgetTokens;

    @Option(names = "--budget-bytes", description = "KV budget in bytes (suffixes k, m, g)")
    String budgetBytes;

    @Option(names = "--kv-type", defaultValue = "BF16", description = "KV page dtype: F32, F16, BF16, Q8_0 (default ${DEFAULT-VALUE})")
    DType kvType;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "128", description = "tokens to generate at most (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy (default ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "0 = off (default ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "1 = off (default ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--min-p", defaultValue = "0.05", description = "0 = off (default ${DEFAULT-VALUE})")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "1 = off (default ${DEFAULT-VALUE})")
    float repeatPenalty;

    @Option(names = "--seed", defaultValue = "42", description = "sampling seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--stop", description = "stop when the text contains this (repeatable)")
    List<String> stops = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "do not stop at the model's end-of-sequence ids")
    boolean ignoreEos;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @Option(names = "--chunk", defaultValue = "256", description = "prefill chunk in tokens (default ${DEFAULT-VALUE})")
    int chunk;

    @Option(names = "--json", description = "print one JSON object (prompt_ids, output_ids, text, timings) instead of streaming")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if ((prompt == null) == (promptFile == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give exactly one of --prompt and --prompt-file");
        }
        String text = prompt != null ? prompt : readLenient(promptFile);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TensorOps ops = TensorOps.withThreads(threads);
        Model.Options open = Model.Options.defaults().withOps(ops);
        try (Model m = Model.open(model, tokenizerFile != null ? open.withTokenizer(tokenizerFile) : open)) {
            Tokenizer tok = m.tokenizer();
            int[] ids;
            if (chat) {
                List<ChatMessage> messages = new ArrayList<>();
                if (system != null) {
                    messages.add(ChatMessage.system(system));
                }
                messages.add(ChatMessage.user(text));
                ids = m.encodeChat(messages);
            } else {
                ids = tok.encode(text, true, false);
            }
            Session.Builder b = m.session().strategy(strategy(ids.length)).kvType(kvType).chunkSize(chunk);
            if (budgetTokens != null) {
                b.budgetTokens(budgetTokens);
            }
            if (budgetBytes != null) {
                b.budgetBytes(parseBytes(budgetBytes));
            }
            SamplerConfig sampler = temperature == 0 ? SamplerConfig.greedy()
                    : new SamplerConfig(temperature, topK, topP, minP, repeatPenalty, 64, seed);
            GenerateOptions options = new GenerateOptions(maxTokens, sampler, ignoreEos ? List.of() : null, stops);
            try (Session s = b.build()) {
                ProgressBar bar = new ProgressBar(err, ids.length > chunk);
                Generation g = s.generate(ids, options, (id, piece) -> {
                    if (!json) {
                        out.print(piece);
                        out.flush();
                    }
                }, bar::update);
                if (json) {
                    out.println(json(g, s));
                } else {
                    out.println();
                }
                out.flush();
                err.printf(Locale.ROOT, "%s, budget %d tokens/KV head: prefill %d tokens at %.1f tokens/s, decode %d tokens at %.1f"
                        + " tokens/s, KV %d bytes, stop: %s%n", s.strategy().name(), s.budgetTokens(), ids.length,
                        g.prefillTokensPerSecond(), g.outputIds().length, g.decodeTokensPerSecond(), s.kvBytesInUse(), g.finishReason().label());
                err.flush();
            }
        }
        return 0;
    }

    private Strategy strategy(int promptTokens) throws java.io.IOException {
        if (strategy.equalsIgnoreCase("moa")) {
            if (moaProfile == null || budgetTokens == null) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--strategy moa needs --moa-profile FILE (see profile-heads --moa) and --budget N");
            }
            // MoA's windows are a function of the input length (Fu et al., 2024): fitted here to the density the
            // budget gives over everything this call will hold, as eval and bench fit theirs.
            long context = (long) promptTokens + maxTokens;
            return new Strategy.Moa(MoaProfile.read(moaProfile).fit(Math.min(1.0, budgetTokens / (double) context), context));
        }
        if (strategy.equalsIgnoreCase("duo")) {
            if (profile == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--strategy duo needs --profile FILE (see profile-heads)");
            }
            return new Strategy.RetrievalHeads(HeadProfile.read(profile), 0, 0);
        }
        return Strategy.parse(strategy);
    }

    private static String json(Generation g, Session s) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        var p = root.putArray("prompt_ids");
        for (int id : g.promptIds()) {
            p.add(id);
        }
        var o = root.putArray("output_ids");
        for (int id : g.outputIds()) {
            o.add(id);
        }
        root.put("text", g.text());
        root.put("stop_reason", g.finishReason().label());
        root.put("strategy", s.strategy().name());
        root.put("kv_bytes", s.kvBytesInUse());
        ObjectNode t = root.putObject("timings");
        t.put("prefill_ms", g.prefillNanos() / 1e6);
        t.put("decode_ms", g.decodeNanos() / 1e6);
        t.put("prefill_tps", g.prefillTokensPerSecond());
        t.put("decode_tps", g.decodeTokensPerSecond());
        return root.toString();
    }

    /** The file as UTF-8, malformed bytes becoming U+FFFD (a prompt is never refused for its encoding). */
    private static String readLenient(Path file) throws java.io.IOException {
        return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
    }

    static long parseBytes(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("k") || t.endsWith("m") || t.endsWith("g")) {
            mult = switch (t.charAt(t.length() - 1)) {
                case 'k' -> 1L << 10;
                case 'm' -> 1L << 20;
                default -> 1L << 30;
            };
            t = t.substring(0, t.length() - 1);
        }
        try {
            return Math.multiplyExact(Long.parseLong(t), mult);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("--budget-bytes '" + s + "' is not a byte count (e.g. 512m)");
        }
    }

    /** A prefill progress bar on stderr, drawn in place. */
    private static final class ProgressBar {
        private static final int WIDTH = 30;
        private final PrintWriter err;
        private final boolean enabled;

        ProgressBar(PrintWriter err, boolean enabled) {
            this.err = err;
            this.enabled = enabled;
        }

        void update(int done, int total) {
            if (!enabled) {
                return;
            }
            int filled = (int) ((long) done * WIDTH / Math.max(1, total));
            err.printf("\rprefill [%s%s] %d/%d tokens", "#".repeat(filled), ".".repeat(WIDTH - filled), done, total);
            if (done == total) {
                err.println();
            }
            err.flush();
        }
    }
}
