# Greedy answers of the HF model (transformers, float32) on the instances N15-miss-Dump.java wrote (its JSON file as argv[1]);
# session 20, output in N15-miss-torch.txt. Run from anywhere: the model folder is found from this file's place.
# Optional argv[2]: new tokens at most (12); --quiet leaves out the top 3 of every step (session 22, run F18's probe:
# python3 N15-miss-torch.py F18-vt.json 48 --quiet, output in F18-vt-torch.txt).
import json, os, sys, torch, time
from transformers import AutoModelForCausalLM
from tokenizers import Tokenizer
hf = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "retrieval-model", "model", "hf")
tok = Tokenizer.from_file(hf + "/tokenizer.json")
m = AutoModelForCausalLM.from_pretrained(hf, torch_dtype=torch.float32, attn_implementation="sdpa").eval()
eos = tok.token_to_id("<|endoftext|>")  # the model's end of turn (train.py's EOS)
torch.set_num_threads(2)
steps = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "--quiet" else 12
quiet = "--quiet" in sys.argv
for k, inst in enumerate(json.load(open(sys.argv[1]))):
    ids = torch.tensor([inst["prompt"]])
    t0 = time.time()
    with torch.no_grad():
        out = m(ids, use_cache=True)
        past, gen = out.past_key_values, []
        logits = out.logits[0, -1]
        for _ in range(steps):
            top = torch.topk(logits.float(), 3)
            nxt = int(top.indices[0]); gen.append(nxt)
            if not quiet: print(k, "step", len(gen), [(tok.id_to_token(int(i)), round(float(v), 3)) for v, i in zip(top.values, top.indices)])
            if nxt == eos: break
            o = m(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past, logits = o.past_key_values, o.logits[0, -1]
    print(k, "answer", inst["answer"], "engine", repr(inst["engine_output"]), "torch", repr(tok.decode(gen)), f"{time.time()-t0:.0f}s")
