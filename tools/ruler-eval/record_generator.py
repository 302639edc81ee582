#!/usr/bin/env python3
"""Records train.py's task generator for the Java port's equality test.

Runs tools/retrieval-model/train.py's own `Gen` (imported, not copied) with a recording wrapper
around its numpy generator: every draw (integers, random, choice, permutation) is written in the
order it is made, with the filler pool's states and the instances the generator built (token ids,
prompt length, user message, answer). The Java test (RulerGeneratorTest) builds the pool from the
same states, replays the draws through its RandomSource and must produce identical instances.

Seeds: [99, 1] (pool) and [99, 2] (instances), neither of them train.py's streams (seed 1234).

    /tmp/venv/bin/python tools/ruler-eval/record_generator.py \
        engine-bench/src/test/resources/dev/longctx/bench/ruler/generator-replay.json.gz
"""
import gzip
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "retrieval-model"))
import train  # noqa: E402


class Recording:
    """A numpy Generator that logs every draw train.py's Gen makes."""

    def __init__(self, rng):
        self.rng = rng
        self.log = []

    def integers(self, lo, hi=None, size=None):
        assert size is None
        if hi is None:
            lo, hi = 0, lo
        lo, hi = int(lo), int(hi)
        v = int(self.rng.integers(lo, hi))
        self.log.append(["integers", lo, hi, v])
        return v

    def random(self, size=None):
        if size is None:
            v = float(self.rng.random())
            self.log.append(["random", v])
            return v
        out = np.empty(size)
        for i in range(size):
            out[i] = self.random()
        return out

    def choice(self, n, size, replace):
        assert not replace
        v = self.rng.choice(n, size=size, replace=False)
        self.log.append(["choice", int(n), int(size), [int(x) for x in v]])
        return v

    def permutation(self, x):
        idx = self.rng.permutation(len(x))
        self.log.append(["permutation", len(x), [int(i) for i in idx]])
        return np.asarray(x)[idx]


def main(out_path):
    model_dir = os.path.join(HERE, "..", "retrieval-model", "model")
    spec, tok = train.load_spec(model_dir)
    gen = train.Gen(spec, tok, 48_000, (99, 1))
    rec = Recording(train.rng_for(99, 2))
    instances = []
    k = 0
    for L in (256, 384, 512, 1024, 2048):
        for t in train.TASKS:
            for depth in (None, round((k % 11) / 10, 2)):
                k += 1
                x = gen.instance(t, L, rec, depth=depth, text=True)
                ids = [int(i) for i in x["ids"]]
                instances.append({"task": t, "length": L, "depth": depth, "ids": ids, "prompt_len": int(x["prompt_len"]),
                                  "user": x["user"], "answer": x["answer"], "drawn_depth": float(x["depth"])})
                # the token-space assembly equals the tokenizer on the rendered text
                assert tok.encode(train.render(x["user"], x["answer"]), add_special_tokens=False).ids == ids
    doc = {"about": "train.py Gen with recorded draws (tools/ruler-eval/record_generator.py)",
           "pool_states": [int(s) for s in gen.pool.states], "draws": rec.log, "instances": instances}
    with gzip.open(out_path, "wt") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"wrote {out_path}: {len(instances)} instances, {len(rec.log)} draws, {len(gen.pool.states)} pool states")


if __name__ == "__main__":
    main(sys.argv[1])
