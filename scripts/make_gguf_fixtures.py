#!/usr/bin/env python3
"""Golden fixtures for QuantKit's GGUF reader and dequantizers, made with the gguf package itself.

    ~/refenv/bin/python scripts/make_gguf_fixtures.py [--out-dir Tests/Fixtures/gguf]

Writes (gguf 0.19.0, numpy 2.4.6, pins in scripts/requirements-ref.txt):

* types.gguf (GGUF v3, alignment 32): metadata of every value type, typed arrays, nested arrays and
  UTF-8 strings; one tensor per supported ggml type. F32/F16 are written as arrays; BF16, Q4_0, Q4_1,
  Q5_0, Q5_1 and Q8_0 are quantized from seeded normal data with gguf.quants.quantize. The package
  cannot quantize Q4_K, Q5_K or Q6_K (no quantize_blocks), so those blocks are built byte by byte:
  random codes, random packed 6-bit scales/mins (int8 scales for Q6_K) and fp16 super-scales of a
  realistic size. manifest.json records which way each tensor was made.
* expected.safetensors: gguf.quants.dequantize of every tensor's bytes (float32, PyTorch shape), after
  checking that gguf.GGUFReader reads back the bytes written.
* v2_align64.gguf: a small file with general.alignment = 64, its version field set to 2 (the writer
  only writes 3; v2 and v3 little-endian files are laid out the same).
* broken_*.gguf: one defect each, made by patching a valid small file (see BROKEN below).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import check_reference_versions  # noqa: E402  (scripts/refenv.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent.parent / "Tests/Fixtures/gguf"))
    args = parser.parse_args()
    versions = check_reference_versions()

    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as T, GGUFValueType as V
    from safetensors.numpy import save_file

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20250607)

    def write(path: Path, arch: str, metadata, tensors, alignment: int | None = None) -> None:
        writer = gguf.GGUFWriter(str(path), arch)
        if alignment is not None:
            writer.add_custom_alignment(alignment)
        for key, value, vtype, sub in metadata:
            writer.add_key_value(key, value, vtype, sub)
        for name, data, raw_dtype in tensors:
            writer.add_tensor(name, data, raw_dtype=raw_dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    # ---- metadata of every type -------------------------------------------------------------------
    metadata = [
        ("test.u8", 200, V.UINT8, None),
        ("test.i8", -100, V.INT8, None),
        ("test.u16", 60000, V.UINT16, None),
        ("test.i16", -30000, V.INT16, None),
        ("test.u32", 4_000_000_000, V.UINT32, None),
        ("test.i32", -2_000_000_000, V.INT32, None),
        ("test.f32", 3.25, V.FLOAT32, None),
        ("test.bool", True, V.BOOL, None),
        ("test.string", "héllo ☃ world", V.STRING, None),
        ("test.empty_string", "", V.STRING, None),
        ("test.u64", 2**63 + 5, V.UINT64, None),
        ("test.i64", -(2**62) - 7, V.INT64, None),
        ("test.f64", 2.718281828459045, V.FLOAT64, None),
        ("test.array_i32", [1, -2, 3], V.ARRAY, None),
        ("test.array_u8", b"\x00\x7f\xff", V.ARRAY, None),
        ("test.array_f32", [0.5, -1.5], V.ARRAY, V.FLOAT32),
        ("test.array_u64", [0, 2**64 - 1], V.ARRAY, V.UINT64),
        ("test.array_bool", [True, False, True], V.ARRAY, None),
        ("test.array_string", ["a", "", "ünï"], V.ARRAY, None),
        ("test.nested", [[1, 2], [3]], V.ARRAY, None),
        ("test.nested_strings", [["x"], ["y", "z"]], V.ARRAY, None),
    ]

    # ---- one tensor per supported type --------------------------------------------------------------
    def normal(shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def half_bytes(values):
        return np.asarray(values, dtype=np.float16).view(np.uint8)

    def k_blocks(qtype, n_blocks):
        """Valid random super-blocks: random codes and packed scales, fp16 scales of a realistic size."""
        d = half_bytes(rng.uniform(2e-4, 2e-3, (n_blocks, 1)))
        dmin = half_bytes(rng.uniform(1e-4, 1e-3, (n_blocks, 1)))
        if qtype == T.Q4_K:
            body = rng.integers(0, 256, (n_blocks, 12 + 128), dtype=np.uint8)
            return np.concatenate([d, dmin, body], axis=1)
        if qtype == T.Q5_K:
            body = rng.integers(0, 256, (n_blocks, 12 + 32 + 128), dtype=np.uint8)
            return np.concatenate([d, dmin, body], axis=1)
        assert qtype == T.Q6_K
        body = rng.integers(0, 256, (n_blocks, 128 + 64 + 16), dtype=np.uint8)
        return np.concatenate([body, d], axis=1)

    tensors = []  # (name, bytes or float array, raw_dtype, qtype, how)
    f32 = normal((3, 5), 1.0)
    f32.flat[:4] = [0.0, -0.0, np.inf, 1e-40]  # signed zero, infinity, a subnormal
    tensors.append(("f32", f32, None, T.F32, "array"))
    f16 = normal((2, 7), 1.0).astype(np.float16)
    f16.flat[:4] = [np.float16(-0.0), np.float16(np.inf), np.float16(6e-8), np.float16(65504)]
    tensors.append(("f16", f16, None, T.F16, "array"))
    tensors.append(("norm", normal((8,), 1.0), None, T.F32, "array"))
    for name, qtype, shape in [("bf16", T.BF16, (4, 6)), ("q4_0", T.Q4_0, (3, 64)), ("q4_1", T.Q4_1, (3, 64)),
                               ("q5_0", T.Q5_0, (3, 64)), ("q5_1", T.Q5_1, (3, 64)), ("q8_0", T.Q8_0, (2, 3, 32)),
                               ("q4_K", T.Q4_K, (2, 512)), ("q5_K", T.Q5_K, (2, 512)), ("q6_K", T.Q6_K, (2, 512))]:
        data = normal(shape)
        data.reshape(-1)[:32] = 0.0  # an all-zero first block (d = 0)
        try:
            raw = gguf.quants.quantize(data, qtype)
            how = "gguf.quants.quantize"
        except NotImplementedError:
            block, size = gguf.GGML_QUANT_SIZES[qtype]
            raw = k_blocks(qtype, data.size // block).reshape(*shape[:-1], shape[-1] // block * size)
            how = "random valid blocks"
        tensors.append((name, raw, qtype, qtype, how))

    types_path = out / "types.gguf"
    write(types_path, "llama", metadata, [(n, d, r) for n, d, r, _, _ in tensors])

    expected = {}
    reader = gguf.GGUFReader(str(types_path))
    by_name = {t.name: t for t in reader.tensors}
    manifest_tensors = []
    for name, data, _, qtype, how in tensors:
        stored = by_name[name]
        assert np.asarray(stored.data).tobytes() == data.tobytes(), name
        values = gguf.quants.dequantize(data, qtype)
        expected[name] = np.ascontiguousarray(values, dtype=np.float32)
        manifest_tensors.append({"name": name, "type": qtype.name, "typeNumber": int(qtype),
                                 "shape": list(values.shape), "ggmlDimensions": [int(x) for x in stored.shape],
                                 "relativeOffset": int(stored.data_offset - reader.data_offset),
                                 "byteCount": int(stored.n_bytes), "madeBy": how})
    save_file(expected, str(out / "expected.safetensors"))

    # ---- version 2, alignment 64 --------------------------------------------------------------------
    v2_path = out / "v2_align64.gguf"
    write(v2_path, "llama", [("general.name", "v2", V.STRING, None)],
          [("a", normal((3,), 1.0), None), ("b", normal((2, 5), 1.0), None)], alignment=64)
    patch(v2_path, 4, struct.pack("<I", 2))

    # ---- broken files -------------------------------------------------------------------------------
    tiny = out / "tiny.tmp"
    tiny_tensors = [("a", np.arange(8, dtype=np.float32), None), ("b", np.arange(8, dtype=np.float32), None)]
    write(tiny, "llama", [], tiny_tensors)
    good = tiny.read_bytes()
    b_offset = info_offset_field(good, b"b")
    broken = {
        "broken_magic": good[:3] + b"X" + good[4:],
        "broken_version1": good[:4] + struct.pack("<I", 1) + good[8:],
        "broken_truncated": good[:20],
        "broken_data_cut": good[:-16],
        "broken_tensor_count": good[:8] + struct.pack("<Q", 2**40) + good[16:],
        "broken_kv_count": good[:16] + struct.pack("<Q", 2**60) + good[24:],
        "broken_string_length": good[:24] + struct.pack("<Q", 2**50) + good[32:],
        "broken_ndims": replace_at(good, info_offset_field(good, b"a", field="n_dims"), struct.pack("<I", 5)),
        "broken_offset_past_end": replace_at(good, b_offset, struct.pack("<Q", 4096)),
        "broken_overlap": replace_at(good, b_offset, struct.pack("<Q", 0)),
    }
    for name, data in broken.items():
        (out / f"{name}.gguf").write_bytes(data)
    tiny.unlink()
    write(out / "broken_alignment_zero.gguf", "llama", [("general.alignment", 0, V.UINT32, None)], tiny_tensors)
    write(out / "broken_alignment_48.gguf", "llama", [("general.alignment", 48, V.UINT32, None)], tiny_tensors)
    write(out / "unknown_type.gguf", "llama", [],
          [("a", np.arange(8, dtype=np.float32), None), ("weird", np.zeros(8, dtype=np.float32), 99)])

    manifest = {
        "generator": "scripts/make_gguf_fixtures.py",
        "versions": versions,
        "types": {"metadataKeys": [kv.name for kv in reader.fields.values() if not kv.name.startswith("GGUF.")],
                  "alignment": 32, "dataOffset": int(reader.data_offset), "tensors": manifest_tensors},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(list(out.iterdir()))} files, {total} bytes, into {out}")


def patch(path: Path, offset: int, data: bytes) -> None:
    path.write_bytes(replace_at(path.read_bytes(), offset, data))


def replace_at(blob: bytes, offset: int, data: bytes) -> bytes:
    return blob[:offset] + data + blob[offset + len(data):]


def info_offset_field(blob: bytes, name: bytes, field: str = "offset") -> int:
    """Where a tensor info's n_dims or offset field is: |u64 len|name|u32 n_dims|u64 dims…|u32 type|u64 offset|."""
    key = struct.pack("<Q", len(name)) + name + struct.pack("<I", 1)
    start = blob.index(key) + 8 + len(name)
    if field == "n_dims":
        return start
    n_dims = struct.unpack_from("<I", blob, start)[0]
    return start + 4 + 8 * n_dims + 4


if __name__ == "__main__":
    main()
