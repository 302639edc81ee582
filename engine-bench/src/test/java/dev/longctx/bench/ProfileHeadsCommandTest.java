package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.cli.LongctxCli;
import dev.longctx.kvcache.HeadProfile;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** profile-heads writes a profile of every KV head that generate's duo strategy reads. */
class ProfileHeadsCommandTest {

    private static String run(Object command, String... args) {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(command);
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(new StringWriter()));
        return cl.execute(args) + "\n" + out;
    }

    @Test
    void profileThenDuo(@TempDir Path tmp) throws Exception {
        String model = EvalCommandTest.stories().toString();
        Path profile = tmp.resolve("profile.json");
        String wrote = run(new ProfileHeadsCommand(), "--model", model, "--out", profile.toString(), "--context", "64", "--needle", "8",
                "--threads", "2");
        assertTrue(wrote.startsWith("0\n") && wrote.contains("retrieval heads"), wrote);
        HeadProfile p = HeadProfile.read(profile);
        assertEquals(5, p.layers()); // stories260K: 5 layers x 4 KV heads
        String duo = run(new LongctxCli(), "generate", "--model", model, "--prompt", "Once upon a time", "--temperature", "0", "-n", "8",
                "--strategy", "duo", "--profile", profile.toString(), "--budget", "64", "--json", "--threads", "2");
        assertEquals("duo", new ObjectMapper().readTree(duo.substring(2)).get("strategy").asText(), duo);
    }

    @Test
    void profilesOnTaskInstancesOfTheRetrievalModel(@TempDir Path tmp) throws Exception {
        Path model = RulerEval.retrievalModelDir().resolve("retrieval-16k.gguf");
        Path profile = tmp.resolve("tasks.json");
        String wrote = run(new ProfileHeadsCommand(), "--model", model.toString(), "--out", profile.toString(), "--tasks", "niah_single",
                "--context", "384", "--instances", "2", "--threads", "2");
        assertTrue(wrote.startsWith("0\n") && wrote.contains("4 of 16 KV heads are retrieval heads"), wrote);
        HeadProfile p = HeadProfile.read(profile);
        float best = 0;
        for (int l = 0; l < p.layers(); l++) {
            for (int h = 0; h < p.kvHeads(); h++) {
                best = Math.max(best, p.score(l, h));
            }
        }
        assertTrue(best > 0.1f, "some head copies the answer from the needle: best score " + best);
    }
}
