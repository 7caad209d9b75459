#!/usr/bin/env python3
"""The scale benchmark of issue 18 (`make bench-large`): qtui on a 7B-shaped checkpoint, every time as a
multiple of the matmul limit measured in the same run. Run it through bench_large.sh (which checks the
build and the reference venv); this file needs only the standard library, the generator and the torch
peer run in the reference venv.

Measures, in this order, each selectable (ONLY=sgemm,weights,… or SKIP=perplexity,…):

    sgemm       qtui bench M --sgemm: the sgemm rate on the model's product shapes, the forward's FLOPs and
                the matmul limit = FLOPs ÷ rate (measured again at the end; the faster of the two counts)
    weights     qtui bench M --repeat 1: weight analysis of every Linear (a warm-up pass, then the timed one)
    forward     qtui bench M --forward --tokens T --repeat 1: fp32 logits of T tokens
    scan        qtui scan M --tokens T: the explorer's whole background work (weights, calibration on T tokens
                of the built-in text, every layer's output errors), wall time ÷ matmul limit
    perplexity  qtui scan M --tokens T --perplexity, wall time ÷ matmul limit
    torch       transformers fp32 forward (2 threads) against qtui bench --forward on the TORCH_SIZE checkpoint
                (default 1.5b: its fp32 copy fits in memory), same T tokens, alternating ROUNDS times

Every child process is sampled every 0.2 s (/proc/PID/status): peaks of RssAnon, RssFile and VmRSS, and
its CPU time (wait4) over wall × cores. TIMEOUT=S stops a measure after S seconds and reports "> S s".
The results go to stdout as lines, then as one JSON line (also written to $QTUI_BENCH_JSON when set).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QTUI = Path(os.environ.get("QTUI_BIN", REPO / ".build/release/qtui"))  # another build to compare: QTUI_BIN=…
MEASURES = ["sgemm", "weights", "forward", "scan", "perplexity", "torch"]
GB = 1 << 30


def env_list(name: str) -> set[str]:
    items = {s.strip() for s in os.environ.get(name, "").split(",") if s.strip()}
    unknown = items - set(MEASURES)
    if unknown:
        sys.exit(f"bench-large: {name} names unknown measures {sorted(unknown)}; known: {','.join(MEASURES)}")
    return items


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    memory = next((int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory / GB, 1),
            "cpu_isa": "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other",
            "qtui_max_isa": os.environ.get("QTUI_MAX_ISA", ""), "commit": commit,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def status_kb(pid: int) -> dict[str, int]:
    try:
        text = open(f"/proc/{pid}/status").read()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("RssAnon", "RssFile", "RssShmem", "VmRSS"):
            out[key] = int(rest.split()[0])
    return out


def measure(name: str, argv: list[str], timeout: float | None) -> dict:
    """Runs argv, sampling its memory every 0.2 s; returns wall and CPU seconds, memory peaks (GB), stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        peaks = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0, "VmRSS": 0}
        timed_out, usage = False, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            for key, value in status_kb(proc.pid).items():
                peaks[key] = max(peaks[key], value)
            if timeout and time.monotonic() - start > timeout and not timed_out:
                timed_out = True
                proc.send_signal(signal.SIGKILL)
            time.sleep(0.2)
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0 and not timed_out:
        sys.exit(f"bench-large: {name} failed (exit {proc.returncode}): {' '.join(argv)}\n{stderr[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_seconds": wall, "cpu_seconds": cpu, "cpu_utilisation": cpu / wall / os.cpu_count(),
            "timed_out": timed_out, "peak_anon_gb": peaks["RssAnon"] / 2**20, "peak_file_gb": peaks["RssFile"] / 2**20,
            "peak_rss_gb": peaks["VmRSS"] / 2**20, "stdout": stdout}


