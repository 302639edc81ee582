import dev.longctx.bench.ruler.*;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import java.nio.file.*;
import java.util.*;

/**
 * Regenerates N15's first instances (seed 20261206, 16K, niah_single, depth 0) and writes their ids and the engine's
 * full-cache answer. From the repository root: javac -cp BENCHMARKS_JAR -d OUT this file, then
 * java --add-modules jdk.incubator.vector -cp BENCHMARKS_JAR:OUT Dump N OUT.json [TASK SEED DEPTHS] (session 20: N = 2;
 * session 22, run F18's probe: 8 F18-vt.json vt 20261225 0,0.25). DEPTHS, comma-separated, are taken in turn.
 */
final class Dump {  // not public: the file is named for the run it belongs to
    public static void main(String[] a) throws Exception {
        Path model = Path.of("tools/retrieval-model/model/retrieval-16k.gguf");
        TensorOps ops = TensorOps.withThreads(null);
        try (Model m = Model.open(model)) {
            RulerSpec rs = RulerSpec.load(Path.of("tools/retrieval-model/model/tasks.json"), m.tokenizer());
            String task = a.length > 2 ? a[2] : "niah_single";
            RandomSource rnd = RandomSource.seeded(a.length > 3 ? Long.parseLong(a[3]) : 20261206L);
            double[] depths = Arrays.stream((a.length > 4 ? a[4] : "0").split(",")).mapToDouble(Double::parseDouble).toArray();
            int poolWords = Math.max(60_000, 3 * 16384 + 40_000);
            RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, poolWords, rnd));
            RulerRunner runner = new RulerRunner(m.weights(), m.tokenizer(), ops, DType.F32, 128, true);
            StringBuilder sb = new StringBuilder("[");
            int n = Integer.parseInt(a[0]);
            for (int i = 0; i < n; i++) {
                TaskInstance inst = gen.instance(task, 16384, depths[i % depths.length], rnd);
                var o = runner.run(inst, List.of("full"), List.of(), null).getFirst();
                System.err.println(i + " correct=" + o.correct() + " output=" + o.output() + " answer=" + inst.answer());
                if (i > 0) sb.append(",");
                sb.append("{\"answer\":\"").append(inst.answer()).append("\",\"engine_output\":\"").append(o.output().replace("\"", "\\\"").replace("\n", "\\n"))
                  .append("\",\"correct\":").append(o.correct()).append(",\"prompt\":").append(Arrays.toString(inst.prompt())).append("}");
            }
            Files.writeString(Path.of(a[1]), sb.append("]").toString());
        }
    }
}
