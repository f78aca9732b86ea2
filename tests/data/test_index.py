"""data/index.py: GTZAN layouts found under data.root; a clear error when what is there is wrong:
nothing, a single genre, a genre folder itself, or a file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from genre_lightning.data.index import GTZAN_GENRES, DataNotFoundError, index_clips
from genre_lightning.errors import UserError

from ..conftest import BLUES, copy_sample, run_unprivileged


def test_indexes_the_real_sample_in_label_order(gtzan_sample: Path) -> None:
    clips, names = index_clips(gtzan_sample, GTZAN_GENRES)
    assert names == list(GTZAN_GENRES)
    assert len(clips) == 50
    assert [c.label for c in clips] == sorted(c.label for c in clips)
    assert all(c.path.parent.name == names[c.label] for c in clips)
    assert clips[0].track == "blues.00000"


@pytest.mark.parametrize("layout", ["Data/genres_original", "genres", "."])
def test_finds_each_gtzan_layout(tmp_path: Path, gtzan_sample: Path, layout: str) -> None:
    root = tmp_path / "gtzan"
    target = copy_sample(gtzan_sample, root / layout, ("blues", "rock"), per_genre=2)
    (target / "blues" / "blues.mf").write_text("not audio\n")  # GTZAN ships these lists
    (target / "rock" / ".DS_Store").write_bytes(b"\0")
    clips, names = index_clips(root, ["blues", "rock"])
    assert names == ["blues", "rock"] and len(clips) == 4
    assert all(c.path.suffix == ".wav" for c in clips)


def test_class_names_default_to_sorted_folders(tmp_path: Path, gtzan_sample: Path) -> None:
    for genre in ("rock", "jazz"):
        (tmp_path / genre).mkdir()
        shutil.copy(
            gtzan_sample / "genres_original" / genre / f"{genre}.00000.wav", tmp_path / genre
        )
    _, names = index_clips(tmp_path)
    assert names == ["jazz", "rock"]


def test_missing_data_names_the_path_and_both_ways_out(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as err:
        index_clips(root, GTZAN_GENRES)
    message = str(err.value)
    assert str(root) in message and "data.root=" in message and "experiment=demo" in message
    assert "\n" not in message  # one error line


def test_a_root_that_does_not_exist_is_said_so(tmp_path: Path) -> None:
    root = tmp_path / "my music"
    for names in (None, ["rock", "jazz"]):
        with pytest.raises(DataNotFoundError) as caught:
            index_clips(root, names)
        assert str(caught.value).startswith(f"data.root={root} does not exist ({root}): ")
    # GTZAN's own message (below) also offers the download and the demo.
    with pytest.raises(DataNotFoundError, match="experiment=demo"):
        index_clips(root, GTZAN_GENRES)


def test_a_genre_without_audio_is_a_clear_error(tmp_path: Path, gtzan_sample: Path) -> None:
    (tmp_path / "blues").mkdir()
    shutil.copy(gtzan_sample / "genres_original" / "blues" / "blues.00000.wav", tmp_path / "blues")
    (tmp_path / "rock").mkdir()
    with pytest.raises(DataNotFoundError, match="'rock' has no audio"):
        index_clips(tmp_path, ["blues", "rock"])


def test_a_folder_of_one_s_own_genres_under_gtzan_s_names_suggests_data_folder(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    # data=folder forgotten: the message spoke of data.class_names, which the user never set.
    music = copy_sample(gtzan_sample, tmp_path / "music", ["blues", "metal"], 1)
    (music / "polka").mkdir()
    shutil.copy(next((music / "blues").glob("*.wav")), music / "polka" / "p.wav")
    with pytest.raises(DataNotFoundError) as caught:
        index_clips(music, GTZAN_GENRES)
    said = str(caught.value)
    assert said.startswith(f"GTZAN's genre 'classical' has no audio files in {music}/classical: ")
    assert said.endswith(
        "for a folder of your own genres (blues, metal, polka) add data=folder, which takes its "
        "sub-folders as the genres"
    )


def test_a_folder_dataset_error_speaks_of_genre_folders_not_gtzan(tmp_path: Path) -> None:
    (tmp_path / "music" / "notes").mkdir(parents=True)
    (tmp_path / "music" / "notes" / "readme.txt").write_text("no audio here")
    for names in (None, ["rock", "jazz"]):
        with pytest.raises(DataNotFoundError) as caught:
            index_clips(tmp_path / "music", names)
        message = str(caught.value)
        assert "GTZAN" not in message and "experiment=demo" not in message
        assert f"data.root={tmp_path / 'music'}" in message and "one folder per genre" in message
        assert "data=folder data.root=/path/to/genre/folders" in message
    with pytest.raises(DataNotFoundError, match="your copy of GTZAN") as caught:
        index_clips(tmp_path / "music", GTZAN_GENRES)
    # ...and the two ways to fetch it there (the comment above the check said so; it did not).
    fetch = f"`python -m genre_lightning.data.download root={tmp_path / 'music'}`, or add data."
    assert fetch in str(caught.value)


def test_one_genre_folder_is_refused_naming_it(tmp_path: Path, gtzan_sample: Path) -> None:
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues",), per_genre=3)
    (root / "notes").mkdir()  # a folder without audio is not a second genre
    with pytest.raises(UserError) as caught:
        index_clips(root)
    message = str(caught.value)
    assert f"data.root={root} has only one genre folder with audio files, 'blues'" in message
    assert f"(3 files in {root / 'blues'})" in message
    assert "folders without audio files do not count: notes" in message
    assert "needs at least two" in message and "\n" not in message


def test_one_named_genre_is_refused(tmp_path: Path, gtzan_sample: Path) -> None:
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues", "rock"), per_genre=1)
    with pytest.raises(UserError, match=r"data\.class_names=\[rock\] names only one genre"):
        index_clips(root, ["rock"])


@pytest.mark.parametrize("names", [None, GTZAN_GENRES])
def test_a_genre_folder_as_root_names_the_folder_above(
    gtzan_sample: Path, names: tuple[str, ...] | None
) -> None:
    blues = gtzan_sample / "genres_original" / "blues"
    with pytest.raises(DataNotFoundError) as caught:
        index_clips(blues, names)
    assert str(caught.value) == (
        f"data.root={blues} holds 5 audio files but no genre folders: data.root must be the "
        f"folder above the genre folders (<root>/<genre>/<clip>.wav), so that each genre is a "
        f"sub-folder, e.g. data.root={blues.parent}"
    )


def test_an_audio_file_as_root_is_named_a_file(gtzan_sample: Path) -> None:
    clip = gtzan_sample / BLUES
    with pytest.raises(DataNotFoundError) as caught:
        index_clips(clip)
    message = str(caught.value)
    assert f"data.root={clip} is an audio file, not a folder" in message
    assert "Data/genres_original" not in message  # no layouts listed under a file
    # The clip lies in a genre folder: the folder above that is the root that works.
    assert message.endswith(f"e.g. data.root={gtzan_sample / 'genres_original'}")
    index_clips(gtzan_sample / "genres_original")  # and it does


def test_another_file_as_root_suggests_its_folder(tmp_path: Path) -> None:
    # In a folder of its own: the folder above it (pytest's, shared by other tests' music
    # folders) must not look like a folder of genre folders.
    notes = tmp_path / "docs" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("not a folder")
    with pytest.raises(DataNotFoundError) as caught:
        index_clips(notes)
    message = str(caught.value)
    assert message.startswith(f"data.root={notes} is a file, not a folder")
    assert message.endswith(f"e.g. data.root={notes.parent}")


def test_a_library_of_artist_and_album_folders_is_found_at_any_depth(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    """<genre>/<artist>/<album>/<track>: each track's id keeps its folders (two albums may hold
    a track of the same name); hidden folders, and files deeper than artist/album/disc, are
    skipped; a linked folder is searched, but a link back up the tree is not searched again
    (no loop, no clip twice)."""
    music = tmp_path / "music"
    layout = {
        "blues": ["A/First/blues.00000.wav", "A/Second/blues.00000.wav", "blues.00001.wav"],
        "rock": ["B/rock.00000.wav", ".Trash/rock.00001.wav", "1/2/3/4/rock.00003.wav"],
    }
    for genre, files in layout.items():
        for name in files:
            (music / genre / name).parent.mkdir(parents=True, exist_ok=True)
            source = gtzan_sample / "genres_original" / genre / Path(name).name
            shutil.copy(source, music / genre / name)
    (music / "rock" / "B" / "loop").symlink_to(music / "rock", target_is_directory=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(gtzan_sample / "genres_original" / "rock" / "rock.00002.wav", elsewhere)
    (music / "rock" / "C").symlink_to(elsewhere, target_is_directory=True)
    clips, names = index_clips(music)
    assert names == ["blues", "rock"]
    assert [(c.track, c.label) for c in clips] == [
        ("A/First/blues.00000", 0),
        ("A/Second/blues.00000", 0),
        ("blues.00001", 0),
        ("B/rock.00000", 1),
        ("C/rock.00002", 1),
    ]
    assert all(c.path.is_file() for c in clips)


def test_files_deeper_than_a_library_are_named_in_a_warning(
    tmp_path: Path, gtzan_sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Audio four folders below a genre folder is not read, and the warning names where it
    lies; a deep folder without audio, and a link back up the tree, are no cause to warn."""
    music = tmp_path / "music"
    for genre in ("blues", "rock"):
        (music / genre / "A").mkdir(parents=True)
        shutil.copy(gtzan_sample / "genres_original" / genre / f"{genre}.00000.wav", music / genre)
    (music / "blues" / "A" / "B" / "C" / "scans").mkdir(parents=True)
    (music / "blues" / "A" / "B" / "C" / "scans" / "cover.jpg").write_bytes(b"\xff\xd8")
    (music / "blues" / "A" / "B" / "C" / "up").symlink_to(music / "blues", target_is_directory=True)
    with caplog.at_level("WARNING", logger="genre_lightning.data.index"):
        index_clips(music)
    assert not caplog.records

    deep = music / "rock" / "A" / "B" / "C" / "D"
    deep.mkdir(parents=True)
    shutil.copy(gtzan_sample / "genres_original" / "rock" / "rock.00001.wav", deep)
    with caplog.at_level("WARNING", logger="genre_lightning.data.index"):
        clips, _ = index_clips(music)
    assert [c.track for c in clips] == ["blues.00000", "rock.00000"]
    (record,) = caplog.records
    assert "more than 3 folders below their genre folder are not read" in record.getMessage()
    assert f"under {deep.resolve()}:" in record.getMessage()


