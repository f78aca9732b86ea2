"""benchmarks/run.py: the command line, and a failed benchmark that keeps the others' rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, one_error_line


@pytest.mark.parametrize(
    ("only", "says"),
    [
        ("mel,bogus", "error: --only: unknown benchmark(s) bogus; choose from mel,loop,"),
        (",", "error: --only ',' names no benchmark; choose from mel,loop,"),
    ],
)
def test_a_bad_benchmark_name_is_one_error_line(tmp_path: Path, only: str, says: str) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", only, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # argparse printed its usage line too, and --only , ran every benchmark.
    assert one_error_line(proc).startswith(says)
    assert not out.exists() and not out.with_name("results-quick.json").exists()


def test_a_failing_benchmark_keeps_the_rows_of_the_others(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    missing = tmp_path / "no-such-musicnn.whl"  # the weights cannot be had: musicnn fails
    command = ["benchmarks.run", "--quick", "--only", "mel,musicnn", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "GENRE_LIGHTNING_MUSICNN_WHEEL": str(missing)},
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    written = json.loads(out.with_name("results-quick.json").read_text())
    by_bench = {row["bench"] for row in written["rows"]}
    assert by_bench == {"mel", "musicnn"}  # the mel rows measured before it are kept
    [failed] = [row for row in written["rows"] if row["metric"] == "failed"]
    assert failed["bench"] == "musicnn" and str(missing) in failed["note"]
    assert proc.stderr.rstrip().splitlines()[-1].startswith("error: benchmark(s) musicnn failed")
    # The CPU's model, which platform.processor() leaves empty on Linux ("x86_64" was written).
    cpuinfo = Path("/proc/cpuinfo")
    models = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
    if models:
        assert written["machine"]["processor"] == models[0].split(":", 1)[1].strip()
