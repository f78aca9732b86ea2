"""The real musicnn checkpoints for the model tests (fixtures shared with tests/pretrained)."""

from ..pretrained.conftest import msd_prefix, musicnn_cache, musicnn_wheel

__all__ = ["msd_prefix", "musicnn_cache", "musicnn_wheel"]