def last_json(result: dict) -> dict:
    lines = [line for line in result.pop("stdout").splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def size_text(gb: float) -> str:
    return f"{gb:.2f} GB" if gb >= 1 else f"{gb * 1024:.0f} MB"


def memory_text(r: dict) -> str:
    return (f"peak RSS {size_text(r['peak_rss_gb'])} (anon {size_text(r['peak_anon_gb'])}, file {size_text(r['peak_file_gb'])}); "
            f"CPU {r['cpu_seconds']:.0f} s = {r['cpu_utilisation']:.0%} of {os.cpu_count()} cores")


def checkpoint(size: str, refenv: str) -> Path | None:
    """The generator's folder, or None when it skipped for disk space (its message is on stderr)."""
    gen = subprocess.run([f"{refenv}/bin/python", str(REPO / "scripts/bench/make_large_checkpoint.py"), "--size", size],
                         stdout=subprocess.PIPE, text=True)
    if gen.returncode == 75:
        return None
    if gen.returncode != 0:
        sys.exit(f"bench-large: the {size} checkpoint could not be written (exit {gen.returncode})")
    return Path(gen.stdout.strip().splitlines()[-1])


def main() -> None:
    size, tokens = os.environ.get("SIZE", "7b"), int(os.environ.get("TOKENS", "512"))
    torch_size, rounds = os.environ.get("TORCH_SIZE", "1.5b"), int(os.environ.get("ROUNDS", "2"))
    timeout = float(os.environ["TIMEOUT"]) if os.environ.get("TIMEOUT") else None
    refenv = os.environ.get("QTUI_REFENV", str(Path.home() / "refenv"))
    only, skip = env_list("ONLY"), env_list("SKIP")
    chosen = [m for m in MEASURES if (not only or m in only) and m not in skip]
    info = machine()
    build = f"qtui {QTUI} (QTUI_BIN)" if "QTUI_BIN" in os.environ else f"qtui {info['commit']}"
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, CPU ISA {info['cpu_isa']}, "
          f"QTUI_MAX_ISA={info['qtui_max_isa'] or '(unset)'}; {build}; {info['date']}; load {load()}")
    results: dict = {"machine": info, "size": size, "tokens": tokens, "measures": chosen}
    needs_model = [m for m in chosen if m != "torch"]
    model = checkpoint(size, refenv) if needs_model else None
    if needs_model and model is None:
        print(f"bench-large: SKIPPED {','.join(needs_model)}: not enough disk for the {size} checkpoint (see above)")
        chosen = [m for m in chosen if m == "torch"]
    if model is not None:
        stamp = json.loads((model / "stamp.json").read_text())
        shape = stamp["shape"]
        results["model"] = {"path": str(model), **stamp}
        print(f"model: {model} — {stamp['parameters'] / 1e9:.2f} G params BF16, {shape['num_hidden_layers']} blocks, "
              f"hidden {shape['hidden_size']}, MLP {shape['intermediate_size']}, heads {shape['num_attention_heads']}/"
              f"{shape['num_key_value_heads']}, vocab {stamp['vocab']}; tokenizer: {stamp['tokenizer']}")
    qtui, m = str(QTUI), str(model)
    limit, limit_cpu = None, None

    def sgemm(label: str) -> None:
        nonlocal limit, limit_cpu
        r = measure("sgemm", [qtui, "bench", m, "--sgemm", "--tokens", str(tokens), "--repeat", "2"], None)
        line = last_json(r)
        results.setdefault("sgemm", []).append({**line, **r})
        if line["matmul_limit_seconds"] < (limit or float("inf")):
            limit, limit_cpu = line["matmul_limit_seconds"], line["matmul_limit_cpu_seconds"]
        print(f"sgemm ({label}): {line['gflop_per_s']:.1f} GFLOP/s on the model's shapes ({tokens} rows, all cores, load "
              f"{line['load_average']}); forward {line['forward_gflop']:.0f} GFLOP ({line['attention_gflop']:.0f} in attention) "
              f"→ matmul limit {line['matmul_limit_seconds']:.2f} s ({line['matmul_limit_cpu_seconds']:.1f} CPU-s)")

    if "sgemm" in chosen or any(x in chosen for x in ("scan", "perplexity", "forward")):
        sgemm("start")
    if "weights" in chosen:
        r = measure("weights", [qtui, "bench", m, "--repeat", "1"], timeout)
        line = last_json(r)
        results["weights"] = {**line, **r}
        if line:
            # Both passes' CPU time: what the analysis costs whatever else the shared machine runs.
            per_cpu_second = 2 * line["parameters"] / r["cpu_seconds"] / 1e9
            print(f"weights: {line['mparam_per_s'] / 1e3:.2f} Gparam/s ({line['parameters'] / 1e9:.2f} G Linear params in "
                  f"{line['best_seconds']:.1f} s, kernels {line['isa']}; wall with the warm-up {r['wall_seconds']:.0f} s; "
                  f"{per_cpu_second:.2f} Gparam per CPU-second over both passes); {memory_text(r)}")
        else:
            print(f"weights: > {timeout:.0f} s (stopped); {memory_text(r)}")
    if "forward" in chosen:
        r = measure("forward", [qtui, "bench", m, "--forward", "--tokens", str(tokens), "--repeat", "1"], timeout)
        line = last_json(r)
        results["forward"] = {**line, **r}
        if line:
            print(f"forward: {line['tokens_per_s']:.1f} tokens/s ({line['best_seconds']:.1f} s for {tokens} tokens = "
                  f"{line['best_seconds'] / limit:.2f}× the matmul limit); {memory_text(r)}")
        else:
            print(f"forward: > {timeout:.0f} s (stopped); {memory_text(r)}")
    for name, extra in (("scan", []), ("perplexity", ["--perplexity"])):
        if name not in chosen:
            continue
        r = measure(name, [qtui, "scan", m, "--tokens", str(tokens), "--format", "json", *extra], timeout)
        stdout = r.pop("stdout")
        report = {} if r["timed_out"] else json.loads(stdout)
        seen = (report.get("calibration") or {}).get("tokens")
        results[name] = {**r, "calibration_tokens": seen, "ratio": r["wall_seconds"] / limit,
                         "cpu_ratio": r["cpu_seconds"] / limit_cpu}
        bound = ">" if r["timed_out"] else "="
        print(f"{name}: {' '.join(['qtui scan', *extra])} {bound} {r['wall_seconds']:.0f} s {bound} {r['wall_seconds'] / limit:.1f}× the "
              f"matmul limit{'' if r['timed_out'] else f' (calibrated on {seen} tokens)'}; by CPU time {bound} "
              f"{r['cpu_seconds'] / limit_cpu:.1f}× the limit's; {memory_text(r)}")
    if "torch" in chosen:
        torch_pair(torch_size, tokens, rounds, timeout, refenv, results)
    if "sgemm" in chosen and any(x in chosen for x in ("weights", "forward", "scan", "perplexity")):
        sgemm("end")
        for name in ("scan", "perplexity"):
            if name in results:
                results[name]["ratio"] = results[name]["wall_seconds"] / limit
                results[name]["cpu_ratio"] = results[name]["cpu_seconds"] / limit_cpu
    results["matmul_limit_seconds"], results["matmul_limit_cpu_seconds"] = limit, limit_cpu
    results["targets"] = targets(results, limit)
    print(f"load after: {load()}")
    for t in results["targets"]:
        print(f"target {t['name']}: {t['value']} (target {t['target']}): {t['verdict']}")
    text = json.dumps(results, sort_keys=True)
    if os.environ.get("QTUI_BENCH_JSON"):
        Path(os.environ["QTUI_BENCH_JSON"]).write_text(text + "\n")
    print(text)


