"""The shipped Hydra configs: where they are, the resolvers they name, and composing one in Python.

Importing this module registers the ``gl_*`` resolvers, so every tool (and a test or notebook
that composes a config) reads the configs the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs

#: The Hydra configs (the repository's top-level conf/ links here).
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")

# Configs name run-directory places as ${gl_run:<place>}; runs.py owns the names.
assert runs.LAYOUT
# `resume=RUN_DIR` reuses that run directory: conf/hydra/default.yaml picks the run dir with it.
OmegaConf.register_new_resolver(
    "gl_or", lambda value, default: default if value in (None, "") else value, replace=True
)
# `${gl_if:${resume},A,B}`: A when resume is set, else B (a resume keeps the run's own record).
OmegaConf.register_new_resolver(
    "gl_if", lambda value, then, otherwise: otherwise if value in (None, "") else then, replace=True
)


def gtzan_fact(name: str) -> Any:
    """GTZAN's ``genres`` (label order), archive ``url`` or its ``sha256``, or the paper's
    ``clip_samples``: the ``gl_gtzan`` resolver, so conf/data/gtzan.yaml and conf/download.yaml
    read them from the code that owns them (imported here, when a config is resolved: the
    tools' imports stay light)."""
    from genre_lightning.audio_files import CLIP_SAMPLES
    from genre_lightning.data.download import DEFAULT_SHA256, DEFAULT_URL
    from genre_lightning.data.index import GTZAN_GENRES

    # A list as a config node: OmegaConf.resolve (--cfg job --resolve) cannot store a plain one.
    genres = OmegaConf.create(list(GTZAN_GENRES))
    facts: dict[str, Any] = {"genres": genres, "url": DEFAULT_URL, "sha256": DEFAULT_SHA256}
    facts["clip_samples"] = CLIP_SAMPLES
    if name not in facts:
        raise ValueError(f"gl_gtzan knows {', '.join(facts)}, not {name!r}")
    return facts[name]


def synthetic_fact(name: str) -> Any:
    """The synthetic set's ``genres``: its styles' names in label order (the ``gl_synthetic``
    resolver; data/synthesis.py owns them)."""
    from genre_lightning.data.synthesis import STYLES

    if name != "genres":
        raise ValueError(f"gl_synthetic knows genres, not {name!r}")
    return OmegaConf.create([style.name for style in STYLES])


def clip_samples(seconds: Any, sample_rate: Any) -> int:
    """The ``gl_samples`` resolver: a clip of ``seconds`` at ``sample_rate``, in samples
    (data/config.py owns the rule; imported when a config is resolved, as above)."""
    from genre_lightning.data.config import seconds_to_samples

    return seconds_to_samples(seconds, sample_rate)


OmegaConf.register_new_resolver("gl_gtzan", gtzan_fact, replace=True)
OmegaConf.register_new_resolver("gl_samples", clip_samples, replace=True)
OmegaConf.register_new_resolver("gl_synthetic", synthetic_fact, replace=True)


def compose_config(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """A tool's config composed in Python, as the command line would compose it.

    Inside a running tool (Hydra initialised, e.g. the report checking its recipes) it composes
    with that tool's Hydra, whose configs are these.
    """
    if GlobalHydra.instance().is_initialized():
        return compose(config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name, overrides=list(overrides))
