"""Every tool is a Hydra app with one convention: --help, --cfg job, one-line errors, key names.

The ``--help`` and ``--cfg job`` runs are real subprocesses, started together so that their
imports overlap; the command-line checks (cli/command_line.py) run in-process (they compose only).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import genre_lightning.evaluate  # noqa: F401 - registers data=checkpoint, as the tool does
from genre_lightning import train
from genre_lightning.cli.command_line import (
    RUN_CHECKS,
    check_command_line,
    home_expanded,
    hydra_config_of,
)
from genre_lightning.data.download import DEFAULT_SHA256, DEFAULT_URL
from genre_lightning.errors import UserError
from genre_lightning.hydra_conf import CONFIG_DIR, compose_config

from .conftest import NO_PROGRESS_BAR, run_counting_torch, start_cli, write_tone

#: Tool name (hydra.job.name, conf/<name>.yaml) -> module run by ``python -m``.
TOOLS = {
    "predict": "genre_lightning.predict",
    "evaluate": "genre_lightning.evaluate",
    "export": "genre_lightning.export",
    "report": "genre_lightning.report",
    "download": "genre_lightning.data.download",
}
#: The keys of each tool's config (paths and hydra aside).
KEYS = {
    "predict": {"ckpt_path", "input", "output", "device"},
    "evaluate": {"ckpt_path", "device", "output", "data", "seed"},
    "export": {"ckpt_path", "format", "output", "exporter", "check"},
    "report": {"recipes", "sweep", "overrides", "out", "collect_only", "select", "refit"},
    "download": {"root", "url", "sha256", "archive", "timeout"},
}


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[int, str]]:
    """(tool, "--help" | "--cfg") -> (exit status, stdout) of real runs."""
    cwd = tmp_path_factory.mktemp("apps")
    started = {
        (tool, flag): start_cli([flag, "job"] if flag == "--cfg" else [flag], cwd, module)
        for tool, module in TOOLS.items()
        for flag in ("--help", "--cfg")
    }
    done = {}
    for key, proc in started.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (key, err[-2000:])
        done[key] = (proc.returncode, out)
    assert not (cwd / "outputs").exists()  # neither writes a run directory
    return done


@pytest.mark.parametrize("tool", TOOLS)
def test_help_says_what_it_is_with_examples(
    tool: str, shown: dict[tuple[str, str], tuple[int, str]]
) -> None:
    _, text = shown[tool, "--help"]
    assert text.startswith(f"{TOOLS[tool]}: ")
    description, _, rest = text.partition("Examples:")
    assert len(description.split()) > 25  # a paragraph, not a usage line
    examples = [line for line in rest.splitlines() if line.startswith(f"  python -m {TOOLS[tool]}")]
    assert 2 <= len(examples) <= 4, examples
    assert "== Config" in text and all(f"{key}:" in text for key in KEYS[tool])
    assert f"outputs/{tool}/" in text  # where it writes by default
    assert "trainer: cpu" not in text  # training's groups are not a tool's


@pytest.mark.parametrize("tool", TOOLS)
def test_cfg_job_prints_the_tool_s_keys(
    tool: str, shown: dict[tuple[str, str], tuple[int, str]]
) -> None:
    config = yaml.safe_load(shown[tool, "--cfg"][1])
    assert set(config) - {"paths"} == KEYS[tool]
    if "ckpt_path" in config:
        assert config["ckpt_path"] == "???"  # mandatory, shown as such
    if "device" in config:
        assert config["device"] == "auto"


def test_download_defaults_are_the_data_config_s() -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        tool = compose("download")
        train = compose("train")
    assert tool.url == train.data.url == DEFAULT_URL
    assert tool.sha256 == train.data.sha256 == DEFAULT_SHA256


@pytest.mark.parametrize(
    ("tool", "argv", "message"),
    [
        ("predict", ["input=x"], "missing ckpt_path=...: no default"),
        ("predict", ["ckpt_path=a", "input=x", "outptu=y"], "outptu: no such key"),
        (
            "predict",
            ["ckpt_path=a", "input=a,b"],
            "a value with commas (or choice/range) is a sweep",
        ),
        ("predict", ["ckpt_path=a", "input=/music/ä"], """quote a value that holds '='"""),
        ("report", ["recipes=[a]", "sweep=data.fold=0,1"], """'sweep="data.fold=0,1"'"""),
        # An unclosed quote: the suggestion closes it, not doubles it.
        ("report", ["recipes=[a]", 'sweep="seed=1,2'], """e.g. 'sweep="seed=1,2"'"""),
        ("train", ["model.layer=penultimate,pooled"], "model.layer=[a,b]"),
        ("evaluate", ["ckpt_path=a", "data=nosuch"], "available: checkpoint, folder, gtzan"),
        ("evaluate", ["ckpt_path=a", "data=gtzan", "data.rot=1"], "data.rot: no such key"),
        (
            "export",
            ["ckpt_path=a", "exporter"],
            "exporter: not key=value; write each setting as key=value (exporter=...)",
        ),
        # A path with a space, unquoted: the shell made two words of it.
        (
            "predict",
            ["ckpt_path=a", "input=/my", "music/a.wav"],
            "music/a.wav: not key=value; write each setting as key=value, and quote a value",
        ),
        # Checked before Hydra makes the run folder from it (null would leave a None/ folder).
        ("predict", ["ckpt_path=a", "input=x", "paths.log_dir=null"], "paths.log_dir=null"),
        ("train", ["paths.log_dir=null"], "paths.log_dir=null must be a text"),
        # Hydra's record and log would go to the run folder, the results to this one.
        (
            "train",
            ["paths.output_dir=/tmp/run"],
            "paths.output_dir=/tmp/run: paths.output_dir names the run folder, which Hydra "
            "makes; set that instead, hydra.run.dir=<folder>",
        ),
        ("report", ["recipes=[a]", "paths.log_dir=[a]"], "paths.log_dir=[a] must be a text"),
        # One output for several jobs: each wrote over the one before, exit 0.
        (
            "predict",
            ["-m", "ckpt_path=a", "input=a,b", "output=p.csv"],
            "output=p.csv gives 1 place to the 2 jobs of this sweep, so jobs would write over "
            "each other's results; leave output out (each job writes into its own folder)",
        ),
        (
            "evaluate",
            ["-m", "ckpt_path=a,b", "device=cpu,auto", "output=x,y"],
            "output=x,y gives 2 places to the 8 jobs of this sweep",  # every combination
        ),
        # argparse places no override after an option: its usage text, and Hydra ran the rest.
        (
            "train",
            ["experiment=demo", "-m", "seed=1,2"],
            "seed=1,2: a key=value after an option (-m); put the options first, e.g. -m "
            "experiment=demo seed=1,2",
        ),
        ("train", ["seed=1", "--badflag", "experiment=demo"], "--badflag: no such option"),
        # Each value of a sweep, not only its first (its job would fail after the others ran).
        ("train", ["-m", "seed=1,2", "model=resnet,nosuch"], "model=nosuch: no such option"),
        ("train", ["--cfg", "job", "-m"], "-m and --cfg together"),  # Hydra: a traceback
        # Optuna would run no trial, then fail with a traceback.
        (
            "train",
            ["-m", "hparams_search=lr_optuna", "hydra.sweeper.n_trials=0"],
            "hydra.sweeper.n_trials=0 must be a whole number of at least 1",
        ),
        # Hydra's typed keys: its message was "Error merging override <it>", no fix named.
        (
            "train",
            ["-m", "hparams_search=lr_optuna", "hydra.sweeper.n_trials=true"],
            "error: hydra.sweeper.n_trials=true must be a whole number (Hydra's config types "
            "this key); e.g. hydra.sweeper.n_trials=1\n",
        ),
        ("predict", ["ckpt_path=a", "input=x", "hydra.job.chdir=maybe"], "must be true or false"),
        ("train", ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1.5"], "a whole number"),
        ("train", ["hydra.job.env_copy=HOME"], "hydra.job.env_copy=HOME must be a list"),
        ("train", ["hydra.mode=RUNS"], "hydra.mode=RUNS is not known; use hydra.mode=RUN|MULTIRUN"),
    ],
)
def test_command_line_errors_are_one_line(
    tool: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        check_command_line(tool, argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert message in err, err


def test_a_checkpoint_s_data_takes_any_key_and_a_sweep_with_m() -> None:
    # data=checkpoint is open (the checkpoint's data module decides what it takes)...
    check_command_line("evaluate", ["ckpt_path=a", "data.root=/x", "data.features.n_mels=32"])
    # ...and -m makes a comma list the sweep it is.
    check_command_line("predict", ["-m", "ckpt_path=a", "input=a,b"])
    check_command_line("predict", ["-m", "ckpt_path=a", "input=a", "output=x,y"])  # one each


def test_the_console_scripts_are_declared() -> None:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    for tool, module in TOOLS.items():
        assert f'genre-lightning-{tool} = "{module}:main"' in text
    assert 'genre-lightning = "genre_lightning.train:main"' in text


def test_training_does_not_offer_the_checkpoint_data_option() -> None:
    # A fresh interpreter: this one imported genre_lightning.evaluate, which registers it.
    code = (
        "from genre_lightning.cli.command_line import check_command_line as c; "
        "c('train', ['data=checkpoint'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "data=checkpoint: no such option (available: folder, gtzan, synthetic)" in proc.stderr


def _leaf_keys(node: object, prefix: str = "") -> set[str]:
    """The dotted keys of a composed config's values (``hydra`` aside)."""
    if not isinstance(node, dict):
        return {prefix.rstrip(".")}
    keys: set[str] = set()
    for key, value in node.items():
        if f"{prefix}{key}" != "hydra":
            keys |= _leaf_keys(value, f"{prefix}{key}.")
    return keys


