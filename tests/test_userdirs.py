"""userdirs.py: where the per-user cache lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_lightning.userdirs import user_cache_dir


def test_user_cache_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENRE_LIGHTNING_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("GENRE_LIGHTNING_CACHE")
    assert user_cache_dir() == tmp_path / "xdg" / "genre_lightning"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG spec asks
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "genre_lightning"
