#!/usr/bin/env python3
"""CPU probe (run 7, session 15): can a trained model's answer find a value by its key, and from how far back?

For each HF folder given, on fresh instances from an unused seed stream ([seed, 77, ...]; training uses 3 and 4,
evaluation 10 and 11), prints teacher-forced argmax accuracy and the mean probability of the target at
  * kvrecall rows (train.py's training-only task) with each pair format (--kv-gaps 1, 2, 3): the answer's first
    value token after a restated key, i.e. the key `gap` tokens before the target;
  * the evaluated niah_multikey rows: the answer's first token (the asked key four tokens back, in the question);
  * kvrecall rows (format 1): the answer's key tokens (the next asked key, copied from the question).
Usage: python3 probe_kv.py HF_DIR [HF_DIR ...]   (needs torch, tokenizers, numpy; seconds per folder on a CPU)
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train  # noqa: E402


def probs(model, ids):
    with torch.no_grad():
        return torch.softmax(model(torch.tensor(ids[None, :-1].astype(np.int64))).float(), -1)[0]


def tally(model, instances, targets):
    """Over the instances, at each (position, target token) that targets(ids, prompt_len) yields: how many, the
    argmax accuracy and the mean probability of the target."""
    n = ok = 0
    pt = 0.0
    for x in instances:
        a = x["ids"]
        p = probs(model, a)
        for j, t in targets(a, x["prompt_len"]):
            n += 1
            ok += int(p[j].argmax()) == t
            pt += float(p[j, t])
    return n, ok / n, pt / n


def main():
    spec, tok = train.load_spec(os.path.join(HERE, "model"))
    for d in sys.argv[1:]:
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        model = train.build_model(cfg)
        train.load_safetensors(model, os.path.join(d, "model.safetensors"))
        model.eval()
        g = train.Gen(spec, tok, 400_000, (1234, 77))
        keys = set(int(k) for k in g.key_ids)
        print(f"== {d}")
        for gap in (1, 2, 3):
            g.kv_gaps = [gap]

            def first_value_tokens(a, pl, gap=gap):
                for j in range(pl - 1, len(a) - 1):
                    t = int(a[j + 1])
                    back = a[j - gap + 1:j + 1]
                    if t not in keys and t != train.EOS and int(back[0]) in keys \
                            and all(int(b) not in keys for b in back[1:]):
                        yield j, t

            rng = train.rng_for(1234, 77, 2, gap)
            n, acc, pt = tally(model, (g.instance("kvrecall", 512, rng) for _ in range(20)), first_value_tokens)
            print(f"kvrecall, pair format {gap} (key {gap} token(s) before the value): first value tokens {n}, "
                  f"argmax accuracy {acc:.3f}, mean p(target) {pt:.3f}")
        rng = train.rng_for(1234, 77, 3)
        n, acc, pt = tally(model, (g.instance("niah_multikey", 512, rng) for _ in range(40)),
                           lambda a, pl: [(pl - 1, int(a[pl]))])
        print(f"niah_multikey at 512 tokens, the answer's first token: {n} rows, argmax accuracy {acc:.3f}, "
              f"mean p(target) {pt:.3f}")
        g.kv_gaps = [1]
        rng = train.rng_for(1234, 77, 4)
        # the answer's second and later keys (the first follows "\n")
        n, acc, pt = tally(model, (g.instance("kvrecall", 512, rng) for _ in range(20)),
                           lambda a, pl: [(j, int(a[j + 1])) for j in range(pl, len(a) - 1) if int(a[j + 1]) in keys])
        print(f"kvrecall, the next asked key after a value: {n} tokens, argmax accuracy {acc:.3f}, "
              f"mean p(target) {pt:.3f}")

if __name__ == "__main__":
    main()