@pytest.mark.parametrize("tool", TOOLS)
def test_every_key_of_a_tool_has_a_check(tool: str) -> None:
    # A key without one reaches the code as whatever Hydra read: null, a list, a number.
    # evaluate's data.* keys are the data package's (check_data_config, run by evaluate(); its
    # numbers, flags and texts also on the command line).
    module = importlib.import_module(TOOLS[tool])
    config = OmegaConf.to_container(compose_config(tool), resolve=False)
    keys = {k for k in _leaf_keys(config) if tool != "evaluate" or not k.startswith("data.")}
    checked = {k for k in module.CHECKS if tool != "evaluate" or not k.startswith("data.")}
    assert keys | ({"data._target_"} if tool == "evaluate" else set()) == {
        *RUN_CHECKS,
        *checked,
        *({"data._target_"} if tool == "evaluate" else set()),
    }


def test_a_job_refused_after_it_started_says_why_in_its_log(tmp_path: Path) -> None:
    # Files that look like audio (listed before launch) but none decodes: found only when the
    # job decodes them, once the run folder exists, so its log must say why the run ended.
    for genre in ("a", "b"):
        (tmp_path / "data" / genre).mkdir(parents=True)
        (tmp_path / "data" / genre / "1.wav").write_bytes(b"not audio at all" * 100)
    run = tmp_path / "run"
    proc = start_cli(
        [
            "data=folder",
            *NO_PROGRESS_BAR,
            f"data.root={tmp_path / 'data'}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={run}",
        ],
        tmp_path,
        "genre_lightning",
    )
    err = proc.communicate(timeout=300)[1]
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and "Traceback" not in err
    assert "none of the 2 audio files could be used" in line and "1.wav" in line
    assert line in (run / "train.log").read_text()  # once in the log file, once on stderr
    assert not list(run.glob("checkpoints/*"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_machine_checks_wait_for_the_cluster_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SLURM login node has no GPU and may not see the nodes' data: training's checks of the
    # accelerator and the data folder run where the jobs run. The config's own checks do not.
    srun = tmp_path / "bin" / "srun"  # only `which srun` is asked before the launch
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}:{os.environ['PATH']}")
    nodes = ["trainer=gpu", f"data.root={tmp_path / 'on-the-nodes'}", "data=folder"]
    launch = check_command_line("train", ["-m", "hydra/launcher=slurm", *nodes])
    assert launch is not None and launch.here is False
    train._before_launch(launch.jobs[0], launch.given, launch.here)  # nothing it can tell
    bad_lr = check_command_line("train", ["-m", "hydra/launcher=slurm", *nodes, "optimizer.lr=0"])
    assert bad_lr is not None
    with pytest.raises(UserError, match=r"optimizer\.lr=0"):
        train._before_launch(bad_lr.jobs[0], bad_lr.given, bad_lr.here)
    here = check_command_line("train", ["-m", *nodes])
    assert here is not None and here.here is True
    with pytest.raises(UserError, match="on-the-nodes does not exist"):  # listed first: cheap
        train._before_launch(here.jobs[0], here.given, here.here)
    for genre in ("blues", "rock"):
        write_tone(tmp_path / "on-the-nodes" / genre / "a.wav", seconds=0.1)
    with pytest.raises(UserError, match="no CUDA GPU is visible"):
        train._before_launch(here.jobs[0], here.given, here.here)


def test_a_tool_s_file_errors_leave_no_run_folder(tmp_path: Path, gtzan_sample: Path) -> None:
    # The checkpoint file, the input and the output's place are checked before Hydra writes
    # the run folder (each tool made one, with its log, before).
    (tmp_path / "a file").write_text("x")
    song = tmp_path / "music" / "song.wav"
    write_tone(song)
    missing = f"ckpt_path={tmp_path / 'no.ckpt'}"
    cases = {  # run folder name -> (tool, arguments, what the error names)
        "p": ("predict", [missing, f"input={tmp_path}"], "no checkpoint file at"),
        "e": ("evaluate", [missing], "no checkpoint file at"),
        "x": ("export", [missing], "no checkpoint file at"),
        "d": (
            "download",
            [f"archive={tmp_path / 'no.tar.gz'}", f"root={tmp_path / 'gtzan'}"],
            "no.tar.gz: no such file",
        ),
        "o": (
            "evaluate",
            [f"ckpt_path={tmp_path / 'a file'}", f"output={tmp_path / 'a file'}"],
            "is a file, but output names a folder",
        ),
        # Each value of a sweep is checked, not only its first.
        "s": ("train", ["-m", "experiment=demo", "optimizer.lr=1e-3,abc"], "optimizer.lr=abc"),
        # The folder musicnn's features are stored in, checked after the data is listed.
        "m": (
            "train",
            [
                "experiment=musicnn_probe",
                "data=folder",
                f"data.root={gtzan_sample}",
                "module.embedding_cache_dir=/dev/null",
            ],
            "module.embedding_cache_dir=/dev/null: is a file, but module.embedding_cache_dir "
            "names a folder",
        ),
        # The experiment's 12 epochs won over the debug trainer's one, silently.
        "t": (
            "train",
            ["experiment=demo", "trainer=debug"],
            "trainer=debug is one short epoch, but experiment=demo sets trainer.max_epochs=12",
        ),
        "i": (
            "predict",
            ["-m", f"ckpt_path={tmp_path / 'a file'}", f"input={song},{tmp_path / 'no'}"],
            "no such file",
        ),
    }
    started = {
        run: start_cli(
            [*args, f"hydra.run.dir={tmp_path / run}"], tmp_path, TOOLS.get(tool, "genre_lightning")
        )
        for run, (tool, args, _) in cases.items()
    }
    for run, proc in started.items():
        err = proc.communicate(timeout=300)[1]
        assert proc.returncode == 2 and err.count("\n") == 1, (run, err[-2000:])
        assert err.startswith("error: ") and cases[run][2] in err, (run, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a file", "music"]


def test_a_missing_checkpoint_or_input_or_a_bad_number_is_refused_before_torch_is_imported(
    tmp_path: Path,
) -> None:
    # A path typed wrong is the usual slip: said in a second, not after ~10 s of imports.
    (tmp_path / "a file").write_text("x")
    missing = f"ckpt_path={tmp_path / 'no.ckpt'}"
    cases = [
        ("predict", [missing, f"input={tmp_path}"], "no checkpoint file at"),
        ("evaluate", [missing], "no checkpoint file at"),
        ("export", [missing], "no checkpoint file at"),
        ("predict", [f"ckpt_path={tmp_path}", f"input={tmp_path}"], "is a folder"),
        ("predict", [f"ckpt_path={tmp_path / 'a file'}", f"input={tmp_path / 'no'}"], "no such"),
        # evaluate's data values, checked before the checkpoint is read.
        ("evaluate", [f"ckpt_path={tmp_path / 'a file'}", "data.batch_size=0"], "must be at"),
    ]
    for tool, args, message in cases:
        run = f"hydra.run.dir={tmp_path / 'run'}"
        status, torch_imported, done = run_counting_torch(TOOLS[tool], *args, run)
        assert (status, torch_imported) == ("2", "False"), (tool, args, done.stderr[-2000:])
        assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_a_tool_s_own_checks_run_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from genre_lightning.data.download import CHECKS

    with pytest.raises(SystemExit) as exit_:  # was a checksum "mismatch" after the download
        check_command_line("download", ["sha256=abc"], {**RUN_CHECKS, **CHECKS})
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: sha256=abc is not a SHA-256 digest")


def test_a_folder_holding_a_training_run_is_not_started_in_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A finished run (metrics.json) and a killed one (only checkpoints/last.ckpt).
    finished, killed = tmp_path / "finished", tmp_path / "sweep" / "0"
    finished.mkdir()
    (finished / "metrics.json").write_text("{}")
    (killed / "checkpoints").mkdir(parents=True)
    (killed / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    cases = [
        ("train", [f"hydra.run.dir={finished}"], f"{finished} holds a training run (metrics.json)"),
        (
            "train",
            ["-m", f"hydra.sweep.dir={killed.parent}", "seed=1,2"],
            f"hydra.sweep.dir={killed.parent}: {killed} holds a training run "
            f"(checkpoints/last.ckpt), which a new run would write over; resume it with "
            f"resume={killed}, give another folder",
        ),
        (
            "predict",
            ["ckpt_path=a", "input=x", f"hydra.run.dir={finished}"],
            "which predict would write over; give another folder, or leave hydra.run.dir out",
        ),
    ]
    for tool, argv, message in cases:
        with pytest.raises(SystemExit) as exit_:
            check_command_line(tool, argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and message in err, err
    # Continuing the run is what goes there.
    check_command_line("train", [f"resume={finished}"])
    check_command_line("train", [f"hydra.run.dir={killed}", "ckpt_path=last"])


def test_a_value_starting_with_a_tilde_is_in_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shell leaves `key=~/...` alone: Hydra made a folder named `~` in the working folder.
    home = tmp_path / "home"
    (home / "music").mkdir(parents=True)
    write_tone(home / "music" / "song.wav")
    proc = start_cli(
        ["ckpt_path=~/no.ckpt", "input=~/music", "hydra.run.dir='~/run'"],
        tmp_path,
        TOOLS["predict"],
        env={"HOME": str(home)},
    )
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 2 and f"no checkpoint file at {home / 'no.ckpt'}" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no `~` folder here
    monkeypatch.setenv("HOME", str(home))
    given = ["~model", "a=x~y", 'input="~/My Music"', "b=~nosuchuser/x", "c=~"]
    assert home_expanded(given) == [
        "~model",
        "a=x~y",
        f'input="{home}/My Music"',
        "b=~nosuchuser/x",
        f"c={home}",
    ]


def test_the_debug_trainer_with_an_experiment_runs_the_epochs_given() -> None:
    from genre_lightning.train_checks import check_training

    launch = check_command_line(
        "train", ["experiment=demo", "trainer=debug", "trainer.max_epochs=2"]
    )
    assert launch is not None
    with hydra_config_of(launch):
        check_training(launch.jobs[0], launch.given)  # given: not refused
    assert launch.jobs[0].trainer.max_epochs == 2
