"""Finding the audio files of a dataset laid out as ``<root>/<genre>/<clip>.<ext>``, the clips
of a genre up to three folders deep in its folder (``<root>/<genre>/<artist>/<album>/...``)."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genre_lightning.audio_files import audio_files_under, is_audio_name, undecodable_note
from genre_lightning.errors import UserError

log = logging.getLogger(__name__)

#: GTZAN's ten genres in the paper's label order (Table 1).
GTZAN_GENRES = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

#: Folder levels searched below a genre folder for its clips: ``<artist>/<album>/<disc>``. A
#: bound, so that a ``data.root`` pointed at a large tree of other things is listed quickly.
LIBRARY_DEPTH = 3
#: Sub-folders under ``data.root`` where GTZAN's genre folders are looked for, in order:
#: the Kaggle copy, the original tarball, and a plain ``<root>/<genre>/``.
LAYOUTS = ("Data/genres_original", "genres_original", "genres", ".")


class DataNotFoundError(UserError):
    """No usable audio where the configuration points."""


@dataclass(frozen=True)
class Clip:
    """One audio file and its label.

    Attributes:
        path: The file.
        label: Its genre's index in the class names.
        folders: The folders between its genre folder and the file, ``/``-joined (``""`` for a
            file directly in the genre folder, as in GTZAN).
    """

    path: Path
    label: int
    folders: str = ""

    @property
    def track(self) -> str:
        """The clip's identity in split lists and records: its name without extension
        (``blues.00000``), after its folders where it lies deeper in the genre folder
        (``Artist/Album/01 Song``: two albums may both hold a ``01 Song``)."""
        return f"{self.folders}/{self.path.stem}" if self.folders else self.path.stem


def find_genre_root(root: Path, class_names: Sequence[str] | None = None) -> Path:
    """Return the folder under ``root`` that holds the genre sub-folders.

    Args:
        root: The configured ``data.root``.
        class_names: Expected genre folder names; ``None`` accepts any sub-folder with audio.

    Raises:
        DataNotFoundError: ``root`` is a file, or no layout under ``root`` has genre folders
            with audio files.
    """
    if root.is_dir() and not _listable(root):  # each layout's path would be refused instead
        raise DataNotFoundError(
            f"data.root={root} cannot be listed (permission denied): make it readable (e.g. "
            f"chmod -R a+rX on it), or point data.root at a copy you can read"
        )
    if root.is_file():
        # Listing layouts under a file would name paths like <file>/Data/genres_original.
        kind = "an audio file" if is_audio_name(root) else "a file"
        raise DataNotFoundError(
            f"data.root={root} is {kind}, not a folder: data.root must be the folder that holds "
            f"one folder per genre (<root>/<genre>/<clip>.wav|flac|mp3|...), e.g. "
            f"data.root={_suggested_root(root, class_names)}"
        )
    genre_root = _find(root, class_names)
    if genre_root is not None:
        return genre_root
    # Files directly in data.root: a genre's files, with data.root one level too deep.
    loose = sorted(audio_files_under(root, max_depth=0)) if root.is_dir() else []
    if loose:
        # The usual slip: data.root points at one genre folder instead of the folder above.
        raise DataNotFoundError(
            f"data.root={root} holds {len(loose)} audio file{'' if len(loose) == 1 else 's'} "
            f"but no genre folders: data.root must be the folder above the genre folders "
            f"(<root>/<genre>/<clip>.wav), so that each genre is a sub-folder, e.g. "
            f"data.root={root.resolve().parent}"
        )
    looked = ", ".join(str((root / layout).resolve()) for layout in LAYOUTS)
    gtzan = class_names is not None and tuple(class_names) == GTZAN_GENRES
    if not root.exists() and not gtzan:  # GTZAN's message below also offers the download
        raise DataNotFoundError(
            f"data.root={root} does not exist ({root.resolve()}): point data.root at the folder "
            f"that holds one folder per genre (<root>/<genre>/<clip>.wav|flac|mp3|...)"
        )
    if gtzan:
        raise DataNotFoundError(
            f"no audio found under data.root={root} (looked for genre folders in: {looked}). "
            f"Point data.root at your copy of GTZAN, e.g. `python -m genre_lightning "
            f"data.root=/path/to/gtzan`; or fetch it there (1.2 GB, checksum verified): "
            f"`python -m genre_lightning.data.download root={root}`, or add data.download=true; "
            f"or run the built-in synthetic demo: `python -m genre_lightning experiment=demo`."
        )
    wanted = f" named {', '.join(class_names)}" if class_names is not None else ""
    raise DataNotFoundError(
        f"no genre folders{wanted} with audio files under data.root={root} (looked in: "
        f"{looked}). data.root must hold one folder per genre, each with its audio files "
        f"(<root>/<genre>/<clip>.wav|flac|mp3|...): point data.root at that folder, e.g. "
        f"`python -m genre_lightning data=folder data.root=/path/to/genre/folders`."
    )


def _find(root: Path, class_names: Sequence[str] | None) -> Path | None:
    """The first layout under ``root`` with genre folders holding audio, or ``None``."""
    for layout in LAYOUTS:
        candidate = (root / layout).resolve()
        if candidate.is_dir() and _genre_dirs(candidate, class_names):
            return candidate
    return None


def _suggested_root(file: Path, class_names: Sequence[str] | None) -> Path:
    """The data.root a user who named ``file`` most likely meant: the file's folder, or the
    one above it when the file lies in a genre folder (``<root>/<genre>/<clip>.wav``)."""
    folder = file.resolve().parent
    if _find(folder, class_names) is None and _find(folder.parent, class_names) is not None:
        return folder.parent
    return folder


def _genre_dirs(folder: Path, class_names: Sequence[str] | None) -> list[Path]:
    names = (
        class_names
        if class_names is not None
        else sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    )
    return [
        folder / n
        for n in names
        if (folder / n).is_dir()
        # A folder that cannot be listed is a genre only where named (and refused when read):
        # a disk's root holds lost+found, which only its owner may list.
        and (class_names is not None or _listable(folder / n))
        and next(audio_files_under(folder / n, LIBRARY_DEPTH), None) is not None
    ]


def _listable(folder: Path) -> bool:
    return os.access(folder, os.R_OK | os.X_OK)


def index_clips(
    root: str | Path, class_names: Sequence[str] | None = None, min_genres: int = 2
) -> tuple[list[Clip], list[str]]:
    """List every audio file under ``root`` with its genre label.

    Args:
        root: The dataset root (any layout in :data:`LAYOUTS`).
        class_names: Genre names, in label order. ``None`` uses the sorted sub-folder names.
        min_genres: Fewer genres are refused: a classifier needs two to learn from, while a
            trained one can be scored on a folder of one.

    Returns:
        The clips sorted by genre then path (a genre's files at any depth of its folder), and
        the class names in label order.

    Raises:
        DataNotFoundError: Nothing to index, or a named genre has no audio files.
        UserError: Fewer than ``min_genres`` genres: nothing to classify (found by listing,
            before any file is decoded).
    """
    genre_root = find_genre_root(Path(root), class_names)
    named = class_names is not None
    if class_names is None:
        class_names = [d.name for d in _genre_dirs(genre_root, None)]
    clips: list[Clip] = []
    unsearched: list[Path] = []
    undecodable: list[Path] = []
    for label, name in enumerate(class_names):
        folder = genre_root / name
        skipped: list[Path] = []
        files = (
            sorted(audio_files_under(folder, LIBRARY_DEPTH, unsearched, skipped))
            if folder.is_dir()
            else []
        )
        if not files:
            held = f" (it holds {undecodable_note(skipped)})" if skipped else ""
            if tuple(class_names) == GTZAN_GENRES:  # data=gtzan's names, not the user's
                raise DataNotFoundError(_not_gtzan(genre_root, name, held))
            raise DataNotFoundError(
                f"genre '{name}' has no audio files in {genre_root / name}{held}; every class in "
                f"data.class_names needs at least one clip (or remove it from data.class_names)."
            )
        clips += [Clip(f, label, _folders_between(folder, f)) for f in files]
        undecodable += skipped
    _warn_of_undecodable(genre_root, class_names, undecodable, named)
    if len(class_names) < min_genres:
        raise UserError(_one_genre(Path(root), genre_root, class_names[0], len(clips), named))
    _refuse_names_not_utf8(clips, genre_root)
    _refuse_repeated_tracks(clips, genre_root)
    _refuse_linked_copies(clips, genre_root, class_names)
    _warn_of_unsearched(unsearched)
    log.info("%d genres in %s: %s", len(class_names), genre_root, ", ".join(class_names))
    return clips, list(class_names)


def _warn_of_undecodable(
    genre_root: Path, class_names: Sequence[str], in_genres: Sequence[Path], named: bool
) -> None:
    """Warn of audio files that cannot be decoded (``.m4a``; ``in_genres``: those found in the
    genre folders), and of folders that are not genres only because all their audio is such
    files: they would otherwise drop out of the data without a word."""
    undecodable = list(in_genres)
    only_such: list[str] = []
    unlistable: list[str] = []
    if not named:  # the other folders were left out for holding no audio that can be decoded
        for folder in sorted(genre_root.iterdir()):
            if folder.name.startswith(".") or folder.name in class_names or not folder.is_dir():
                continue
            if not _listable(folder):
                unlistable.append(folder.name)
                continue
            held: list[Path] = []
            for _ in audio_files_under(folder, LIBRARY_DEPTH, undecodable=held):
                pass  # none: a folder with audio that can be decoded would be a genre
            if held:
                only_such.append(folder.name)
                undecodable += held
    if unlistable:
        many = len(unlistable) > 1
        log.warning(
            "folder%s %s of %s cannot be listed (permission denied), so %s here; make %s "
            "readable if %s",
            "s" if many else "",
            ", ".join(unlistable),
            genre_root,
            "they are not genres" if many else "it is not a genre",
            "them" if many else "it",
            "they are genres" if many else "it is one",
        )
    if not undecodable:
        return
    left_out = (
        f"; folder{'s' if len(only_such) > 1 else ''} {', '.join(only_such)} of {genre_root} "
        f"{'hold' if len(only_such) > 1 else 'holds'} only such files, so "
        f"{'they are not genres' if len(only_such) > 1 else 'it is not a genre'} here"
        if only_such
        else ""
    )
    log.warning("skipped %s%s", undecodable_note(undecodable), left_out)


def _refuse_repeated_tracks(clips: Sequence[Clip], genre_root: Path) -> None:
    """Refuse two files of one folder that differ only in their extension.

    They share a track id, and are most likely one recording in two formats: dealt into the
    parts as two tracks, one could be trained on and the other tested, and the split record
    (``genre/track``) could not tell them apart.

    Raises:
        UserError: Naming each such pair (the first few) and the fix.
    """
    files: dict[tuple[int, str], list[Path]] = defaultdict(list)
    for clip in clips:
        files[clip.label, clip.track].append(clip.path)
    repeated = [paths for paths in files.values() if len(paths) > 1]
    if not repeated:
        return
    shown = "; ".join(
        " and ".join(str(p.relative_to(genre_root)) for p in paths) for paths in repeated[:3]
    )
    more = f" (and {len(repeated) - 3} more)" if len(repeated) > 3 else ""
    raise UserError(
        f"{len(repeated)} track name{'s are' if len(repeated) > 1 else ' is'} used by two or "
        f"more files of one folder under {genre_root}: {shown}{more}. Files that differ only in "
        f"their extension are most likely one recording in two formats, which could be both "
        f"trained on and tested: keep one of each (or rename one, if they are different "
        f"recordings)"
    )


def _refuse_names_not_utf8(clips: Sequence[Clip], genre_root: Path) -> None:
    """Refuse a file name that is not valid UTF-8 (a Latin-1 name copied from an old disk):
    the run's records (split.csv, metrics.json, its log) are UTF-8 text, which cannot hold it.

    Raises:
        UserError: Naming the first such file, its bytes escaped, and the fix.
    """
    for clip in clips:
        try:
            str(clip.path).encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(clip.path.relative_to(genre_root))
            shown = raw.decode("utf-8", "backslashreplace")
            raise UserError(
                f"{shown} under {genre_root}: the file name is not valid UTF-8, and the run's "
                f"records are UTF-8 text; rename it (e.g. `convmv -f latin1 -t utf8 -r "
                f"--notest {genre_root}` renames them all)"
            ) from None


def _refuse_linked_copies(
    clips: Sequence[Clip], genre_root: Path, class_names: Sequence[str]
) -> None:
    """Refuse one file reached twice: through a link (a linked genre folder, a file linked into
    a second genre) or a hard link.

    Dealt as two tracks, it could be both trained on and tested, under two labels if it lies in
    two genres.

    Raises:
        UserError: Naming the first such pair and the fix.
    """
    first: dict[tuple[int, int], Clip] = {}
    for clip in clips:
        try:
            st = clip.path.stat()
        except OSError:  # a link to nothing: skipped when decoded, and named then
            continue
        seen = first.setdefault((st.st_dev, st.st_ino), clip)
        if seen is clip:
            continue
        where = (
            f"under two genres, {class_names[seen.label]} and {class_names[clip.label]}"
            if seen.label != clip.label
            else f"twice in genre {class_names[clip.label]}"
        )
        raise UserError(
            f"{seen.path.relative_to(genre_root)} and {clip.path.relative_to(genre_root)} under "
            f"{genre_root} are one file (a link to it, or a hard link), found {where}: it would "
            f"count as two tracks, which could be both trained on and tested; keep one of the two "
            f"paths (remove the link)"
        )


def _warn_of_unsearched(unsearched: Sequence[Path]) -> None:
    """Warn where audio files lie deeper than :data:`LIBRARY_DEPTH` folders below a genre
    folder: they are not read, and a user would otherwise not know."""
    # A few more levels, stopping at the first file: enough to say so, bounded for a big tree.
    holding = next(
        (f for f in unsearched if next(audio_files_under(f, LIBRARY_DEPTH), None) is not None),
        None,
    )
    if holding is not None:
        log.warning(
            "audio files more than %d folders below their genre folder are not read, e.g. "
            "under %s: move them up to <genre>/<artist>/<album>/<disc>/ or nearer",
            LIBRARY_DEPTH,
            holding,
        )


def _folders_between(genre_folder: Path, file: Path) -> str:
    inner = file.parent.relative_to(genre_folder).as_posix()
    return "" if inner == "." else inner


def _not_gtzan(genre_root: Path, missing: str, held: str) -> str:
    """The message for GTZAN's genre names (``data=gtzan``, the default) on a folder that
    lacks one: most often a folder of one's own genres, given without ``data=folder``."""
    found = [d.name for d in _genre_dirs(genre_root, None)]
    return (
        f"GTZAN's genre '{missing}' has no audio files in {genre_root / missing}{held}: the "
        f"default data=gtzan trains on GTZAN's ten genres; for a folder of your own genres "
        f"({', '.join(found) or 'none found'}) add data=folder, which takes its sub-folders as "
        f"the genres"
    )


def _one_genre(root: Path, genre_root: Path, name: str, files: int, named: bool) -> str:
    """The message for a dataset of a single genre (torchmetrics would refuse it much later)."""
    if named:
        return (
            f"data.class_names=[{name}] names only one genre; a genre classifier needs at "
            f"least two: name two or more genre folders of {genre_root}, e.g. "
            f"data.class_names=[{name},<another genre>]"
        )
    # Folders without audio are not genres (see _genre_dirs); naming them explains the count.
    empty = sorted(
        p.name
        for p in genre_root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != name
    )
    ignored = f" (folders without audio files do not count: {', '.join(empty)})" if empty else ""
    return (
        f"data.root={root} has only one genre folder with audio files, '{name}' ({files} "
        f"file{'' if files == 1 else 's'} in {genre_root / name}){ignored}; a genre "
        f"classifier needs at least two: add a folder of audio files per genre beside it "
        f"({genre_root}/<genre>/<clip>.wav), or point data.root at the folder that holds all "
        f"your genre folders"
    )
