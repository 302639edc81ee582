"""Runs llama.cpp's own tokenizer test (tests/test-tokenizer-0) on the gguf-pre fixtures: a check
against llama.cpp itself beside the tests against Hugging Face tokenizers (GgufPreTokenizerTest).
Not part of the build: it needs a llama.cpp checkout built with tests, e.g. at commit 34af94cd:

  cmake -S llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=ON \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_APP=OFF
  ninja -C build test-tokenizer-0
  python3 check_gguf_pre_with_llamacpp.py build/bin/test-tokenizer-0 /tmp/work

llama.cpp loads a vocabulary only from a file whose architecture keys are present, so each fixture is
copied with dummy `llama.*` sizes (the vocabulary keys unchanged). The texts are the fixture's
encodings.json (BOS removed: test-tokenizer-0 adds no special tokens) and random.json, as
test-tokenizer-0 reads them (`<name>.gguf.inp`, texts separated by "\\n__ggml_vocab_test__\\n";
`<name>.gguf.out`, one line of ids per text). Prints, per fixture, the texts whose ids differ (a text
with a line break shows up to it).
"""
import json
import os
import subprocess
import sys

import gguf

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "fixtures", "tokenizers", "gguf-pre")


def copy_with_sizes(src, dst):
    r = gguf.GGUFReader(src)
    f = r.fields

    def strs(key):
        return [bytes(f[key].parts[i]).decode("utf-8") for i in f[key].data]

    def ints(key):
        return [int(f[key].parts[i][0]) for i in f[key].data]

    w = gguf.GGUFWriter(dst, "llama")
    # dummy sizes: llama.cpp reads the architecture's hyperparameters even for a vocabulary-only load
    w.add_context_length(64)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(64)
    w.add_head_count(1)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(64)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(bytes(f["tokenizer.ggml.pre"].parts[-1]).decode())
    w.add_token_list(strs("tokenizer.ggml.tokens"))
    w.add_token_types(ints("tokenizer.ggml.token_type"))
    w.add_token_merges(strs("tokenizer.ggml.merges"))
    w.add_bos_token_id(int(f["tokenizer.ggml.bos_token_id"].parts[-1][0]))
    w.add_eos_token_id(int(f["tokenizer.ggml.eos_token_id"].parts[-1][0]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    for name in sorted(os.listdir(SRC)):
        gguf_path = os.path.join(work, name + ".gguf")
        copy_with_sizes(os.path.join(SRC, name, "vocab.gguf"), gguf_path)
        enc = json.load(open(os.path.join(SRC, name, "encodings.json")))
        rnd = json.load(open(os.path.join(SRC, name, "random.json")))
        cases = {}
        for c in enc["cases"]:
            cases.setdefault(c["text"], c["ids"][1:] if enc["add_bos"] and c["ids"] else c["ids"])
        for c in rnd["cases"]:
            cases.setdefault(c["text"], c["ids"])
        with open(gguf_path + ".inp", "w", encoding="utf-8", newline="") as fi, \
                open(gguf_path + ".out", "w", encoding="utf-8", newline="") as fo:
            for text, ids in cases.items():
                fi.write(text + "\n__ggml_vocab_test__\n")
                fo.write("".join(" %d" % i for i in ids) + "\n")
        run = subprocess.run([binary, gguf_path], capture_output=True, text=True, errors="replace")
        failed = [line.split("failed test:", 1)[1].strip() for line in run.stderr.splitlines() if "failed test:" in line]
        print("%-10s %d texts, %d differ from tokenizers' ids%s" % (name, len(cases), len(failed),
                                                                   "".join("\n    " + repr(t) for t in failed)))


if __name__ == "__main__":
    main()
