#!/usr/bin/env python3
"""Tokenizer fixtures for the phi3, gpt_neox, opt and falcon families (issue 15): small tokenizer.json files that
mirror each family's released components, and the ids the Hugging Face `tokenizers` library gives them.

    ~/refenv/bin/python scripts/make_arch_tokenizer_fixtures.py [--out-dir Tests/Fixtures/tokenizers/archs]

Trained like make_tokenizer_fixtures.py (same corpus, same TEXTS, its helpers), one per family:
  - pythia (gpt_neox): NFC normalizer, ByteLevel(add_prefix_space=False, trim_offsets=True) with the GPT-2 regex,
    ByteLevel post-processor, <|endoftext|> and <|padding|>, and the non-special runs of spaces GPT-NeoX-20B's
    tokenizer adds as tokens (normalized, not special).
  - opt: GPT-2's byte-level BPE with OPT's specials (<s> <pad> </s> <unk>) and the template transformers builds
    for add_bos_token: "</s> $A" (OPT's BOS is </s>).
  - falcon: Sequence[Punctuation(Contiguous), ByteLevel(use_regex=False), Digits, Split("[0-9][0-9][0-9]",
    Isolated)], ByteLevel post-processor, >>TITLE<< style specials.
  - phi4-mini (phi3): Split(the o200k regex Phi-4-mini's file uses, Isolated) + ByteLevel(use_regex=False),
    chat specials.
  - phi3-mini (phi3): the SentencePiece-style BPE of make_tokenizer_fixtures' llama2 (Prepend + Replace,
    byte_fallback) with Phi-3's chat tokens, special and rstrip (a space after <|assistant|> is eaten).

Writes <out-dir>/<name>.tokenizer.json and <out-dir>/cases.json (versions, per tokenizer its file and
vocabulary size, the cases {tokenizer, text, add_special_tokens, ids}), in make_tokenizer_fixtures' format.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_fixtures import (  # noqa: E402  (checks the pinned versions)
    REPO, TEXTS, VERSIONS, byte_level_bpe, dump_cases, sentencepiece_pieces, sentencepiece_tokenizer,
)

from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers, processors  # noqa: E402

O200K_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
ARCH_TEXTS = TEXTS + [
    "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|> It is 4.<|end|><|endoftext|>",
    ">>TITLE<<Falcon>>ABSTRACT<< Hello... world?! (yes) -- 'quoted' \"double\" 1234567 12 123",
    "<|padding|>x<|endoftext|>" + " " * 24 + "y" + " " * 8 + "z\n    w",
]


def make_pythia() -> Tokenizer:
    tok = byte_level_bpe(600, ["<|endoftext|>", "<|padding|>"],
                         pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True))
    tok.normalizer = normalizers.NFC()
    tok.add_tokens([AddedToken(" " * n, normalized=True, special=False) for n in (24, 8, 4, 3, 2)])
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return tok


def make_opt() -> Tokenizer:
    special = ["<s>", "<pad>", "</s>", "<unk>"]
    tok = byte_level_bpe(550, special, pre_tokenizers.ByteLevel(add_prefix_space=False))
    bos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="</s> $A", pair="</s> $A </s> $B:1",
                                                       special_tokens=[("</s>", bos)])
    return tok


def make_falcon() -> Tokenizer:
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Split(Regex("[0-9][0-9][0-9]"), behavior="isolated", invert=False),
    ])
    tok = byte_level_bpe(600, [">>TITLE<<", ">>ABSTRACT<<", ">>INTRODUCTION<<", "<|endoftext|>"], pre)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return tok


def make_phi4_mini() -> Tokenizer:
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(O200K_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok = byte_level_bpe(650, ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], pre)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def make_phi3_mini() -> Tokenizer:
    vocab, merges = sentencepiece_pieces()
    tok = sentencepiece_tokenizer(vocab, merges, byte_fallback=True)
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False, special=True)]
                           + [AddedToken(t, rstrip=True, normalized=False, special=True)
                              for t in ("<|assistant|>", "<|user|>", "<|end|>", "<|system|>")])
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(REPO / "Tests" / "Fixtures" / "tokenizers" / "archs"))
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = {
        "pythia": (make_pythia(), "gpt_neox: NFC, ByteLevel, space-run added tokens"),
        "opt": (make_opt(), "opt: byte-level BPE, </s> $A"),
        "falcon": (make_falcon(), "falcon: Punctuation + ByteLevel + Digits + Split(3 digits)"),
        "phi4-mini": (make_phi4_mini(), "phi3 (Phi-4-mini): Split(o200k regex) + ByteLevel"),
        "phi3-mini": (make_phi3_mini(), "phi3 (Phi-3-mini): SentencePiece BPE, rstrip chat tokens"),
    }
    manifest = {"versions": VERSIONS, "tokenizers": {}, "cases": []}
    for name, (tok, note) in built.items():
        path = out_dir / f"{name}.tokenizer.json"
        path.write_text(tok.to_str(pretty=True) + "\n", encoding="utf-8")
        tok = Tokenizer.from_file(str(path))
        size = tok.get_vocab_size(with_added_tokens=True)
        manifest["tokenizers"][name] = {"file": path.name, "note": note, "vocab_size": size}
        for text in ARCH_TEXTS:
            for special in (True, False):
                ids = tok.encode(text, add_special_tokens=special).ids
                manifest["cases"].append({"tokenizer": name, "text": text, "add_special_tokens": special, "ids": ids})
    (out_dir / "cases.json").write_text(dump_cases(manifest), encoding="utf-8")
    total = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"{len(manifest['cases'])} cases, {len(built)} tokenizers, {total} bytes in {out_dir}")


if __name__ == "__main__":
    main()
