#!/usr/bin/env python3
"""Llama GGUF files with a SentencePiece tokenizer, for GGUFSentencePieceTests
(Tests/Fixtures/gguf/sentencepiece/).

    ~/refenv/bin/python scripts/make_gguf_sentencepiece_fixture.py [--out-dir Tests/Fixtures/gguf/sentencepiece]

1. The vocabulary of Tests/Fixtures/tokenizers/llama2.tokenizer.json (<unk> <s> </s>, <0x00>..<0xFF>,
   then the trained pieces) plus a control token <|im_start|> and a user-defined token <think>, written
   as llama.cpp writes a SentencePiece vocabulary ("llama" tokenizer model): tokens, scores (no merges),
   token_type (2 unknown, 3 control, 6 byte, 4 user-defined, 1 normal), bos/eos/unk/padding ids.
   A piece's score is minus half the rank of the merge that made it, so neighbouring pieces tie and
   transformers' ordering of tied merges is exercised too; single characters and special tokens score 0.
2. No tensors: only the tokenizer is under test, and conversion writes an empty model.safetensors.
   Three files:
   - llama.gguf leaves add_bos_token out (transformers then adds BOS, as llama.cpp does);
   - eos-only.gguf says add_bos_token false, add_eos_token true;
   - renamed-specials.gguf calls the first three tokens <pad> <bos> <eos>, names only bos and eos,
     has no token_type and says add_space_prefix false: transformers ignores that flag, and still
     adds LlamaTokenizer's default <s> </s> <unk> as special tokens, appended after the vocabulary.
3. For each, <name>.tokenizer.json: the tokenizer.json transformers' own GGUF tokenizer
   (AutoTokenizer.from_pretrained(folder, gguf_file=...)) builds, serialized by tokenizers; and
   expected.json: the ids that tokenizer gives each text of TEXTS, with and without special tokens.
   (QuantKit's tokenizer does not decode, so no decoded text is recorded.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions, quiet_reference_libraries  # noqa: E402  (scripts/refenv.py)

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "Tests/Fixtures/tokenizers/llama2.tokenizer.json"

TEXTS = [
    "",
    "the cat sat on the mat.",
    " leading space",
    "   three leading spaces and  two  inside",
    "trailing spaces   ",
    "line one\nline two\n\n\tindented",
    "digits 0123456789 and 3.14159",
    "accents: café naïve, CJK: 中文, emoji: 🦙",
    "<s>control in text</s> and <unk> too",
    "<|im_start|>user\nhello<think>why</think>",
    "x<s>y",
    "\n",
    " ",
]


def score_table(source: dict) -> dict[str, float]:
    """Minus half the merge rank for every merged piece (the first merge that makes it)."""
    scores: dict[str, float] = {}
    for rank, merge in enumerate(source["model"]["merges"]):
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        scores.setdefault(left + right, -float(rank // 2))
    return scores


def write_gguf(path: Path, tokens: list[str], scores: list[float], types: list[int] | None, ids: dict[str, int],
               flags: dict[str, bool]) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    if types is not None:
        writer.add_token_types(types)
    for name, token_id in ids.items():
        getattr(writer, f"add_{name}_token_id")(token_id)
    for name, value in flags.items():
        getattr(writer, f"add_{name}")(value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(REPO / "Tests/Fixtures/gguf/sentencepiece"))
    args = parser.parse_args()
    versions = check_reference_versions()
    quiet_reference_libraries()
    from transformers import AutoTokenizer

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = json.loads(SOURCE.read_text())
    vocab = source["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get) + ["<|im_start|>", "<think>"]
    merged = score_table(source)
    scores = [merged.get(token, 0.0) for token in tokens]
    special = {"<unk>": 2, "<s>": 3, "</s>": 3, "<|im_start|>": 3, "<think>": 4}
    types = [special.get(t, 6 if t.startswith("<0x") and len(t) == 6 else 1) for t in tokens]

    expected = {"texts": TEXTS, "files": {},
                "versions": {k: versions[k] for k in ("transformers", "tokenizers", "gguf")}}
    ids = {"unk": 0, "bos": 1, "eos": 2, "pad": 0}
    renamed = ["<pad>", "<bos>", "<eos>"] + tokens[3:]
    variants = [("llama", tokens, types, ids, {}),
                ("eos-only", tokens, types, ids, {"add_bos_token": False, "add_eos_token": True}),
                ("renamed-specials", renamed, None, {"bos": 1, "eos": 2}, {"add_space_prefix": False})]
    for name, vocabulary, token_types, token_ids, flags in variants:
        path = out / f"{name}.gguf"
        write_gguf(path, vocabulary, scores, token_types, token_ids, flags)
        tokenizer = AutoTokenizer.from_pretrained(str(out), gguf_file=path.name)
        (out / f"{name}.tokenizer.json").write_text(tokenizer.backend_tokenizer.to_str() + "\n")
        cases = []
        for text in TEXTS:
            with_special = tokenizer(text)["input_ids"]
            without = tokenizer(text, add_special_tokens=False)["input_ids"]
            cases.append({"text": text, "ids": with_special, "ids_without_special_tokens": without})
        expected["files"][path.name] = {"metadata": {**{f"{k}_token_id": v for k, v in token_ids.items()}, **flags},
                                        "tokenizer": f"{name}.tokenizer.json", "cases": cases}
    # One case per line: readable diffs, small file.
    text = json.dumps(expected, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\s*([0-9,\s]*?)\s*\]", lambda m: "[" + ", ".join(n.strip() for n in m.group(1).split(",") if n.strip()) + "]", text)
    (out / "expected.json").write_text(text + "\n")
    print(f"wrote {out}: {len(tokens)} tokens, {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
