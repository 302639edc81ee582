#!/usr/bin/env python3
"""CPU probe (session 16; session 18 added the chain order): how a trained model's variable-tracking answers go wrong.

On fresh vt instances from an unused seed stream ([seed, 78, ...]; training uses 3 and 4, evaluation 10 and 11,
probe_kv.py 77), decodes greedily with the HF weights and sorts each answer: exact, the right names in another
order, a subset, a superset, or other; and each wrong name by where it comes from: the distractor chain (the
chain whose value was not asked) or no chain at all.
Usage: python3 probe_vt.py HF_DIR [LENGTH [INSTANCES [MAX_DEPTH]]] [--cache]   (default 512 tokens, 30 instances,
depths 0..1; needs torch, tokenizers, numpy; a minute or two on a 2-core CPU at 512 tokens)
MAX_DEPTH < 1 spreads the instances over depths 0..MAX_DEPTH instead (session 20: the early chains that fail at 16K).
--cache decodes with transformers' LlamaForCausalLM and its KV cache instead of train.py's model re-running the whole
sequence for every answer token (needs transformers; session 20, for 16K prompts: about 25 s an instance on 2 cores
instead of several minutes). The instances are the same with and without --cache, and MAX_DEPTH 1 (the default)
gives the earlier probes' instances.
"""
import json
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train  # noqa: E402


def names(answer):
    return [s.strip()[len("VAR "):] for s in answer.split(",") if s.strip()]


def greedy(model, ids, limit=80):
    """train.py's model: the whole sequence again for every answer token."""
    out = []
    with torch.no_grad():
        for _ in range(limit):
            t = int(model(torch.tensor([ids + out], dtype=torch.long))[0, -1].argmax())
            if t == train.EOS:
                break
            out.append(t)
    return out


def greedy_cached(model, ids, limit=80):
    """transformers' LlamaForCausalLM: the prompt once, then one token at a time against its KV cache."""
    out = []
    with torch.no_grad():
        o = model(torch.tensor([ids], dtype=torch.long), use_cache=True)
        for _ in range(limit):
            t = int(o.logits[0, -1].argmax())
            if t == train.EOS:
                break
            out.append(t)
            o = model(torch.tensor([[t]], dtype=torch.long), past_key_values=o.past_key_values, use_cache=True)
    return out


def main():
    args = [x for x in sys.argv[1:] if x != "--cache"]
    cached = "--cache" in sys.argv[1:]
    d = args[0]
    length = int(args[1]) if len(args) > 1 else 512
    n = int(args[2]) if len(args) > 2 else 30
    max_depth = float(args[3]) if len(args) > 3 else 1.0
    spec, tok = train.load_spec(os.path.join(HERE, "model"))
    if cached:
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    else:
        with open(os.path.join(d, "config.json")) as f:
            model = train.build_model(json.load(f))
        train.load_safetensors(model, os.path.join(d, "model.safetensors"))
        model.eval()
    g = train.Gen(spec, tok, 400_000, (1234, 78))
    rng = train.rng_for(1234, 78, 1, length)
    kinds, wrong, order = {}, {}, {}
    for i in range(n):
        x = g.instance("vt", length, rng, depth=max_depth * i / (n - 1), text=True)
        ids = [int(t) for t in x["ids"][:x["prompt_len"]]]
        out = greedy_cached(model, ids) if cached else greedy(model, ids)
        got, exp = names(tok.decode(out)), names(x["answer"])
        doc = x["user"]
        in_doc = set(re.findall(r"VAR (\w+) = ", doc))
        if got == exp:
            kind = "exact"
        elif set(got) == set(exp):
            kind = "the right names, another order"
        elif set(got) < set(exp):
            kind = "a subset of the right names"
        elif set(exp) < set(got):
            kind = "a superset of the right names"
        else:
            kind = "other"
        kinds[kind] = kinds.get(kind, 0) + 1
        # which chain's value statement (VAR n = number.) comes later in the document: is the answer the asked
        # chain because its value matches, or because its value statement is the later one?
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"VAR (\w+) = \d+", doc)]
        later = "asked later" if max(starts)[1] == exp[0] else "distractor later"
        order[(later, kind == "exact")] = order.get((later, kind == "exact"), 0) + 1
        for nm in got:
            if nm not in exp:
                w = "from the distractor chain" if nm in in_doc else "in no chain"
                wrong[w] = wrong.get(w, 0) + 1
        print(f"{i:2d} depth {x['depth']:.2f} {later:16s} {kind:32s} expected [{', '.join(exp)}] got [{', '.join(got)}]")
    print(f"== {d}, vt at {length} tokens, {n} instances at depths 0..{max_depth:g}"
          f"{' (transformers, KV cache)' if cached else ''}: {kinds}; wrong names: {wrong}")
    print("== exact answers by which chain's value statement comes later: "
          + "; ".join(f"{w}: {order.get((w, True), 0)} of {order.get((w, True), 0) + order.get((w, False), 0)}"
                      for w in ("asked later", "distractor later")))


if __name__ == "__main__":
    main()
