"""Makes the SentencePiece-style tokenizer.json fixtures under
models/src/test/resources/fixtures/tokenizers/ (shared/fixtures/hf/tokenizers has only byte-level BPE).

Real Llama 2 / Mistral tokenizer.json files come in two shapes, both made here from one BPE model
trained with Hugging Face `tokenizers` on a small English corpus (a limited alphabet, so accents,
CJK and emoji go through byte fallback):
- `sentencepiece-legacy`: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer,
  decoder Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)] (Llama 2 as published);
- `sentencepiece-metaspace`: pre-tokenizer Metaspace(prepend_scheme "first", split false) and the
  legacy decoder (Mistral's newer conversions, legacy = false);
- `sentencepiece-metaspace-split`: pre-tokenizer Metaspace(prepend_scheme "always", split true),
  decoder Sequence[ByteFallback, Metaspace] (exercises the Metaspace decoder, which drops every
  "▁" of the first token).
Vocabulary: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then the learned pieces; model
BPE with byte_fallback and fuse_unk; template "<s> $A". Each folder gets tokenizer.json and
encodings.json ({text, ids (add_special_tokens=True), decoded (skip_special_tokens=False)}).

Usage: python3 make_sentencepiece_tokenizers.py <texts.json> <out dir>
"""
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

texts = json.load(open(sys.argv[1])) + ["<s> already has a BOS", "two</s>eos inside", " leading", "trailing  ",
                                        "Ünïcödé ünd émojis 🙂🙃", "line\nbreaks\n\nand\ttabs", "▁literal marker"]
out_dir = sys.argv[2]
corpus = ["Once upon a time there was a little girl named Lily. She loved to play outside in the park.",
          "The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran away.",
          "Long context inference engines read every key and value of the cache for each new token.",
          "Tom and his dog went to the sea. They saw a big boat, and the boat had a red sail."] * 20

base = Tokenizer(models.BPE(unk_token="<unk>"))
base.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=40,
                              show_progress=False)
base.train_from_iterator(corpus, trainer)
learned = json.loads(base.to_str())["model"]
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    vocab["<0x%02X>" % b] = len(vocab)
for tok, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
    if tok not in vocab:
        vocab[tok] = len(vocab)
merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in learned["merges"]]


def make(variant):
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.add_special_tokens(["<unk>", "<s>", "</s>"])
    if variant == "sentencepiece-legacy":
        t.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        t.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                       decoders.Strip(" ", 1, 0)])
    elif variant == "sentencepiece-metaspace":
        t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        t.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                       decoders.Strip(" ", 1, 0)])
    else:
        t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        t.decoder = decoders.Sequence([decoders.ByteFallback(),
                                       decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return t


for variant in ["sentencepiece-legacy", "sentencepiece-metaspace", "sentencepiece-metaspace-split"]:
    t = make(variant)
    d = os.path.join(out_dir, variant)
    os.makedirs(d, exist_ok=True)
    t.save(os.path.join(d, "tokenizer.json"))
    cases = []
    for text in texts:
        ids = t.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": ids, "decoded": t.decode(ids, skip_special_tokens=False)})
    json.dump({"tokenizers": tokenizers.__version__, "made_by": "models/src/test/python/make_sentencepiece_tokenizers.py",
               "add_special_tokens": True, "cases": cases}, open(os.path.join(d, "encodings.json"), "w"), ensure_ascii=False,
              indent=1)
    print(variant, len(vocab), cases[0], cases[-3])
