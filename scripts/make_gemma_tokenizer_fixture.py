#!/usr/bin/env python3
"""A tokenizer.json with the components of Gemma's (as GemmaTokenizer builds it), and the ids the `tokenizers`
library gives for the texts of make_tokenizer_fixtures.py plus Gemma chat turns, for GemmaTokenizerTests.

    ~/refenv/bin/python scripts/make_gemma_tokenizer_fixture.py [--out-dir Tests/Fixtures/tokenizers/gemma]

Gemma's real tokenizer cannot be downloaded here; this one has its shape on the SentencePiece pieces of the
committed llama2.tokenizer.json (so it needs no training and comes out the same on every run):
<pad> <eos> <bos> <unk> <mask> and control tokens first (special), user-defined symbols (added, not special:
"<table>" and a tab pair matched in the raw text, "▁▁" matched after the normalizer), the 256 byte tokens,
then the pieces; normalizer Replace(" ", "▁"), pre-tokenizer Split(" ", merged_with_previous), BPE with
byte fallback and fused <unk>, decoder Replace + ByteFallback + Fuse, post-processor "<bos> $A".

Writes tokenizer.json and cases.json: versions, and per case the text, add_special_tokens and the ids.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions  # noqa: E402
from make_tokenizer_fixtures import TEXTS  # noqa: E402

VERSIONS = check_reference_versions()

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GEMMA_TEXTS = [
    "<start_of_turn>user\nMake a <table> of  two<end_of_turn>\n<start_of_turn>model\n\t\tok<eos><bos>",
    "  two spaces,   three,    four ▁▁ literal",
    "<mask><unk><pad>unknown ☃ snow",
]


def make_gemma() -> Tokenizer:
    llama2 = json.loads((REPO / "Tests/Fixtures/tokenizers/llama2.tokenizer.json").read_text())["model"]
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    symbols = ["<table>", "\t\t", "▁▁"]
    layout = {t: i for i, t in enumerate(specials + symbols)}
    for piece in sorted(llama2["vocab"], key=llama2["vocab"].get):
        if piece not in layout and piece not in ("<s>", "</s>"):
            layout[piece] = len(layout)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in llama2["merges"]]
    tok = Tokenizer(models.BPE(vocab=layout, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous", invert=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    tok.add_tokens([AddedToken("<table>", normalized=False, special=False), AddedToken("\t\t", normalized=False, special=False),
                    AddedToken("▁▁", normalized=True, special=False)])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos>:1 $B:1",
                                                       special_tokens=[("<bos>", 2)])
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(REPO / "Tests/Fixtures/tokenizers/gemma"))
    out = Path(ap.parse_args().out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(make_gemma().to_str(pretty=True) + "\n", encoding="utf-8")
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    cases = [{"text": text, "add_special_tokens": special, "ids": tok.encode(text, add_special_tokens=special).ids}
             for text in TEXTS + GEMMA_TEXTS for special in (True, False)]
    (out / "cases.json").write_text(json.dumps({"versions": VERSIONS, "cases": cases}, ensure_ascii=False, indent=1) + "\n",
                                    encoding="utf-8")
    print(f"{len(cases)} cases in {out}")


if __name__ == "__main__":
    main()