def test_one_recording_in_two_formats_is_refused_naming_both(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    """``song.wav`` and ``song.flac`` in one folder share a track id: dealt as two tracks, one
    recording could be trained on and tested. The same name in two folders (two albums) or two
    genres is two tracks, and is indexed."""
    music = copy_sample(gtzan_sample, tmp_path / "music", ["blues", "rock"], 2)
    wave, rate = sf.read(music / "rock" / "rock.00001.wav", dtype="int16")
    sf.write(music / "rock" / "rock.00001.flac", wave, rate)
    with pytest.raises(UserError) as caught:
        index_clips(music)
    message = str(caught.value)
    assert message.startswith("1 track name is used by two or more files of one folder under ")
    assert "rock/rock.00001.flac and rock/rock.00001.wav." in message
    assert message.endswith("keep one of each (or rename one, if they are different recordings)")

    (music / "rock" / "rock.00001.flac").rename(music / "blues" / "rock.00001.flac")
    (music / "rock" / "live").mkdir()
    shutil.copy(music / "rock" / "rock.00000.wav", music / "rock" / "live")
    clips, _ = index_clips(music)
    assert [c.track for c in clips].count("rock.00001") == 2
    assert "live/rock.00000" in [c.track for c in clips]


def test_audio_that_cannot_be_decoded_is_named_and_its_folder_said_not_a_genre(
    tmp_path: Path, gtzan_sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A genre folder of ``.m4a`` files holds no audio libsndfile decodes: it is no genre, and
    the warning says so and how to convert, instead of the genre dropping out unseen. An Opus
    file is read."""
    music = copy_sample(gtzan_sample, tmp_path / "music", ["blues", "rock"], 2)
    wave, rate = sf.read(music / "rock" / "rock.00001.wav", dtype="float32")
    (music / "rock" / "rock.00001.wav").unlink()
    # Opus codes 48 kHz; the index only lists the file, so its samples need no resampling.
    sf.write(music / "rock" / "rock.00001.opus", wave[:rate], 48000, format="OGG", subtype="OPUS")
    (music / "jazz" / "Artist").mkdir(parents=True)
    for n in (1, 2):  # never opened: what they hold does not matter
        (music / "jazz" / "Artist" / f"0{n} Tune.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    (music / "blues" / "live.wma").write_bytes(b"0&\xb2u")
    with caplog.at_level("INFO", logger="genre_lightning.data.index"):
        clips, names = index_clips(music)
    assert names == ["blues", "rock"]
    assert [c.track for c in clips] == ["blues.00000", "blues.00001", "rock.00000", "rock.00001"]
    warning, info = (r.getMessage() for r in caplog.records)
    assert warning.startswith("skipped 2 .m4a, 1 .wma files in a format that cannot be decoded")
    assert f"(e.g. {music / 'blues' / 'live.wma'}): convert them to FLAC" in warning
    assert warning.endswith(
        f"; folder jazz of {music} holds only such files, so it is not a genre here"
    )
    assert info == f"2 genres in {music}: blues, rock"

    with pytest.raises(DataNotFoundError) as caught:  # named, it is an error that says why
        index_clips(music, ["blues", "jazz"])
    assert "genre 'jazz' has no audio files" in str(caught.value)
    assert "(it holds 2 .m4a files in a format that cannot be decoded here" in str(caught.value)


def test_one_file_reached_twice_is_refused_naming_both(tmp_path: Path, gtzan_sample: Path) -> None:
    """A genre folder linked under a second name, a file linked into another genre, or a hard
    link: one recording dealt as two tracks (under two labels) could be trained on and tested."""
    music = copy_sample(gtzan_sample, tmp_path / "music", ["blues", "rock"], 2)
    (music / "pop").symlink_to(music / "blues", target_is_directory=True)
    with pytest.raises(UserError) as caught:
        index_clips(music)
    assert str(caught.value).startswith(
        f"blues/blues.00000.wav and pop/blues.00000.wav under {music} are one file (a link to "
        f"it, or a hard link), found under two genres, blues and pop: it would count as two "
        f"tracks"
    )
    (music / "pop").unlink()
    (music / "rock" / "Live").mkdir()
    os.link(music / "rock" / "rock.00000.wav", music / "rock" / "Live" / "rock.00000.wav")
    with pytest.raises(UserError, match="found twice in genre rock"):
        index_clips(music)
    (music / "rock" / "Live" / "rock.00000.wav").unlink()
    (music / "rock" / "Live" / "cover.wav").symlink_to(music / "blues" / "blues.00001.wav")
    with pytest.raises(UserError, match="under two genres, blues and rock"):
        index_clips(music)
    (music / "rock" / "Live" / "cover.wav").unlink()
    shutil.copy(music / "blues" / "blues.00001.wav", music / "rock" / "Live" / "cover.wav")
    assert len(index_clips(music)[0]) == 5  # a copy is a file of its own


def test_a_file_name_that_is_not_utf8_is_refused_with_its_bytes_shown(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    music = copy_sample(gtzan_sample, tmp_path / "music", ["blues", "rock"], 1)
    latin1 = os.fsencode(music / "rock") + b"/caf\xe9.wav"  # a Latin-1 name from an old disk
    shutil.copy(os.fsencode(music / "rock" / "rock.00000.wav"), latin1)
    with pytest.raises(UserError) as caught:
        index_clips(music)
    assert str(caught.value).startswith(
        f"rock/caf\\xe9.wav under {music}: the file name is not valid UTF-8"
    )
    str(caught.value).encode("utf-8")  # the message itself can be printed and logged


_INDEX = """
import sys
from genre_lightning.data.index import index_clips
try:
    print("genres:", *index_clips(sys.argv[1])[1])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


def test_folders_that_cannot_be_listed_are_refused_or_said_not_genres(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    """os.walk passes over a folder it cannot list: a genre (or an artist's folder) would drop
    out of the data without a word. A top-level folder only its owner may list (a disk's
    lost+found) is no genre, and a warning says so."""
    music = copy_sample(gtzan_sample, tmp_path / "music", ["blues", "jazz", "rock"], 2)
    (music / "lost+found").mkdir(mode=0)
    listed = run_unprivileged(_INDEX, str(music))
    assert listed.stdout.strip() == "genres: blues jazz rock", listed.stderr
    assert f"folder lost+found of {music} cannot be listed (permission denied)" in listed.stderr
    (music / "blues" / "Artist").mkdir()
    shutil.move(music / "blues" / "blues.00001.wav", music / "blues" / "Artist")
    (music / "blues" / "Artist").chmod(0)
    refused = run_unprivileged(_INDEX, str(music))
    assert refused.stdout.startswith(
        f"UserError: {music / 'blues' / 'Artist'}: this folder cannot be listed (Permission "
        f"denied), so its audio files would be left out without a word"
    ), refused.stdout + refused.stderr
    (music / "blues" / "Artist").chmod(0o755)
    music.chmod(0)
    root = run_unprivileged(_INDEX, str(music))
    music.chmod(0o755)
    assert root.stdout.startswith(
        f"DataNotFoundError: data.root={music} cannot be listed (permission denied)"
    ), root.stdout + root.stderr
