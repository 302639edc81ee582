#!/usr/bin/env python3
"""Converts the Hugging Face folder written by train.py (LlamaForCausalLM, BF16 safetensors, a
byte-level BPE tokenizer.json) into a GGUF file with the `gguf` package's GGUFWriter, the way
llama.cpp's convert_hf_to_gguf.py does for a Llama with a GPT-2-style vocabulary:

  * architecture "llama"; the q/k projection rows permuted to llama.cpp's adjacent-pair RoPE
    layout; 2-D weights stay BF16 bit for bit, norms become F32 (exact); tied output (no
    output.weight);
  * tokenizer.ggml.model "gpt2", tokenizer.ggml.pre "gpt2" (the tokenizer splits with the GPT-2
    regex), tokens / token_type (special tokens CONTROL) / merges, bos/eos ids, no automatic BOS
    (the chat template writes it), tokenizer.chat_template.

Needs only numpy and gguf:  python3 to_gguf.py model/hf model/retrieval-16k.gguf
"""
import json
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType


def read_safetensors(path):
    """name -> (dtype string, shape, raw numpy array: uint16 for BF16)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}[info["dtype"]]
        out[name] = (info["dtype"], info["shape"], np.frombuffer(data[a:b], dtype=dt).reshape(info["shape"]))
    return out


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf permute: rotate-half rows -> adjacent pairs, per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def to_f32(dtype, a):
    if dtype == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    cfg = json.load(open(os.path.join(src, "config.json")))
    tcfg = json.load(open(os.path.join(src, "tokenizer_config.json")))
    tj = json.load(open(os.path.join(src, "tokenizer.json")))
    assert cfg["model_type"] == "llama" and cfg.get("tie_word_embeddings"), "expects a tied Llama"
    pre = tj["pre_tokenizer"]
    assert pre["type"] == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", True), pre
    assert tj.get("normalizer") is None, "a normalizer would not survive in GGUF"

    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    w = GGUFWriter(dst, "llama")
    w.add_name("retrieval-16k")
    w.add_type("model")
    w.add_file_type(LlamaFileType.MOSTLY_BF16)
    w.add_vocab_size(cfg["vocab_size"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    theta = cfg.get("rope_parameters", {}).get("rope_theta", cfg.get("rope_theta"))
    w.add_rope_freq_base(float(theta))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))

    # vocabulary in id order
    vocab = dict(tj["model"]["vocab"])
    for t in tj["added_tokens"]:
        vocab[t["content"]] = t["id"]
    n = cfg["vocab_size"]
    tokens = [None] * n
    for s, i in vocab.items():
        tokens[i] = s
    assert all(t is not None for t in tokens), "vocabulary ids have holes"
    special = {t["id"] for t in tj["added_tokens"] if t.get("special")}
    types = [TokenType.CONTROL if i in special else TokenType.NORMAL for i in range(n)]
    merges = [m if isinstance(m, str) else m[0] + " " + m[1] for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab[tcfg["bos_token"]])
    w.add_eos_token_id(vocab[tcfg["eos_token"]])
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    w.add_chat_template(tcfg["chat_template"])

    t = read_safetensors(os.path.join(src, "model.safetensors"))

    def put(name, key, perm_heads=0):
        dtype, shape, a = t[key]
        if len(shape) == 1:
            w.add_tensor(name, np.ascontiguousarray(to_f32(dtype, a)))
            return
        if perm_heads:
            a = permute(a, perm_heads)
        a = np.ascontiguousarray(a)
        if dtype == "BF16":
            w.add_tensor(name, a.view(np.uint8), raw_dtype=GGMLQuantizationType.BF16)
        else:
            w.add_tensor(name, a.astype(np.float32))

    put("token_embd.weight", "model.embed_tokens.weight")
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", p + "input_layernorm.weight")
        put(f"blk.{i}.attn_q.weight", p + "self_attn.q_proj.weight", nh)
        put(f"blk.{i}.attn_k.weight", p + "self_attn.k_proj.weight", nkv)
        put(f"blk.{i}.attn_v.weight", p + "self_attn.v_proj.weight")
        put(f"blk.{i}.attn_output.weight", p + "self_attn.o_proj.weight")
        put(f"blk.{i}.ffn_norm.weight", p + "post_attention_layernorm.weight")
        put(f"blk.{i}.ffn_gate.weight", p + "mlp.gate_proj.weight")
        put(f"blk.{i}.ffn_up.weight", p + "mlp.up_proj.weight")
        put(f"blk.{i}.ffn_down.weight", p + "mlp.down_proj.weight")
    put("output_norm.weight", "model.norm.weight")
    assert "lm_head.weight" not in t, "tied model expected"

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {dst}: {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
