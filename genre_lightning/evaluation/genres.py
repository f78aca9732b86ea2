"""Which of a checkpoint's genres a labelled folder is scored on, and the labels of its clips in
the checkpoint's class order; a genre the checkpoint never learnt cannot be scored."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from genre_lightning.errors import UserError

if TYPE_CHECKING:
    from genre_lightning.data.index import Clip

log = logging.getLogger(__name__)


def genres_to_score(trained: list[str], found: list[str], named: Sequence[str] | None) -> list[str]:
    """The checkpoint's genres that the data holds, in the checkpoint's order.

    A labelled folder of some of the genres scores the checkpoint on those (it may still
    answer any of its genres); a genre it was never trained on cannot be scored.

    Args:
        trained: The checkpoint's class names.
        found: The genre folders with audio under ``data.root``.
        named: ``data.class_names``, where set: only these are scored.

    Raises:
        UserError: A genre the checkpoint does not know, or none of its genres in the data.
    """
    wanted = list(named) if named is not None else found
    refuse_unknown_genres(trained, wanted, found)
    known = [name for name in trained if name in wanted and name in found]
    if not known:
        raise UserError(
            f"data.class_names=[{','.join(wanted)}]: none of these genres has a folder with "
            f"audio files among [{', '.join(found)}]; name genre folders of data.root"
        )
    if len(known) < len(trained):
        absent = [name for name in trained if name not in known]
        log.info(
            "the data holds %d of the checkpoint's %d genres (not %s): the scores are for "
            "those, while the network may still answer any of its genres",
            len(known),
            len(trained),
            ", ".join(absent),
        )
    return known


def refuse_unknown_genres(trained: list[str], wanted: list[str], found: list[str]) -> None:
    """Refuse genres the checkpoint never learnt: it cannot be scored on them.

    Args:
        trained: The checkpoint's class names.
        wanted: The genres to score.
        found: The genres the data holds (for the fix: the known ones among them).
    """
    unknown = [name for name in wanted if name not in trained]
    if not unknown:
        return
    known = [name for name in trained if name in wanted and name in found]
    them = "it" if len(unknown) == 1 else "them"
    if len(known) > 1:
        fix = f"leave {them} out: data.class_names=[{','.join(known)}]"
    elif known:  # data.class_names names two or more genres: a data.root of one is scored
        fix = (
            f"move {them} out of data.root (a folder of {known[0]} alone is scored, too), or "
            f"point data.root at a folder of {known[0]}'s tracks"
        )
    else:
        fix = "evaluate on folders named after its genres"
    raise UserError(
        f"the checkpoint was trained on the classes [{', '.join(trained)}], but the data has "
        f"the classes [{', '.join(wanted)}]; it cannot be scored on [{', '.join(unknown)}], "
        f"which it never learnt: {fix}"
    )


def labelled_as_trained(
    clips: list[Clip], found: list[str], scored: list[str], trained: list[str]
) -> tuple[list[Clip], list[str]]:
    """The clips of the ``scored`` genres, labelled by the checkpoint's class order (the
    folders' own order may differ), and the checkpoint's class names."""
    label = {found.index(name): trained.index(name) for name in scored}
    kept = [
        dataclasses.replace(clip, label=label[clip.label]) for clip in clips if clip.label in label
    ]
    # In label order, as the index lists them (a stable sort keeps each genre's file order):
    # the seeded splits deal the clips in this order, so the checkpoint's split comes again.
    return sorted(kept, key=lambda clip: clip.label), list(trained)


def check_classes(trained: list[str], data: list[str]) -> None:
    if list(data) != list(trained):
        raise UserError(
            f"the checkpoint was trained on the classes [{', '.join(trained)}], but the data "
            f"has the classes [{', '.join(data)}]. Evaluate on data with the same genres in "
            f"the same order (data.class_names=[{','.join(trained)}])."
        )
