"""The pinned reference environment every generator script checks before it runs (torch, bitsandbytes,
transformers, … at the versions in requirements-ref.txt), so committed fixtures always come from the
same libraries. Scripts import it from their own folder: `from refenv import check_reference_versions`.
"""

import sys
from pathlib import Path


def check_reference_versions(newer: tuple = ()) -> dict:
    """Exit unless the pins are installed. Packages named in `newer` may be at a later version: a checker
    (not a fixture generator) then warns on stderr and runs, since its verdict does not depend on the pin."""
    from importlib.metadata import PackageNotFoundError, version

    req = Path(__file__).resolve().with_name("requirements-ref.txt")
    if not req.is_file():
        sys.exit(f"error: {req} not found (it pins the reference versions)")
    pins = {}
    for line in req.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, ver = line.partition("==")
            if not sep:
                sys.exit(f"error: {req}: every line must be name==version, got {line!r}")
            pins[name.strip()] = ver.strip()
    problems = []
    if sys.version_info[:2] != (3, 11):
        problems.append(f"python {sys.version.split()[0]} (need 3.11)")
    found = {}
    for name, want in pins.items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        found[name] = have
        # a local build tag such as 2.15.0+cpu counts as 2.15.0
        if have is not None and name in newer and _release(have) > _release(want):
            print(f"warning: {name} {have} is newer than the pinned {want}; running anyway", file=sys.stderr)
        elif have is None or have.split("+", 1)[0] != want:
            problems.append(f"{name} {have or 'not installed'} (need {want})")
    if problems:
        sys.exit(
            "error: this script must run in the pinned reference environment.\n  mismatch: "
            + "; ".join(problems)
            + f"\n  install the pins with: ~/refenv/bin/pip install -r {req}\n  and run it with ~/refenv/bin/python"
        )
    return {name: found[name] for name in pins}


def _release(text: str) -> tuple:
    """(5, 25, 0) from "5.25.0" or "5.25.0.dev1+cpu": the numeric release, for ordering."""
    parts = []
    for piece in text.split("+", 1)[0].split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def quiet_reference_libraries() -> None:
    """Offline, no progress bars, no per-call notices, torch.compile off: what every generator wants from
    torch, bitsandbytes and transformers. Call it after check_reference_versions, before importing transformers
    (the environment variables are read at import)."""
    import logging
    import os
    import warnings

    for key, value in {"TORCHDYNAMO_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1"}.items():
        os.environ.setdefault(key, value)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    import torch
    from transformers.utils import logging as hf_logging

    torch._dynamo.config.disable = True
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
