"""Makes the fixtures of models/src/test/resources/fixtures/tokenizers/gguf-pre/: for each pre-tokenizer
that llama.cpp names in a GGUF file's `tokenizer.ggml.pre` (src/llama-vocab.cpp, commit 34af94cd), a
byte-level BPE `tokenizer.json` built with Hugging Face `tokenizers`, the same vocabulary as a
vocabulary-only GGUF file (`tokenizer.ggml.*` keys written with the `gguf` package's GGUFWriter), and
`encodings.json`: the ids `tokenizers` gives for a hostile corpus (digit runs, contractions, CJK,
emoji, whitespace runs, newlines, accents, combining marks, code, a user-defined token).

One vocabulary serves every fixture: trained with `tokenizers`' BpeTrainer on whole lines (no
regex split), so it holds merges that cross the boundaries each pre-tokenizer draws (digits with
spaces, letters with punctuation, words with newlines): a Java pre-tokenizer that cuts anywhere the
reference does not gives different ids. Two tokens are added without merges ("Ġquokka",
"ĠWombat"): only a tokenizer with `ignore_merges` (llama.cpp's llama3 and tekken types, Llama 3's
and Mistral Nemo's tokenizer.json) emits them whole.

The pre-tokenizer of each tokenizer.json is written as the model family's published tokenizer.json
has it (the regexes with `(?i:...)`, ByteLevel with or without its GPT-2 regex, Digits), not as
llama.cpp's adapted C++ regexes; `default` has no Hugging Face original, so its tokenizer.json is
llama.cpp's four default regexes as Split steps. The normalizers real files carry (Qwen2's NFC) are
left out: llama.cpp does not apply them either.

`random.json`: tokenizers' ids (no special tokens added) for 80 seeded random strings over letters
of both cases, combining marks, digits, CJK, emoji, Devanagari and every kind of whitespace.

`encodings.json`: {"pre_values": every tokenizer.ggml.pre name llama.cpp maps to this behaviour,
"add_special_tokens": true, "add_bos": whether the ids start with BOS (the post-processor adds it
where llama.cpp's default for the type does), "cases": [{text, ids, decoded}]}.

Usage: python3 make_gguf_pre_tokenizers.py <out dir>     (tokenizers 0.23.2, gguf 0.19.0)
"""
import json
import os
import random
import sys

import gguf
import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# The pre-tokenizer regexes as the models' tokenizer.json files write them.
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")
QWEN35 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
          r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
          r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
         r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT: four regexes, each splitting the pieces of the one before
DEFAULT = [r"[\p{P}\$\+<=>\^~\|]+", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
           r"\p{N}+", r"[0-9][0-9][0-9]"]


def split_then_bytes(*patterns):
    steps = [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False) for p in patterns]
    return pre_tokenizers.Sequence(steps + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def gpt2_bytelevel():
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


# fixture -> (pre-tokenizer, ignore_merges, BOS added, the tokenizer.ggml.pre names llama.cpp maps to it)
FIXTURES = {
    "default": (lambda: split_then_bytes(*DEFAULT), False, False, ["default"]),
    "gpt-2": (gpt2_bytelevel, False, False,
              ["gpt-2", "gpt2", "phi-2", "olmo", "mpt", "jais", "trillion", "granite-docling", "exaone4", "a.x-4.0",
               "mellum", "gigachat"]),
    "llama-bpe": (lambda: split_then_bytes(LLAMA3), True, True,
                  ["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"]),
    "dbrx": (lambda: split_then_bytes(LLAMA3), False, False, ["dbrx", "smaug-bpe"]),
    "qwen2": (lambda: split_then_bytes(QWEN2), False, False,
              ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"]),
    "qwen35": (lambda: split_then_bytes(QWEN35), False, False, ["qwen35"]),
    "smollm": (lambda: pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), gpt2_bytelevel()]),
               False, False, ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"]),
    "tekken": (lambda: split_then_bytes(TEKKEN), True, True, ["tekken"]),
    "gpt-4o": (lambda: split_then_bytes(GPT4O), False, False, ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"]),
}

TRAIN = [
    "Once upon a time there was a little girl named Lily. She loved to play outside in the park.",
    "The quick brown fox jumps over the lazy dog. I'm sure it's fine, you're right, we'll see, they'd know.",
    "In 2026, 1,234,567 people read 3.14159 pages at 12:30 (about 99.9%). Call 555-0123 or 0800 123 456.",
    "def square(x):\n    return x ** 2  # the square\n\nfor i in range(10):\n\tprint(i, square(i))\n",
    "if (a != b && c <= d) { x += 1; } else { y -= 2; } // done\r\n",
    "中文分词测试，你好世界。日本語のテキスト、カタカナとひらがな。한국어 텍스트 처리.",
    "Émojis 🙂🙃 👍🏽 and 👨‍👩‍👧 family; café naïve résumé Ünïcödé ÉCOLE élève.",
    "Привет, мир! Γειά σου κόσμε. مرحبا بالعالم. नमस्ते दुनिया.",
    "   leading spaces, trailing spaces   \n\n\nthree newlines, tabs\t\tand   runs    of     spaces\n",
    "HTTPServer XMLHttpRequest camelCaseWord snake_case_word CONSTANT_VALUE don't DON'T We'Ve",
    "<div class=\"x\">&amp;</div> $HOME/~user | grep ^a >> out.txt ... !!! ??? --- «quotes» — dash…",
]
TEXTS = [
    "Hello world",
    "  leading spaces",
    "trailing   ",
    "multiple     spaces between words",
    "tabs\tand\t\ttabs",
    "line\nbreaks\n\n\nthree",
    "\r\n windows \r\n line ends\r\n",
    " \n \n ",
    "a \n\n  b",
    "end with newline\n",
    "1234567890",
    "12 345 6789 0",
    "3.14159 and 2,718,281,828",
    "year 2026: 1+1=2, x1y22z333w4444",
    "99999999999999999999 and 100000",
    "I'm you're he's we've they'll I'd can't",
    "IT'S WE'RE THEY'LL I'D YOU'VE",
    "'s at the start and a trailing '",
    "it'\u017f (long s) O'NEIL'S \u0130'LL \u212a'S",
    "中文分词测试，你好世界。",
    "日本語のテキスト、カタカナ。한국어 텍스트",
    "emoji 🙂🙃 👍🏽 family 👨‍👩‍👧!",
    "Ünïcödé café naïve résumé",
    "decomposed e\u0301 cafe\u0301 n\u0303",
    "ÉCOLE élève ÀÉÎ aÉb éA",
    "Привет мир, Γειά σου, مرحبا, नमस्ते दुनिया",
    "def f(x):\n    return x**2  # square\n",
    "if (a != b && c <= d) { x += 1; }",
    "for i in range(10):\n\tprint(i)",
    "<div class=\"x\">&amp;</div> $HOME/~user|grep ^a",
    "Hello!!! ... ??? --- a...b",
    "«guillemets» — dash… 'quoted' \"double\"",
    "HTTPServer XMLHttpRequest camelCaseWord",
    "the quokka and the Wombat met a quokka",
    "call<tool_call>{\"x\": 1}</tool_call> <tool_call>",
    "a\u00a0b\u3000c\u2003d",
    "",
]
UNREACHABLE = ["Ġquokka", "ĠWombat"]  # byte-level spellings of " quokka", " Wombat"
SPECIALS = ["<|bos|>", "<|endoftext|>"]
USER_DEFINED = "<tool_call>"  # a non-special added token: always cut out of the text first (GGUF type USER_DEFINED)


def base_vocab():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    t.train_from_iterator([line for text in TRAIN for line in text.split("\n")] * 3, trainer)
    learned = json.loads(t.to_str())["model"]
    vocab = dict(learned["vocab"])
    for tok in UNREACHABLE + [USER_DEFINED]:
        assert tok not in vocab, tok
        vocab[tok] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in learned["merges"]]
    return vocab, merges


