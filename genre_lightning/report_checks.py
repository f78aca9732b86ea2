"""The report's checks before any training: the recipes, the sweep and overrides read as
training's, each recipe's training config (each value of each swept key) passing training's
checks, a ``select`` key swept over two or more values, and no earlier runs in the way."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from genre_lightning.cli.command_line import job_variants
from genre_lightning.errors import UserError
from genre_lightning.hydra_conf import CONFIG_DIR, compose_config
from genre_lightning.report_rows import (
    REFIT,
    TRAIN_ON_VAL,
    collect,
    recorded_overrides,
)
from genre_lightning.report_sweeps import (
    all_finished,
    job_folders,
    sweep_jobs,
    training_task,
    unfinished_jobs,
)
from genre_lightning.validate import shown

#: An example of ``recipes``, for messages.
RECIPES_EXAMPLE = "[seed_resnet,improved_resnet]"


def check_recipes(
    recipes: Sequence[str],
    out: Path,
    sweep: str,
    overrides: Sequence[str],
    collect_only: bool,
    select: str | None,
    refit: bool,
) -> set[str]:
    """Fail before any training on what can be known before it.

    Each recipe is named once; when training, the sweep and overrides read as training
    overrides, ``select`` is swept over two or more values, each recipe is an experiment
    config whose training config passes the training's checks (composed with each value of
    each swept key, the others at their first; with ``refit=true`` also with
    ``data.train_on_val=true``), and no earlier runs are in the way.

    Returns:
        The recipes whose runs are to be trained; the others (``refit=true`` only) hold the
        runs of this very command and need only their refit.

    Raises:
        UserError: The first problem found.
    """
    if not recipes:
        raise UserError(f"recipes=[]: name at least one experiment, e.g. recipes={RECIPES_EXAMPLE}")
    twice = [r for r, n in Counter(recipes).items() if n > 1]
    if twice:
        once = ",".join(dict.fromkeys(recipes))
        raise UserError(
            f"recipes={shown(list(recipes))} names {twice[0]} more than once; name each recipe "
            f"once, e.g. recipes=[{once}]"
        )
    if collect_only:
        return set()
    swept = _parse("sweep", sweep, shlex_words(sweep))
    given = _parse("overrides", shown(list(overrides)), overrides)
    if select:
        _check_select(select, sweep, [*swept, *given])
    known = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))
    to_train = set()
    for recipe in recipes:  # the cheap checks first: no torch import before a typo is named
        if recipe not in known:
            raise UserError(
                f"recipes={shown(list(recipes))}: {recipe} is not an experiment config; "
                f"the experiments: {', '.join(known)}"
            )
        if _needs_training(recipe, out / recipe, training_task(recipe, sweep, overrides), refit):
            to_train.add(recipe)
    variants = job_variants([*swept, *given])
    for recipe in recipes:
        for job in variants:
            _check_training(recipe, job, refit)
    return to_train


def shlex_words(sweep: str) -> list[str]:
    """``sweep`` split as the shell would split it.

    Raises:
        UserError: It has an unclosed quote.
    """
    try:
        return shlex.split(sweep)
    except ValueError as exc:
        raise UserError(
            f"sweep={shown(sweep)}: {exc} (a quote is not closed); give space-separated training "
            f"sweeps, e.g. 'sweep=\"data.fold=0,1,2 seed=1\"'"
        ) from None


def _parse(key: str, value: str, words: Sequence[str]) -> list[Override]:
    """Each of ``words`` as a Hydra override; ``key=value`` is named if one is not."""
    parser = OverridesParser.create()
    parsed = []
    for word in words:
        try:
            parsed += parser.parse_overrides([word])
        except HydraException as exc:
            reason = str(exc).split("\n")[0]
            raise UserError(
                f"{key}={value}: {word} cannot be read as a training override ({reason}); "
                f"write each as key=value, e.g. "
                + (
                    "'sweep=\"data.fold=0,1,2 seed=1\"'"
                    if key == "sweep"
                    else """'overrides=["data.split=kfold","trainer=gpu"]'"""
                )
            ) from None
    return parsed


def _check_select(select: str, sweep: str, parsed: Sequence[Override]) -> None:
    """``select`` names a key the runs take two or more values of (the last override wins)."""
    values: list[str] = []
    for override in parsed:
        if override.key_or_group != select:
            continue
        if override.is_sweep_override() and not override.is_interval_sweep():
            values = list(override.sweep_string_iterator())
        else:  # one value, or an interval, which has no values to choose among
            values = [str(override.value())]
    if len(values) < 2:
        fixed = (
            f"the runs all have {select}={values[0]}"
            if values
            else f"the runs do not vary {select}"
        )
        raise UserError(
            f"select={select}: {fixed}, so there is nothing to choose on validation; sweep two "
            f"or more values of it, e.g. 'sweep=\"{sweep} {select}=A,B\"', or leave select out"
        )


def _needs_training(recipe: str, sweep_dir: Path, task: list[str], refit: bool) -> bool:
    """Whether the recipe's runs are to be trained; False: they are there, only the refit is not.

    Raises:
        UserError: ``sweep_dir`` holds runs that would mix with the new ones.
    """
    finished = collect(sweep_dir)
    if not job_folders(sweep_dir):
        return True
    recorded = recorded_overrides(sweep_dir)
    if recorded == task and len(finished) < len(sweep_jobs(task)):
        return True  # a multirun of this very command, interrupted: run_recipe finishes it
    if not finished:
        raise UserError(
            f"{sweep_dir} holds runs of {recipe} that did not finish, of another command; to "
            f"train afresh remove that folder or give another out=..."
        )
    if not refit:
        unfinished = f" ({note})" if (note := unfinished_jobs(sweep_dir)) else ""
        raise UserError(
            f"{sweep_dir} already holds runs of {recipe}{unfinished}; to summarise them add "
            f"collect_only=true, to train again remove that folder or give another out=..."
        )
    if all_finished(sweep_dir / REFIT):
        raise UserError(
            f"{sweep_dir} already holds runs of {recipe} and their refit; to summarise them add "
            f"collect_only=true, to train again remove that folder or give another out=..."
        )
    if recorded != task:  # the refit must train these runs again, not other settings
        record = sweep_dir / "multirun.yaml"
        theirs = (
            f"they were trained with `{shlex.join(recorded)}`"
            if recorded is not None
            else f"their command is unknown (no {record})"
        )
        raise UserError(
            f"{sweep_dir} holds runs of {recipe} but not of this command ({theirs}); to refit "
            f"them give the sweep and overrides they were trained with, to train afresh remove "
            f"that folder or give another out=..."
        )
    return False


def _check_training(recipe: str, job: Sequence[str], refit: bool) -> None:
    """The recipe's training config, as a job with overrides ``job`` composes it, passes
    training's checks (with ``refit``, also with ``data.train_on_val=true``)."""
    # Imported here: the checks import torch, which --help and the other checks do without.
    from genre_lightning.data.splits import TRAIN_ONLY
    from genre_lightning.train_checks import check_train_config, check_training

    task = [f"experiment={recipe}", *job]
    cfg = _compose(recipe, task)
    given = [w.split("=", 1)[0].lstrip("+~") for w in job]
    try:
        check_training(cfg, given, "its runs are split")
    except UserError as exc:
        raise UserError(f"recipe {recipe}: {exc}") from None
    if cfg.data.get("split") == TRAIN_ONLY:
        raise UserError(
            f"recipe {recipe}: data.split={TRAIN_ONLY} tests nothing, and the report compares "
            f"test scores: measure with a split that holds tracks out (data.split=kfold), then "
            f"train the final model with data.split={TRAIN_ONLY}"
        )
    if not refit:
        return
    try:
        check_train_config(_compose(recipe, [*task, TRAIN_ON_VAL]))
    except UserError as exc:
        # The check's own way out is data.train_on_val=false; here that means no refit=true.
        reason = str(exc).removesuffix(", or leave data.train_on_val=false")
        raise UserError(
            f"recipe {recipe} cannot be refitted (refit=true trains its runs again with "
            f"{TRAIN_ON_VAL}): {reason}; put that in overrides=[...], or leave refit out"
        ) from None


def _compose(recipe: str, task: Sequence[str]) -> DictConfig:
    """The training config of ``task``; a composition error names the recipe."""
    try:
        return compose_config("train", task)
    except (HydraException, OmegaConfBaseException) as exc:
        lines = str(exc).split("Config search path")[0].split()
        raise UserError(
            f"recipe {recipe}: its training config cannot be composed: {' '.join(lines)}"
        ) from None
