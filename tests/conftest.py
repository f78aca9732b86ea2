"""Shared fixtures: the real Hydra config composed on CPU, real GTZAN clips, tiny synthetic data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from genre_lightning.hydra_conf import CONFIG_DIR
from genre_lightning.train import train

from .cli_worker import WORKER

REPO = Path(__file__).resolve().parents[1]
#: 50 real GTZAN clips (5 per genre), beside the repository as ../shared/gtzan-sample.
GTZAN_SAMPLE = Path(
    os.environ.get("GENRE_LIGHTNING_SAMPLE", REPO.parent / "shared" / "gtzan-sample")
)

#: A real blues clip of the sample, used where one real recording is enough.
BLUES = "genres_original/blues/blues.00000.wav"

#: The paper's ResNet at half its width (2.8 M parameters, not 11.2 M): the same code, trained
#: and checkpointed about three times faster. Only for ResNet: take it out to change the network.
HALF_WIDTH = "+model.channels=[32,64,128,256]"
#: No progress bar: the tests read the logs.
NO_PROGRESS_BAR = ["callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"]
#: The demo shrunk to seconds: 12 two-second clips per class (44,100 samples, 45 mel frames:
#: both follow data.seconds), a half-width ResNet, CPU, no progress bar.
TINY = [
    "experiment=demo",
    "data.clips_per_class=12",
    "data.seconds=2.0",
    "data.batch_size=16",
    *NO_PROGRESS_BAR,
    HALF_WIDTH,
]


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user cache folder of the whole session (and of the runs it starts): a temp folder.

    Data modules keep their waveform caches there by default; tests never write to the home
    folder of whoever runs them.
    """
    folder = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENRE_LIGHTNING_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def gtzan_sample() -> Path:
    """The real clips, laid out as GTZAN's Kaggle copy (``genres_original/<genre>/``)."""
    if not (GTZAN_SAMPLE / "genres_original").is_dir():
        pytest.skip(f"real GTZAN sample not found at {GTZAN_SAMPLE} (set GENRE_LIGHTNING_SAMPLE)")
    return GTZAN_SAMPLE


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder shared by the session, so the tiny synthetic set is generated once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def make_cfg(tmp_path: Path, data_dir: Path) -> Callable[..., DictConfig]:
    """Compose the real ``conf/train.yaml`` with overrides, writing into ``tmp_path``."""

    def _make(overrides: Sequence[str] = ()) -> DictConfig:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(
                "train",
                overrides=[
                    f"paths.output_dir={tmp_path / 'run'}",
                    f"paths.data_dir={data_dir}",
                    *overrides,
                ],
            )

    return _make


