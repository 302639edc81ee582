"""Regenerates models/src/test/resources/fixtures/llama-bf16-transformers-fp32.json.

Why: shared/fixtures/hf/llama-bf16/reference.json says its logits come from the BF16 weights
upcast to fp32, but transformers 5.17.0 run that way (CPU or CUDA fp32) differs from it by
2.3e-3. This script records what that documented procedure actually produces, so the engine can
be checked against it; the shared reference itself is left untouched. (Cause, found later: the
shared reference equals, to 5.1e-7, a model cast with .to(torch.bfloat16).float(), which rounds
the RoPE inv_freq buffer to BF16 as well as the weights.)

Usage (on a host with torch + transformers):
    python3 bf16_fp32_reference.py <llama-bf16 dir> <out.json>
Prints the max |diff| of each mode against the shared reference.json.
"""
import json
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

model_dir, out_path = sys.argv[1], sys.argv[2]
shared = json.load(open(f"{model_dir}/reference.json"))
ids = shared["cases"][0]["input_ids"]
shared_logits = torch.tensor(shared["cases"][0]["logits"])


def logits(device, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).float().to(device).eval()
    with torch.no_grad():
        return m(torch.tensor([ids], device=device)).logits[0].float().cpu()


cpu = logits("cpu", False)
report = {"cpu_fp32": float((cpu - shared_logits).abs().max())}
if torch.cuda.is_available():
    report["cuda_fp32"] = float((logits("cuda", False) - shared_logits).abs().max())
    report["cuda_tf32"] = float((logits("cuda", True) - shared_logits).abs().max())
print("max |diff| vs shared reference.json:", report)

json.dump({
    "description": "Logits of shared/fixtures/hf/llama-bf16 from Hugging Face transformers with the BF16 "
                   "weights upcast to float32 (from_pretrained(dtype=bfloat16).float(), CPU, eager), "
                   "produced by models/src/test/python/bf16_fp32_reference.py.",
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "input_ids": ids,
    "logits": [[round(x, 7) for x in row] for row in cpu.tolist()],
}, open(out_path, "w"))
