#!/usr/bin/env python3
"""A random-weight GGUF of a real model shape, for side-by-side speed runs (longctx and llama.cpp
read the same file). Written with the `gguf` package (gguf-py); Q8_0 blocks come from its own
quantiser (gguf.quants), F32 norms. Random weights: speed and memory only, never text quality.

    python3 random_gguf.py --out smollm2-135m-q8_0.gguf            # SmolLM2-135M shape, Q8_0
    python3 random_gguf.py --out f32.gguf --type F32

The vocabulary is a SentencePiece-style ("llama") list: <unk>, <s>, </s>, the 256 byte tokens,
then filler pieces, so both engines load a tokenizer; the benchmarks feed token ids.
"""
import argparse

import numpy as np
import gguf

SHAPES = {
    # SmolLM2-135M (HuggingFaceTB/SmolLM2-135M config.json)
    "smollm2-135m": dict(hidden=576, layers=30, heads=9, kv_heads=3, ffn=1536, vocab=49152, theta=100000.0),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="smollm2-135m", choices=sorted(SHAPES))
    p.add_argument("--type", default="Q8_0", choices=["Q8_0", "F32"])
    p.add_argument("--context", type=int, default=131072, help="llama.context_length (deep runs need it past the trained 8K)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    s = SHAPES[a.shape]
    rng = np.random.default_rng(a.seed)
    head_dim = s["hidden"] // s["heads"]
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"random {a.shape}")
    w.add_context_length(a.context)
    w.add_embedding_length(s["hidden"])
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_rope_freq_base(s["theta"])
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(s["vocab"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if a.type == "Q8_0" else gguf.LlamaFileType.ALL_F32)

    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [2, 3, 3]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        scores.append(0.0)
        types.append(6)
    i = 0
    while len(tokens) < s["vocab"]:
        tokens.append(f"\u2581t{i}")
        scores.append(-float(i))
        types.append(1)
        i += 1
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def matrix(name, rows, cols):
        m = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
        if a.type == "Q8_0":
            q = gguf.quants.quantize(m, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)  # q.shape is (rows, bytes)
        else:
            w.add_tensor(name, m)

    def norm(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    h, kv = s["hidden"], s["kv_heads"] * head_dim
    matrix("token_embd.weight", s["vocab"], h)  # tied: no output.weight
    norm("output_norm.weight", h)
    for l in range(s["layers"]):
        norm(f"blk.{l}.attn_norm.weight", h)
        matrix(f"blk.{l}.attn_q.weight", h, h)
        matrix(f"blk.{l}.attn_k.weight", kv, h)
        matrix(f"blk.{l}.attn_v.weight", kv, h)
        matrix(f"blk.{l}.attn_output.weight", h, h)
        norm(f"blk.{l}.ffn_norm.weight", h)
        matrix(f"blk.{l}.ffn_gate.weight", s["ffn"], h)
        matrix(f"blk.{l}.ffn_up.weight", s["ffn"], h)
        matrix(f"blk.{l}.ffn_down.weight", h, s["ffn"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
