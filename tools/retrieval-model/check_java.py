#!/usr/bin/env python3
"""Checks the exported model in the longctx engine's CLI (a built jar), for the HF folder and the
GGUF file: tokenizer ids equal to Hugging Face tokenizers' ids, logits against
reference-logits.json, and greedy answers (generate --chat) for eval-sample.json's instances.

  python3 check_java.py [MODEL_DIR] [--jar JAR] [--samples N] [--gguf FILE]

MODEL_DIR defaults to model/ next to this script (hf/, retrieval-16k.gguf, tasks.json,
eval-sample.json, reference-logits.json). Needs numpy and tokenizers; JAVA defaults to
$JAVA_HOME/bin/java or java.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir", nargs="?", default=os.path.join(HERE, "model"))
    p.add_argument("--jar", default="/tmp/lc-bench.jar")
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--gguf", default=None, help="GGUF file (default MODEL_DIR/retrieval-16k.gguf)")
    a = p.parse_args()
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if "JAVA_HOME" in os.environ else "java"
    cmd = [java, "--add-modules", "jdk.incubator.vector", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           "-cp", a.jar, "dev.longctx.cli.LongctxCli"]
    hf = os.path.join(a.model_dir, "hf")
    gguf = a.gguf or os.path.join(a.model_dir, "retrieval-16k.gguf")

    def run(*args):
        r = subprocess.run(cmd + list(args), capture_output=True, text=True)
        if r.returncode:
            err = [l for l in r.stderr.splitlines() if not l.startswith("WARNING")]
            print("  FAILED:", " ".join(args[:3]), "->", " ".join(err)[-600:])
            return None
        return r.stdout

    tok = Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))
    spec = json.load(open(os.path.join(a.model_dir, "tasks.json")))
    k, w = spec["keys"], spec["filler"]["states"]
    texts = ["Text: " + " ".join(w[:12]) + ".", f" The special magic number for {k[5]} is 1234567.",
             "What are the special magic numbers for %s, %s and %s?" % (k[1], k[2], k[3]),
             "9081726, 12345 and 00017", "VAR %s = VAR %s." % (k[7], k[8]),
             "Hello, world! It's 2024:\n\n  tabs\tand   spaces  \u00fc \u2713 \u65e5\u672c",
             "\n\nQuestion: What is the special magic number for %s?" % k[0]]
    ref = json.load(open(os.path.join(a.model_dir, "reference-logits.json")))
    samples = json.load(open(os.path.join(a.model_dir, "eval-sample.json")))["samples"]
    all_logits = {}
    failures = 0
    for model in (hf, gguf):
        print("==", model)
        bad = 0
        for t in texts:
            out = run("tokenize", "--model", model, "--text", t, "--no-special")
            got = json.loads(out.strip().splitlines()[-1])["ids"] if out else None
            exp = tok.encode(t, add_special_tokens=False).ids
            if got != exp:
                bad += 1
                print("  tokenize differs:", repr(t), got, exp)
        print(f"  tokenize: {len(texts) - bad}/{len(texts)} strings give the same ids as tokenizers")
        failures += bad
        out = run("logits", "--model", model, "--ids", ",".join(map(str, ref["ids"])))
        if out is not None:
            got = np.array(json.loads(out[out.index("{"):])["logits"], dtype=np.float64)
            exp = np.array(ref["logits"], dtype=np.float64)
            all_logits[model] = got
            d = np.abs(got - exp).max()
            print(f"  logits: {got.shape} vs reference {exp.shape}: max |diff| {d:.3g}, "
                  f"argmax equal at {int((got.argmax(-1) == exp.argmax(-1)).sum())}/{len(exp)} positions")
            failures += d > 1e-3
        else:
            failures += 1
        ok = 0
        for s in samples[:a.samples]:
            pf = os.path.join("/tmp", "check_java_prompt.txt")
            with open(pf, "w") as f:
                f.write(s["messages"][0]["content"])
            out = run("generate", "--model", model, "--prompt-file", pf, "--chat", "--temperature", "0",
                      "-n", "64", "--json")
            if out is None:
                continue
            o = json.loads(out[out.index("{"):])
            same_ids = o.get("prompt_ids") == s["prompt_ids"]
            good = o.get("text", "").strip() == s["answer"]
            ok += good and same_ids
            print(f"  {s['task']:16s} len {s['length']:4d} depth {s['depth']:.1f}: prompt ids "
                  f"{'equal' if same_ids else 'DIFFER'}, answer {'ok' if good else 'WRONG'} "
                  f"{o.get('text', '')!r} (expected {s['answer']!r})")
        n = min(a.samples, len(samples))
        print(f"  generate: {ok}/{n} answered correctly with the same prompt ids")
        failures += n - ok
    if len(all_logits) == 2:
        x, y = all_logits.values()
        print(f"HF folder vs GGUF logits: max |diff| {np.abs(x - y).max():.3g}")
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
