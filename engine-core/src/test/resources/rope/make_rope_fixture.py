#!/usr/bin/env python3
"""Writes rope_reference.json: RoPE reference values computed by Hugging Face transformers.

Usage: python3 make_rope_fixture.py OUTPUT.json

For each case it builds a LlamaConfig, instantiates transformers' own LlamaRotaryEmbedding on the
CPU and records its inv_freq, its attention_scaling and the cos/sin it returns for a few positions
(first half only: HF's cos/sin are cat(freqs, freqs), so both halves are equal; the script checks
that). Where transformers exposes ROPE_INIT_FUNCTIONS for the type, the script also calls the init
function, requires the same attention factor and reports any inv_freq difference, so the fixture
is the library's own answer, not ours.

For dynamic NTK the recorded seq_len is max(position) + 1, the length HF's dynamic update uses.
The init function, called with a Python int seq_len, computes the NTK base in doubles while the
rotary module passes a tensor and gets float32 arithmetic; the module's inv_freq is the reference
and, where the two differ, the init function's is kept as "inv_freq_init_function".

Works with transformers 5.x (config.rope_parameters) and falls back to 4.4x-4.5x
(config.rope_scaling + config.rope_theta). Every float is a float32 value written as the exact
double it converts to, so Java can parse it as a double and narrow it without rounding.
"""
import inspect
import json
import sys

import torch
import transformers
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

try:
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
except ImportError:  # very old versions
    ROPE_INIT_FUNCTIONS = {}

POSITIONS = [0, 1, 17, 1000, 100000]
NUM_HEADS = 4
V5 = "rope_parameters" in inspect.signature(LlamaConfig.__init__).parameters


def make_config(head_dim, theta, max_pos, scaling):
    """scaling: dict of HF rope keys (rope_type first) or None for the default RoPE."""
    common = dict(
        hidden_size=head_dim * NUM_HEADS,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=NUM_HEADS,
        head_dim=head_dim,
        intermediate_size=4 * head_dim,
        num_hidden_layers=1,
        vocab_size=32,
        max_position_embeddings=max_pos,
    )
    if V5:
        params = {"rope_type": "default", "rope_theta": theta}
        if scaling is not None:
            params.update(scaling)
        return LlamaConfig(rope_parameters=params, **common)
    rope_scaling = None
    if scaling is not None:
        rope_scaling = dict(scaling)
        rope_scaling["type"] = scaling["rope_type"]
    return LlamaConfig(rope_theta=theta, rope_scaling=rope_scaling, **common)


def f32list(t):
    return [float(v) for v in t.detach().to(torch.float32).cpu().reshape(-1).tolist()]


def run_case(name, head_dim, theta, max_pos, scaling, positions, seq_len=None):
    config = make_config(head_dim, theta, max_pos, scaling)
    rotary = LlamaRotaryEmbedding(config=config, device="cpu")
    pos = torch.tensor([positions], dtype=torch.int64)
    x = torch.zeros(1, len(positions), head_dim, dtype=torch.float32)
    with torch.no_grad():
        cos, sin = rotary(x, pos)
    half = cos.shape[-1] // 2
    assert torch.equal(cos[..., :half], cos[..., half:]), name
    assert torch.equal(sin[..., :half], sin[..., half:]), name
    inv_freq = rotary.inv_freq.clone()  # after forward: dynamic NTK may have recomputed it
    rope_type = "default" if scaling is None else scaling["rope_type"]
    effective_seq_len = max(positions) + 1
    init_fn_inv_freq = None
    if rope_type in ROPE_INIT_FUNCTIONS:
        # Called with a Python int seq_len, as at init time. The rotary class's dynamic update
        # passes a tensor instead, so the NTK base is then computed in float32 tensor arithmetic
        # rather than Python doubles; the class is what a model runs, so it is the reference.
        ref, att = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len=effective_seq_len)
        if not torch.equal(ref.float(), inv_freq.float()):
            rel = ((ref.float() - inv_freq.float()).abs() / inv_freq.float().abs()).max().item()
            print(f"{name}: init function (int seq_len) and class inv_freq differ, max rel {rel:.3g}")
            init_fn_inv_freq = f32list(ref)
        if float(att) != float(rotary.attention_scaling):
            raise SystemExit(f"{name}: attention factors disagree: {att} vs {rotary.attention_scaling}")
    return {
        "name": name,
        "head_dim": head_dim,
        "rotary_dim": 2 * inv_freq.numel(),
        "theta": theta,
        "max_position_embeddings": max_pos,
        "scaling": scaling,
        # dynamic NTK: HF uses max(position_ids) + 1 as the sequence length
        "seq_len": effective_seq_len,
        "inv_freq": f32list(inv_freq),
        "inv_freq_init_function": init_fn_inv_freq,
        "attention_factor": float(rotary.attention_scaling),
        "positions": positions,
        "cos": [f32list(cos[0, i, :half]) for i in range(len(positions))],
        "sin": [f32list(sin[0, i, :half]) for i in range(len(positions))],
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "rope_reference.json"
    torch.set_default_dtype(torch.float32)
    yarn_src = inspect.getsource(ROPE_INIT_FUNCTIONS["yarn"]) if "yarn" in ROPE_INIT_FUNCTIONS else ""
    has_truncate = "truncate" in yarn_src
    cases = []
    for head_dim, theta in ((64, 10000.0), (128, 500000.0)):
        h = f"h{head_dim}"
        cases.append(run_case(f"default_{h}", head_dim, theta, 4096, None, POSITIONS))
        cases.append(run_case(f"linear4_{h}", head_dim, theta, 4096,
                              {"rope_type": "linear", "factor": 4.0}, POSITIONS))
        # dynamic NTK: below the original maximum (base unchanged) and far above it
        cases.append(run_case(f"dynamic2_below_{h}", head_dim, theta, 4096,
                              {"rope_type": "dynamic", "factor": 2.0}, POSITIONS[:4]))
        cases.append(run_case(f"dynamic2_above_{h}", head_dim, theta, 4096,
                              {"rope_type": "dynamic", "factor": 2.0}, POSITIONS))
        # max_position_embeddings = factor * original: transformers 4.4x-4.5x replaced factor by
        # max / original when original was given; v5 uses factor. Equal here, so both agree.
        yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}
        cases.append(run_case(f"yarn4_{h}", head_dim, theta, 16384, dict(yarn), POSITIONS))
        cases.append(run_case(f"yarn4_mscale_{h}", head_dim, theta, 16384,
                              dict(yarn, mscale=1.0, mscale_all_dim=0.5), POSITIONS))
        if has_truncate:
            cases.append(run_case(f"yarn4_notruncate_{h}", head_dim, theta, 16384,
                                  dict(yarn, truncate=False), POSITIONS))
        cases.append(run_case(f"llama3_{h}", head_dim, theta, 131072,
                              {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                              POSITIONS))
    doc = {
        "generator": "make_rope_fixture.py",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "config_api": "rope_parameters" if V5 else "rope_scaling",
        "device": "cpu",
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {len(cases)} cases to {out} with transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
