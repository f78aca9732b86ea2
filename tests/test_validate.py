"""validate.py and the data package's checks: every bad value is one error: line and exit 2.

Each case is a real training subprocess on the tiny demo; none gets as far as decoding audio.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genre_lightning.errors import UserError
from genre_lightning.validate import TRAIN_RULES, Rule, check

from .conftest import run_tiny

#: (override, what the one error line must say).
BAD_VALUES = [
    ("optimizer.lr=abc", "optimizer.lr=abc: must be a number, e.g. optimizer.lr=5e-4"),
    ("optimizer.lr=0", "optimizer.lr=0: must be > 0"),
    ("seed=abc", "seed=abc: must be an integer, e.g. seed=42"),
    ("seed=-1", "seed=-1: must be >= 0"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0: must be >= 1, e.g. trainer.max_epochs=100"),
    ("module.normalize=foo", "module.normalize=foo: must be one of element, mel, none"),
    ("module.mixup_alpha=-0.5", "module.mixup_alpha=-0.5: must be >= 0"),
]


@pytest.mark.slow
def test_every_bad_value_is_one_error_line(tmp_path: Path, data_dir: Path) -> None:
    def run(case: tuple[int, tuple[str, str]]) -> tuple[str, str, int, str]:
        i, (override, expected) = case
        proc = run_tiny(tmp_path / f"run{i}", data_dir, override)
        return override, expected, proc.returncode, proc.stderr

    with ThreadPoolExecutor(2) as pool:  # two cores: each case is mostly Python start-up
        results = list(pool.map(run, enumerate(BAD_VALUES)))
    for override, expected, code, stderr in results:
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert code == 2, (override, stderr[-2000:])
        assert len(errors) == 1 and expected in errors[0], (override, errors)
        assert "Traceback" not in stderr, override
    # Nothing was decoded or trained: no run left a checkpoint or split.
    assert not list(tmp_path.glob("run*/checkpoints")) and not list(tmp_path.glob("run*/split.csv"))


@pytest.mark.parametrize(
    ("rule", "value", "reason"),
    [
        (Rule("k", "int", "k=1", low=1), 1.5, "must be an integer"),
        (Rule("k", "int", "k=1", low=1), True, "must be an integer"),
        (Rule("k", "number", "k=1"), float("nan"), "must be finite"),
        (Rule("k", "number", "k=1", low=0, low_open=True), 0, "must be > 0"),
        (Rule("k", "choice", "k=a", choices=("a", "b")), "c", "must be one of a, b"),
        (Rule("k", "bool", "k=true"), "yes", "must be true or false"),
        (Rule("k", "int", "k=1"), None, "must be set"),
    ],
)
def test_rules(rule: Rule, value: object, reason: str) -> None:
    assert rule.check(value) == reason
    with pytest.raises(UserError, match=f"k=.*: {reason}, e.g. {rule.example}"):
        check({"k": value}, [rule])


def test_good_values_pass() -> None:
    good = {
        "seed": 0,
        "trainer": {"max_epochs": 1},
        "optimizer": {"lr": 5e-4, "weight_decay": 0.0},
        "module": {"normalize": "mel", "mixup_alpha": 0.0, "cache_embeddings": False},
        "compile": False,
    }
    check(good, TRAIN_RULES)
