"""fetch.py: the real musicnn wheel, from a file, a folder, or pip.

pip runs for real, against a local "index" (``PIP_NO_INDEX`` + ``PIP_FIND_LINKS`` pointing at
the wheel's folder), so the download path is exercised without the network.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genre_lightning.pretrained import fetch
from genre_lightning.pretrained.fetch import FetchError, musicnn_checkpoint
from genre_lightning.pretrained.tf_checkpoint import list_checkpoint, read_checkpoint

CHECKPOINT = ("musicnn/MSD_musicnn/.index", "musicnn/MSD_musicnn/.data-00000-of-00001")


def _files(root: Path) -> list[str]:
    """Every file and folder under ``root``, relative, sorted (hidden ones included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make pip look only in an (empty) local folder; return that folder."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return links


def _accept(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> None:
    """Pin the checksum of a hand-made wheel, to reach the checks that come after it."""
    monkeypatch.setattr(fetch, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())


def _refused(monkeypatch: pytest.MonkeyPatch, wheel: Path, cache: Path, match: str) -> None:
    """A hand-made wheel whose checksum passes is refused for ``match``; nothing is unpacked."""
    _accept(monkeypatch, wheel)
    with pytest.raises(FetchError, match=match):
        musicnn_checkpoint(source=wheel, cache_dir=cache)
    assert _files(cache) == ["musicnn-0.1.0"]


def test_local_wheel_is_unpacked_once_then_reused(
    musicnn_wheel: Path, tmp_path: Path, offline_pip: Path
) -> None:
    cache = tmp_path / "cache"
    prefix = musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache)
    assert prefix == cache / "musicnn-0.1.0" / "MSD_musicnn"
    # Only the two checkpoint files, and no leftover staging folder.
    assert _files(cache) == [
        "musicnn-0.1.0",
        "musicnn-0.1.0/MSD_musicnn",
        "musicnn-0.1.0/MSD_musicnn/.data-00000-of-00001",
        "musicnn-0.1.0/MSD_musicnn/.index",
    ]
    assert len(read_checkpoint(prefix)) == 64
    stamp = (prefix / ".index").stat().st_mtime_ns
    # Reused without the wheel and without pip (which could not find anything here).
    assert musicnn_checkpoint("MSD_musicnn", cache_dir=cache) == prefix
    assert (prefix / ".index").stat().st_mtime_ns == stamp


def test_download_runs_pip_and_honours_the_cache_variable(
    musicnn_wheel: Path, tmp_path: Path, offline_pip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(musicnn_wheel, offline_pip)
    monkeypatch.setenv("GENRE_LIGHTNING_CACHE", str(tmp_path / "env-cache"))
    prefix = musicnn_checkpoint("MTT_musicnn")
    assert prefix == tmp_path / "env-cache" / "musicnn-0.1.0" / "MTT_musicnn"
    assert len(read_checkpoint(prefix)) == 64


def test_pip_failure_says_how_to_fetch_the_wheel_elsewhere(
    tmp_path: Path, offline_pip: Path
) -> None:
    with pytest.raises(FetchError) as caught:
        musicnn_checkpoint("MSD_musicnn", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "pip could not download musicnn==0.1.0" in message and "\n" not in message
    assert "pip download musicnn==0.1.0 --no-deps" in message and "source=PATH" in message
    assert not (tmp_path / "cache" / "musicnn-0.1.0" / "MSD_musicnn").exists()


def test_wrong_checksum_unpacks_nothing(musicnn_wheel: Path, tmp_path: Path) -> None:
    wheel = tmp_path / fetch.WHEEL_NAME
    wheel.write_bytes(musicnn_wheel.read_bytes() + b"\0")  # still a readable zip
    with pytest.raises(FetchError, match=r"SHA-256 .* nothing was unpacked"):
        musicnn_checkpoint(source=wheel, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or _files(tmp_path / "cache") == []


def test_truncated_wheel_is_not_a_zip(
    musicnn_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "cut.whl"
    wheel.write_bytes(musicnn_wheel.read_bytes()[:1_000_000])
    _refused(monkeypatch, wheel, tmp_path / "cache", r"cut\.whl: not a readable zip archive")


def test_corrupt_member_is_caught_by_the_zip_crc(
    musicnn_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = bytearray(musicnn_wheel.read_bytes())
    with zipfile.ZipFile(musicnn_wheel) as archive:
        info = archive.getinfo(CHECKPOINT[1])
    raw[info.header_offset + 200_000] ^= 0xFF  # inside the compressed weights
    wheel = tmp_path / "flipped.whl"
    wheel.write_bytes(bytes(raw))
    _refused(monkeypatch, wheel, tmp_path / "cache", r"flipped\.whl: not a readable zip archive")


def _rezip(source: Path, dest: Path, replace: dict[str, bytes | None]) -> None:
    """Copy the musicnn checkpoints of a wheel (uncompressed, for speed), dropping (None) or
    replacing members."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as out:
        for info in src.infolist():
            if "_musicnn/." not in info.filename:
                continue
            data = replace.get(info.filename, src.read(info))
            if data is not None:
                out.writestr(info.filename, data)


def test_wheel_without_the_model(
    musicnn_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "no-msd.whl"
    _rezip(musicnn_wheel, wheel, {CHECKPOINT[1]: None})
    _accept(monkeypatch, wheel)
    with pytest.raises(FetchError, match="holds no MSD_musicnn checkpoint"):
        musicnn_checkpoint(source=wheel, cache_dir=tmp_path / "cache")
    # The MTT checkpoint is still there and unpacks.
    assert musicnn_checkpoint("MTT_musicnn", source=wheel, cache_dir=tmp_path / "cache").is_dir()


def test_checkpoint_corrupt_inside_a_good_zip(
    musicnn_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with zipfile.ZipFile(musicnn_wheel) as archive:
        data = archive.read(CHECKPOINT[1])
    wheel = tmp_path / "short.whl"
    _rezip(musicnn_wheel, wheel, {CHECKPOINT[1]: data[:4_000_000]})
    _refused(
        monkeypatch,
        wheel,
        tmp_path / "cache",
        r"MSD_musicnn checkpoint inside is corrupt .*truncated",
    )


def test_member_that_is_a_link_is_refused(
    musicnn_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "link.whl"
    _rezip(musicnn_wheel, wheel, {CHECKPOINT[0]: None})
    with zipfile.ZipFile(wheel, "a") as archive:
        link = zipfile.ZipInfo(CHECKPOINT[0])
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    _refused(monkeypatch, wheel, tmp_path / "cache", r"MSD_musicnn/\.index is not a regular file")


def test_folder_source_is_used_in_place(msd_prefix: Path, tmp_path: Path) -> None:
    assert musicnn_checkpoint(source=msd_prefix) == msd_prefix
    assert musicnn_checkpoint(source=msd_prefix.parent) == msd_prefix  # holds MSD_musicnn/
    with pytest.raises(FetchError, match=r"no MSD_musicnn checkpoint here \(expected \.index"):
        musicnn_checkpoint(source=tmp_path)


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(
        FetchError, match=r"^model\.pretrained=MSD_big: not a musicnn model; use one of MSD_musicnn"
    ):
        musicnn_checkpoint("MSD_big")


def test_concurrent_callers_get_one_complete_copy(musicnn_wheel: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        prefixes = list(
            pool.map(lambda _: musicnn_checkpoint(source=musicnn_wheel, cache_dir=cache), range(4))
        )
    assert len(set(prefixes)) == 1
    assert _files(cache / "musicnn-0.1.0") == [
        "MSD_musicnn",
        "MSD_musicnn/.data-00000-of-00001",
        "MSD_musicnn/.index",
    ]
    assert len(read_checkpoint(prefixes[0])) == 64


def test_a_cache_dir_that_is_a_file_is_one_error(musicnn_wheel: Path, tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file")  # was a NotADirectoryError naming neither
    with pytest.raises(FetchError, match=r"cannot hold the unpacked weights .*model\.cache_dir"):
        musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=tmp_path / "cache")


def test_a_named_wheel_is_checked_even_when_the_cache_holds_the_model(
    musicnn_wheel: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    prefix = musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache)
    # The same good wheel again: the cached copy, not a second unpacking.
    stamp = (prefix / ".index").stat().st_mtime_ns
    assert musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache) == prefix
    assert (prefix / ".index").stat().st_mtime_ns == stamp
    # A mistyped path or another file is an error, not hidden behind the earlier fetch.
    with pytest.raises(FetchError, match=r"^model\.source=.*nope\.whl: no such file; give"):
        musicnn_checkpoint("MSD_musicnn", source=tmp_path / "nope.whl", cache_dir=cache)
    other = tmp_path / "notes.txt"
    other.write_text("not a wheel")
    with pytest.raises(FetchError, match=r"notes\.txt: SHA-256 .* is not that of"):
        musicnn_checkpoint("MSD_musicnn", source=other, cache_dir=cache)


def test_a_damaged_cached_copy_is_unpacked_again(
    musicnn_wheel: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Kept, a damaged copy failed every run after decoding, and the wheel could not replace it.
    cache = tmp_path / "cache"
    prefix = musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache)
    good = read_checkpoint(prefix)
    data = prefix / ".data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    kernel = list_checkpoint(prefix)["dense/kernel"]
    raw[kernel.offset + kernel.size // 2] ^= 0xFF  # one byte of the weights flipped on disk
    data.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="genre_lightning.pretrained.fetch"):
        assert musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache) == prefix
    assert "the cached MSD_musicnn weights in" in caplog.text and "damaged" in caplog.text
    repaired = read_checkpoint(prefix)
    assert all((repaired[k] == v).all() for k, v in good.items())
    data.unlink()  # a file lost: unpacked again as well
    assert musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache) == prefix
    assert _files(cache / "musicnn-0.1.0") == [
        "MSD_musicnn",
        "MSD_musicnn/.data-00000-of-00001",
        "MSD_musicnn/.index",
    ]
    shutil.rmtree(prefix)
    prefix.write_text("in the way")  # was an error naming a temporary folder
    with pytest.raises(FetchError, match=r"MSD_musicnn: a file is where the unpacked MSD_musicnn"):
        musicnn_checkpoint("MSD_musicnn", source=musicnn_wheel, cache_dir=cache)


def test_a_damaged_folder_source_is_named_before_anything_runs(
    msd_prefix: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "MSD_musicnn"
    shutil.copytree(msd_prefix, copy)
    data = copy / ".data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-100_000])  # into the last layer's weights
    with pytest.raises(FetchError, match=r"^model\.source=.*: the MSD_musicnn checkpoint there "):
        musicnn_checkpoint(source=copy)


def test_a_home_relative_path_is_the_home_s(
    musicnn_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(musicnn_wheel, tmp_path / fetch.WHEEL_NAME)
    prefix = musicnn_checkpoint(source=f"~/{fetch.WHEEL_NAME}", cache_dir="~/weights")
    assert prefix == tmp_path / "weights" / "musicnn-0.1.0" / "MSD_musicnn"
