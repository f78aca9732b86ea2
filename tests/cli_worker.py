"""One long-lived subprocess that runs the tools' command lines: their imports are paid once.

Importing torch and Lightning takes ~10 s on a 2-core machine, and the suite runs about a hundred
command lines; in a process each, the imports were most of ``make test``'s time. The worker is a
real ``python`` subprocess that runs each command line as ``python -m <module> ARGS`` would:

- the module's console entry point ``main()`` with ``sys.argv`` set as ``-m`` sets it;
- in the command's working directory, with exactly its environment;
- with file descriptors 0, 1 and 2 replaced (standard input is empty; what anything in the
  process writes to 1 and 2, Python or C, is the command's stdout and stderr);
- its exit status as the interpreter would give it (``SystemExit``, or 1 after a traceback).

After each command the process-wide state a command may change is put back: the working
directory, the environment, ``sys.argv``, signal handlers, logging, warning filters, torch's
global switches, Hydra's singletons, and joblib's reusable worker pool (a sweep's workers
must not outlive it). ``test_cli_worker.py`` checks that a refused command and a training run
give the same here as in a process of their own.

Commands that need a process of their own do not come here: those signalled or killed, those
whose process is measured, and DDP runs (Lightning starts their ranks by re-running
``sys.argv``).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import pkgutil
import selectors
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

#: The package whose tools the commands run (its console scripts name their modules).
PACKAGE = "genre_lightning"
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class CliWorker:
    """The test session's side: starts the worker on first use and sends it command lines."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._log: Path | None = None

    def run(
        self, module: str, args: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m <module> ARGS`` in the worker; what a process of its own would give.

        Raises:
            subprocess.TimeoutExpired: the command ran past ``timeout`` (the worker is killed,
                and the next command starts a new one).
            RuntimeError: the worker died; its own standard error is quoted.
        """
        proc = self._started()
        assert proc.stdin is not None and proc.stdout is not None
        request = {"module": module, "argv": list(args), "cwd": str(cwd), "env": dict(env)}
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        command = [sys.executable, "-m", module, *args]
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired(command, timeout)
        line = proc.stdout.readline()
        if not line:
            log = self._log.read_text()[-3000:] if self._log else ""
            self.close()
            raise RuntimeError(f"the CLI worker died running {command}:\n{log}")
        done = json.loads(line)
        return subprocess.CompletedProcess(
            command, done["returncode"], done["stdout"], done["stderr"]
        )

    def close(self) -> None:
        """Stop the worker (a later command starts a new one)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        log_fd, log = tempfile.mkstemp(prefix="cli-worker-", suffix=".log")
        self._log = Path(log)
        # -P: the tests folder (this script's) must not come first on sys.path, where its
        # packages (tests/data, tests/models, ...) would stand in for others'.
        self._proc = subprocess.Popen(
            [sys.executable, "-P", __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_fd,
            text=True,
        )
        os.close(log_fd)
        return self._proc


#: The session's worker: ``conftest.run_cli`` sends command lines to it, and the session closes it.
WORKER = CliWorker()


# ---- the worker process ----------------------------------------------------------------------


@contextlib.contextmanager
def _descriptors_to(out: int, err: int) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``out`` and ``err`` (0 is empty for the worker's life)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    os.dup2(out, 1)
    os.dup2(err, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


@contextlib.contextmanager
def _captured() -> Iterator[dict[str, str]]:
    """What is written to descriptors 1 and 2 inside the block, as text once it ends."""
    texts: dict[str, str] = {}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            with _descriptors_to(out.fileno(), err.fileno()):
                yield texts
        finally:
            for name, file in (("stdout", out), ("stderr", err)):
                file.seek(0)
                texts[name] = file.read().decode("utf-8", errors="replace")


@contextlib.contextmanager
def _state_restored(hydra_state: Any) -> Iterator[None]:
    """Put back the process-wide state a command may change (see the module's docstring).

    Args:
        hydra_state: Hydra's singletons as the imports left them (``Singleton.get_state()``): a
            command starts from a copy, as a new process would (a finished job's ``HydraConfig``
            would otherwise answer the next command's ``${hydra:...}``).
    """
    import torch
    from hydra.core.singleton import Singleton

    cwd, environ, argv = os.getcwd(), dict(os.environ), list(sys.argv)
    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    loggers = _logging_state()
    torch_state = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_float32_matmul_precision(),
        torch.get_default_dtype(),
        torch.is_grad_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    Singleton.set_state(copy.deepcopy(hydra_state))
    try:
        with _warnings_reset():
            yield
    finally:
        if "joblib.externals.loky" in sys.modules:
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True, kill_workers=True)
        threads, determ, warn_only, matmul, dtype, grad, bench, cudnn_determ = torch_state
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(determ, warn_only=warn_only)
        torch.set_float32_matmul_precision(matmul)
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = bench, cudnn_determ
        _restore_logging(loggers)
        for sig, handler in handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(environ)
        sys.argv = argv
        os.chdir(cwd)
        gc.collect()


def _warnings_reset() -> contextlib.AbstractContextManager[object]:
    """Warning filters put back afterwards; a warning shown by an earlier command shows again.

    Entering ``catch_warnings`` marks the filters changed, which empties every module's record
    of warnings already shown.
    """
    import warnings

    return warnings.catch_warnings()


def _logging_state() -> dict[str, tuple[Any, ...]]:
    manager = logging.Logger.manager
    found = {
        name: (lg.level, lg.disabled, lg.propagate, list(lg.handlers))
        for name, lg in manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    root = logging.getLogger()
    found[""] = (root.level, root.disabled, root.propagate, list(root.handlers))
    return found


def _restore_logging(saved: dict[str, tuple[Any, ...]]) -> None:
    """Loggers back to their levels and handlers; handlers a command added are closed."""
    manager = logging.Logger.manager
    loggers = {n: lg for n, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    loggers[""] = logging.getLogger()
    for name, lg in loggers.items():
        level, disabled, propagate, handlers = saved.get(name, (logging.NOTSET, False, True, []))
        for handler in lg.handlers:
            if handler not in handlers:
                handler.close()
        lg.setLevel(level)
        lg.disabled, lg.propagate, lg.handlers = disabled, propagate, handlers
    logging.disable(logging.NOTSET)


def _exit_status(exc: SystemExit) -> int:
    """The interpreter's exit status for an uncaught ``SystemExit`` (a text is printed, then 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run(module: str, argv: list[str]) -> int:
    """Run ``python -m <module> ARGV`` here (``sys.argv`` as ``-m`` sets it); its exit status."""
    tool = importlib.import_module(module)
    sys.argv = [str(tool.__file__), *argv]
    try:
        tool.main()
    except SystemExit as exc:
        return _exit_status(exc)
    except BaseException:  # what the interpreter prints for an uncaught exception
        traceback.print_exc()
        return 1
    return 0


def _entry(module: str) -> str:
    """The module ``python -m`` runs: a package's ``__main__``."""
    spec = importlib.util.find_spec(module)
    is_package = spec is not None and spec.submodule_search_locations is not None
    return f"{module}.__main__" if is_package else module


def serve(requests: io.TextIOBase, replies: io.TextIOBase) -> None:
    """Answer each request line (module, argv, cwd, env) with one reply line."""
    # What importing the tools prints, a process of its own prints before every command.
    scripts = importlib.metadata.distribution(PACKAGE).entry_points
    with _captured() as imported:
        for script in scripts.select(group="console_scripts"):
            importlib.import_module(script.module)
        # And what the tools import only once their quick checks pass (Lightning, the models,
        # the data pipeline), so that it is paid once and frozen with the rest below.
        package = importlib.import_module(PACKAGE)
        for found in pkgutil.walk_packages(package.__path__, f"{PACKAGE}."):
            importlib.import_module(found.name)
    from hydra.core.singleton import Singleton

    hydra_state = Singleton.get_state()
    # What the imports made lives as long as the worker: the collector after each command
    # (which a process of its own would not need) then looks only at what the command left.
    gc.collect()
    gc.freeze()
    for line in requests:
        request = json.loads(line)
        with _state_restored(hydra_state), _captured() as printed:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            code = _run(_entry(request["module"]), request["argv"])
        reply = {
            "returncode": code,
            "stdout": imported["stdout"] + printed["stdout"],
            "stderr": imported["stderr"] + printed["stderr"],
        }
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    # The protocol keeps its own copies of descriptors 0 and 1; the commands get theirs.
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w")
    quiet = os.open(os.devnull, os.O_RDWR)
    os.dup2(quiet, 0)
    os.dup2(quiet, 1)
    os.close(quiet)
    serve(requests, replies)
