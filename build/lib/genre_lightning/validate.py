"""One check of the user's values before any work: types, ranges and names.

Every training run passes its composed config through :func:`check_train_config` before a file
is decoded or a network built. A value of the wrong type or out of range is one
:class:`~genre_lightning.errors.UserError` naming ``key=value`` and an example of a good value.
The data keys are the data package's own rules
(:func:`genre_lightning.data.checks.check_data_config`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from genre_lightning.errors import UserError
from genre_lightning.features.normalize import PER


@dataclass(frozen=True)
class Rule:
    """What one key must hold.

    Attributes:
        key: Dotted config key.
        kind: ``int``, ``number``, ``bool`` or ``choice``.
        low: Smallest allowed value (numbers), or None.
        low_open: ``low`` itself is not allowed.
        choices: Allowed values (``choice``).
        optional: ``null`` is allowed.
        example: A good value, shown in the message.
    """

    key: str
    kind: str
    example: str
    low: float | None = None
    low_open: bool = False
    choices: Sequence[Any] = ()
    optional: bool = False

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, or None."""
        if value is None:
            return None if self.optional else "must be set"
        if self.kind == "choice":
            allowed = ", ".join(map(str, self.choices))
            return None if value in self.choices else f"must be one of {allowed}"
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be an integer" if self.kind == "int" else "must be a number"
        if self.kind == "int" and not float(value).is_integer():
            return "must be an integer"
        if not math.isfinite(value):
            return "must be finite"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return f"must be {'>' if self.low_open else '>='} {self.low:g}"
        return None


#: Rules of the training config outside ``data`` (the data package checks its own keys).
TRAIN_RULES = (
    Rule("seed", "int", "seed=42", low=0),
    Rule("trainer.max_epochs", "int", "trainer.max_epochs=100", low=1),
    Rule("optimizer.lr", "number", "optimizer.lr=5e-4", low=0, low_open=True, optional=True),
    Rule("optimizer.weight_decay", "number", "optimizer.weight_decay=1e-2", low=0, optional=True),
    Rule("module.normalize", "choice", "module.normalize=element", choices=PER),
    Rule("module.mixup_alpha", "number", "module.mixup_alpha=0.2", low=0),
    Rule("module.cache_embeddings", "bool", "module.cache_embeddings=false"),
    Rule("module.channels_last", "bool", "module.channels_last=true", optional=True),
    Rule("compile", "bool", "compile=true"),
)


def check(cfg: DictConfig | dict[str, Any], rules: Sequence[Rule]) -> None:
    """Check every rule whose key is in ``cfg``.

    Raises:
        UserError: The first value that breaks its rule.
    """
    for rule in rules:
        found, value = _lookup(cfg, rule.key)
        if not found:
            continue
        reason = rule.check(value)
        if reason is not None:
            raise UserError(f"{rule.key}={_shown(value)}: {reason}, e.g. {rule.example}")


def check_train_config(
    cfg: DictConfig, data_check: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """Check a composed training config (see the module docstring).

    Args:
        cfg: The composed config.
        data_check: The data package's check of ``cfg.data`` (as a plain dict).
    """
    check(cfg, TRAIN_RULES)
    if data_check is not None:
        data_check(cast(dict[str, Any], OmegaConf.to_container(cfg.data, resolve=True)))


def _lookup(cfg: DictConfig | dict[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig | dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
