"""Where this package keeps files of its own between runs (downloaded weights, caches)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """The per-user cache folder (not created here).

    ``$GENRE_LIGHTNING_CACHE`` if set, else ``$XDG_CACHE_HOME/genre_lightning``, else
    ``~/.cache/genre_lightning``. A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base
    directory specification asks.
    """
    override = os.environ.get("GENRE_LIGHTNING_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "genre_lightning"
