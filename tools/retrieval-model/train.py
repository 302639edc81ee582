#!/usr/bin/env python3
"""A small Llama (GQA, RoPE) that really uses 16K tokens of context: synthetic RULER-style data,
a byte-level BPE tokenizer, training, evaluation and Hugging Face export, all from one seed.

Stages (``python3 train.py STAGE ...``; ``all`` runs prepare, train and samples in turn):

  prepare   the made-up filler language (word list + Markov chain), the key words and the
            tokenizer: --model-dir/tasks.json (the generator's spec, for other implementations) and
            --model-dir/hf/{tokenizer.json, tokenizer_config.json (chat template),
            special_tokens_map.json, generation_config.json}. CPU, seconds; deterministic from --seed.
  train     trains on a GPU (or a CPU with --quick), evaluates every task x length with the full
            cache (teacher-forced exact match, which equals greedy exact match) and writes
            config.json, model.safetensors (BF16) and eval.json into --out (default
            --model-dir/hf). Reads --model-dir/tasks.json and --model-dir/hf/tokenizer.json.
  samples   (needs transformers) writes --model-dir/eval-sample.json (seeded small instances that
            the model answers correctly with greedy decoding in transformers) and
            --model-dir/reference-logits.json (transformers' float32 logits for one short prompt).
  finish    after a device run whose files are in --from-dir: copies config.json and
            model.safetensors into --model-dir/hf, eval.json into --model-dir, train-log.txt next
            to this script, then runs samples and to_gguf.py (--model-dir/retrieval-16k.gguf).

Seed streams (numpy SeedSequence entropy [seed, stream, ...]); training never touches 10+:
  1 language (filler words, Markov chain, key words)   2 tokenizer corpus
  3 training filler pool                                4 training batches ([seed, 4, step]; the k-th
                                                          continued run: [seed, 4, k, step])
  5 torch init (torch.manual_seed(seed * 1000 + 5))
  10 evaluation filler pool   11 evaluation instances ([seed, 11, task, length])
  12 eval-sample.json instances   13 reference-logits prompt
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>"]
BOS, EOS, USER, ASSISTANT = 0, 1, 2, 3
# transformers' apply_chat_template semantics (trim_blocks/lstrip_blocks); the newlines are real.
CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n"
                 "{{ message['content'] }}<|endoftext|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
TASKS = ["niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery", "vt"]
# training only (--mqar-weight): multi-query rows that ask many of n needles, n as high as the length allows,
# in a random order (MQAR-style); never evaluated, and not part of tasks.json
TRAIN_ONLY_TASKS = ["mqar", "kvrecall"]
# training only (--kv-weight): needles "{pair}." and an answer of the asked pairs, each restating its key before its
# value, to the question "Recall k1 k2 ..."; with the pair " {key}{value}" (--kv-gaps 1) finding a value is one-hop
# induction (the current token is the key; the needle's first value token has the key as its previous token): a
# stepping stone towards matching keys in the evaluated formats, where the key is three tokens before the value
KV_QUESTION = "Recall{keys}."
# --kv-gaps: the kvrecall pair formats by the number of tokens from the key to the value's first token (the key's
# token is at -gap from it): 1 `Ġkey 12 ...`, 2 `Ġkey : 12 ...`, 3 `Ġkey Ġis Ġ 12 ...` (the evaluated needle's
# own tail); the needles and the answer of one row share one format
KV_PAIRS = {1: " {key}{value}", 2: " {key}:{value}", 3: " {key} is {value}"}
# --kv-reverse: kvrecall rows asked the other way round, the needle's value given and its key wanted: the needles are
# " {key} is {value}.", the question "Keys of {v1} {v2} ...." and the answer " {v1} {k1} {v2} {k2} ...", so after
# restating a value the model writes the key three tokens before that value in the needle: the reverse lookup a vt
# hop is (" VAR {name} = VAR {source}.": the source known, the name before it wanted)
KV_REVERSE_QUESTION = "Keys of{values}."
# training only (--restate): multi-key, multi-query and mqar rows whose question asks to quote the needles, and
# whose answer is each asked needle sentence in full, so the asked key sits right before "is" and the value in
# the answer as it does in the needle; a different question, so the evaluated question keeps its answer form
RESTATE_TEMPLATES = {"question": "Quote the special magic number for {key}.",
                     "question_multi": "Quote the special magic numbers for {keys}.",
                     "answer": "The special magic number for {key} is {value}.", "join": " "}
EVAL_LENGTHS = [256, 512, 1024, 2048, 4096, 8192, 16384]

TEMPLATES = {
    "user": "Text:{document}\n\nQuestion: {question}",
    "document": "the concatenation of the filler sentences and the needles, each piece starting with one space",
    "sentence": " {w1} {w2} ... {wn}.",
    "niah_needle": " The special magic number for {key} is {value}.",
    "niah_question": "What is the special magic number for {key}?",
    "niah_multivalue_question": "What are all the special magic numbers for {key}?",
    "niah_multiquery_question": "What are the special magic numbers for {keys}?",
    "keys_join": "k1 | k1 and k2 | k1, k2 and k3 | k1, k2, k3 and k4",
    "vt_value": " VAR {name} = {value}.",
    "vt_copy": " VAR {name} = VAR {source}.",
    "vt_question": "Which variables are assigned the value {value}?",
    "answer_number": "{value}",
    "answer_numbers": "{v1}, {v2}, ...",
    "answer_vt": "VAR {n1}, VAR {n2}, ...",
}


def rng_for(*entropy):
    return np.random.default_rng(list(entropy))


# --------------------------------------------------------------------------------------------
# The filler language
# --------------------------------------------------------------------------------------------
ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
          "br", "cr", "dr", "fl", "gr", "kl", "pl", "pr", "sl", "st", "tr", "sh", "ch", "th", ""]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "ie"]
CODAS = ["n", "r", "l", "s", "m", "k", "t", "nd", "st", "rn"]
# words that occur in the templates are never filler or key words
RESERVED = {"the", "special", "magic", "number", "numbers", "for", "is", "what", "are", "all", "and",
            "which", "variables", "assigned", "value", "var", "text", "question"}


def make_word(rng, nsyl):
    w = ""
    for _ in range(nsyl):
        w += ONSETS[rng.integers(len(ONSETS))] + VOWELS[rng.integers(len(VOWELS))]
        if rng.random() < 0.3:
            w += CODAS[rng.integers(len(CODAS))]
    return w


def largest_remainder(p, total):
    """Integer weights summing exactly to total, proportional to p."""
    x = np.asarray(p, dtype=np.float64) / np.sum(p) * total
    w = np.floor(x).astype(np.int64)
    w = np.maximum(w, 0)
    short = total - int(w.sum())
    order = np.argsort(-(x - w), kind="stable")
    w[order[:short]] += 1
    w[w == 0] += 1  # every listed successor stays possible
    while w.sum() > total:  # take the surplus from the largest
        w[np.argmax(w)] -= 1
    return w


def make_language(seed, n_filler=1000, n_keys=900, succ=24, weight_total=1000):
    rng = rng_for(seed, 1)
    words, seen = [], set(RESERVED)
    while len(words) < n_filler:
        w = make_word(rng, int(rng.choice([1, 2, 2, 3], 1)[0]))
        if len(w) >= 2 and w not in seen:
            seen.add(w)
            words.append(w)
    keys = []
    while len(keys) < n_keys:
        w = make_word(rng, int(rng.choice([2, 3], 1)[0]))
        if len(w) >= 4 and w not in seen:
            seen.add(w)
            keys.append(w)
    V = len(words)
    end = V  # state V is the sentence end "." and the start state
    zipf = 1.0 / (np.arange(V) + 2.0)
    zipf /= zipf.sum()
    nxt, wts = [], []
    for s in range(V + 1):
        cand = rng.choice(V, size=succ + (1 if s == end else 0), replace=False, p=zipf)
        g = rng.gamma(1.0, size=len(cand))  # successors drawn by Zipf rank, weighted Dirichlet(1)
        g /= g.sum()
        if s == end:
            p, n = g, list(map(int, cand))
        else:
            p_end = rng.uniform(0.04, 0.14)
            p = np.concatenate([g * (1 - p_end), [p_end]])
            n = list(map(int, cand)) + [end]
        nxt.append(n)
        wts.append([int(x) for x in largest_remainder(p, weight_total)])
    return {"words": words, "key_candidates": keys, "next": nxt, "weight": wts, "weight_total": weight_total}


def chain_words(lang, n_words, rng, parallel=2048):
    """States of the Markov chain, many chains side by side, each cut after its last sentence end.
    Returns an int32 array of state ids (word ids, or len(words) for '.'), starting at a sentence."""
    nxt = np.asarray(lang["next"], dtype=np.int32)
    cum = np.cumsum(np.asarray(lang["weight"], dtype=np.int64), axis=1)
    end = len(lang["words"])
    steps = n_words // parallel + 2
    state = np.full(parallel, end, dtype=np.int32)
    out = np.empty((steps, parallel), dtype=np.int32)
    for t in range(steps):
        r = rng.integers(0, lang["weight_total"], size=parallel)
        idx = (cum[state] <= r[:, None]).sum(axis=1)
        state = nxt[state, idx]
        out[t] = state
    parts = []
    for c in range(parallel):
        col = out[:, c]
        ends = np.flatnonzero(col == end)
        if len(ends):
            parts.append(col[: ends[-1] + 1])
    return np.concatenate(parts)


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------
def train_tokenizer(lang, seed, vocab_size):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    rng = rng_for(seed, 2)
    words = lang["words"]
    states = chain_words(lang, 400_000, rng)
    sentences, cur = [], []
    for s in states:
        if s == len(words):
            sentences.append(" " + " ".join(cur) + ".")
            cur = []
        else:
            cur.append(words[s])
    corpus = []
    for i in range(0, len(sentences), 40):
        corpus.append("Text:" + "".join(sentences[i:i + 40]))
    keys = lang["key_candidates"]
    fixed = [TEMPLATES[k] for k in ("niah_question", "niah_multivalue_question", "niah_multiquery_question",
                                     "vt_question")]
    for rep in range(45):
        order = rng.permutation(len(keys))
        for j in range(0, len(order), 4):
            k = [keys[i] for i in order[j:j + 4]] + [keys[order[0]]] * 4
            corpus.append("".join([
                TEMPLATES["niah_needle"].format(key=k[0], value=""),
                TEMPLATES["vt_copy"].format(name=k[1], source=k[2]),
                TEMPLATES["vt_value"].format(name=k[3], value=""),
                "\n\nQuestion: " + fixed[j % 4].format(key=k[1], keys=k[2] + ", " + k[3] + " and " + k[0], value=""),
                "VAR " + k[0] + ", VAR " + k[2],
            ]))
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 100, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(corpus, trainer)
    j = json.loads(tk.to_str())
    # No digit ever reached the BPE corpus, so digits have no merges yet. Add the 100 two-digit
    # tokens and their merges last: a number then splits into one- and two-digit pieces, never
    # joined with the space before it, the same wherever it stands.
    vocab = j["model"]["vocab"]
    merges = j["model"]["merges"]
    as_list = len(merges) == 0 or isinstance(merges[0], list)
    nid = len(vocab)
    for a in "0123456789":
        for b in "0123456789":
            vocab[a + b] = nid
            nid += 1
            merges.append([a, b] if as_list else a + " " + b)
    assert nid == vocab_size, (nid, vocab_size)
    j["post_processor"] = None
    tok = Tokenizer.from_str(json.dumps(j))
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, s
    return tok


def write_tokenizer_files(tok, model_dir, max_len):
    tok.save(os.path.join(model_dir, "tokenizer.json"))
    added = {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                      "special": True} for i, s in enumerate(SPECIALS)}
    cfg = {"add_bos_token": False, "add_eos_token": False, "added_tokens_decoder": added,
           "bos_token": SPECIALS[BOS], "eos_token": SPECIALS[EOS], "pad_token": SPECIALS[EOS],
           "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False,
           "model_max_length": max_len, "tokenizer_class": "PreTrainedTokenizerFast"}
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(model_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": SPECIALS[BOS], "eos_token": SPECIALS[EOS], "pad_token": SPECIALS[EOS]}, f, indent=2)
        f.write("\n")
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": EOS, "do_sample": False}, f, indent=2)
        f.write("\n")


def prepare(args):
    from tokenizers import Tokenizer  # noqa: F401
    hf_dir = os.path.join(args.model_dir, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    lang = make_language(args.seed)
    tok = train_tokenizer(lang, args.seed, args.vocab)
    # keep the key words that are one token with their leading space
    keys = [k for k in lang["key_candidates"] if len(tok.encode(" " + k).ids) == 1]
    single = [i for i, w in enumerate(lang["words"]) if len(tok.encode(" " + w).ids) == 1]
    print(f"tokenizer: {tok.get_vocab_size()} tokens; {len(keys)} of {len(lang['key_candidates'])} key words "
          f"and {len(single)} of {len(lang['words'])} filler words are single tokens")
    if len(keys) < 300:
        raise SystemExit("too few single-token key words")
    keys = keys[:512]
    write_tokenizer_files(tok, hf_dir, args.max_len)
    spec = {
        "version": 1,
        "seed": args.seed,
        "about": "Spec of the synthetic RULER-style tasks of tools/retrieval-model (README.md has the algorithm).",
        "special_tokens": SPECIALS,
        "chat_template": CHAT_TEMPLATE,
        "tasks": TASKS,
        "lengths": EVAL_LENGTHS,
        "length_definition": "tokens of the whole rendered conversation: BOS, user turn, assistant turn with the "
                             "answer and its closing <|endoftext|>; the prompt (with the generation prompt) is "
                             "length minus the answer's tokens minus 1",
        "templates": TEMPLATES,
        "numbers": {"niah_digits": 7, "vt_digits": 5, "first_digit_nonzero": True},
        "params": {
            "needle_tokens_estimate": 14,
            "max_needles": "clamp(floor(0.3 * length / 14), 2, 16)",
            "niah_multikey": "n = uniform integer in [2, max_needles], one of them asked",
            "niah_multivalue": "4 needles with the same key, answer lists the values in document order",
            "niah_multiquery": "q = uniform integer in [2, 4] keys asked, n = uniform in [q, max(q, max_needles)] "
                               "needles, answer lists the asked values in question order",
            "vt": "two chains with distinct values, each of 1 + h names, h = uniform integer in [1, 4]; the asked "
                  "chain's statements at sorted depths (the first at the instance depth, the rest uniform in "
                  "[depth, 1]); the distractor chain's at sorted uniform depths; answer lists the asked chain's "
                  "names in chain order",
        },
        "filler": {
            "states": lang["words"] + ["."],
            "end_state": len(lang["words"]),
            "start_state": len(lang["words"]),
            "weight_total": lang["weight_total"],
            "next": lang["next"],
            "weight": lang["weight"],
            "sampling": "from state s draw r uniform in [0, weight_total); take next[s][i] for the first i with "
                        "weight[s][0] + ... + weight[s][i] > r; '.' ends a sentence and is the start state",
            "single_token_words": single,
        },
        "keys": keys,
    }
    with open(os.path.join(args.model_dir, "tasks.json"), "w") as f:
        json.dump(spec, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {hf_dir}: tokenizer.json, tokenizer_config.json, special_tokens_map.json, "
          f"generation_config.json; {args.model_dir}/tasks.json")


# --------------------------------------------------------------------------------------------
# Task instances in token space
# --------------------------------------------------------------------------------------------
class Pool:
    """A long stretch of filler: states, and their tokens, split into sentences."""

    def __init__(self, spec, word_tokens, n_words, rng):
        lang = {"words": spec["filler"]["states"][:-1], "next": spec["filler"]["next"],
                "weight": spec["filler"]["weight"], "weight_total": spec["filler"]["weight_total"]}
        end = spec["filler"]["end_state"]
        self.states = chain_words(lang, n_words, rng)
        lens = np.array([len(t) for t in word_tokens], dtype=np.int64)
        flat = np.concatenate([np.asarray(t, dtype=np.int32) for t in word_tokens])
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        n = lens[self.states]
        self.tok_off = np.concatenate([[0], np.cumsum(n)])
        # expand each state to its tokens
        rep = np.repeat(np.arange(len(self.states)), n)
        within = np.arange(self.tok_off[-1]) - self.tok_off[rep]
        self.tokens = flat[starts[self.states[rep]] + within]
        ends = np.flatnonzero(self.states == end)
        self.sent_first = np.concatenate([[0], ends[:-1] + 1])  # first state of each sentence
        self.sent_tok = self.tok_off[self.sent_first]  # token offset of each sentence
        self.sent_tok_end = self.tok_off[ends + 1]
        self.n_sent = len(ends)
        self.sent_end_state = ends


class NoRoom(Exception):
    pass


class Gen:
    def __init__(self, spec, tok, pool_words, pool_seed):
        self.spec = spec
        self.tok = tok
        self.words = spec["filler"]["states"]  # last is "."
        self.keys = spec["keys"]
        self.key_tok = [self.enc1(" " + k) for k in self.keys]
        wt = [self.enc(" " + w) for w in self.words[:-1]] + [self.enc(".")]
        self.word_tokens = wt
        self.single = np.asarray(spec["filler"]["single_token_words"], dtype=np.int64)
        self.pool = Pool(spec, wt, pool_words, rng_for(*pool_seed))
        self.cache = {}
        self.vt_one_chain = 0.0  # training only: the share of vt instances without the distractor chain
        self.vt_hard = 0.0  # training only (--vt-hard): the share of vt instances whose distractor chain comes later
        self.vt_early = 0.0  # training only (--vt-early): the share of vt instances drawn at depth < 0.25
        self.multikey_min = 0  # training only (--multikey-min): the least number of needles of a multi-key row
        self.restate = 0.0  # training only (--restate): the share of multi-key/multi-query/mqar rows that quote
        self.kv_gaps = [1]  # training only (--kv-gaps): the kvrecall pair formats, one drawn per row
        self.kv_reverse = 0.0  # training only (--kv-reverse): the share of kvrecall rows asked by value
        self.key_ids = np.unique(np.asarray(self.key_tok, dtype=np.int64))

    def key_copy_mask(self, ids, prompt_len):
        """--key-weight: a bool array over the L - 1 next-token targets of one row, True where the target
        ids[j + 1] is a key word's token in the prompt that already occurred earlier in the row, i.e. a key
        the model can copy: the key in the question (one of the needles' keys), the source name of a vt
        copy statement, the repeated key of multi-value needles. A key's first occurrence (random) is not."""
        m = np.zeros(len(ids) - 1, dtype=bool)
        pos = np.flatnonzero(np.isin(ids[:prompt_len], self.key_ids))
        if len(pos) > 1:
            _, first = np.unique(ids[pos], return_index=True)
            rep = np.ones(len(pos), dtype=bool)
            rep[first] = False
            m[pos[rep] - 1] = True
        return m

    def enc(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids

    def enc1(self, text):
        ids = self.enc(text)
        assert len(ids) == 1, (text, ids)
        return ids[0]

    def cenc(self, text):
        r = self.cache.get(text)
        if r is None:
            r = self.cache[text] = self.enc(text)
        return r

    @staticmethod
    def number(rng, digits):
        return str(int(rng.integers(10 ** (digits - 1), 10 ** digits)))

    def numbers(self, rng, digits, n):
        out = set()
        while len(out) < n:
            out.add(self.number(rng, digits))
        return [str(x) for x in rng.permutation(sorted(out))]

    def needle(self, text):
        return self.enc(text)

    # -- filler -------------------------------------------------------------------------------
    def filler(self, rng, budget):
        """Sentences of exactly `budget` tokens: (list of token arrays, list of texts or None)."""
        p = self.pool
        if budget <= 0:
            if budget < 0:
                raise NoRoom()
            return [], []
        if budget == 1:
            raise NoRoom()
        s = int(rng.integers(0, p.n_sent - 3000))
        base = p.sent_tok[s]
        e = int(np.searchsorted(p.sent_tok_end, base + budget, side="right"))  # sentences s..e-1 fit
        if e > p.n_sent - 1:
            raise ValueError("pool too small")
        used = p.sent_tok_end[e - 1] - base if e > s else 0
        r = budget - used
        if r == 1:  # a one-token remainder: give back the last whole sentence
            e -= 1
            used = p.sent_tok_end[e - 1] - base if e > s else 0
            r = budget - used
        sents = [p.tokens[p.sent_tok[i]:p.sent_tok_end[i]] for i in range(s, e)]
        states = [p.states[p.sent_first[i]:p.sent_end_state[i] + 1] for i in range(s, e)]
        if r > 0:
            # a partial sentence: the next sentence's first words while they fit, single-token
            # words to fill the rest, then "."
            nxt = p.states[p.sent_first[e]:p.sent_end_state[e]]
            part, toks = [], []
            for w in nxt:
                t = self.word_tokens[w]
                if len(toks) + len(t) + 1 > r:
                    break
                part.append(int(w))
                toks.extend(t)
            while len(toks) + 1 < r:
                w = int(self.single[rng.integers(len(self.single))])
                part.append(w)
                toks.extend(self.word_tokens[w])
            part.append(len(self.words) - 1)
            toks.extend(self.word_tokens[-1])
            assert len(toks) == r
            sents.append(np.asarray(toks, dtype=np.int32))
            states.append(np.asarray(part))
        return sents, states

    def sentence_text(self, st):
        ws = [self.words[int(i)] for i in st[:-1]]
        return " " + " ".join(ws) + "."

    # -- one instance -------------------------------------------------------------------------
    def instance(self, task, length, rng, depth=None, text=False):
        for _ in range(20):
            try:
                return self._instance(task, length, rng, depth, text)
            except NoRoom:
                pass
        raise ValueError(f"cannot build {task} at length {length}")

    def _instance(self, task, length, rng, depth=None, text=False):
        """Token ids of exactly `length` tokens (prompt + answer + EOS), the prompt length, and
        (text=True) the user message, the answer and the depth."""
        if depth is None:
            depth = float(rng.random())
            # --vt-early: the chain starts in the first quarter, so its statements span at least 3/4 of the row
            # (run 15's vt misses at 16K). The extra draw happens only with the option on: earlier streams stay.
            if task == "vt" and self.vt_early > 0 and rng.random() < self.vt_early:
                depth *= 0.25
        max_needles = int(np.clip((0.3 * length) // 14, 2, 16))
        keys = self.keys
        needles = []  # (depth, text)
        if task == "kvrecall":
            # training only: n needles " {key}{value}." (as many as fit in about half the length; ~14 tokens per
            # asked key for needle, question and answer), q in [ceil(n/2), n] asked in a random order; the answer
            # restates each asked key before its value
            n = int(np.clip((0.5 * length) // 14, 2, 16))
            q = int(rng.integers((n + 1) // 2, n + 1))
            ks = [keys[i] for i in rng.choice(len(keys), size=n, replace=False)]
            vs = self.numbers(rng, 7, n)
            asked = [int(i) for i in rng.choice(n, size=q, replace=False)]
            ds = rng.random(n)
            ds[asked[0]] = depth
            # one pair format per row (--kv-gaps; a draw only when there is a choice, so run 7's rows are unchanged)
            pair = KV_PAIRS[self.kv_gaps[int(rng.integers(len(self.kv_gaps)))] if len(self.kv_gaps) > 1
                            else self.kv_gaps[0]]
            # --kv-reverse: a draw only when the option is on, so the earlier runs' rows are unchanged
            reverse = self.kv_reverse > 0 and rng.random() < self.kv_reverse
            if reverse:
                pair = KV_PAIRS[3]
            for i in range(n):
                needles.append((float(ds[i]), pair.format(key=ks[i], value=vs[i]) + "."))
            if reverse:
                question = KV_REVERSE_QUESTION.format(values="".join(" " + vs[i] for i in asked))
                answer = "".join(f" {vs[i]} {ks[i]}" for i in asked)
            else:
                question = KV_QUESTION.format(keys="".join(" " + ks[i] for i in asked))
                answer = "".join(pair.format(key=ks[i], value=vs[i]) for i in asked)
        elif task in ("niah_single", "niah_multikey", "niah_multiquery", "mqar"):
            if task == "mqar":
                # training only: n needles, as many as fit in about half the length (each asked key costs ~21
                # tokens: needle, question, answer), at most 16; q in [ceil(n/2), n] of them asked in a random
                # order, so every asked value is a matching decision and the document order pays nothing
                n = int(np.clip((0.5 * length) // 21, 2, 16))
                q = int(rng.integers((n + 1) // 2, n + 1))
            elif task == "niah_single":
                n, q = 1, 1
            elif task == "niah_multikey":
                if self.multikey_min > 0:  # training only: n in [min(multikey_min, max_needles), max_needles]
                    n, q = int(rng.integers(min(self.multikey_min, max_needles), max_needles + 1)), 1
                else:
                    n, q = int(rng.integers(2, max_needles + 1)), 1
            else:
                q = int(rng.integers(2, 5))
                n = int(rng.integers(q, max(q, max_needles) + 1))
            ks = [keys[i] for i in rng.choice(len(keys), size=n, replace=False)]
            vs = self.numbers(rng, 7, n)
            asked = [int(i) for i in rng.choice(n, size=q, replace=False)]
            ds = rng.random(n)
            ds[asked[0]] = depth
            for i in range(n):
                needles.append((float(ds[i]), TEMPLATES["niah_needle"].format(key=ks[i], value=vs[i])))
            if task != "niah_single" and self.restate > 0 and rng.random() < self.restate:
                # training only (--restate): quote the asked needles in full
                names = [ks[i] for i in asked]
                joined = names[0] if q == 1 else ", ".join(names[:-1]) + " and " + names[-1]
                question = RESTATE_TEMPLATES["question" if q == 1 else "question_multi"].format(
                    key=joined, keys=joined)
                answer = RESTATE_TEMPLATES["join"].join(
                    RESTATE_TEMPLATES["answer"].format(key=ks[i], value=vs[i]) for i in asked)
            elif q == 1:
                question = TEMPLATES["niah_question"].format(key=ks[asked[0]])
                answer = vs[asked[0]]
            else:
                names = [ks[i] for i in asked]
                joined = ", ".join(names[:-1]) + " and " + names[-1]
                question = TEMPLATES["niah_multiquery_question"].format(keys=joined)
                answer = ", ".join(vs[i] for i in asked)
        elif task == "niah_multivalue":
            key = keys[int(rng.integers(len(keys)))]
            vs = self.numbers(rng, 7, 4)
            ds = rng.random(4)
            ds[int(rng.integers(4))] = depth
            order = np.argsort(ds, kind="stable")
            for i in range(4):
                needles.append((float(ds[i]), TEMPLATES["niah_needle"].format(key=key, value=vs[i])))
            question = TEMPLATES["niah_multivalue_question"].format(key=key)
            answer = ", ".join(vs[i] for i in order)
        elif task == "vt":
            h1, h2 = int(rng.integers(1, 5)), int(rng.integers(1, 5))
            names = [keys[i] for i in rng.choice(len(keys), size=h1 + h2 + 2, replace=False)]
            a, b = names[:h1 + 1], names[h1 + 1:]
            va, vb = self.numbers(rng, 5, 2)
            da = np.concatenate([[depth], np.sort(depth + (1 - depth) * rng.random(h1))])
            db = np.sort(rng.random(h2 + 1))
            # training only (--vt-one-chain): some instances leave the distractor chain out, so the answer is
            # every name in document order: copying name tokens without choosing a chain first
            one = self.vt_one_chain > 0 and rng.random() < self.vt_one_chain
            # training only (--vt-hard): the distractor chain's statements all after the asked chain's first one, so
            # its value statement is the later of the two and picking the later chain (what probe_vt.py finds the
            # models do) is always wrong; only matching the asked value finds the chain. A draw only when the option
            # is on, and a monotone map of the same draws, so the earlier runs' rows are unchanged
            if self.vt_hard > 0 and rng.random() < self.vt_hard:
                db = depth + (1 - depth) * db
            for chain, v, ds in ((a, va, da),) if one else ((a, va, da), (b, vb, db)):
                for i, nm in enumerate(chain):
                    t = (TEMPLATES["vt_value"].format(name=nm, value=v) if i == 0
                         else TEMPLATES["vt_copy"].format(name=nm, source=chain[i - 1]))
                    needles.append((float(ds[i]), t))
            question = TEMPLATES["vt_question"].format(value=va)
            answer = ", ".join("VAR " + nm for nm in a)
        else:
            raise ValueError(task)
        order = sorted(range(len(needles)), key=lambda i: needles[i][0])  # stable: ties keep listing order
        needles = [needles[i] for i in order]
        needle_ids = [self.needle(t) for _, t in needles]
        head = [BOS, USER] + self.cenc("\n") + self.cenc("Text:")
        tail = self.enc("\n\nQuestion: " + question) + [EOS, ASSISTANT] + self.cenc("\n")
        ans = self.enc(answer) + [EOS]
        budget = length - len(head) - len(tail) - len(ans) - sum(len(x) for x in needle_ids)
        sents, states = self.filler(rng, budget)
        ns = len(sents)
        pos = [int(round(d * ns)) for d, _ in needles]
        pieces, texts = [np.asarray(head, dtype=np.int32)], []
        j = 0
        for i in range(ns + 1):
            while j < len(needles) and pos[j] == i:
                pieces.append(np.asarray(needle_ids[j], dtype=np.int32))
                if text:
                    texts.append(needles[j][1])
                j += 1
            if i < ns:
                pieces.append(sents[i])
                if text:
                    texts.append(self.sentence_text(states[i]))
        pieces.append(np.asarray(tail, dtype=np.int32))
        prompt_len = sum(len(x) for x in pieces)
        pieces.append(np.asarray(ans, dtype=np.int32))
        ids = np.concatenate(pieces)
        assert len(ids) == length, (len(ids), length, task)
        out = {"ids": ids, "prompt_len": prompt_len}
        if text:
            out["user"] = TEMPLATES["user"].format(document="".join(texts), question=question)
            out["answer"] = answer
            out["depth"] = depth
        return out


def render(user, answer=None):
    """The chat template, rendered by hand (tested against transformers' apply_chat_template)."""
    s = SPECIALS[BOS] + "<|user|>\n" + user + SPECIALS[EOS]
    if answer is None:
        return s + "<|assistant|>\n"
    return s + "<|assistant|>\n" + answer + SPECIALS[EOS]


def load_spec(model_dir):
    from tokenizers import Tokenizer
    with open(os.path.join(model_dir, "tasks.json")) as f:
        spec = json.load(f)
    tok = Tokenizer.from_file(os.path.join(model_dir, "hf", "tokenizer.json"))
    return spec, tok


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
def build_model(cfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class RMSNorm(nn.Module):
        def __init__(self, d, eps):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))
            self.eps = eps

        def forward(self, x):
            dt = x.dtype
            x = x.float()
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
            return self.weight * x.to(dt)

    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            d, nh, nkv, hd, ff = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], \
                cfg["head_dim"], cfg["intermediate_size"]
            self.nh, self.nkv, self.hd = nh, nkv, hd
            self.input_layernorm = RMSNorm(d, cfg["rms_norm_eps"])
            self.q_proj = nn.Linear(d, nh * hd, bias=False)
            self.k_proj = nn.Linear(d, nkv * hd, bias=False)
            self.v_proj = nn.Linear(d, nkv * hd, bias=False)
            self.o_proj = nn.Linear(nh * hd, d, bias=False)
            self.post_attention_layernorm = RMSNorm(d, cfg["rms_norm_eps"])
            self.gate_proj = nn.Linear(d, ff, bias=False)
            self.up_proj = nn.Linear(d, ff, bias=False)
            self.down_proj = nn.Linear(ff, d, bias=False)

        def forward(self, x, cos, sin):
            B, L, _ = x.shape
            h = self.input_layernorm(x)
            q = self.q_proj(h).view(B, L, self.nh, self.hd).transpose(1, 2)
            k = self.k_proj(h).view(B, L, self.nkv, self.hd).transpose(1, 2)
            v = self.v_proj(h).view(B, L, self.nkv, self.hd).transpose(1, 2)
            q = (q * cos + rotate_half(q) * sin).to(v.dtype)
            k = (k * cos + rotate_half(k) * sin).to(v.dtype)
            rep = self.nh // self.nkv
            if rep > 1:
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o_proj(a.transpose(1, 2).reshape(B, L, self.nh * self.hd))
            h = self.post_attention_layernorm(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
            self.layers = nn.ModuleList([Layer() for _ in range(cfg["num_hidden_layers"])])
            self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
            hd = cfg["head_dim"]
            inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
            self.register_buffer("inv_freq", inv, persistent=False)
            self.compiled_layers = None

        def rope(self, L, device):
            t = torch.arange(L, device=device, dtype=torch.float32)
            f = torch.outer(t, self.inv_freq.to(device))
            emb = torch.cat((f, f), dim=-1)
            return emb.cos()[None, None], emb.sin()[None, None]

        def hidden(self, ids):
            x = self.embed_tokens(ids)
            cos, sin = self.rope(ids.shape[1], ids.device)
            for layer in self.compiled_layers or self.layers:  # --compile 2: the same layers, compiled
                x = layer(x, cos, sin)
            return self.norm(x)

        def forward(self, ids):
            h = self.hidden(ids)
            return F.linear(h, self.embed_tokens.weight.to(h.dtype))

    m = Llama()
    std = 0.02
    for name, p in m.named_parameters():
        if p.dim() == 2:
            s = std / math.sqrt(2 * cfg["num_hidden_layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) \
                else std
            nn.init.normal_(p, mean=0.0, std=s)
    return m


def hf_config(a, vocab):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": a.hidden,
        "intermediate_size": a.ffn,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": a.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": a.max_len,
        "rms_norm_eps": 1e-5,
        "rope_theta": a.rope_theta,
        "rope_parameters": {"rope_theta": a.rope_theta, "rope_type": "default"},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": EOS,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "dtype": "bfloat16",
    }


def load_safetensors(model, path):
    """The inverse of save_safetensors (weights upcast to the model's dtype)."""
    from safetensors.torch import load_file
    sd = load_file(path)
    own = {}
    for name in model.state_dict():
        hf = name if not name.startswith("layers.") else None
        if hf is None:
            parts = name.split(".")
            sub = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
                   "o_proj": "self_attn.o_proj", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                   "down_proj": "mlp.down_proj"}.get(parts[2], parts[2])
            hf = f"layers.{parts[1]}.{sub}.{parts[3]}"
        own[name] = sd["model." + hf].float()
    model.load_state_dict(own)
    return model


def save_safetensors(model, path):
    """HF Llama names, BF16, tied embeddings (no lm_head.weight). Written then renamed."""
    import torch
    from safetensors.torch import save_file
    sd = {}
    for name, p in model.state_dict().items():
        if name == "inv_freq":
            continue
        if name.startswith("layers."):
            parts = name.split(".")
            sub = {"input_layernorm": "input_layernorm", "post_attention_layernorm": "post_attention_layernorm",
                   "q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
                   "o_proj": "self_attn.o_proj", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
                   "down_proj": "mlp.down_proj"}[parts[2]]
            hf = f"model.layers.{parts[1]}.{sub}.{parts[3]}"
        else:
            hf = "model." + name
        sd[hf] = p.detach().to(torch.bfloat16).contiguous().cpu()
    tmp = path + ".tmp"
    save_file(sd, tmp, metadata={"format": "pt"})
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Training data stream
# --------------------------------------------------------------------------------------------
def max_len_at(frac, a):
    """The curriculum: the longest training length at this fraction of the steps."""
    if frac < a.phase1:
        return min(1024, a.max_train_len)
    if frac < a.phase2:
        return min(4096, a.max_train_len)
    return a.max_train_len


def sample_length(rng, frac, a):
    hi = max_len_at(frac, a)
    lo = a.min_train_len
    if hi >= 8192 and rng.random() < a.long_bias:
        lo = hi // 4  # extra weight on the longest octaves in the last phase
    x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    step = a.length_step
    return int(min(hi, max(lo, round(x / step) * step)))


def task_slots(B, weights):
    """Task index of each of the B rows of a batch (before shuffling): equal weights give
    0, 1, 2, 3, 4, 0, 1, ... (the first run's mix); otherwise counts proportional to the weights
    (largest remainder, ties to the earlier task), at least one row per task with weight > 0 when
    B allows."""
    w = np.asarray(weights, dtype=np.float64)
    if np.all(w == w[0]):
        return np.arange(B) % len(w)
    x = w / w.sum() * B
    n = np.floor(x).astype(np.int64)
    for i in np.argsort(-(x - n), kind="stable")[:B - int(n.sum())]:
        n[i] += 1
    for i in range(len(n)):  # a task with weight > 0 keeps a row, taken from the largest
        if w[i] > 0 and n[i] == 0 and B >= int((w > 0).sum()):
            n[int(np.argmax(n))] -= 1
            n[i] += 1
    return np.repeat(np.arange(len(w)), n)


def train_tasks(a):
    """The training tasks: the five evaluated ones, then the training-only ones that have a weight (none by
    default, so the first runs' batches are unchanged)."""
    return TASKS + (["mqar"] if a.mqar_weight > 0 else []) + (["kvrecall"] if a.kv_weight > 0 else [])


def train_weights(a):
    return list(a.task_weights) + ([a.mqar_weight] if a.mqar_weight > 0 else []) + \
        ([a.kv_weight] if a.kv_weight > 0 else [])


class Stream:
    """Batches for steps start, start+W, ... (worker w of W); each from rng [seed, 4, step]."""

    def __init__(self, a, steps, model_dir, pool_words):
        self.a, self.steps, self.model_dir, self.pool_words = a, steps, model_dir, pool_words
        self.gen = None

    def make(self, step):
        a = self.a
        # the first run's batches come from [seed, 4, step]; a continued run (--init-from) names its own
        # stream k >= 1 and draws from [seed, 4, k, step], so it never repeats an earlier run's batches
        rng = rng_for(a.seed, 4, step) if a.batch_stream == 0 else rng_for(a.seed, 4, a.batch_stream, step)
        L = sample_length(rng, step / self.steps, a)
        B = max(1, a.tokens_per_step // L)
        tasks = rng.permutation(task_slots(B, train_weights(a)))
        ids = np.empty((B, L), dtype=np.int64)
        plen = np.empty(B, dtype=np.int64)
        kmask = np.zeros((B, L - 1), dtype=bool) if a.key_weight > 0 else None
        for i in range(B):
            x = self.gen.instance(train_tasks(a)[tasks[i]], L, rng)
            ids[i] = x["ids"]
            plen[i] = x["prompt_len"]
            if kmask is not None:
                kmask[i] = self.gen.key_copy_mask(ids[i], plen[i])
        return step, ids, plen, tasks, kmask

    def worker(self, w, W, q, stop):
        for s in range(w, self.steps, W):
            if stop.is_set():
                return
            item = self.make(s)
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.5)
                    break
                except Exception:
                    pass


# The evaluation's seed streams: the card's evaluation instances (a filler pool from [seed, 10], each cell's instances
# from [seed, 11, task, length]) have been the same since run 1 and chose the runs, so they are a validation set;
# the held-out instances (--heldout-n) come from streams no run has looked at: pool [seed, 14], cells [seed, 15, ...].
VALIDATION_STREAMS = (10, 11)
HELDOUT_STREAMS = (14, 15)


def eval_cell_worker(args):
    seed, task, L, n, stream = args
    g = eval_cell_worker.gens[stream]  # made by the parent before the fork
    rng = rng_for(seed, stream, TASKS.index(task), L)
    rows = []
    for i in range(n):
        d = i / (n - 1) if n > 1 else 0.5
        x = g.instance(task, L, rng, depth=d)
        rows.append((x["ids"], x["prompt_len"], d))
    return task, L, rows


eval_cell_worker.gens = {}


def eval_table(ok_fn, results, eval_tokens, label):
    """Exact match per cell (task, length) and per depth bin (fifths of 0..100 %) of the instances in
    results (eval_cell_worker's); ok_fn(ids, prompt lengths) gives each row's exact match; batches of
    eval_tokens tokens."""
    import torch
    table, depth_table = {}, {}
    with torch.no_grad():
        for task, L, rows in results:
            okall = []
            per = max(1, eval_tokens // L)
            for i in range(0, len(rows), per):
                chunk = rows[i:i + per]
                okall.extend(ok_fn(np.stack([r[0] for r in chunk]).astype(np.int64), [r[1] for r in chunk]))
            table.setdefault(task, {})[str(L)] = float(np.mean(okall))
            ds = np.array([r[2] for r in rows])
            bins = np.minimum((ds * 5).astype(int), 4)
            depth_table.setdefault(task, {})[str(L)] = [float(np.mean(np.array(okall)[bins == b])) if np.any(bins == b)
                                                        else None for b in range(5)]
            print(f"{label} {task:16s} len {L:5d}: {table[task][str(L)] * 100:5.1f}%  by depth "
                  + " ".join("-" if x is None else f"{x * 100:.0f}" for x in depth_table[task][str(L)]), flush=True)
    return table, depth_table


def print_table(table, lengths, n, what):
    print(f"accuracy ({what}; full cache, greedy exact match, {n} instances per cell, depths 0..100%):")
    print("task            " + "".join(f"{L:>7d}" for L in lengths))
    for t in TASKS:
        if t in table:
            print(f"{t:16s}" + "".join(f"{table[t][str(L)] * 100:7.1f}" if str(L) in table[t] else f"{'-':>7s}"
                                       for L in lengths))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def train(a):
    import multiprocessing as mp
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t_start = time.time()
    spec, tok = load_spec(a.model_dir)
    vocab = tok.get_vocab_size()
    os.makedirs(a.out, exist_ok=True)
    cfg = hf_config(a, vocab)
    ctx = mp.get_context("fork")
    # evaluation instances, made in the background from their own seed streams
    eval_lengths = [L for L in EVAL_LENGTHS if L <= a.max_train_len]
    cells = [(a.seed, t, L, a.eval_n, VALIDATION_STREAMS[1]) for L in eval_lengths for t in TASKS]
    if a.heldout_n > 0:
        cells += [(a.seed, t, L, a.heldout_n, HELDOUT_STREAMS[1]) for L in eval_lengths for t in TASKS]
    t0 = time.time()
    eval_cell_worker.gens = {VALIDATION_STREAMS[1]: Gen(spec, tok, a.eval_pool_words, (a.seed, VALIDATION_STREAMS[0]))}
    if a.heldout_n > 0:
        eval_cell_worker.gens[HELDOUT_STREAMS[1]] = Gen(spec, tok, a.eval_pool_words, (a.seed, HELDOUT_STREAMS[0]))
    train_gen = Gen(spec, tok, a.pool_words, (a.seed, 3))
    train_gen.vt_one_chain = a.vt_one_chain
    train_gen.vt_hard = a.vt_hard
    train_gen.vt_early = a.vt_early
    train_gen.multikey_min = a.multikey_min
    train_gen.restate = a.restate
    train_gen.kv_gaps = a.kv_gaps
    train_gen.kv_reverse = a.kv_reverse
    print(f"filler pools: training {train_gen.pool.tokens.size} tokens, evaluation "
          f"{eval_cell_worker.gens[VALIDATION_STREAMS[1]].pool.tokens.size} tokens ({time.time() - t0:.1f} s)")
    eval_pool = ctx.Pool(a.eval_procs)
    eval_async = eval_pool.map_async(eval_cell_worker, cells, chunksize=1)

    import torch
    import torch.nn.functional as F
    dev = torch.device(a.device)
    torch.manual_seed(a.seed * 1000 + 5)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model = build_model(cfg)
    if a.init_from:
        load_safetensors(model, os.path.join(a.init_from, "model.safetensors"))
        with open(os.path.join(a.init_from, "config.json")) as f:
            old = json.load(f)
        diff = {k: (old.get(k), cfg[k]) for k in ("vocab_size", "hidden_size", "intermediate_size",
                                                  "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                                  "head_dim", "rope_theta") if old.get(k) != cfg[k]}
        if diff:
            raise SystemExit(f"--init-from {a.init_from}: config differs {diff}")
        print(f"initialised from {a.init_from}/model.safetensors")
    model = model.to(dev)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {json.dumps({k: cfg[k] for k in ('vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'rope_theta', 'max_position_embeddings')})}")
    print(f"parameters: {nparams} ({nparams * 2 / 1e6:.1f} MB in BF16)")
    amp = dev.type == "cuda"
    V = vocab

    def loss_terms(ids, plen, kmask=None):
        """Answer CE (mean), other-token CE (mean), exact match per row; with kmask (--key-weight) also the
        mean CE and the argmax accuracy over the copyable key tokens of the prompt (else zeros)."""
        B, L = ids.shape
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(ids[:, :-1])
        tgt = ids[:, 1:]
        ce = F.cross_entropy(logits.float().reshape(-1, V), tgt.reshape(-1), reduction="none").view(B, L - 1)
        pos = torch.arange(L - 1, device=ids.device)
        ans = pos[None, :] >= (plen[:, None] - 1)
        la = (ce * ans).sum() / ans.sum()
        lm = (ce * ~ans).sum() / (~ans).sum()
        hit = logits.detach().argmax(-1) == tgt
        ok = (hit | ~ans).all(dim=1)
        tacc = (hit & ans).sum(dim=1) / ans.sum(dim=1)  # per row: argmax accuracy over the answer tokens
        if kmask is None:
            z = ce.new_zeros(())
            return la, lm, ok, z, z, tacc
        nk = kmask.sum().clamp(min=1)
        lk = (ce * kmask).sum() / nk
        kacc = (hit & kmask).sum() / nk
        return la, lm, ok, lk, kacc, tacc

    fn = {"step": loss_terms}  # the training step's loss function: eager, or compiled with --compile

    def fwd_loss(ids, plen, kmask=None):
        return fn["step"](ids, plen, kmask)

    def calibrate(f):
        pts = []
        for L in a.calib_lengths:
            B = max(1, a.tokens_per_step // L)
            ids = torch.randint(5, V, (B, L), device=dev)
            plen = torch.full((B,), L - 8, device=dev)
            ts = []
            for _ in range(3):
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.time()
                kmask = torch.zeros((B, L - 1), dtype=torch.bool, device=dev) if a.key_weight > 0 else None
                la, lm, _, lk, _, _ = f(ids, plen, kmask)
                (la + a.lm_weight * lm + a.key_weight * lk).backward()
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                ts.append(time.time() - t0)
            model.zero_grad(set_to_none=True)
            pts.append((L, min(ts[1:]) * 1.10))  # +10% for the optimizer step
        Ls = np.array([p[0] for p in pts], dtype=np.float64)
        Ts = np.array([p[1] for p in pts])
        c1, c0 = np.polyfit(Ls, Ts, 1)
        r = rng_for(999)
        fr = r.random(20000)
        return pts, c0, c1, float(np.mean([c0 + c1 * sample_length(r, f_, a) for f_ in fr]))

    def layers_compiled(*args):
        """--compile 2: the loss function (eager) over the compiled decoder layers."""
        model.compiled_layers = compiled_layers
        try:
            return loss_terms(*args)
        finally:
            model.compiled_layers = None

    compiled_layers = []

    def try_compile():
        """torch.compile (dynamic shapes: one graph for every batch shape) of the loss function (--compile 1) or
        of each decoder layer (--compile 2, the loss eager); None when it fails here, so a run never dies of it."""
        try:
            t0 = time.time()
            if a.compile == 2:
                compiled_layers[:] = [torch.compile(layer, dynamic=True) for layer in model.layers]
                f = layers_compiled
            else:
                f = torch.compile(loss_terms, dynamic=True)
            B, L = 4, 256
            kmask = torch.zeros((B, L - 1), dtype=torch.bool, device=dev) if a.key_weight > 0 else None
            la, lm, _, lk, _, _ = f(torch.randint(5, V, (B, L), device=dev), torch.full((B,), L - 8, device=dev), kmask)
            (la + a.lm_weight * lm + a.key_weight * lk).backward()
            model.zero_grad(set_to_none=True)
            print(f"compile: {time.time() - t0:.1f} s")
            return f
        except Exception as e:  # noqa: BLE001
            model.zero_grad(set_to_none=True)
            print(f"compile failed, eager mode: {type(e).__name__}: {str(e)[:300]}")
            return None

    # ---- calibration: step time against length, to size the run to the time budget ----------
    if a.steps > 0:
        if a.calibrate_only:
            raise SystemExit("--calibrate-only times the step to plan a run: leave out --steps")
        steps = a.steps
        print(f"steps: {steps} (given)")
        if a.compile:
            fn["step"] = try_compile() or loss_terms
    else:
        pts, c0, c1, mean_t = calibrate(loss_terms)
        for L, t in pts:
            print(f"calibration (eager): length {L} x {max(1, a.tokens_per_step // L)} rows: {t * 1000:.0f} ms/step")
        if a.compile:
            f = try_compile()
            if f is not None:
                cp, cc0, cc1, cmean = calibrate(f)
                for L, t in cp:
                    print(f"calibration (compiled): length {L}: {t * 1000:.0f} ms/step")
                print(f"calibration: mean step {cmean * 1000:.1f} ms compiled, {mean_t * 1000:.1f} ms eager: "
                      f"{'compiled' if cmean < mean_t else 'eager'} it is")
                if cmean < mean_t:
                    fn["step"], c0, c1, mean_t = f, cc0, cc1, cmean
        budget = a.time_budget
        if a.train_until > 0:
            budget = a.train_until - (time.time() - t_start)
        # --calib-factor: the calibration times random-token steps without the data workers running beside them;
        # runs 11, 12 and 13 ran at 1.23, 1.26 and 1.41 times the calibrated mean step (their --hard-stop cut them at
        # 82, 82 and 74 % of the planned steps)
        steps = max(10, int(budget / (mean_t * a.calib_factor)))
        print(f"calibration: step time ~ {c0 * 1000:.1f} ms + {c1 * 1e6:.2f} us x length; mean {mean_t * 1000:.1f} ms; "
              f"{steps} steps for {budget:.0f} s{f' at {a.calib_factor} x the mean step' if a.calib_factor != 1 else ''} "
              f"(reproduce with --steps {steps})")
        if dev.type == "cuda":
            print(f"calibration peak memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        if a.calibrate_only:
            print("--calibrate-only: no training")
            return

    # ---- data workers -------------------------------------------------------------------------
    stream = Stream(a, steps, a.model_dir, a.pool_words)
    stream.gen = train_gen
    q = ctx.Queue(maxsize=4 * a.workers)
    stop = ctx.Event()
    procs = [ctx.Process(target=stream.worker, args=(w, a.workers, q, stop), daemon=True) for w in range(a.workers)]
    for p in procs:
        p.start()
    pending = {}

    def next_batch(s):
        while s not in pending:
            item = q.get(timeout=600)
            pending[item[0]] = item
        return pending.pop(s)

    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (decay if p.dim() == 2 and (a.embed_decay or n_ != "embed_tokens.weight") else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=dev.type == "cuda")

    def lr_at(s):
        if s < a.warmup:
            return a.lr * (s + 1) / a.warmup
        f = (s - a.warmup) / max(1, steps - a.warmup)
        return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * f)))

    print(f"training: {steps} steps, ~{a.tokens_per_step} tokens/step, lengths {a.min_train_len}..{a.max_train_len} "
          f"(curriculum: <= 1024 until {a.phase1:.0%}, <= 4096 until {a.phase2:.0%}, then all), lr {a.lr}, "
          f"loss = answer CE + {a.lm_weight} x other-token CE; task weights {a.task_weights}; weight decay "
          f"{a.weight_decay} on matrices{'' if a.embed_decay else ' but the embedding'}"
          f"{'; initialised from ' + a.init_from if a.init_from else ''}; batch stream {a.batch_stream}"
          f"{'; PYTORCH_CUDA_ALLOC_CONF=' + a.alloc_conf if a.alloc_conf is not None else ''}"
          f"{f'; vt without distractor chain in {a.vt_one_chain:.0%} of training vt rows' if a.vt_one_chain else ''}"
          f"{f'; distractor chain after the asked one in {a.vt_hard:.0%} of training vt rows' if a.vt_hard else ''}"
          f"{f'; {a.vt_early:.0%} of training vt rows at depth < 25%' if a.vt_early else ''}"
          f"{f'; + {a.key_weight} x CE on copyable key tokens of the prompt' if a.key_weight > 0 else ''}"
          f"{f'; training-only mqar rows (weight {a.mqar_weight})' if a.mqar_weight > 0 else ''}"
          f"{f'; multi-key rows with at least {a.multikey_min} needles where the length allows' if a.multikey_min else ''}"
          f"{f'; training-only kvrecall rows (weight {a.kv_weight}, key-to-value gaps {a.kv_gaps})' if a.kv_weight > 0 else ''}"
          f"{f', {a.kv_reverse:.0%} of them asked by value' if a.kv_weight > 0 and a.kv_reverse > 0 else ''}"
          f"{f'; {a.restate:.0%} of multi-key/multi-query/mqar rows quote the needles' if a.restate > 0 else ''}")
    # answer-token accuracy (the share of matching decisions made, not only whole rows) with the training-only rows
    token_acc_logged = a.mqar_weight > 0 or a.kv_weight > 0 or a.restate > 0
    t_train = time.time()
    last_ckpt = time.time()
    tokens_seen = 0
    TT = train_tasks(a)
    win = {"la": [], "lm": [], "lk": [], "kacc": [], "ok": np.zeros(len(TT)), "tok": np.zeros(len(TT)),
           "n": np.zeros(len(TT)), "L": []}
    curve = []
    model.train()
    stopped_early = False
    waited = 0.0  # seconds the training loop spent waiting for the data workers, this log window
    for s in range(steps):
        t_wait = time.time()
        _, ids_np, plen_np, tasks_np, kmask_np = next_batch(s)
        waited += time.time() - t_wait
        ids = torch.from_numpy(ids_np).to(dev, non_blocking=True)
        plen = torch.from_numpy(plen_np).to(dev, non_blocking=True)
        kmask = None if kmask_np is None else torch.from_numpy(kmask_np).to(dev, non_blocking=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        opt.zero_grad(set_to_none=True)
        try:
            la, lm, ok, lk, kacc, tacc = fwd_loss(ids, plen, kmask)
            (la + a.lm_weight * lm + a.key_weight * lk).backward()
        except Exception as e:  # noqa: BLE001
            if fn["step"] is loss_terms:
                raise
            print(f"compiled step {s} failed, eager from here: {type(e).__name__}: {str(e)[:300]}")
            fn["step"] = loss_terms
            opt.zero_grad(set_to_none=True)
            la, lm, ok, lk, kacc, tacc = fwd_loss(ids, plen, kmask)
            (la + a.lm_weight * lm + a.key_weight * lk).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens_seen += ids_np.size
        if s % a.log_every == 0 or s == steps - 1:
            win["la"].append(la.item())
            win["lm"].append(lm.item())
            win["lk"].append(lk.item())
            win["kacc"].append(kacc.item())
            okn = ok.cpu().numpy()
            tokn = tacc.float().cpu().numpy()
            for t in range(len(TT)):
                m = tasks_np == t
                win["ok"][t] += okn[m].sum()
                win["tok"][t] += tokn[m].sum()
                win["n"][t] += m.sum()
            win["L"].append(ids_np.shape[1])
        if (s + 1) % (a.log_every * 4) == 0 or s == steps - 1:
            el = time.time() - t_train
            acc = " ".join(f"{TT[t].replace('niah_', '')}={win['ok'][t] / max(1, win['n'][t]):.2f}"
                           for t in range(len(TT)))
            tok_acc = {TT[t]: float(win["tok"][t] / max(1, win["n"][t])) for t in range(len(TT))}
            if token_acc_logged:  # answer-token accuracy: the share of matching decisions made, not only whole rows
                acc += " | answer tokens " + " ".join(f"{k.replace('niah_', '')}={v:.2f}" for k, v in tok_acc.items())
            rec = {"step": s + 1, "time_s": round(el, 1), "tokens": tokens_seen, "lr": lr_at(s),
                   "answer_loss": float(np.mean(win["la"])), "lm_loss": float(np.mean(win["lm"])),
                   "train_exact": {TT[t]: float(win["ok"][t] / max(1, win["n"][t])) for t in range(len(TT))},
                   "lengths": [int(min(win["L"])), int(max(win["L"]))],
                   "data_wait_s": round(waited, 3)}
            if dev.type == "cuda":  # the caching allocator's cudaMalloc calls and its free-and-retry passes so far
                ms = torch.cuda.memory_stats()
                rec["cuda_mallocs"] = int(ms.get("segment.all.allocated", 0))
                rec["cuda_alloc_retries"] = int(ms.get("num_alloc_retries", 0))
            waited = 0.0
            if token_acc_logged:
                rec["train_answer_token_acc"] = tok_acc
            if a.key_weight > 0:
                rec["key_loss"] = float(np.mean(win["lk"]))
                rec["key_copy_acc"] = float(np.mean(win["kacc"]))
            curve.append(rec)
            print(f"step {s + 1:5d}/{steps} {el:6.1f}s len {rec['lengths'][0]}-{rec['lengths'][1]} "
                  f"ans_loss {rec['answer_loss']:.4f} lm_loss {rec['lm_loss']:.4f} lr {rec['lr']:.2e} "
                  f"tok/s {tokens_seen / el / 1e3:.0f}k | batch exact {acc}"
                  + (f" | key_loss {rec['key_loss']:.3f} key_acc {rec['key_copy_acc']:.2f}" if a.key_weight > 0 else "")
                  + f" | data wait {rec['data_wait_s']:.2f}s"
                  + (f" mallocs {rec['cuda_mallocs']} retries {rec['cuda_alloc_retries']}" if "cuda_mallocs" in rec else ""),
                  flush=True)
            win = {"la": [], "lm": [], "lk": [], "kacc": [], "ok": np.zeros(len(TT)), "tok": np.zeros(len(TT)),
                   "n": np.zeros(len(TT)), "L": []}
        if time.time() - last_ckpt > a.ckpt_every:
            save_safetensors(model, os.path.join(a.out, "model.safetensors"))
            last_ckpt = time.time()
        why = (f"stop at step {s + 1} (--stop-step)" if 0 < a.stop_step <= s + 1 < steps
               else f"hard stop at step {s + 1}: {time.time() - t_start:.0f} s since start"
               if a.hard_stop > 0 and time.time() - t_start > a.hard_stop else None)
        if why:
            print(why)
            stopped_early = True
            steps_done = s + 1
            break
    else:
        steps_done = steps
    stop.set()
    train_time = time.time() - t_train
    print(f"trained {steps_done} steps, {tokens_seen} tokens in {train_time:.1f} s")

    # ---- export (BF16) and evaluate the exported weights --------------------------------------
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    save_safetensors(model, os.path.join(a.out, "model.safetensors"))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    for p in procs:
        p.terminate()
    model.eval()
    t_eval = time.time()
    results = eval_async.get(timeout=600)
    eval_pool.close()
    print(f"eval instances ready after {time.time() - t_eval:.1f} s more")
    def ok_rows(ids_np, plens):
        _, _, ok, _, _, _ = loss_terms(torch.from_numpy(ids_np).to(dev), torch.tensor(plens, device=dev))
        return ok.cpu().tolist()

    n_val = len(eval_lengths) * len(TASKS)
    table, depth_table = eval_table(ok_rows, results[:n_val], a.eval_tokens, "eval")
    heldout = None
    if a.heldout_n > 0:
        h_table, h_depth = eval_table(ok_rows, results[n_val:], a.eval_tokens, "held-out")
        heldout = {"n": a.heldout_n, "streams": list(HELDOUT_STREAMS), "accuracy": h_table,
                   "accuracy_by_depth_bin": h_depth}
    print_table(table, eval_lengths, a.eval_n, "the validation instances, streams 10-11")
    if heldout:
        print_table(heldout["accuracy"], eval_lengths, a.heldout_n, "held-out instances, streams 14-15")
    worst = min(min(v.values()) for v in table.values())
    print(f"worst cell: {worst * 100:.1f}%  eval time {time.time() - t_eval:.1f} s  total {time.time() - t_start:.1f} s")
    summary = {"config": cfg, "parameters": nparams, "seed": a.seed, "steps": steps_done, "planned_steps": steps,
               "stopped_early": stopped_early, "tokens": tokens_seen, "train_seconds": round(train_time, 1),
               "total_seconds": round(time.time() - t_start, 1), "args": vars(a), "eval_n": a.eval_n,
               "accuracy": table, "accuracy_by_depth_bin": depth_table, "curve": curve,
               **({"heldout": heldout} if heldout else {}),
               "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"}
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")


# --------------------------------------------------------------------------------------------
# evaluate: a trained folder on held-out instances, on any device (a CPU takes ~10 s per 16K row)
# --------------------------------------------------------------------------------------------
def evaluate(a):
    """The full-cache exact match of the HF folder --hf-dir on --heldout-n instances per cell of the held-out
    streams (the same instances a train run with that --heldout-n evaluates), for --eval-tasks x --eval-lengths;
    float32 on a CPU, BF16 autocast on CUDA, as train's evaluation. With --validation: the card's evaluation
    instances instead (--eval-n per cell; the first n of them when n is train's, which reproduces eval.json).
    Writes --json-out if given."""
    import torch
    streams, n, what = (VALIDATION_STREAMS, a.eval_n, "validation") if a.validation else \
        (HELDOUT_STREAMS, a.heldout_n, "held-out")
    if n <= 0:
        raise SystemExit("evaluate: give --heldout-n N (instances per cell)")
    spec, tok = load_spec(a.model_dir)
    hf_dir = a.hf_dir or os.path.join(a.model_dir, "hf")
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    dev = torch.device(a.device)
    model = load_safetensors(build_model(cfg), os.path.join(hf_dir, "model.safetensors")).to(dev).eval()
    tasks = a.eval_tasks or TASKS
    for t in tasks:
        if t not in TASKS:
            raise SystemExit(f"evaluate: unknown task {t!r}; tasks: {', '.join(TASKS)}")
    lengths = a.eval_lengths or EVAL_LENGTHS
    t0 = time.time()
    eval_cell_worker.gens = {streams[1]: Gen(spec, tok, a.eval_pool_words, (a.seed, streams[0]))}
    results = [eval_cell_worker((a.seed, t, L, n, streams[1])) for L in lengths for t in tasks]
    print(f"{len(results)} cells x {n} {what} instances made in {time.time() - t0:.1f} s")
    V = cfg["vocab_size"]

    def ok_rows(ids_np, plens):
        ids = torch.from_numpy(ids_np).to(dev)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = model(ids[:, :-1])
        hit = logits.argmax(-1) == ids[:, 1:]
        pos = torch.arange(ids.shape[1] - 1, device=dev)
        ans = pos[None, :] >= (torch.tensor(plens, device=dev)[:, None] - 1)
        return (hit | ~ans).all(dim=1).cpu().tolist()

    t0 = time.time()
    table, depth_table = eval_table(ok_rows, results, a.eval_tokens, what)
    print_table(table, lengths, n, f"{what} instances, streams {streams[0]}-{streams[1]}")
    print(f"eval time {time.time() - t0:.1f} s on {a.device}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"hf_dir": hf_dir, "seed": a.seed, "n": n, "streams": list(streams), "instances": what,
                       "device": a.device, "accuracy": table, "accuracy_by_depth_bin": depth_table}, f, indent=1)
            f.write("\n")
    return table


# --------------------------------------------------------------------------------------------
# eval-sample.json and reference-logits.json (transformers)
# --------------------------------------------------------------------------------------------
def samples(a):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    spec, tok = load_spec(a.model_dir)
    hf_dir = a.hf_dir or os.path.join(a.model_dir, "hf")
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    htok = AutoTokenizer.from_pretrained(hf_dir)
    gen = Gen(spec, tok, 400_000, (a.seed, 12))
    rng = rng_for(a.seed, 12, 1)
    lengths = [256, 384, 512, 768, 1024]
    out, tried = [], 0
    while len(out) < a.n_samples and tried < 3 * a.n_samples:
        i = tried
        tried += 1
        task = TASKS[i % len(TASKS)]
        L = lengths[(i // len(TASKS)) % len(lengths)]
        d = round((i % 11) / 10, 2)
        x = gen.instance(task, L, rng, depth=d, text=True)
        msgs = [{"role": "user", "content": x["user"]}]
        text = htok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        assert text == render(x["user"]), "chat template rendering differs"
        full = htok.apply_chat_template(msgs + [{"role": "assistant", "content": x["answer"]}], tokenize=False)
        assert full == render(x["user"], x["answer"]), "chat template rendering differs (with answer)"
        ids = tok.encode(text, add_special_tokens=False).ids
        assert ids == x["ids"][:x["prompt_len"]].tolist(), "token-space assembly differs from the tokenizer"
        assert tok.encode(full, add_special_tokens=False).ids == x["ids"].tolist()
        with torch.no_grad():
            o = model.generate(torch.tensor([ids]), max_new_tokens=64, do_sample=False, eos_token_id=EOS,
                               pad_token_id=EOS)
        new = o[0, len(ids):].tolist()
        if new and new[-1] == EOS:
            new = new[:-1]
        got = tok.decode(new, skip_special_tokens=False)
        ok = got == x["answer"]
        print(f"sample {i:2d} {task:16s} len {L:4d} depth {d:.1f}: {'ok ' if ok else 'MISS'} {got!r} vs {x['answer']!r}")
        if ok or a.keep_misses:
            out.append({"task": task, "length": L, "depth": d, "messages": msgs, "prompt_ids": ids,
                        "answer": x["answer"], "answer_ids": x["ids"][x["prompt_len"]:-1].tolist()})
    print(f"{len(out)} samples kept of {tried} tried")
    with open(os.path.join(a.model_dir, "eval-sample.json"), "w") as f:
        json.dump({"about": "Seeded task instances (seed stream [seed, 12]) that the full-cache model answers "
                            "correctly with greedy decoding in transformers (float32). prompt_ids = the chat "
                            "template with add_generation_prompt, tokenized; the answer is followed by "
                            "<|endoftext|> (id 1).", "seed": a.seed, "tried": tried, "samples": out}, f)
        f.write("\n")
    # reference logits for one short prompt
    rg = rng_for(a.seed, 13)
    k = spec["keys"][int(rg.integers(len(spec["keys"])))]
    v = Gen.number(rg, 7)
    fw = spec["filler"]["states"]
    user = ("Text: " + " ".join(fw[:3]) + "." + TEMPLATES["niah_needle"].format(key=k, value=v) + " " + " ".join(fw[3:5]) + "."
            + "\n\nQuestion: " + TEMPLATES["niah_question"].format(key=k))
    ids = tok.encode(render(user, v), add_special_tokens=False).ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    ref = {"about": "transformers LlamaForCausalLM logits (float32 compute, BF16 weights) after every position "
                    "of ids", "text": render(user, v), "ids": ids,
           "logits": [[float(f"{x:.6g}") for x in row] for row in logits.tolist()],
           "argmax": logits.argmax(-1).tolist()}
    with open(os.path.join(a.model_dir, "reference-logits.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    print(f"reference logits: {len(ids)} ids; argmax after the prompt: "
          f"{tok.decode(logits.argmax(-1).tolist()[-len(tok.encode(v).ids) - 2:])!r}")


# --------------------------------------------------------------------------------------------
def markdown_table(summary):
    acc = summary["accuracy"]
    lengths = sorted({int(L) for t in acc.values() for L in t})
    lines = ["| task | " + " | ".join(str(L) for L in lengths) + " |",
             "| --- |" + " ---: |" * len(lengths)]
    for t in TASKS:
        if t in acc:
            lines.append(f"| {t} | " + " | ".join(f"{acc[t][str(L)] * 100:.0f}" for L in lengths) + " |")
    return "\n".join(lines)


def finish(a):
    """After a device run: the run's files into place, then samples and the GGUF."""
    import shutil
    import subprocess
    hf = os.path.join(a.model_dir, "hf")
    for f in ("config.json", "model.safetensors"):
        shutil.copyfile(os.path.join(a.from_dir, f), os.path.join(hf, f))
    shutil.copyfile(os.path.join(a.from_dir, "eval.json"), os.path.join(a.model_dir, "eval.json"))
    shutil.copyfile(os.path.join(a.from_dir, "train-log.txt"),
                    os.path.join(os.path.dirname(os.path.abspath(a.model_dir)), "train-log.txt"))
    a.hf_dir = hf
    samples(a)
    subprocess.run([sys.executable, os.path.join(HERE, "to_gguf.py"), hf,
                    os.path.join(a.model_dir, "retrieval-16k.gguf")], check=True)
    with open(os.path.join(a.model_dir, "eval.json")) as f:
        print(markdown_table(json.load(f)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["prepare", "train", "samples", "all", "finish", "evaluate"])
    p.add_argument("--from-dir", default=None, help="finish: the folder with a train run's files (config.json, "
                   "model.safetensors, eval.json, train-log.txt)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny model, short lengths, seconds on a CPU")
    p.add_argument("--model-dir", default=os.path.join(HERE, "model"),
                   help="prepare writes tasks.json here and the tokenizer files into its hf/; train reads them")
    p.add_argument("--out", default=None, help="train's output folder (default: --model-dir/hf)")
    p.add_argument("--hf-dir", default=None, help="samples: the trained HF folder (default: --model-dir/hf)")
    p.add_argument("--vocab", type=int, default=3072)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--ffn", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--rope-theta", type=float, default=500000.0)
    p.add_argument("--max-len", type=int, default=16384, help="max_position_embeddings")
    p.add_argument("--min-train-len", type=int, default=256)
    p.add_argument("--max-train-len", type=int, default=16384)
    p.add_argument("--phase1", type=float, default=0.30)
    p.add_argument("--phase2", type=float, default=0.55)
    p.add_argument("--long-bias", type=float, default=0.35)
    p.add_argument("--length-step", type=int, default=64, help="training lengths are rounded to a multiple of this "
                   "(64: runs 1-10, whose weights answered wrongly at some lengths between multiples of 64; 1, any length: "
                   "run 11; the evaluation lengths are unchanged)")
    p.add_argument("--tokens-per-step", type=int, default=131072)
    p.add_argument("--steps", type=int, default=0, help="0: size the run to --time-budget by calibration")
    p.add_argument("--time-budget", type=float, default=380.0, help="seconds of training")
    p.add_argument("--hard-stop", type=float, default=0, help="stop training after this many seconds since start")
    p.add_argument("--stop-step", type=int, default=0, help="stop after this many of the planned --steps (the "
                   "learning-rate schedule stays the planned one): repeats a run that --hard-stop cut short, step for "
                   "step (run 11: --steps 2763 --stop-step 2273); 0: run every planned step")
    p.add_argument("--train-until", type=float, default=0, help="size the step count (instead of --time-budget) so "
                   "that training ends this many seconds after the start: the set-up, the calibration and a "
                   "compile are then inside the budget")
    p.add_argument("--compile", type=int, default=0, help="1: torch.compile the training step (dynamic shapes) "
                   "when the calibration finds it faster than eager; 2: the same, compiling each decoder layer "
                   "and leaving the loss eager; any compile error falls back to eager")
    p.add_argument("--calibrate-only", action="store_true", help="time the step (eager, and compiled with "
                   "--compile) at --calib-lengths, print it, and stop before training")
    p.add_argument("--calib-lengths", type=int, nargs="+", default=[512, 4096, 16384])
    p.add_argument("--calib-factor", type=float, default=1.0, help="plan the step count for this many times the "
                   "calibrated step time (1.0: runs 1-13; runs 11, 12 and 13 ran at 1.23, 1.26 and 1.41 times it, so "
                   "their --hard-stop cut them at 82, 82 and 74 %% of the plan; runs 14 and 15 used 1.35 and reached "
                   "97 and 98 %%)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-frac", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--lm-weight", type=float, default=0.1)
    p.add_argument("--task-weights", type=float, nargs=5, default=[1, 1, 1, 1, 1],
                   metavar=("SINGLE", "MULTIKEY", "MULTIVALUE", "MULTIQUERY", "VT"),
                   help="share of each task's rows in a batch (equal: the first run's mix)")
    p.add_argument("--embed-decay", type=int, default=1, help="1: weight decay on the (tied) embedding too "
                   "(the first run); 0: not, so rare key tokens' rows do not shrink between their updates")
    p.add_argument("--vt-hard", type=float, default=0.0, help="training only: this share of the vt instances puts "
                   "the distractor chain after the asked chain's first statement (so the later value statement is "
                   "never the asked one); 0 (every run so far): none")
    p.add_argument("--vt-early", type=float, default=0.0, help="training only: this share of the vt instances "
                   "starts its asked chain at a depth uniform in [0, 0.25) instead of [0, 1), so the chain spans at "
                   "least three quarters of the row (session 20: run 15 follows hops across about 8K tokens, not "
                   "16K); 0 (every run so far): none")
    p.add_argument("--vt-one-chain", type=float, default=0.0, help="training only: this share of the vt "
                   "instances has no distractor chain (the evaluation's vt instances always have it)")
    p.add_argument("--key-weight", type=float, default=0.0, help="training only: add this weight x the mean "
                   "cross-entropy over the prompt's copyable key tokens (a key word's token that occurred earlier in "
                   "the row: the key in the question, a vt copy's source name, a multi-value needle's repeated key) "
                   "to the loss, so copying keys is rewarded as much as an answer; 0 (earlier runs): they are only "
                   "part of the --lm-weight mean over all non-answer tokens")
    p.add_argument("--mqar-weight", type=float, default=0.0, help="training only: this share (next to "
                   "--task-weights) of rows of an MQAR-style task: n needles, as many as fit in about half the length "
                   "(at most 16), of which q in [ceil(n/2), n] are asked in a random order (the multi-query "
                   "templates; answer = their values in the asked order), so every value is a key-matching decision; "
                   "0 (earlier runs): none")
    p.add_argument("--kv-weight", type=float, default=0.0, help="training only: this share (next to "
                   "--task-weights) of kvrecall rows: needles ' {key}{value}.', the answer restating each asked key "
                   "before its value (one-hop induction)")
    p.add_argument("--kv-gaps", type=int, nargs="+", default=[1], choices=[1, 2, 3],
                   help="training only: kvrecall pair formats by the key's distance to the value's first token "
                   "(1 'Ġkey 12..', 2 'Ġkey : 12..', 3 'Ġkey Ġis Ġ 12..'), one drawn per row")
    p.add_argument("--kv-reverse", type=float, default=0.0, help="training only: this share of the kvrecall rows "
                   "gives values and asks their keys (needles ' {key} is {value}.', answer ' {value} {key} ...'): the "
                   "reverse lookup of a vt hop; 0 (every run so far): none")
    p.add_argument("--restate", type=float, default=0.0, help="training only: this share of the multi-key, "
                   "multi-query and mqar rows ask to quote the needles and are answered with the needle sentences")
    p.add_argument("--multikey-min", type=int, default=0, help="training only: multi-key rows have n uniform in "
                   "[min(N, max_needles), max_needles] needles instead of [2, max_needles] (16: always the most the "
                   "length allows), so that a positional pick pays little; 0 (earlier runs): [2, max_needles]")
    p.add_argument("--batch-stream", type=int, default=0, help="0: batches from seed stream [seed, 4, step] (the "
                   "first run); k >= 1: from [seed, 4, k, step] (the k-th continued run)")
    p.add_argument("--init-from", default=None, help="an HF folder (config.json, model.safetensors) to start "
                   "from instead of the seeded initialisation, e.g. the committed model/hf: GPU time then adds up "
                   "across runs")
    p.add_argument("--workers", type=int, default=12)
    p.add_argument("--alloc-conf", default=None, help="PYTORCH_CUDA_ALLOC_CONF for this run, e.g. expandable_segments:True "
                   "(every step has a new length with --length-step 1, which may fragment the caching allocator; the "
                   "log's 'mallocs' and 'retries' count its cudaMalloc calls and free-and-retry passes)")
    p.add_argument("--pool-words", type=int, default=12_000_000)
    p.add_argument("--eval-pool-words", type=int, default=2_000_000)
    p.add_argument("--eval-n", type=int, default=100)
    p.add_argument("--eval-procs", type=int, default=3)
    p.add_argument("--eval-tasks", nargs="+", default=None, help="evaluate: the tasks (default: all five)")
    p.add_argument("--eval-lengths", type=int, nargs="+", default=None, help="evaluate: the lengths (default: 256..16384)")
    p.add_argument("--json-out", default=None, help="evaluate: write the table here")
    p.add_argument("--validation", action="store_true", help="evaluate: the card's evaluation instances (--eval-n "
                   "per cell) instead of held-out ones")
    p.add_argument("--heldout-n", type=int, default=0, help="train and evaluate: also this many instances per cell "
                   "from the held-out streams (14-15; the card's evaluation instances, streams 10-11, chose the runs)")
    p.add_argument("--eval-tokens", type=int, default=131072)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--ckpt-every", type=float, default=90.0)
    p.add_argument("--device", default=None)
    p.add_argument("--n-samples", type=int, default=20)
    p.add_argument("--keep-misses", action="store_true", help="samples: keep instances the model misses (tests)")
    a = p.parse_args()
    if a.quick:
        a.hidden, a.ffn, a.layers, a.heads, a.kv_heads, a.head_dim = 64, 128, 2, 2, 1, 32
        a.max_train_len, a.tokens_per_step, a.workers = 1024, 8192, 2
        a.pool_words, a.eval_pool_words, a.eval_n, a.eval_procs = 300_000, 200_000, 6, 1
        a.calib_lengths = [256, 1024]
        a.time_budget = a.time_budget if a.time_budget != 380.0 else 20.0
        a.warmup, a.log_every = 5, 2
    if a.alloc_conf is not None:  # read when torch first touches CUDA, so set before anything imports torch
        os.environ["PYTORCH_CUDA_ALLOC_CONF"] = a.alloc_conf
    if a.device is None:
        import torch
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    a.out = a.out or os.path.join(a.model_dir, "hf")
    if a.stage in ("prepare", "all"):
        prepare(a)
    if a.stage in ("train", "all"):
        train(a)
    if a.stage in ("samples", "all"):
        a.hf_dir = a.hf_dir or a.out
        samples(a)
    if a.stage == "finish":
        finish(a)
    if a.stage == "evaluate":
        evaluate(a)


if __name__ == "__main__":
    main()
