package dev.longctx.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx eval}: accuracy of each long-context strategy against the full cache on a real
 * model. Attention fidelity (per layer and query head: the relative L2 error of the attention
 * output against exact attention and the attention mass kept, at the text's last token),
 * perplexity of a text (default: a short story shipped with the engine) under each
 * strategy, and its ratio to the full cache's; with {@code --passkey}, passkey retrieval (the
 * standard prompt of Mohtashami and Jaggi, 2023, as LM-Infinite and others use it) at several
 * lengths and depths, exact match per cell. With {@code --tasks ruler}, {@link RulerEval} runs
 * instead (RULER-style tasks on the retrieval model).
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Perplexity and passkey retrieval per strategy.")
public final class EvalCommand implements Callable<Integer> {
    /** The standard passkey prompt's parts. */
    static final String TASK = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it."
            + " I will quiz you about the important information there.";
    static final String FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
    static final String NEEDLE = " The pass key is %s. Remember it. %s is the pass key.";
    static final String QUESTION = " What is the pass key? The pass key is";

    @Option(names = "--model", required = true, description = "GGUF file, Hugging Face folder or llama2.c .bin")
    Path model;

    @Option(names = "--tokenizer", description = "tokenizer.json or llama2.c tokenizer.bin (default: the model's own)")
    Path tokenizerFile;

    @Option(names = "--text", description = "text for perplexity (default: a short story shipped with the engine)")
    Path text;

    @Option(names = "--strategies", split = ",", defaultValue = "full,streaming,h2o,snapkv,quest",
            description = "strategies (default ${DEFAULT-VALUE})")
    List<String> strategies;

    @Option(names = "--budget", defaultValue = "64", description = "KV budget per head for evicting strategies (default ${DEFAULT-VALUE})")
    int budget;

    @Option(names = "--chunk", defaultValue = "16", description = "prefill chunk: evictions run between chunks (default ${DEFAULT-VALUE})")
    int chunk;

    @Option(names = "--kv-type", defaultValue = "F32", description = "KV page dtype (default ${DEFAULT-VALUE})")
    DType kvType;

    @Option(names = "--passkey", description = "also run passkey retrieval")
    boolean passkey;

    @Option(names = "--lengths", split = ",", defaultValue = "512,1024", description = "passkey prompt lengths in tokens")
    List<Integer> lengths;

    @Option(names = "--depths", split = ",", defaultValue = "0,25,50,75,100", description = "needle depths in percent")
    List<Integer> depths;

