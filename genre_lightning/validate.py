"""One check of the user's values before any work: types, ranges and names.

A *check* takes a dotted key and its value and raises a
:class:`~genre_lightning.errors.UserError` naming ``key=value`` and a value that works. The
factories here build them: training declares its own keys' checks with them
(:mod:`genre_lightning.train_checks`), the data package the ``data.*`` ones
(:mod:`genre_lightning.data.config`), and each tool its own.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genre_lightning.errors import UserError

#: ``check(key, value)``: raises UserError if ``value`` is not allowed for the dotted ``key``.
Check = Callable[[str, Any], None]


def shown(value: Any) -> str:
    """A value as it is written on the command line (a text that reads as a number quoted)."""
    if value is None:
        return "null"
    if isinstance(value, str) and _reads_as_non_text(value):
        return f'"{value}"'

    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return f"[{','.join(shown(v) for v in value)}]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def _reads_as_non_text(value: str) -> bool:
    """Whether Hydra would read ``value`` unquoted as a number, a boolean or null."""
    if value.lower() in ("true", "false", "null"):
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def bad(key: str, value: Any, problem: str, example: str) -> UserError:
    """``key=value <problem>; e.g. key=<example>``."""
    return UserError(f"{key}={shown(value)} {problem}; e.g. {key}={example}")


def is_number(value: Any, whole: bool = False) -> bool:
    """Whether a config value is a number (a whole one if ``whole``). YAML's ``true`` is not,
    though Python counts a bool as the int 1."""
    kind = numbers.Integral if whole else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


def number(low: float, *, whole: bool, above: bool, example: str, optional: bool = False) -> Check:
    """A number (a whole one if ``whole``) at least (or above) ``low``; null if ``optional``."""

    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if not is_number(value):
            raise bad(key, value, "is not a number", example)
        if value != value or value in (float("inf"), float("-inf")):
            raise bad(key, value, "is not a finite number", example)
        # 2.0 is refused too: the libraries these values go to (Lightning's epoch counts, range
        # sizes) take ints only, and fail far from the command line on a float.
        if whole and not isinstance(value, numbers.Integral):
            raise bad(key, value, "is not a whole number", example)
        if value < low or (above and value == low):
            bound = f"{'above' if above else 'at least'} {low:g}{', or null' if optional else ''}"
            raise bad(key, value, f"must be {bound}", example)

    return check


def whole(low: int, example: str, optional: bool = False) -> Check:
    """A whole number at least ``low``."""
    return number(low, whole=True, above=False, example=example, optional=optional)


def positive(example: str, optional: bool = False) -> Check:
    """A number above 0."""
    return number(0, whole=False, above=True, example=example, optional=optional)


def choice(options: Sequence[Any], note: str = "") -> Check:
    """One of ``options`` (compared with their types: ``1`` is not ``true``); ``note`` follows
    the list in the message (e.g. which tool takes an option)."""
    listed = "|".join(shown(o) for o in options) + (f" ({note})" if note else "")

    def check(key: str, value: Any) -> None:
        if not any(value == o and type(value) is type(o) for o in options):
            raise UserError(f"{key}={shown(value)} is not known; use {key}={listed}")

    return check


def text(example: str, optional: bool = False) -> Check:
    """A non-empty text (a name, a path, an override), or null if ``optional``."""

    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, str) and not value.strip():
            raise bad(key, value, "is empty", example)
        if not isinstance(value, str):
            raise bad(key, value, "must be a text" + (" or null" if optional else ""), example)

    return check


def sha256_digest(example: str) -> Check:
    """A SHA-256 digest (64 hexadecimal digits), or null: not checked."""

    def check(key: str, value: Any) -> None:
        if value is not None and not (
            isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value)
        ):
            raise bad(key, value, "is not a SHA-256 digest (64 hex digits) or null", example)

    return check


def texts(example: str, at_least: int = 0) -> Check:
    """A list of at least ``at_least`` non-empty texts."""

    def check(key: str, value: Any) -> None:
        items = value if isinstance(value, Sequence) and not isinstance(value, str) else None
        if items is None or not all(isinstance(v, str) and v.strip() for v in items):
            raise bad(key, value, "must be a list of texts", example)
        if len(items) < at_least:
            raise bad(key, value, f"must name at least {at_least}", example)

    return check


def device_name(key: str, value: Any) -> None:
    """A device setting: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Only the spelling is checked (no torch is imported);
    :func:`~genre_lightning.inference.resolve_device` checks that the GPU exists.
    """
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise bad(key, value, "must be auto, cpu, cuda or cuda:N (N a GPU number)", "cpu")


def flag(optional: bool = False) -> Check:
    """``true`` or ``false`` (or null if ``optional``)."""

    def check(key: str, value: Any) -> None:
        if not isinstance(value, bool) and not (value is None and optional):
            options = "true, false or null" if optional else "true or false"
            raise bad(key, value, f"must be {options}", "true")

    return check


def check_section(
    section: Mapping[str, Any], checks: Mapping[str, Check], prefix: str = ""
) -> None:
    """Run the check of every dotted key of ``checks`` that ``section`` holds.

    Args:
        section: A config section (plain mapping or DictConfig).
        checks: Checks by dotted key, relative to ``section``.
        prefix: Written before each key in messages (``"data."``).
    """
    for key, check in checks.items():
        found, value = lookup(section, key)
        if found:
            check(prefix + key, value)


def lookup(section: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = section
    for part in key.split("."):
        if not isinstance(node, Mapping | DictConfig) or part not in node:
            return False, None
        node = node[part]
    return True, node


def typed(key: str) -> bool:
    """Whether the command line sets ``key`` (``key=``, ``+key=``, ``++key=``): the user's
    value, not a config option's. False where no Hydra app runs (composed in Python)."""
    if not HydraConfig.initialized():
        return False
    # Unresolved: an override's own ${...} is its value's, resolved (and checked) elsewhere;
    # iterating the node would resolve it here.
    task = OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)
    given = [str(o).lstrip("+~") for o in task] if isinstance(task, list) else []
    return any(o.startswith(f"{key}=") for o in given)
