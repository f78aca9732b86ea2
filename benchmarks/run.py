"""Run the benchmarks, print one table and write ``benchmarks/results.json``.

Usage::

    python -m benchmarks.run [--quick] [--only mel,loop] [--out benchmarks/results.json]
    python -m benchmarks.run --only gpu --out benchmarks/results-gpu.json   # make bench-gpu

``--quick`` (a check of the code paths) writes ``<out>-quick.json`` instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

from benchmarks.common import REPO, Row, machine_info
from genre_lightning import quiet
from genre_lightning.files import write_text_atomic

#: Benchmark name -> module under ``benchmarks`` with a ``run(quick) -> list[Row]``.
BENCHMARKS = (
    "mel",
    "loop",
    "features_cache",
    "decode_cache",
    "memory",
    "musicnn",
)  # loop: data_wait too
#: Also runnable with --only: needs a CUDA GPU (``make bench-gpu``).
EXTRA = ("gpu",)


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table."""
    header = ("bench", "metric", "value", "unit", "note")
    cells = [(r.bench, r.metric, f"{r.value:.4g}", r.unit, r.note) for r in rows]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(4)]
    lines = []
    for cell in [header, *cells]:
        left = [
            str(c).ljust(w) if i != 2 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cell, widths, strict=False))
        ]
        lines.append("  ".join([*left, cell[4]]).rstrip())
        if cell is header:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def _choices() -> str:
    return ",".join(BENCHMARKS + EXTRA)


def _refuse(message: str) -> int:
    """One ``error:`` line and exit status 2, as the project's tools refuse bad input."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of {BENCHMARKS + EXTRA}"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    # Each once, in the order given: --only mel,mel runs mel once.
    names = list(dict.fromkeys(n.strip() for n in args.only.split(",") if n.strip()))
    if args.only and not names:
        return _refuse(f"--only {args.only!r} names no benchmark; choose from {_choices()}")
    names = names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS + EXTRA))
    if unknown:
        unknown_names = ", ".join(unknown)
        return _refuse(f"--only: unknown benchmark(s) {unknown_names}; choose from {_choices()}")
    if "gpu" in names and not args.quick and not _has_cuda():
        # Nothing is written: results-gpu.json keeps the measurements of a real GPU.
        return _refuse(
            "--only gpu (make bench-gpu) needs a CUDA device and none is visible; run it on a "
            "GPU machine, or add --quick to check the code path on the CPU."
        )
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")
    quiet.silence_known_noise()  # Lightning's advertisement, once per Trainer

    rows: list[Row] = []
    seconds: dict[str, float] = {}
    failed: list[str] = []
    for name in names:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            new = module.run(quick=args.quick)
        except Exception as exc:  # one failed benchmark must not lose the others' rows
            new = [Row(name, "failed", 0.0, "-", f"{type(exc).__name__}: {exc}".splitlines()[0])]
            print(f"   {name} failed: {new[0].note}", file=sys.stderr, flush=True)
            failed.append(name)
        seconds[name] = time.perf_counter() - start
        # Progress only: the table of every row is printed once, at the end.
        print(f"   {name}: {len(new)} rows in {seconds[name]:.0f} s", file=sys.stderr, flush=True)
        rows += new

    info = machine_info()
    print(
        f"\n{info['date']}  {info['platform']}  {info['cpu_count']} CPUs  torch {info['torch']}  "
        f"torchaudio {info['torchaudio']}  librosa {info['librosa']}  "
        f"cuda {info['cuda_available']}  {'quick' if args.quick else 'full'}"
    )
    print(format_table(rows))
    out = args.out
    if args.quick and not out.stem.endswith("-quick"):
        # A code-path check never replaces measurements: results.json -> results-quick.json.
        out = out.with_name(f"{out.stem}-quick{out.suffix}")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": info,
        "quick": args.quick,
        "seconds": seconds,
        "rows": [asdict(r) for r in rows],
    }
    write_text_atomic(out, json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out}")
    if failed:
        print(
            f"error: benchmark(s) {', '.join(failed)} failed (their rows say why); the others' "
            f"rows are in {out}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
