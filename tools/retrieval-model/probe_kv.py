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
            rng = train.rng_for(1234, 77, 2, gap)
            n = ok = 0
            pt = 0.0
            for _ in range(20):
                x = g.instance("kvrecall", 512, rng)
                a, pl = x["ids"], x["prompt_len"]
                p = probs(model, a)
                for j in range(pl - 1, len(a) - 1):
                    t = int(a[j + 1])
                    if t in keys or t == train.EOS:
                        continue
                    back = a[j - gap + 1:j + 1]
                    if int(back[0]) in keys and all(int(b) not in keys for b in back[1:]):
                        n += 1
                        ok += int(p[j].argmax()) == t
                        pt += float(p[j, t])
            print(f"kvrecall, pair format {gap} (key {gap} token(s) before the value): first value tokens {n}, "
                  f"argmax accuracy {ok / n:.3f}, mean p(target) {pt / n:.3f}")
        for task in ("niah_multikey",):
            rng = train.rng_for(1234, 77, 3)
            n = ok = 0
            pt = 0.0
            for _ in range(40):
                x = g.instance(task, 512, rng)
                a, pl = x["ids"], x["prompt_len"]
                p = probs(model, a)
                t = int(a[pl])
                n += 1
                ok += int(p[pl - 1].argmax()) == t
                pt += float(p[pl - 1, t])
            print(f"{task} at 512 tokens, the answer's first token: {n} rows, argmax accuracy {ok / n:.3f}, "
                  f"mean p(target) {pt / n:.3f}")
        g.kv_gaps = [1]
        rng = train.rng_for(1234, 77, 4)
        n = ok = 0
        pt = 0.0
        for _ in range(20):
            x = g.instance("kvrecall", 512, rng)
            a, pl = x["ids"], x["prompt_len"]
            p = probs(model, a)
            for j in range(pl, len(a) - 1):  # the answer's second and later keys (the first follows "\n")
                if int(a[j + 1]) in keys:
                    n += 1
                    ok += int(p[j].argmax()) == int(a[j + 1])
                    pt += float(p[j, int(a[j + 1])])
        print(f"kvrecall, the next asked key after a value: {n} tokens, argmax accuracy {ok / n:.3f}, "
              f"mean p(target) {pt / n:.3f}")


if __name__ == "__main__":
    main()
