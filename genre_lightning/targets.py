"""The class a config's ``_target_`` names, imported without Hydra's own error lines.

``hydra.utils.get_class`` logs an ERROR line of its own before it raises, which would put a
second message beside the tools' one ``error:`` line; the callers here say what is wrong in
their own words, naming their key.
"""

from __future__ import annotations

import importlib


class TargetError(ValueError):
    """A ``_target_`` names no class that imports; the message says why, in one line."""


def locate_class(target: object) -> type:
    """The class ``target`` names (``package.module.Class``).

    Raises:
        TargetError: The module does not import, has no such name, or the name is no class.
    """
    module, _, name = str(target).rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:  # ValueError: no module part
        raise TargetError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(found, type):
        raise TargetError(f"it is a {type(found).__name__}, not a class")
    return found
