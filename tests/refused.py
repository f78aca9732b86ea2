"""Many refused commands in one real subprocess: each tool's imports (seconds) are paid once.

A command refused before launch never gets as far as a job, so running the tool's ``main()``
again and again in one process, with ``sys.argv`` set as the shell would set it, gives what a
process of its own would give: the exit status and what it printed to stderr. Tables of bad
values (tens of cases) use this; single commands keep their own process (``run_cli``).

Run as a script by :func:`run_refused`: ``python refused.py CASES.json RESULTS.json``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Refusal:
    """What one command gave: its exit status and its standard error."""

    returncode: int
    stderr: str


def run_refused(
    commands: Sequence[Sequence[str]], cwd: Path, module: str = "genre_lightning.train"
) -> list[Refusal]:
    """Run ``python -m <module> ARGS`` for each ARGS of ``commands``, all in one subprocess.

    Only for commands refused before launch: one that starts a job would run it inside the
    shared process (its result is still returned, and a test expecting a refusal fails).
    """
    cases = cwd / "refused-cases.json"
    results = cwd / "refused-results.json"
    cases.write_text(json.dumps({"module": module, "commands": [list(c) for c in commands]}))
    proc = subprocess.run(
        [sys.executable, __file__, str(cases), str(results)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = [Refusal(**r) for r in json.loads(results.read_text())]
    cases.unlink()
    results.unlink()
    return found


def _run_each(module: str, commands: list[list[str]]) -> list[dict[str, object]]:
    """Each command through the tool's console entry point, as its own process would run it."""
    here = os.getcwd()
    found: list[dict[str, object]] = []
    for argv in commands:
        err = io.StringIO()
        sys.argv = [module, *argv]
        code = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:  # imported here the first time: what the import prints is the first's
                importlib.import_module(module).main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:  # what the interpreter would print, and its exit status
                traceback.print_exc(file=err)
                code = 1
        os.chdir(here)  # a job that ran would have moved; the next command starts here
        found.append({"returncode": code, "stderr": err.getvalue()})
    return found


if __name__ == "__main__":
    # Run as a script, the tests folder comes first on sys.path: its packages (tests/data,
    # tests/models, ...) must not stand in for others'.
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    spec = json.loads(Path(sys.argv[1]).read_text())
    Path(sys.argv[2]).write_text(json.dumps(_run_each(spec["module"], spec["commands"])))