def torch_pair(size: str, tokens: int, rounds: int, timeout: float | None, refenv: str, results: dict) -> None:
    """qtui's forward and transformers' fp32 forward of the same checkpoint and tokens, alternating."""
    folder = checkpoint(size, refenv)
    if folder is None:
        print(f"torch: SKIPPED (not enough disk for the {size} checkpoint)")
        return
    peer = [f"{refenv}/bin/python", str(REPO / "scripts/bench/bench_peer_runtime.py"), "--model", str(folder),
            "--tokens", str(tokens), "--repeat", "1"]
    ours = [str(QTUI), "bench", str(folder), "--forward", "--tokens", str(tokens), "--repeat", "1"]
    best = {"qtui": float("inf"), "torch": float("inf")}
    cpu = {"qtui": 0.0, "torch": 0.0}
    runs = []
    for round_ in range(rounds):
        for side, argv in (("qtui", ours), ("torch", peer)):
            r = measure(f"{side} forward ({size})", argv, timeout)
            line = last_json(r)
            runs.append({"side": side, **line, **r})
            if line and line["best_seconds"] < best[side]:
                best[side], cpu[side] = line["best_seconds"], line["best_cpu_seconds"]
            print(f"  {side} round {round_ + 1} on {size}: "
                  + (f"{tokens / line['best_seconds']:.1f} tokens/s ({line['best_seconds']:.1f} s, {line['best_cpu_seconds']:.1f} CPU-s)"
                     if line else f"> {timeout:.0f} s (stopped)")
                  + f"; {memory_text(r)}")
    ratio = best["torch"] / best["qtui"]
    # CPU time of the same best runs: on a shared machine the sides get different shares of the cores
    # (torch's OpenMP workers spin and keep theirs), so this says what each pass costs as work.
    cpu_ratio = cpu["torch"] / cpu["qtui"] if cpu["qtui"] else float("nan")
    results["torch"] = {"size": size, "path": str(folder), "runs": runs, "qtui_tokens_per_s": tokens / best["qtui"],
                        "torch_tokens_per_s": tokens / best["torch"], "ratio": ratio, "cpu_ratio": cpu_ratio}
    print(f"torch: on the {size} checkpoint, {tokens} tokens: qtui {tokens / best['qtui']:.1f} tokens/s, transformers fp32 "
          f"{tokens / best['torch']:.1f} tokens/s: qtui/torch = {ratio:.2f}× by wall time, {cpu_ratio:.2f}× by CPU time")


