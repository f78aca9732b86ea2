"""Train/validation/test splits by track: random, fault-filtered (artist-disjoint), k-fold, and
``test`` (every track tested: a trained checkpoint on a whole folder of other recordings)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from genre_lightning.errors import UserError
from genre_lightning.validate import shown

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")
SPLIT_KINDS = ("random", "filtered", "kfold", "all", "test")
#: The split that tests every track and trains on none: evaluate's, never training's.
TEST_ONLY = "test"
#: The split that trains on every track, validating and testing none: the final model for
#: predict, once a held-out split (kfold, make report) has measured the recipe.
TRAIN_ONLY = "all"
#: The splits that deal tracks into the parts by chance, and so the ones ``data.split_by`` acts on.
DEALT_SPLITS = ("random", "kfold")
#: What those splits deal into the parts (``data.split_by``): each track alone, or each
#: first-level folder of a genre folder (an artist's or album's tracks) as one.
SPLIT_UNITS = ("track", "folder")
#: Why each split kind can leave a genre out of training, and what to change.
UNTRAINED_FIXES = {
    "random": (
        "data.split=random shuffles tracks regardless of genre, so a genre of few tracks can "
        "miss the training part: give each genre more tracks, or use data.split=kfold (each "
        "genre's tracks are dealt into every part; 3 tracks per genre suffice)"
    ),
    "kfold": (
        "data.split=kfold tests some of each genre's tracks and validates some of the rest "
        "(data.val_fraction): give each genre at least 3 tracks, or lower data.val_fraction"
    ),
    "filtered": (
        "data.split=filtered trains only on the tracks its train.txt lists, and a partial "
        "copy of GTZAN may hold none of a genre's: use the complete GTZAN, "
        "data.split=random or data.split=kfold"
    ),
    TEST_ONLY: (
        "data.split=test puts every track in the test part, to test a trained checkpoint on "
        "(genre_lightning.evaluate); training needs data.split=random, kfold, filtered or all"
    ),
}
#: Data keys that some kinds of split alone read: the kinds, and the settings that make one of
#: them read it.
SPLIT_ONLY_KEYS = {
    **dict.fromkeys(
        ("fold", "num_folds", "val_fraction"), (("kfold",), "data.split=kfold data.num_folds=5")
    ),
    "split_fractions": (("random",), "data.split=random"),
    "split_by": (DEALT_SPLITS, "data.split=kfold data.num_folds=5"),
}
#: Each part's list in ``data/filtered_split/`` (the published name of "val" is "valid").
FILTERED_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}


def random_split(
    num_items: int,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    unit: str = "track",
) -> dict[str, list[int]]:
    """Shuffle item indices with a fixed seed and cut them into train/val/test, as the paper.

    Args:
        num_items: Number of tracks.
        fractions: Train, validation and test fractions (must sum to 1).
        seed: Seed of the shuffle; the same seed always gives the same split.
        unit: What an item is, for the messages (``track`` or ``folder``).

    Returns:
        Sorted indices for each of ``train``, ``val`` and ``test``.

    Raises:
        UserError: Bad ``fractions`` or fewer than 3 tracks.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise UserError(
            f"data.split_fractions must be three positive numbers summing to 1, "
            f"got {list(fractions)}; e.g. data.split_fractions=[0.8,0.1,0.1]"
        )
    if num_items < 3:
        more = "clips" if unit == "track" else "folders per genre, or data.split_by=track"
        raise UserError(
            f"need at least 3 {unit}s to split into train/val/test, got {num_items}: "
            f"point data.root at a folder with more {more}"
        )
    import torch  # here: the config checks import this module for its names, before torch

    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed)).tolist()
    # Validation and test get their rounded share (at least one track); train takes the rest,
    # so 999 tracks split 799/100/100 and 1000 split 800/100/100.
    n_val = max(1, round(fractions[1] * num_items))
    n_test = max(1, round(fractions[2] * num_items))
    n_train = num_items - n_val - n_test
    if n_train < 1:  # slicing with a negative end would deal train's tracks to test too
        raise UserError(
            f"data.split_fractions={list(fractions)} of {num_items} {unit}s gives validation "
            f"{n_val} and test {n_test}, which leaves none to train on; give train a larger "
            f"share, e.g. data.split_fractions=[0.8,0.1,0.1], or add clips"
        )
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {k: sorted(v) for k, v in parts.items()}


@cache
def filtered_lists() -> dict[str, frozenset[str]]:
    """Track names of each part of the fault-filtered split (``data/filtered_split/*.txt``)."""
    folder = resources.files("genre_lightning.data").joinpath("filtered_split")
    read = {part: folder.joinpath(name).read_text("utf-8") for part, name in FILTERED_FILES.items()}
    return {part: frozenset(text.split()) for part, text in read.items()}