    @Option(names = "--seed", defaultValue = "42", description = "seed of the pass keys (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @Option(names = "--json", description = "print JSON instead of tables")
    boolean json;

    @Option(names = "--profile", description = "head profile JSON for duo (default: profile the model first)")
    Path profile;

    private StrategyNames names;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        // --tasks (e.g. --tasks ruler) selects the RULER-style task harness, with its own options
        boolean ruler = Arrays.stream(args).anyMatch(a -> a.equals("--tasks") || a.startsWith("--tasks="));
        System.exit(new CommandLine(ruler ? new RulerEval() : new EvalCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        TensorOps ops = TensorOps.withThreads(threads);
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        try (Model m = Model.open(model, tokenizerFile != null ? Model.Options.defaults().withTokenizer(tokenizerFile)
                : Model.Options.defaults())) {
            names = new StrategyNames(m.weights(), budget, profile, ops, spec.commandLine().getErr());
            Tokenizer tok = m.tokenizer();
            int[] ids = tok.encode(text != null ? Files.readString(text, StandardCharsets.UTF_8) : shortStory());
            ArrayNode ppl = root.putArray("perplexity");
            double fullPpl = Double.NaN;
            for (String name : strategies) {
                Strategy s = strategy(name);
                try (Session session = session(m, s, ids.length, ops)) {
                    double[] lp = session.logProbabilities(ids, null);
                    double p = Math.exp(-Arrays.stream(lp).average().orElse(0));
                    if (s instanceof Strategy.Full) {
                        fullPpl = p;
                    }
                    ppl.addObject().put("strategy", s.name()).put("perplexity", p).put("tokens", ids.length);
                } catch (ContextBudgetException e) {
                    ppl.addObject().put("strategy", s.name()).put("skipped", e.getMessage());
                }
            }
            root.set("attention_fidelity", fidelity(m, ids, ops, mapper));
            for (var n : ppl) {
                if (n.has("perplexity") && !Double.isNaN(fullPpl)) {
                    ((ObjectNode) n).put("ratio_to_full", n.get("perplexity").asDouble() / fullPpl);
                }
            }
            if (passkey) {
                root.set("passkey", passkeyGrid(m, tok, ops, mapper));
            }
        }
        if (json) {
            out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } else {
            print(root, out);
        }
        out.flush();
        return 0;
    }

    /** A strategy by name; Quest attends {@code --budget} keys per step, like the evicting strategies keep. */
    private Strategy strategy(String name) throws IOException {
        Strategy s = names.parse(name);
        return s instanceof Strategy.Quest ? new Strategy.Quest(budget) : s; // tidal and recycled: budget keys (StrategyNames)
    }

    /**
     * Quest, TidalDecode and Recycled Attention select for decode steps only, so their text is
     * scored one token at a time (a decode step each).
     */
    private Session session(Model m, Strategy s, int context, TensorOps ops) {
        int tokens = s.keepsEveryToken() ? Math.max(budget, context + 64) : budget;
        return Session.builder(m.weights()).strategy(s).budgetTokens(tokens).kvType(kvType)
                .chunkSize(s.selectsAtDecode() ? 1 : chunk).ops(ops).build();
    }

    /**
     * Per strategy: at the step that reads the text's last token, the relative L2 error of each
     * layer's and query head's attention output against exact attention, and the exact attention
     * mass of the keys the strategy holds (means, and per layer in the JSON).
     */
    private ArrayNode fidelity(Model m, int[] ids, TensorOps ops, ObjectMapper mapper) throws IOException {
        ArrayNode out = mapper.createArrayNode();
        int[] prompt = Arrays.copyOf(ids, ids.length - 1);
        for (String name : strategies) {
            Strategy s = strategy(name);
            ObjectNode row = out.addObject().put("strategy", s.name());
            try (Session full = session(m, new Strategy.Full(), ids.length, ops); Session other = session(m, s, ids.length, ops)) {
                full.prefill(prompt, null);
                other.prefill(prompt, null);
                AttentionFidelity f = AttentionFidelity.measure(full, other, ids[ids.length - 1]);
                row.put("mean_relative_l2", f.meanRelativeError()).put("mean_mass_recovered", f.meanMassRecovered());
                ArrayNode layers = row.putArray("layers");
                for (int l = 0; l < f.relativeError().length; l++) {
                    ObjectNode layer = layers.addObject();
                    ArrayNode e = layer.putArray("relative_l2");
                    ArrayNode ms = layer.putArray("mass_recovered");
                    for (int h = 0; h < f.relativeError()[l].length; h++) {
                        e.add(f.relativeError()[l][h]);
                        ms.add(f.massRecovered()[l][h]);
                    }
                }
            } catch (ContextBudgetException e) {
                row.put("skipped", e.getMessage());
            }
        }
        return out;
    }

    private ArrayNode passkeyGrid(Model m, Tokenizer tok, TensorOps ops, ObjectMapper mapper) throws IOException {
        ArrayNode grid = mapper.createArrayNode();
        SplittableRandom r = new SplittableRandom(seed);
        for (int length : lengths) {
            for (int depth : depths) {
                String key = String.valueOf(10000 + r.nextInt(90000));
                int[] prompt = tok.encode(passkeyPrompt(tok, key, length, depth / 100.0));
                for (String name : strategies) {
                    Strategy s = strategy(name);
                    ObjectNode cell = grid.addObject().put("strategy", s.name()).put("length", length).put("depth", depth)
                            .put("prompt_tokens", prompt.length);
                    try (Session session = Session.builder(m.weights()).tokenizer(tok).strategy(s)
                            .budgetTokens(s.keepsEveryToken() ? Math.max(budget, prompt.length + 16) : budget).kvType(kvType).chunkSize(chunk)
                            .ops(ops).build()) {
                        Generation g = session.generate(prompt, GenerateOptions.greedy(8).withStopIds(List.of()), null);
                        cell.put("output", g.text()).put("correct", g.text().contains(key));
                    } catch (ContextBudgetException e) {
                        cell.put("skipped", e.getMessage());
                    }
                }
            }
        }
        return grid;
    }

    /**
     * The standard prompt: the task line, filler repeated so that the whole is about
     * {@code length} tokens, the needle at {@code depth} (0 = right after the task, 1 = just before
     * the question), and the question.
     */
    static String passkeyPrompt(Tokenizer tok, String key, int length, double depth) {
        int fixed = tok.encode(TASK + String.format(NEEDLE, key, key) + QUESTION, false, false).length;
        int per = Math.max(1, tok.encode(FILLER, false, false).length);
        int repeats = Math.max(0, (length - fixed) / per);
        int before = (int) Math.round(repeats * depth);
        return TASK + FILLER.repeat(before) + String.format(NEEDLE, key, key) + FILLER.repeat(repeats - before) + QUESTION;
    }

    static String shortStory() throws IOException {
        try (InputStream in = EvalCommand.class.getResourceAsStream("short-story.txt")) {
            if (in == null) {
                throw new IOException("missing resource short-story.txt");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        }
    }

    private static void print(ObjectNode root, PrintWriter out) {
        out.printf("%-15s %12s %14s%n", "strategy", "perplexity", "ratio to full");
        for (var n : root.get("perplexity")) {
            if (n.has("skipped")) {
                out.printf("%-15s   skipped: %s%n", n.get("strategy").asText(), n.get("skipped").asText());
            } else {
                out.printf(Locale.ROOT, "%-15s %12.3f %14.4f%n", n.get("strategy").asText(), n.get("perplexity").asDouble(),
                        n.path("ratio_to_full").asDouble(Double.NaN));
            }
        }
        out.printf("%nattention fidelity at the text's last token (means over layers and query heads)%n%-15s %14s %14s%n",
                "strategy", "rel. L2 error", "mass kept");
        for (var n : root.get("attention_fidelity")) {
            if (n.has("skipped")) {
                out.printf("%-15s   skipped: %s%n", n.get("strategy").asText(), n.get("skipped").asText());
            } else {
                out.printf(Locale.ROOT, "%-15s %14.3e %14.4f%n", n.get("strategy").asText(), n.get("mean_relative_l2").asDouble(),
                        n.get("mean_mass_recovered").asDouble());
            }
        }
        if (root.has("passkey")) {
            out.printf("%npasskey retrieval (exact match)%n%-15s %8s %6s %8s%n", "strategy", "length", "depth", "correct");
            List<String> lines = new ArrayList<>();
            for (var c : root.get("passkey")) {
                lines.add(String.format(Locale.ROOT, "%-15s %8d %5d%% %8s", c.get("strategy").asText(), c.get("length").asInt(),
                        c.get("depth").asInt(), c.has("skipped") ? "skipped" : c.get("correct").asBoolean() ? "yes" : "no"));
            }
            lines.forEach(out::println);
        }
    }
}