def _train(
    name: str, factory: pytest.TempPathFactory, data_dir: Path | None, overrides: Sequence[str]
) -> Path:
    """Train in-process; return the best checkpoint (its run directory is two levels up)."""
    tmp = factory.mktemp(name)
    data = f"paths.data_dir={data_dir or tmp / 'data'}"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp / 'run'}", data, *overrides])
    return Path(train(cfg)["best_ckpt"])


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """ResNet on the tiny synthetic set (2 s clips, 45 frames): a few steps, all of val/test."""
    overrides = [*TINY, "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    return _train("tiny", tmp_path_factory, data_dir, overrides)


@pytest.fixture(scope="session")
def gtzan_ckpt(tmp_path_factory: pytest.TempPathFactory, gtzan_sample: Path) -> Path:
    """The paper's ResNet on real GTZAN clips (668 x 64 features), a few debug batches."""
    overrides = [
        "model=resnet",
        "trainer=debug",
        f"data.root={gtzan_sample}",
        f"data.cache_dir={tmp_path_factory.getbasetemp() / 'gtzan-cache'}",
        "data.batch_size=4",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
    ]
    return _train("gtzan", tmp_path_factory, None, overrides)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A command line's environment: this session's, with Hydra's one-line errors."""
    return {**os.environ, "HYDRA_FULL_ERROR": "0", **(extra or {})}


def run_cli(
    args: Sequence[str],
    cwd: Path,
    module: str = "genre_lightning",
    timeout: float = 600,
    *,
    own_process: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> ARGS`` and capture its output, as a real subprocess would.

    By default the session's CLI worker runs it (``cli_worker.py``: one process whose imports
    are paid once); ``own_process=True`` starts a process of its own, for what needs one.
    ``env`` adds to (or replaces) the command's environment variables.
    """
    env = cli_env(env)
    if not own_process:
        return WORKER.run(module, args, cwd, env, timeout)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="session", autouse=True)
def cli_worker(user_cache: Path) -> Iterator[None]:
    """The session's CLI worker is stopped when the session ends (it starts on first use)."""
    yield
    WORKER.close()


#: Runs ``python -m MODULE ARGS`` in-process, then prints its exit status and whether torch was
#: imported: for what must answer before torch's seconds-long import.
_RUN_COUNTING_TORCH = (
    "import runpy, sys\n"
    "module, sys.argv = sys.argv[1], [sys.argv[1], *sys.argv[2:]]\n"
    "try:\n"
    "    runpy.run_module(module, run_name='__main__')\n"
    "    code = 0\n"
    "except SystemExit as exit:\n"
    "    code = exit.code\n"
    "print(code, 'torch' in sys.modules, file=sys.__stdout__)\n"
)


def run_counting_torch(
    module: str, *args: str
) -> tuple[str, str, subprocess.CompletedProcess[str]]:
    """Run a tool in a process of its own; return its exit status and whether it imported
    torch (``"2"``, ``"False"``), and the process (its stdout without that last line)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_COUNTING_TORCH, module, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    *said, last = done.stdout.splitlines() or [""]
    status, _, torch_imported = last.partition(" ")
    done.stdout = "".join(f"{line}\n" for line in said)
    return status, torch_imported, done


def one_error_line(proc: Deferred | subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line of a refused run: exit status 2, nothing else on stderr."""
    err = (
        proc.stderr
        if isinstance(proc, subprocess.CompletedProcess)
        else proc.communicate(timeout=300)[1]
    )
    assert proc.returncode == 2, err[-3000:]
    assert err.startswith("error: ") and err.count("\n") == 1, err[-3000:]
    return err.strip()


class Deferred:
    """A command line given to the CLI worker when its result is first asked for.

    Stands in for a started process where only the result is wanted (``communicate``).
    """

    def __init__(self, args: Sequence[str], cwd: Path, module: str, env: dict[str, str]) -> None:
        self._call = (module, list(args), cwd, env)
        self._done: subprocess.CompletedProcess[str] | None = None

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Run the command (once) and return its stdout and stderr."""
        if self._done is None:
            module, args, cwd, env = self._call
            self._done = WORKER.run(module, args, cwd, env, timeout or 600)
        return self._done.stdout, self._done.stderr

    @property
    def returncode(self) -> int | None:
        """The exit status, once the command has run."""
        return None if self._done is None else self._done.returncode


def start_cli(
    args: Sequence[str], cwd: Path, module: str, env: dict[str, str] | None = None
) -> Deferred:
    """``python -m <module> ARGS`` for the CLI worker, run when its result is first asked for.

    Several started together run one after another, each without its own imports.
    """
    return Deferred(args, cwd, module, cli_env(env))


def start_process(args: Sequence[str], cwd: Path, module: str) -> subprocess.Popen[str]:
    """``python -m <module> ARGS`` in a process of its own, started now: it can be signalled,
    polled and measured while it runs."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )


def tiny_for(*overrides: str) -> list[str]:
    """TINY, without its ResNet width where ``overrides`` choose another network (or none)."""
    other_network = any(o.startswith(("model=", "experiment=", "~model")) for o in overrides)
    return [o for o in TINY if not (other_network and o == HALF_WIDTH)]


def tiny_args(run: Path, data_dir: Path, *overrides: str) -> list[str]:
    """The command line of a one-epoch, two-batch run of the tiny demo into ``run``."""
    short = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    args = [*tiny_for(*overrides), *short, *overrides]
    return [*args, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"]


def run_tiny(
    run: Path, data_dir: Path, *overrides: str, own_process: bool = False
) -> subprocess.CompletedProcess[str]:
    """A one-epoch, two-batch run of the tiny demo into ``run`` (``hydra.run.dir``)."""
    return run_cli(tiny_args(run, data_dir, *overrides), cwd=run.parent, own_process=own_process)


def run_tiny_multirun(
    sweep: Path, data_dir: Path, *overrides: str, own_process: bool = False
) -> subprocess.CompletedProcess[str]:
    """A one-epoch multirun of the tiny demo into ``sweep`` (``hydra.sweep.dir``)."""
    tiny = tiny_for(*overrides)
    args = ["-m", *overrides, *tiny, "trainer.max_epochs=1", f"paths.data_dir={data_dir}"]
    return run_cli([*args, f"hydra.sweep.dir={sweep}"], cwd=sweep.parent, own_process=own_process)


def write_tone(
    path: Path,
    seconds: float = 1.0,
    sr: int = 22050,
    channels: int = 1,
    freq: float = 440.0,
    **kwargs: object,
) -> np.ndarray:
    """Write a sine tone file (any format soundfile knows from the suffix); return its samples."""
    t = np.arange(int(seconds * sr)) / sr
    mono = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sr, **kwargs)
    return mono


def copy_sample(gtzan_sample: Path, root: Path, genres: Sequence[str], per_genre: int) -> Path:
    """Copy the first ``per_genre`` real clips of each of ``genres`` into ``root/<genre>/``."""
    for genre in genres:
        (root / genre).mkdir(parents=True)
        for src in sorted((gtzan_sample / "genres_original" / genre).iterdir())[:per_genre]:
            shutil.copy(src, root / genre / src.name)
    return root


def run_unprivileged(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` as a user whom file permissions bind: as root, without the
    capabilities that override them (util-linux's setpriv), for tests of unreadable files.
    Skips the test where that cannot be had."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be made to bind")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )


def dead_pid() -> int:
    """The process id of a process that has ended (a killed writer's, for stale-file tests)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
