"""Audio files before anything is decoded: which names are audio, the search of a folder for
them, and the rate and length the data's clips are decoded to.

Nothing here imports torch or a decoder, so that what only lists files or resolves a config
(the GTZAN index, the download's check of a data folder, the ``gl_gtzan`` resolver) answers
without waiting for them; :mod:`genre_lightning.audio` decodes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from genre_lightning.errors import UserError

#: GTZAN's sample rate, and the rate every clip is resampled to.
SAMPLE_RATE = 22050
#: The paper's clip: 668 frames of hop 992 (30.05 s at SAMPLE_RATE; shorter GTZAN clips are
#: zero-padded to it).
CLIP_SAMPLES = 662_688

#: File extensions treated as audio: what libsndfile decodes (``.opus`` and ``.oga`` are Ogg
#: files). Anything else in a genre folder (GTZAN's ``.mf`` lists, ``.DS_Store``, cover images)
#: is not audio and is ignored without a warning, except the formats below.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".au", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc", ".snd"}
)
#: Audio formats that libsndfile cannot decode (AAC and ALAC in MP4 files, WMA, Monkey's Audio,
#: WavPack, Matroska). They are not read, but unlike other files they are named: a genre folder
#: of a music library holding only ``.m4a`` files would otherwise drop out of the classes
#: without a word.
UNDECODABLE_AUDIO_EXTENSIONS = frozenset({".m4a", ".aac", ".alac", ".wma", ".ape", ".wv", ".mka"})


def is_audio_name(path: Path) -> bool:
    """Whether a file name is an audio file's: a known extension, and not hidden."""
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def is_undecodable_audio_name(path: Path) -> bool:
    """Whether a file name is that of audio in a format this package cannot decode."""
    return path.suffix.lower() in UNDECODABLE_AUDIO_EXTENSIONS and not path.name.startswith(".")


def undecodable_note(files: Sequence[Path]) -> str:
    """What to say of audio files that cannot be decoded: how many of each format, the first
    file, and how to convert them."""
    counts = Counter(f.suffix.lower() for f in files)
    kinds = ", ".join(f"{n} {suffix}" for suffix, n in sorted(counts.items()))
    first = min(files)
    return (
        f"{kinds} file{'' if len(files) == 1 else 's'} in a format that cannot be decoded here "
        f"(e.g. {first}): {flac_advice(first, 'it' if len(files) == 1 else 'them')}"
    )


def flac_advice(example: Path, them: str) -> str:
    """The fix for audio that cannot be decoded: FLAC, which libsndfile reads and which keeps
    every sample of a lossless source."""
    return f"convert {them} to FLAC, e.g. `ffmpeg -i 'song{example.suffix}' 'song.flac'`"


def audio_files_under(
    folder: Path,
    max_depth: int | None = None,
    unsearched: list[Path] | None = None,
    undecodable: list[Path] | None = None,
) -> Iterator[Path]:
    """Every audio file under ``folder``, in no particular order.

    A music library is usually ``<genre>/<artist>/<album>/<track>``, so sub-folders are
    searched; hidden files and folders (``.Trash``, ``.AppleDouble``) are not. Folders reached
    through symbolic links are searched once each, so a link back up the tree cannot loop.

    Args:
        folder: Where to look.
        max_depth: Sub-folder levels searched below ``folder`` (0: its own files only);
            ``None``: all.
        unsearched: Where given, the (not hidden) folders left unsearched for lying deeper
            than ``max_depth`` are appended to it, so that a caller can say files were missed.
        undecodable: Where given, the audio files in a format that cannot be decoded
            (:data:`UNDECODABLE_AUDIO_EXTENSIONS`) are appended to it, to be named.
    """
    seen: set[tuple[int, int]] = set()
    top = len(folder.parts)
    for here, folders, names in os.walk(folder, onerror=_unlistable, followlinks=True):
        key = _identity(here)
        if key in seen:
            folders.clear()
            continue
        seen.add(key)
        shown = [f for f in folders if not f.startswith(".")]
        if max_depth is None or len(Path(here).parts) - top < max_depth:
            folders[:] = shown
        else:
            folders.clear()
            if unsearched is not None:  # a link back up the tree misses nothing
                unsearched += [p for f in shown if _identity(p := Path(here) / f) not in seen]
        for name in names:
            path = Path(here) / name
            # A link to nothing is yielded too: its decode fails, so it is skipped and named.
            if is_audio_name(path) and (path.is_file() or not path.exists()):
                yield path
            elif undecodable is not None and is_undecodable_audio_name(path) and path.is_file():
                undecodable.append(path)


def _unlistable(exc: OSError) -> None:
    """A folder :func:`audio_files_under` cannot list: refused, as its files would otherwise
    drop out of the data (or a genre out of the classes) without a word."""
    raise UserError(
        f"{exc.filename}: this folder cannot be listed ({exc.strerror}), so its audio files "
        f"would be left out without a word; make it readable (e.g. chmod -R a+rX on it) or "
        f"move it out of the folder searched"
    ) from exc


def _identity(folder: str | Path) -> tuple[int, int]:
    """A folder's device and inode: the same for every path (link) that reaches it."""
    st = os.stat(folder)
    return st.st_dev, st.st_ino
