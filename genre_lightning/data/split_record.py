"""The split a run trained on, as its checkpoints record it, and the checks made against it.

A run's split follows from the files its data folder held (and which of them decoded), so the
same config on a changed folder splits differently. A checkpoint therefore carries its run's
split as track ids (``genre/track``), and two uses of it are checked against today's data:

* resuming a run must see the same split, or the rest of the run would train on other tracks
  and finally test on tracks it trained on;
* evaluating a checkpoint must not test tracks it trained or was selected on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genre_lightning.data.index import Clip
from genre_lightning.data.splits import PARTS
from genre_lightning.errors import UserError

#: Track ids shown in a message, at most.
SHOWN = 3


def track_ids(
    clips: Sequence[Clip], parts: Mapping[str, Sequence[int]], class_names: Sequence[str]
) -> dict[str, list[str]]:
    """Each part's tracks as sorted ``genre/track`` ids (a track name alone may repeat across
    genres of a user's folder)."""
    return {
        part: sorted(f"{class_names[clips[i].label]}/{clips[i].track}" for i in parts.get(part, []))
        for part in PARTS
    }


def read_record(state: Any) -> dict[str, list[str]] | None:
    """The split record in a checkpoint's own entry (``state``: untrusted data, the module's
    ``on_save_checkpoint`` writes it under ``"split"``), or ``None`` where there is none: older
    checkpoints, and anything not shaped as :func:`track_ids` writes it."""
    saved = state.get("split") if isinstance(state, dict) else None
    if not isinstance(saved, dict) or set(saved) != set(PARTS):
        return None
    if not all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in saved.values()):
        return None
    return {part: list(saved[part]) for part in PARTS}


def _examples(ids: Sequence[str]) -> str:
    return ", ".join(ids[:SHOWN]) + (", ..." if len(ids) > SHOWN else "")


def check_same_split(
    saved: Mapping[str, Sequence[str]], current: Mapping[str, Sequence[str]], checkpoint: str
) -> None:
    """Refuse to resume from ``checkpoint`` when today's data split differently.

    Raises:
        UserError: A track is in another part, or only in one of the two splits.
    """
    was = {t: part for part in PARTS for t in saved[part]}
    now = {t: part for part in PARTS for t in current[part]}
    moved = sorted(t for t in was.keys() | now.keys() if was.get(t) != now.get(t))
    if not moved:
        return
    shown = _examples([f"{t} ({was.get(t, 'absent')} -> {now.get(t, 'absent')})" for t in moved])
    raise UserError(
        f"{checkpoint} was trained on another split of the data: {len(moved)} track(s) are "
        f"not where the run put them ({shown}). The "
        f"files under data.root, or which of them decode, changed since the run started, so "
        f"resuming would train on other tracks and test on some it trained on. Restore the "
        f"run's files (its split.csv lists them), or start a new run without resume=/ckpt_path="
    )


def check_unseen_test(
    saved: Mapping[str, Sequence[str]], test: Sequence[str], checkpoint: str
) -> None:
    """Refuse a test part holding tracks the checkpoint trained or was selected on.

    Raises:
        UserError: Some of ``test`` are in the saved training or validation part.
    """
    seen = set(saved["train"]) | set(saved["val"])
    leaked = sorted(t for t in test if t in seen)
    if leaked:
        raise UserError(
            f"{len(leaked)} of the {len(test)} test tracks were in the training or validation "
            f"part of {checkpoint} ({_examples(leaked)}): these data are not split as its run's "
            f"were (other files under data.root, or another data.split, data.fold or "
            f"data.split_seed), and a test on them would score tracks the network learned. "
            f"Evaluate with the run's own data and split settings, or on other recordings"
        )
