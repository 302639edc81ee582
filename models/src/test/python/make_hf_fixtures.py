"""Makes the Hugging Face reference fixtures under models/src/test/resources/fixtures/hf/.

shared/fixtures/hf covers Llama, Qwen2 and Mistral; this script adds the architectures and options
it lacks (Qwen3, Phi-3, Gemma 2, linear / YaRN / dynamic-NTK RoPE scaling, F16 weights), in the
same layout: config.json, generation_config.json, model.safetensors and reference.json with
`cases[i].input_ids`, `cases[i].logits` ([position][vocab], fp32, from one forward pass from
position 0 without a cache) and `greedy` (a 16-id prompt and 24 greedy tokens generated with the
KV cache).

Every model is tiny (hidden 64, vocab 256) and random. Norm weights are randomised too (HF
initialises them to one or zero, which would hide a wrong norm), and Gemma 2's soft-caps are small
enough that tanh really bends the logits.

Usage (on a host with torch + transformers; CPU, fp32, eager attention):
    python3 make_hf_fixtures.py <out dir>
"""
import json
import os
import sys

import torch
import transformers
from transformers import (Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM, Phi3Config,
                          Phi3ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

OUT = sys.argv[1]
COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-5, initializer_range=0.08,
              bos_token_id=1, eos_token_id=2, pad_token_id=0, attn_implementation="eager")


def llama(**rope):
    return LlamaForCausalLM, LlamaConfig(**{**COMMON, **rope})


MODELS = {
    # Qwen3: per-head q/k RMSNorm before RoPE, explicit head_dim (32, not hidden / heads = 16)
    "qwen3-qknorm": (Qwen3ForCausalLM, Qwen3Config(**COMMON, head_dim=32, rope_theta=1000000.0,
                                                   tie_word_embeddings=True), [96]),
    # Phi-3: fused qkv_proj and gate_up_proj; partial rotary (as Phi-4-mini) to exercise it
    "phi3-fused": (Phi3ForCausalLM, Phi3Config(**{**COMMON, "max_position_embeddings": 4096},
                                               original_max_position_embeddings=4096, partial_rotary_factor=0.5,
                                               tie_word_embeddings=False), [96]),
    # Gemma 2: alternating sliding (window 16) and full layers, query_pre_attn_scalar != head_dim,
    # attention and final soft-capping, four norms per layer, embedding scaling, GELU-tanh
    "gemma2-softcap": (Gemma2ForCausalLM, Gemma2Config(**{**COMMON, "num_hidden_layers": 4}, head_dim=16,
                                                        sliding_window=16, query_pre_attn_scalar=24,
                                                        attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                                        hidden_activation="gelu_pytorch_tanh",
                                                        tie_word_embeddings=True), [80]),
    "llama-rope-linear": (*llama(rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}),
                          [120]),
    "llama-rope-yarn": (*llama(max_position_embeddings=256,
                               rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0,
                                                "original_max_position_embeddings": 64}), [150]),
    # dynamic NTK changes the frequencies only past max_position_embeddings (64): one case below, one above
    "llama-rope-dynamic": (*llama(max_position_embeddings=64,
                                  rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}),
                           [40, 100]),
    # F16 weights: the reference runs in fp32 on the F16-rounded weights
    "llama-f16": (*llama(rope_theta=10000.0), [64]),
}


def randomise_norms(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                base = 0.0 if isinstance(model, Gemma2ForCausalLM) else 1.0  # Gemma norms scale by (1 + w)
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=gen))


def main():
    for seed, (name, (cls, config, lengths)) in enumerate(MODELS.items()):
        torch.manual_seed(1000 + seed)
        gen = torch.Generator().manual_seed(2000 + seed)
        model = cls(config).eval()
        randomise_norms(model, gen)
        f16 = name == "llama-f16"
        if f16:
            # Round the parameters (only) to F16; compute stays fp32. model.half().float() would also
            # round the RoPE inv_freq buffer, which no fp32 engine does (it moved logits by 7e-4).
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.half().float())
        cases = []
        for n in lengths:
            ids = torch.randint(3, 256, (1, n), generator=gen)
            with torch.no_grad():
                logits = model(ids).logits[0].float()
            cases.append({"input_ids": ids[0].tolist(), "logits": [[round(x, 6) for x in row] for row in logits.tolist()]})
        prompt = torch.randint(3, 256, (1, 16), generator=gen)
        with torch.no_grad():
            out = model.generate(prompt, max_new_tokens=24, do_sample=False, pad_token_id=0, eos_token_id=None)
        d = os.path.join(OUT, name)
        if f16:
            model = model.half()
        model.save_pretrained(d, safe_serialization=True)
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                   "arch": type(model).__name__, "dtype": "float16" if f16 else "float32",
                   "made_by": "models/src/test/python/make_hf_fixtures.py",
                   "cases": cases, "greedy": {"prompt": prompt[0].tolist(), "output": out[0].tolist()}},
                  open(os.path.join(d, "reference.json"), "w"))
        print(name, sorted(os.listdir(d)), "logits[0][:4]", cases[0]["logits"][0][:4])
        print(open(os.path.join(d, "config.json")).read())


main()