def filtered_split(tracks: Sequence[str]) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The fault-filtered, artist-disjoint GTZAN split of Kereliuk, Sturm & Larsen (2015).

    Clips whose track is in none of the three lists are replicated or mislabelled (the
    faults) and are left out of every part.

    Args:
        tracks: Track name of each clip present (``blues.00029``); index ``i`` is ``tracks[i]``.

    Returns:
        Sorted indices for each of ``train``, ``val`` and ``test``, and how many listed tracks
        of each part are missing from ``tracks`` (a partial copy of GTZAN, or unreadable files).

    Raises:
        UserError: A part has none of its listed tracks present.
    """
    lists = filtered_lists()
    part_of = {t: part for part, names in lists.items() for t in names}
    parts: dict[str, list[int]] = {part: [] for part in PARTS}
    faults = 0
    for i, track in enumerate(tracks):
        if track in part_of:
            parts[part_of[track]].append(i)
        else:
            faults += 1
    present = set(tracks)
    missing = {part: len(lists[part] - present) for part in PARTS}
    log.info(
        "filtered split: %s; %d present clips excluded as faults",
        ", ".join(f"{p} {len(parts[p])} present/{missing[p]} missing" for p in PARTS),
        faults,
    )
    for part in PARTS:
        if not parts[part]:
            raise UserError(
                f"data.split=filtered: none of the {len(lists[part])} tracks listed for the "
                f"'{part}' part ({FILTERED_FILES[part]}) is among the {len(tracks)} clips found; "
                f"the filtered split needs GTZAN's own clip names (e.g. blues.00029). "
                f"data.split=random works on any data."
            )
    return parts, missing


def kfold_split(
    labels: Sequence[int],
    fold: int,
    num_folds: int = 10,
    seed: int = 42,
    val_fraction: float = 0.1,
    unit: str = "track",
) -> dict[str, list[int]]:
    """Stratified k-fold split by track: fold ``fold`` is the test part.

    Args:
        labels: Label of each track; index ``i`` is track ``i``.
        fold: Which fold (0-based) is tested.
        num_folds: Number of folds.
        seed: Seed of the per-class shuffles; the same seed gives the same folds.
        val_fraction: Share of the non-test tracks held out (stratified) for validation.
        unit: What an item is, for the messages (``track`` or ``folder``).

    Returns:
        Sorted indices for each of ``train``, ``val`` and ``test``.

    Raises:
        UserError: ``num_folds`` not in ``[2, len(labels)]``, ``fold`` not in
            ``[0, num_folds)`` or ``val_fraction`` not in ``(0, 1)``.
    """
    if num_folds < 2 or num_folds > len(labels):
        raise UserError(
            f"data.num_folds={num_folds}: must be in [2, {len(labels)}] (the number of {unit}s)"
        )
    if not 0 <= fold < num_folds:
        raise UserError(
            f"data.fold={fold}: must be in [0, {num_folds - 1}] with data.num_folds={num_folds}"
        )
    if not 0 < val_fraction < 1:
        raise UserError(f"data.val_fraction={val_fraction}: must be in (0, 1), e.g. 0.1")
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    import torch  # here: see random_split

    gen = torch.Generator().manual_seed(seed)
    test: list[int] = []
    rest: list[tuple[float, int, int]] = []  # (rank within class, label, index)
    dealt = 0
    for label in sorted(by_class):
        members = by_class[label]
        shuffled = [members[j] for j in torch.randperm(len(members), generator=gen).tolist()]
        # Each class starts dealing where the previous one stopped, so fold sizes differ by at
        # most one overall as well as per class.
        kept: list[int] = []
        for j, i in enumerate(shuffled):
            (test if (dealt + j) % num_folds == fold else kept).append(i)
        dealt += len(shuffled)
        # A class's j-th kept track ranks (j + 0.5) / n: taking the lowest ranks over all
        # classes takes about the same share of every class (stratified validation).
        rest += [((j + 0.5) / len(kept), label, i) for j, i in enumerate(kept)]
    # Classes whose tracks rank alike (as many of each) take their turns in an order drawn
    # from the seed and the fold. By label, when validation holds fewer tracks than there are
    # classes (8 of 40 tracks, 10 genres), the last genres were never validated, in any fold
    # or deal. Drawn apart from the shuffles above, which make the test folds.
    turns = torch.randperm(len(by_class), generator=torch.Generator().manual_seed(seed + fold))
    turn = dict(zip(sorted(by_class), turns.tolist(), strict=True))
    rest.sort(key=lambda ranked: (ranked[0], turn[ranked[1]], ranked[2]))
    # At least one validation track, but never all of them: train must not be empty.
    n_val = min(max(1, round(val_fraction * len(rest))), len(rest) - 1)
    train, val = [i for *_, i in rest[n_val:]], [i for *_, i in rest[:n_val]]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def check_split_keys(split: str, given: Mapping[str, Any], whose: str) -> None:
    """Refuse a data key given for a split other than the one in use.

    It would be ignored without a word: a sweep over ``data.fold`` without
    ``data.split=kfold`` trains and tests the same split each time.

    Args:
        split: ``data.split`` in use.
        given: The ``data`` keys given (without ``data.``) and their values.
        whose: Who chose ``split``, for the message (``"this run is split"``).

    Raises:
        UserError: A key of :data:`SPLIT_ONLY_KEYS` that ``split`` does not read was given.
    """
    for key, (kinds, settings) in SPLIT_ONLY_KEYS.items():
        if key in given and split not in kinds:
            readers = " and ".join(f"data.split={kind}" for kind in kinds)
            raise UserError(
                f"data.{key}={shown(given[key])} has no effect: {whose} data.split={split}, "
                f"and only {readers} {'reads' if len(kinds) == 1 else 'read'} it; add "
                f"{settings}, or leave data.{key} out"
            )


def check_every_class_trains(
    kind: str,
    parts: Mapping[str, Sequence[int]],
    labels: Sequence[int],
    class_names: Sequence[str],
    split_by: str = "track",
) -> None:
    """Refuse a split that leaves a genre without a single training track.

    The network could never learn such a genre, so its test scores would measure the split,
    not the model; a run that silently reports them is worse than no run.

    Args:
        kind: ``data.split``, to say why it happened and what to change.
        parts: Indices of each of ``train``, ``val`` and ``test`` (after any ``train_on_val``).
        labels: Label of each track; index ``i`` is track ``i``.
        class_names: Genre names in label order.
        split_by: ``data.split_by``: with ``folder``, the counts that matter are folders.

    Raises:
        UserError: Some genre has no training track; the message names each such genre, where
            its tracks went and the fix.
    """
    counts = {part: Counter(labels[i] for i in parts[part]) for part in PARTS}
    missing = [label for label in range(len(class_names)) if not counts["train"][label]]
    if not missing:
        return

    def where(label: int) -> str:
        total = sum(counts[part][label] for part in PARTS)
        placed = ", ".join(f"{counts[part][label]} {part}" for part in ("val", "test"))
        return f"'{class_names[label]}' ({total} track{'' if total == 1 else 's'}: {placed})"

    genres = "genre " if len(missing) == 1 else "genres "
    others = [name for label, name in enumerate(class_names) if label not in missing]
    leave_out = (
        f", or leave {'it' if len(missing) == 1 else 'them'} out: "
        f"data.class_names=[{','.join(others)}]"
        if len(others) >= 2
        else ""
    )
    folders = (
        " (data.split_by=folder deals whole folders: count a genre's first-level folders, "
        "not its tracks, or deal tracks with data.split_by=track)"
        if split_by == "folder" and kind in DEALT_SPLITS
        else ""
    )
    raise UserError(
        f"data.split={kind} leaves {genres}{', '.join(where(m) for m in missing)} without a "
        f"training track, so the network could never learn "
        f"{'it' if len(missing) == 1 else 'them'}. {UNTRAINED_FIXES[kind]}{folders}{leave_out}."
    )


def make_split(
    kind: str,
    tracks: Sequence[str],
    labels: Sequence[int],
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    fold: int = 0,
    num_folds: int = 10,
    val_fraction: float = 0.1,
    groups: Sequence[str] | None = None,
) -> dict[str, list[int]]:
    """Split the clips by ``data.split``: ``random``, ``filtered``, ``kfold``, ``all``, ``test``.

    Args:
        kind: The split kind.
        tracks: Track name of each clip (used by ``filtered``).
        labels: Label of each clip (used by ``kfold``).
        fractions: Train/validation/test fractions of ``random``.
        seed: Seed of ``random`` and ``kfold``.
        fold: Tested fold of ``kfold``.
        num_folds: Number of folds of ``kfold``.
        val_fraction: Share of ``kfold``'s non-test tracks held out for validation.
        groups: For ``random`` and ``kfold``, a group name per clip: the clips of one group
            go into one part together (``data.split_by=folder``). ``None``: each alone.

    Returns:
        Sorted indices for each of ``train``, ``val`` and ``test`` (``filtered`` logs its
        missing counts rather than returning them).

    Raises:
        UserError: Unknown ``kind``, or the filtered split finds an empty part.
    """
    if kind in DEALT_SPLITS:
        # Deal units as tracks: each track alone, or (groups) the tracks of one group of one
        # genre together; then each unit's tracks go where the unit went.
        keys = zip(labels, groups, strict=True) if groups is not None else enumerate(labels)
        members: dict[tuple[object, object], list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(key, []).append(i)
        units = list(members.values())
        unit = "track" if groups is None else "folder"
        if kind == "random":
            dealt = random_split(len(units), fractions, seed, unit=unit)
        else:
            unit_labels = [labels[m[0]] for m in units]
            dealt = kfold_split(unit_labels, fold, num_folds, seed, val_fraction, unit=unit)
        return {part: sorted(i for u in dealt[part] for i in units[u]) for part in PARTS}
    if kind == "filtered":
        return filtered_split(tracks)[0]
    if kind == TEST_ONLY:
        return {"train": [], "val": [], "test": list(range(len(tracks)))}
    if kind == TRAIN_ONLY:
        return {"train": list(range(len(tracks))), "val": [], "test": []}
    raise UserError(f"data.split={kind!r} is not known; use data.split={'|'.join(SPLIT_KINDS)}")