def make(vocab, merges, pre, ignore_merges, add_bos):
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    t.add_special_tokens(SPECIALS)
    t.add_tokens([tokenizers.AddedToken(USER_DEFINED, special=False, normalized=False)])
    t.pre_tokenizer = pre()
    t.decoder = decoders.ByteLevel()
    if add_bos:
        t.post_processor = processors.TemplateProcessing(single="<|bos|> $A", special_tokens=[("<|bos|>", vocab["<|bos|>"])])
    return t


def write_gguf(path, vocab, merges, pre_name):
    w = gguf.GGUFWriter(path, "llama")
    tokens = [None] * len(vocab)
    for tok, i in vocab.items():
        tokens[i] = tok
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre_name)
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if tok in SPECIALS else gguf.TokenType.USER_DEFINED if tok == USER_DEFINED
                       else gguf.TokenType.NORMAL for tok in tokens])
    w.add_token_merges([a + " " + b for a, b in merges])
    w.add_bos_token_id(vocab["<|bos|>"])
    w.add_eos_token_id(vocab["<|endoftext|>"])
    # no tokenizer.ggml.add_bos_token: the reader must take llama.cpp's default for the pre type
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# code point ranges of the random texts: ASCII, digits, Latin-1 and Latin Extended-A letters (capitals
# and small), combining marks, CJK, emoji, Devanagari, ASCII control whitespace, Unicode spaces
RANDOM_RANGES = [(0x20, 0x7E), (0x30, 0x39), (0xC0, 0x17F), (0x300, 0x36F), (0x4E00, 0x4E80), (0x1F600, 0x1F64F),
                 (0x900, 0x97F), (0x09, 0x0D), (0x2000, 0x200A), (0x3000, 0x3000)]


def random_texts(n, seed=1234):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append("".join(chr(rng.randint(*rng.choice(RANDOM_RANGES))) for _ in range(rng.randint(0, 48))))
    return out


def main():
    out_dir = sys.argv[1]
    vocab, merges = base_vocab()
    randoms = random_texts(80)
    for name, (pre, ignore_merges, add_bos, pre_values) in FIXTURES.items():
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        t = make(vocab, merges, pre, ignore_merges, add_bos)
        t.save(os.path.join(d, "tokenizer.json"), pretty=False)
        write_gguf(os.path.join(d, "vocab.gguf"), vocab, merges, pre_values[0])
        cases = []
        for text in TEXTS:
            ids = t.encode(text, add_special_tokens=True).ids
            cases.append({"text": text, "ids": ids, "decoded": t.decode(ids, skip_special_tokens=False)})
        with open(os.path.join(d, "random.json"), "w") as f:
            json.dump({"made_by": "models/src/test/python/make_gguf_pre_tokenizers.py", "add_special_tokens": False,
                       "cases": [{"text": text, "ids": t.encode(text, add_special_tokens=False).ids} for text in randoms]},
                      f, ensure_ascii=False)
        with open(os.path.join(d, "encodings.json"), "w") as f:
            json.dump({"tokenizers": tokenizers.__version__, "made_by": "models/src/test/python/make_gguf_pre_tokenizers.py",
                       "pre_values": pre_values, "ignore_merges": ignore_merges, "add_bos": add_bos,
                       "add_special_tokens": True, "cases": cases}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
