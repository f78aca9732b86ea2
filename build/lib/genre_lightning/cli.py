"""Command-line plumbing shared by predict, evaluate and export: ``key=value`` arguments.

These tools take Hydra-style arguments like training does, but are not Hydra apps: they have a
handful of keys and need no config tree, output directory or logging setup.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import OmegaConf

from genre_lightning.errors import UserError


def parse_args(
    argv: Sequence[str],
    defaults: dict[str, Any],
    required: Sequence[str] = (),
    open_groups: Sequence[str] = (),
) -> dict[str, Any]:
    """Parse Hydra-style ``key=value`` arguments.

    Top-level values stay text (a file called ``01`` stays ``01``), except where the default
    is a bool or an int; ``group.key=value`` entries of ``open_groups`` are parsed as Hydra
    overrides are (YAML: numbers, lists, null) and returned nested under the group.

    Args:
        argv: The arguments.
        defaults: Every known top-level key with its default.
        required: Keys that must be given.
        open_groups: Groups whose nested keys are all accepted, e.g. ``data``.

    Raises:
        UserError: An argument is not ``key=value``, a key is unknown, a value has the wrong
            type, or a required key is missing.
    """
    known = ", ".join([*defaults, *(f"{g}.*" for g in open_groups)])
    args = dict(defaults)
    nested: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise UserError(f"expected key=value arguments, got '{arg}' (keys: {known})")
        if key.split(".", 1)[0] in open_groups and "." in key:
            nested.append(arg)
        elif key not in defaults:
            raise UserError(f"unknown key '{key}' (keys: {known})")
        else:
            args[key] = _typed(key, value, defaults[key])
    try:
        groups = OmegaConf.to_container(OmegaConf.from_dotlist(nested))
    except Exception as exc:  # OmegaConf's grammar errors, e.g. an unclosed bracket
        raise UserError(f"cannot parse {' '.join(nested)}: {exc}") from exc
    assert isinstance(groups, dict)
    args.update({g: groups.get(g, {}) for g in open_groups})
    missing = [k for k in required if args.get(k) in (None, "")]
    if missing:
        raise UserError(f"missing {', '.join(f'{k}=...' for k in missing)} (keys: {known})")
    return args


def _typed(key: str, value: str, default: Any) -> Any:
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise UserError(f"{key}={value}: expected true or false")
        return value.lower() == "true"
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise UserError(f"{key}={value}: expected an integer") from None
    return value


def run_main(body: Callable[[dict[str, Any]], int], argv: Sequence[str] | None, **spec: Any) -> int:
    """Parse ``argv`` (see :func:`parse_args`), run ``body`` and turn a UserError into exit 2.

    ``argv=None`` reads ``sys.argv``; ``-h``/``--help`` prints the calling module's docstring
    (its usage) instead.
    """
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(sys.modules[body.__module__].__doc__)
        return 0
    try:
        return body(parse_args(argv, **spec))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