def targets(results: dict, limit: float | None) -> list[dict]:
    """Issue 18's targets, each with what this run measured."""
    out = []

    def add(name, value, target, met):
        """met: True, False, or None when a measure stopped early before deciding it."""
        verdict = {True: "met", False: "NOT met", None: "not known (stopped early)"}[met]
        out.append({"name": name, "value": value, "target": target, "verdict": verdict})

    for name, bound in (("scan", 2), ("perplexity", 8)):
        r = results.get(name)
        if r:
            label = "background work (scan)" if name == "scan" else "scan --perplexity"
            met = False if r["ratio"] > bound else None if r["timed_out"] else True
            add(label, f"{'>' if r['timed_out'] else ''}{r['ratio']:.1f}× matmul limit", f"≤ {bound}×", met)
    if "torch" in results:
        add("forward vs torch fp32", f"{results['torch']['ratio']:.2f}×", "≥ 1.5×", results["torch"]["ratio"] >= 1.5)
    measured = {k: results[k] for k in ("weights", "scan", "perplexity") if k in results}
    if measured:
        anon = max(r["peak_anon_gb"] for r in measured.values())
        rss = max(r["peak_rss_gb"] for r in measured.values())
        stopped = [k for k, r in measured.items() if r["timed_out"]]
        note = f" (so far: {', '.join(stopped)} stopped early)" if stopped else ""
        add("anonymous memory", f"{anon:.2f} GB{note}", "≤ 2 GB", False if anon > 2 else None if stopped else True)
        add("RSS", f"{rss:.2f} GB{note}", "≤ 4 GB", False if rss > 4 else None if stopped else True)
    w = results.get("weights")
    if w and "mparam_per_s" in w:
        isa = w.get("isa", "")
        note = "" if not isa.startswith("avx512") else " (kernels avx512: QTUI_MAX_ISA=avx2 measures the target)"
        add(f"weights, kernels {isa}{note}", f"{w['mparam_per_s'] / 1e3:.2f} Gparam/s", "≥ 1 Gparam/s on AVX2", w["mparam_per_s"] >= 1000)
    return out


if __name__ == "__main__":
    main()
