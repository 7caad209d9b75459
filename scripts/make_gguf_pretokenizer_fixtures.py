#!/usr/bin/env python3
"""Tokenizer-only GGUF files, one per split regex transformers maps `tokenizer.ggml.pre` to, for
GGUFPreTokenizerTests (Tests/Fixtures/gguf/pre-tokenizers/).

    ~/refenv/bin/python scripts/make_gguf_pretokenizer_fixtures.py [--out-dir Tests/Fixtures/gguf/pre-tokenizers]

1. table.json: transformers 5.24's GGUF_PRE_TOKENIZER_SPLITS itself (integrations/gguf/
   gguf_tokenizer_mapping.py), every `pre` name → its regex, so the test can demand that QuantKit's
   table is the same, name for name.
2. One byte-level BPE vocabulary for all files, trained here with no split at all (ByteLevel,
   use_regex false, one word per line), so its merges cross every boundary a split regex draws:
   " 1", "12", "'L", "L ", ".\\n", … — whichever regex splits a text differently changes its ids.
   The corpus is scripts/tokenizer_corpus.txt plus TEXTS; all 256 byte tokens are in the vocabulary.
3. For one `pre` name of each distinct regex in the table (llama-bpe for Llama 3's), and for "smollm" (a name
   transformers does not know, so it keeps GPT2Tokenizer's ByteLevel regex), <pre>.gguf: written as
   llama.cpp writes a "gpt2" tokenizer (tokens, token_type with <|begin_of_text|> <|end_of_text|>
   control, merges, bos/eos ids, add_bos_token true, add_eos_token true for smollm only, so both
   templates are checked), architecture llama, no tensors;
   <pre>.tokenizer.json: what AutoTokenizer.from_pretrained(folder, gguf_file=...) builds from it.
4. expected.json: for each file, that tokenizer's ids for every text of TEXTS (with and without the
   BOS). Checked before writing: every regex tokenizes at least one text differently from GPT-2's
   ByteLevel regex, and every two regexes differ on at least one text, or the texts prove nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "scripts/tokenizer_corpus.txt"
VOCAB_SIZE = 520
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>"]
UNKNOWN_PRE = "smollm"

# Texts where the regexes part ways: contractions in upper and mixed case (only Qwen's and Llama 3's
# are case-insensitive; GPT-4o's hang them on the word), digit runs (GPT-2 one run, Llama 3 and GPT-4o
# threes, Qwen and Tekken ones), case changes inside a word (Tekken and GPT-4o split "HelloWorld"),
# combining marks (Qwen3.5 and GPT-4o count \p{M} as part of a word), slashes after punctuation
# (Tekken, GPT-4o), newlines and space runs, punctuation runs, other scripts.
TEXTS = [
    "",
    "I'LL say DON'T, she'll, they'RE, WE'VE, it'S, I'M, he'D",
    "digits 12345678 and 3.14159, 1,000,000 and x2y34z",
    "HelloWorld McDonald iPhone XMLHttpRequest ǅemo",
    "cafe\u0301 nai\u0308ve e\u0301te\u0301 \u0915\u093f\u0924\u093e\u092c",
    "line one\nline two\n\n\tindented  twice   \n",
    "!!!...???\n\n(a)+[b]...\n{c}  --> ok\r\n",
    "path/to/file.txt //comment\n/root:/usr/bin;\n/etc!\n\n//",
    "Привет, мир! 中文 العربية ελληνικά 🦙🦙",
    "  leading and trailing  ",
    "long s: it'ſ and Kelvin 'K",
    "<|begin_of_text|>a 12 b<|end_of_text|>",
    "tabs\t\tand\u00a0nbsp\u3000ideographic\u0085next",
    "xxx 1234567890123 Ⅻ ² ³ ٣٤٥",
]


def training_lines() -> list[str]:
    lines = [line for line in CORPUS.read_text().splitlines() if line.strip()]
    return lines + TEXTS * 8


def train_vocabulary():
    """(tokens in id order, merges as "a b"): the byte alphabet, the trained merges, then the specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(training_lines(), trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    tokens = sorted(model["vocab"], key=model["vocab"].get) + SPECIALS
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, merges


def write_gguf(path: Path, pre: str, tokens: list[str], merges: list[str], add_eos: bool) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in SPECIALS else 1 for token in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|begin_of_text|>"))
    writer.add_eos_token_id(tokens.index("<|end_of_text|>"))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(add_eos)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def first_name_per_regex(table: dict[str, str]) -> dict[str, str]:
    """One `pre` name per distinct regex: the first in the table, but llama-bpe (what Llama 3.x files
    carry) for Llama 3's."""
    names: dict[str, str] = {}
    for name in sorted(table, key=lambda name: name != "llama-bpe"):
        names.setdefault(table[name], name)
    return {name: regex for regex, name in names.items()}


def check_texts_tell_regexes_apart(ids: dict[str, list[list[int]]], regexes: dict[str, str | None]) -> dict:
    """How many texts each file tokenizes differently from GPT-2's regex; exits when any regex
    matches GPT-2's, or another regex's, on every text."""
    gpt2 = ids[UNKNOWN_PRE]
    told_apart = {}
    for name in regexes:
        if name == UNKNOWN_PRE:
            continue
        told_apart[name] = sum(a != b for a, b in zip(ids[name], gpt2))
        assert told_apart[name] > 0, f"{name}: no text tokenizes differently from GPT-2's regex"
    for a, b in combinations(regexes, 2):
        assert ids[a] != ids[b], f"{a} and {b}: no text tells their regexes apart"
    return told_apart


def compact(text: str) -> str:
    """One id list per line: readable diffs, small file."""
    return re.sub(r"\[\s*([0-9,\s]*?)\s*\]",
                  lambda m: "[" + ", ".join(n.strip() for n in m.group(1).split(",") if n.strip()) + "]", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(REPO / "Tests/Fixtures/gguf/pre-tokenizers"))
    args = parser.parse_args()
    versions = check_reference_versions()
    quiet_reference_libraries()
    from transformers import AutoTokenizer
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assert UNKNOWN_PRE not in GGUF_PRE_TOKENIZER_SPLITS
    (out / "table.json").write_text(json.dumps(GGUF_PRE_TOKENIZER_SPLITS, indent=1, ensure_ascii=False) + "\n")

    tokens, merges = train_vocabulary()
    regexes: dict[str, str | None] = {**first_name_per_regex(GGUF_PRE_TOKENIZER_SPLITS), UNKNOWN_PRE: None}
    expected = {"texts": TEXTS, "files": {}, "versions": {k: versions[k] for k in ("transformers", "tokenizers", "gguf")}}
    plain_ids: dict[str, list[list[int]]] = {}
    for pre, regex in regexes.items():
        path = out / f"{pre}.gguf"
        write_gguf(path, pre, tokens, merges, add_eos=pre == UNKNOWN_PRE)
        tokenizer = AutoTokenizer.from_pretrained(str(out), gguf_file=path.name)
        backend = json.loads(tokenizer.backend_tokenizer.to_str())
        split = backend["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] if regex else None
        assert split == regex, f"{pre}: transformers built {backend['pre_tokenizer']}"
        (out / f"{pre}.tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str() + "\n")
        cases = [{"ids": tokenizer(text)["input_ids"], "ids_without_special_tokens": tokenizer(text, add_special_tokens=False)["input_ids"]}
                 for text in TEXTS]
        plain_ids[pre] = [case["ids_without_special_tokens"] for case in cases]
        expected["files"][path.name] = {"pre": pre, "tokenizer": f"{pre}.tokenizer.json", "cases": cases}
    told_apart = check_texts_tell_regexes_apart(plain_ids, regexes)
    for pre, count in told_apart.items():
        expected["files"][f"{pre}.gguf"]["texts_differing_from_gpt2"] = count
    (out / "expected.json").write_text(compact(json.dumps(expected, indent=1, ensure_ascii=False)) + "\n")
    print(f"wrote {out}: {len(tokens)} tokens, {len(merges)} merges, {len(TEXTS)} texts; "
          f"texts tokenized differently from GPT-2's regex: {told_apart}")


if __name__ == "__main__":
    main()
