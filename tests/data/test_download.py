"""ensure_gtzan and its CLI on a tiny real tarball, served over a real local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import posixpath
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_lightning.data.archive import extract_tar
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.download import MARKER_NAME, GTZANDownloadError, ensure_gtzan

from ..conftest import copy_sample, one_error_line, run_counting_torch, start_cli

GENRES = ("blues", "jazz")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A genres.tar.gz in the original layout, 2 genres x 2 clips, and its sha256."""
    src = tmp_path_factory.mktemp("src")
    for genre in GENRES:
        (src / "genres" / genre).mkdir(parents=True)
        for i in range(2):
            wave = np.zeros(2205, dtype="float32")
            sf.write(
                src / "genres" / genre / f"{genre}.{i:05d}.au",
                wave,
                22050,
                format="AU",
                subtype="PCM_16",
            )
    tar = tmp_path_factory.mktemp("tar") / "genres.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(src / "genres", arcname="genres")
    return tar, hashlib.sha256(tar.read_bytes()).hexdigest()


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if ".tmp-" in p.name]


def _assert_extracted(root: Path) -> None:
    for genre in GENRES:
        for i in range(2):
            wave, sr = sf.read(root / "genres" / genre / f"{genre}.{i:05d}.au")
            assert sr == 22050 and len(wave) == 2205
    assert (root / MARKER_NAME).is_file()
    assert _leftovers(root) == []


def test_extracts_local_archive_once(tarball: tuple[Path, str], tmp_path: Path) -> None:
    src, digest = tarball
    tar = tmp_path / "copy.tar.gz"
    tar.write_bytes(src.read_bytes())
    root = tmp_path / "gtzan"
    assert ensure_gtzan(root, archive=tar, sha256=digest) == root
    _assert_extracted(root)
    assert digest in (root / MARKER_NAME).read_text()
    clip = root / "genres" / "blues" / "blues.00000.au"
    mtime = clip.stat().st_mtime_ns
    tar.unlink()  # a second call must not need the archive (nor the network)
    assert ensure_gtzan(root, url="http://127.0.0.1:1/x", archive=tar, sha256=digest) == root
    assert clip.stat().st_mtime_ns == mtime


def test_wrong_checksum_extracts_nothing(tarball: tuple[Path, str], tmp_path: Path) -> None:
    tar, digest = tarball
    root = tmp_path / "gtzan"
    wrong = "0" * 64
    with pytest.raises(GTZANDownloadError) as info:
        ensure_gtzan(root, archive=tar, sha256=wrong)
    message = str(info.value)
    assert "sha256" in message and wrong in message and digest in message
    assert str(tar) in message
    assert list(root.iterdir()) == []


def test_corrupt_archive_leaves_nothing(tarball: tuple[Path, str], tmp_path: Path) -> None:
    src, _ = tarball
    data = src.read_bytes()
    tar = tmp_path / "truncated.tar.gz"
    tar.write_bytes(data[: len(data) // 2])
    root = tmp_path / "gtzan"
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    with pytest.raises(GTZANDownloadError) as info:
        ensure_gtzan(root, archive=tar, sha256=digest)
    assert str(info.value) == (
        f"archive={tar} cannot be unpacked: it ends early, as a truncated copy does; nothing was "
        f"kept. Pass a complete copy of GTZAN's genres.tar.gz as archive=PATH."
    )
    assert list(root.iterdir()) == []
    assert tar.is_file()  # the user's file: neither deleted nor called for deletion


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_fails_fast(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/genres.tar.gz"
    with pytest.raises(GTZANDownloadError) as info:
        ensure_gtzan(tmp_path / "gtzan", url=url, timeout=2.0)
    # The data module's call (data.download=true): training's keys.
    assert str(info.value).startswith(f"data.url={url}: could not download it: ")
    assert "`python -m genre_lightning.data.download archive=PATH root=" in str(info.value)
    assert "set data.url=... (and data.sha256=... for its checksum" in str(info.value)


class _Server:
    """A threaded HTTP server for one payload that honours ``Range: bytes=N-``."""

    def __init__(self, payload: bytes, honour_range: bool = True) -> None:
        self.ranges: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                header = self.headers.get("Range")
                server.ranges.append(header)
                header = header if honour_range else None
                start = int(header.split("=")[1].split("-")[0]) if header else 0
                body = payload[start:]
                self.send_response(206 if header else 200)
                if header:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}"
                    )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output clean

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/genres.tar.gz"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(tarball: tuple[Path, str]) -> Iterator[_Server]:
    srv = _Server(tarball[0].read_bytes())
    yield srv
    srv.close()


def test_download_resumes_part_file(
    tarball: tuple[Path, str], server: _Server, tmp_path: Path
) -> None:
    tar, digest = tarball
    data = tar.read_bytes()
    root = tmp_path / "gtzan"
    root.mkdir()
    half = len(data) // 2
    (root / "genres.tar.gz.part").write_bytes(data[:half])
    ensure_gtzan(root, url=server.url, sha256=digest, timeout=5.0)
    _assert_extracted(root)
    assert server.ranges == [f"bytes={half}-"]
    assert not (root / "genres.tar.gz.part").exists()


def test_download_restarts_when_range_ignored(tarball: tuple[Path, str], tmp_path: Path) -> None:
    tar, digest = tarball
    srv = _Server(tar.read_bytes(), honour_range=False)
    try:
        root = tmp_path / "gtzan"
        root.mkdir()
        (root / "genres.tar.gz.part").write_bytes(b"stale bytes, not a prefix")
        ensure_gtzan(root, url=srv.url, sha256=digest, timeout=5.0)
    finally:
        srv.close()
    _assert_extracted(root)
    assert srv.ranges == ["bytes=25-"]


def test_download_from_scratch(tarball: tuple[Path, str], server: _Server, tmp_path: Path) -> None:
    ensure_gtzan(tmp_path / "gtzan", url=server.url, sha256=tarball[1], timeout=5.0)
    _assert_extracted(tmp_path / "gtzan")
    assert server.ranges == [None]


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "genre_lightning.data.download", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


MODULE = "genre_lightning.data.download"
#: The advice about the user's own archive=: never to delete it.
NOT_GTZAN = "Pass GTZAN's genres.tar.gz as archive=PATH"


def test_cli_refuses_the_user_s_archive_without_calling_for_its_deletion(
    tarball: tuple[Path, str], tmp_path: Path
) -> None:
    # The walkthrough: a junk archive= with sha256=null was told to "delete it and retry" and to
    # "override data.url=", a key this tool does not have.
    tar, digest = tarball
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"junk, not a tarball\n")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tar.read_bytes()[:300])
    cases = {
        (f"archive={junk}", "sha256=null"): f"error: archive={junk} is not GTZAN's "
        f"genres.tar.gz: it is not a tar archive (plain, gzip, bzip2 or xz); nothing was kept. "
        f"{NOT_GTZAN}.",
        (f"archive={cut}", "sha256=null"): f"error: archive={cut} cannot be unpacked: it ends "
        f"early, as a truncated copy does; nothing was kept. Pass a complete copy of GTZAN's "
        f"genres.tar.gz as archive=PATH.",
        (f"archive={tar}", f"sha256={'f' * 64}"): f"error: sha256 mismatch: archive={tar} has "
        f"SHA-256 {digest}, but sha256={'f' * 64}: it is not GTZAN's genres.tar.gz (or is a "
        f"damaged copy). {NOT_GTZAN}; or, if you trust the file, pass sha256={digest} "
        f"(sha256=null skips the check).",
        (f"archive={tmp_path / 'nowhere.tar.gz'}",): f"error: archive={tmp_path / 'nowhere.tar.gz'}"
        f": no such file; pass the path of GTZAN's genres.tar.gz, or leave archive out to "
        f"download it",
    }
    started = {
        args: start_cli([*args, f"root={tmp_path / f'gtzan{i}'}"], tmp_path, MODULE)
        for i, args in enumerate(cases)
    }
    # The fix the checksum message offers works: this archive, trusted as it is.
    trust = [f"archive={tar}", f"sha256={digest}", f"root={tmp_path / 'trusted'}"]
    trusted = start_cli(trust, tmp_path, MODULE)
    for args, proc in started.items():
        assert one_error_line(proc) == cases[args], args
    assert junk.read_bytes() == b"junk, not a tarball\n" and cut.is_file()
    for i in range(len(cases)):
        root = tmp_path / f"gtzan{i}"
        assert not root.exists() or list(root.iterdir()) == [], root
    _, err = trusted.communicate(timeout=120)
    assert trusted.returncode == 0, err
    _assert_extracted(tmp_path / "trusted")
    assert tar.is_file()


def test_cli_refuses_its_own_download_naming_its_keys_and_each_fix_works(
    tarball: tuple[Path, str], server: _Server, tmp_path: Path
) -> None:
    digest = tarball[1]
    junk = _Server(b"<html>a web page, not GTZAN</html>\n")
    dead = f"http://127.0.0.1:{_free_port()}/genres.tar.gz"
    try:
        wrong, other, offline = (tmp_path / name for name in ("wrong", "other", "offline"))
        started = {
            wrong: start_cli([f"url={junk.url}", "sha256=null", f"root={wrong}"], tmp_path, MODULE),
            other: start_cli(
                [f"url={server.url}", f"sha256={'0' * 64}", f"root={other}"], tmp_path, MODULE
            ),
            offline: start_cli([f"url={dead}", "timeout=2", f"root={offline}"], tmp_path, MODULE),
        }
        errors = {root: one_error_line(proc) for root, proc in started.items()}
    finally:
        junk.close()
    for err in errors.values():
        assert "data." not in err, err  # the tool's keys: url=, sha256=, root=, archive=
    by_hand = "To place the data by hand: download genres.tar.gz elsewhere and rerun with archive="
    assert errors[wrong].startswith(
        f"error: {wrong}/genres.tar.gz (downloaded from url={junk.url}) is not GTZAN's "
        f"genres.tar.gz: it is not a tar archive (plain, gzip, bzip2 or xz); nothing was kept. "
        f"Delete {wrong}/genres.tar.gz and rerun with url= pointing at GTZAN's genres.tar.gz. "
        f"{by_hand}"
    ), errors[wrong]
    assert errors[other].startswith(
        f"error: sha256 mismatch: {other}/genres.tar.gz (downloaded from url={server.url}) has "
        f"SHA-256 {digest}, but sha256={'0' * 64}: a damaged download, or another release. "
        f"Delete {other}/genres.tar.gz and rerun to download it again; or, if you trust the "
        f"file, pass sha256={digest} (sha256=null skips the check)."
    ), errors[other]
    assert errors[offline].startswith(f"error: url={dead}: could not download it: ")
    assert by_hand in errors[offline] and "set url=... (and sha256=..." in errors[offline]

    # Each fix, followed: delete the wrong download and point url= at GTZAN's; trust the other.
    (wrong / "genres.tar.gz").unlink()
    followed = {
        wrong: start_cli(
            [f"url={server.url}", f"sha256={digest}", f"root={wrong}"], tmp_path, MODULE
        ),
        other: start_cli(
            [f"url={server.url}", f"sha256={digest}", f"root={other}"], tmp_path, MODULE
        ),
    }
    for root, proc in followed.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        _assert_extracted(root)
    assert len(server.ranges) == 2  # the trusted one was not downloaded a second time


def test_data_download_names_training_s_keys(tmp_path: Path) -> None:
    # data.download=true: the data module's call, so data.url= / data.sha256= / data.root.
    url = f"http://127.0.0.1:{_free_port()}/genres.tar.gz"
    root = tmp_path / "gtzan"
    module = GenreDataModule(root=str(root), download=True, url=url, sha256=None)
    with pytest.raises(GTZANDownloadError) as info:
        module.prepare_data()
    message = str(info.value)
    assert message.startswith(f"data.url={url}: could not download it: "), message
    assert f"`python -m genre_lightning.data.download archive=PATH root={root}`" in message
    assert message.endswith(
        "set data.url=... (and data.sha256=... for its checksum, or data.sha256=null to skip it)."
    )


def test_cli_success_without_checksum(tarball: tuple[Path, str], tmp_path: Path) -> None:
    tar, _ = tarball
    root = tmp_path / "gtzan"
    proc = _cli(f"archive={tar}", f"root={root}", "sha256=null", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ready = (
        f"GTZAN is ready under {root.resolve()}: 4 clips of 2 genres; it lacks classical, "
        f"country, disco, hiphop, metal, pop, reggae, rock, so train on it with "
        f"data.class_names=[blues,jazz]"
    )
    assert proc.stdout.splitlines()[-1] == ready
    _assert_extracted(root)
    assert "unverified" in (root / MARKER_NAME).read_text()
    # Its log goes to its own run directory, like every tool's, and keeps the result line.
    (log,) = (tmp_path / "outputs" / "download").glob("*/*/download.log")
    assert log.read_text().rstrip().endswith(ready)


def test_an_archive_of_other_genres_is_not_gtzan(tmp_path: Path) -> None:
    """A user's own music (or another data set) packed as genres.tar.gz: with sha256=null it
    would have been marked ready as GTZAN, and data=gtzan found none of its genres."""
    wav = io.BytesIO()
    sf.write(wav, np.zeros(2205, dtype="float32"), 22050, format="WAV")
    root = tmp_path / "gtzan"
    for top, held in [
        ("genres", "its genre folders chiptune, vaporwave are not GTZAN's (blues, classical, "),
        ("music", "it holds no folder named after GTZAN's genres (blues, classical, "),
    ]:
        tar = tmp_path / f"{top}.tar.gz"
        with tarfile.open(tar, "w:gz") as tf:
            for name in ("blues/a.wav", "chiptune/b.wav", "vaporwave/c.wav"):
                _add(tf, f"{top}/{name}", tarfile.REGTYPE, data=wav.getvalue())
        with pytest.raises(GTZANDownloadError) as caught:
            ensure_gtzan(root, archive=tar, sha256=None)
        message = str(caught.value)
        assert message.startswith(f"archive={tar} is not GTZAN's genres.tar.gz: {held}")
        assert message.endswith(
            "train with data=folder data.root=<the folder of its genre folders>."
        )
    assert list(root.iterdir()) == []  # nothing kept, no marker


def test_unsafe_member_is_rejected(tmp_path: Path) -> None:
    payload = tmp_path / "evil.txt"
    payload.write_text("x")
    tar = tmp_path / "evil.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(payload, arcname="../escaped.txt")
    root = tmp_path / "deep" / "gtzan"
    with pytest.raises(GTZANDownloadError, match=r"refused to extract .*leaves the folder"):
        ensure_gtzan(root, archive=tar, sha256=None)
    assert list(root.iterdir()) == []
    assert not (root.parent / "escaped.txt").exists()


def _add(tf: tarfile.TarFile, name: str, kind: bytes, link: str = "", data: bytes = b"") -> None:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.size = kind, link, len(data)
    tf.addfile(member, io.BytesIO(data) if data else None)


def symlink_chain_archive(path: Path) -> None:
    """CVE-2025-4517: symlinks whose resolved path outgrows PATH_MAX, then a write through one.

    ``os.path.realpath`` stops resolving once the path exceeds PATH_MAX, so ``filter="data"``
    of Python < 3.11.13 sees the last link as inside the folder while the kernel follows it out.
    """
    long_dir, steps, here = "d" * 247, "abcdefghijklmnop", ""
    with tarfile.open(path, "w") as tf:
        for step in steps:
            _add(tf, posixpath.join(here, long_dir), tarfile.DIRTYPE)
            _add(tf, posixpath.join(here, step), tarfile.SYMTYPE, link=long_dir)
            here = posixpath.join(here, long_dir)
        up = posixpath.join(*steps, "l" * 254)
        _add(tf, up, tarfile.SYMTYPE, link="../" * len(steps))
        _add(tf, "escape", tarfile.SYMTYPE, link=up + "/../")
        _add(tf, "escape/escaped.txt", tarfile.REGTYPE, data=b"written outside\n")


def test_symlink_chain_past_path_max_cannot_escape(tmp_path: Path) -> None:
    tar = tmp_path / "chain.tar"
    symlink_chain_archive(tar)
    root = tmp_path / "a" / "gtzan"
    with pytest.raises(GTZANDownloadError, match=r"refused to extract .*unsafe link"):
        ensure_gtzan(root, archive=tar, sha256=None)
    assert sorted(p.name for p in tmp_path.rglob("escaped.txt")) == []
    assert list(root.iterdir()) == []


def test_links_inside_the_archive_become_copies(tmp_path: Path) -> None:
    wav = io.BytesIO()
    sf.write(wav, np.zeros(2205, dtype="float32"), 22050, format="WAV")
    tar = tmp_path / "links.tar"
    with tarfile.open(tar, "w") as tf:
        _add(tf, "genres/blues/blues.00000.wav", tarfile.REGTYPE, data=wav.getvalue())
        _add(tf, "genres/blues/blues.00001.wav", tarfile.SYMTYPE, link="blues.00000.wav")
        _add(tf, "genres/jazz/jazz.00000.wav", tarfile.LNKTYPE, "genres/blues/blues.00000.wav")
    root = tmp_path / "gtzan"
    ensure_gtzan(root, archive=tar, sha256=None)
    for name in ("blues/blues.00001.wav", "jazz/jazz.00000.wav"):
        copy = root / "genres" / name
        assert copy.is_file() and not copy.is_symlink()
        assert copy.read_bytes() == wav.getvalue()


def test_a_member_appended_again_replaces_the_earlier_copy(tmp_path: Path) -> None:
    # `tar -r` appends a newer copy under the same name; tar extracts the later one.
    tar = tmp_path / "appended.tar"
    with tarfile.open(tar, "w") as tf:
        _add(tf, "notes/a.txt", tarfile.REGTYPE, data=b"first")
        _add(tf, "notes/b.txt", tarfile.SYMTYPE, link="a.txt")  # a copy of the first
        _add(tf, "notes/a.txt", tarfile.REGTYPE, data=b"second, longer")
    assert extract_tar(tar, tmp_path / "out") == ["notes/a.txt", "notes/b.txt"]
    assert (tmp_path / "out" / "notes" / "a.txt").read_bytes() == b"second, longer"
    assert (tmp_path / "out" / "notes" / "b.txt").read_bytes() == b"first"


@pytest.mark.parametrize(
    ("kind", "link", "reason"),
    [
        (tarfile.SYMTYPE, "/etc/passwd", "absolute"),
        (tarfile.SYMTYPE, "../../../outside", "leaves the folder"),
        (tarfile.SYMTYPE, "missing.wav", "point to a file of the archive"),
        (tarfile.FIFOTYPE, "", "unsupported member"),
        (tarfile.CHRTYPE, "", "unsupported member"),
    ],
)
def test_links_out_and_special_files_are_refused(
    tmp_path: Path, kind: bytes, link: str, reason: str
) -> None:
    tar = tmp_path / "bad.tar"
    with tarfile.open(tar, "w") as tf:
        _add(tf, "genres/blues/x.wav", kind, link=link)
    root = tmp_path / "gtzan"
    with pytest.raises(GTZANDownloadError, match=f"refused to extract .*{reason}"):
        ensure_gtzan(root, archive=tar, sha256=None)
    assert list(root.iterdir()) == []


def test_archive_without_audio_is_not_marked_ready(tmp_path: Path) -> None:
    tar = tmp_path / "docs.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        _add(tf, "genres/README.txt", tarfile.REGTYPE, data=b"no audio here\n")
    root = tmp_path / "gtzan"
    with pytest.raises(GTZANDownloadError, match="holds no audio"):
        ensure_gtzan(root, archive=tar, sha256=None)
    assert list(root.iterdir()) == []  # no marker: the next run tries again


def test_an_archive_placed_in_root_is_not_called_a_download(tmp_path: Path) -> None:
    # A genres.tar.gz put into root by hand (or left by an earlier run) is used as it is; its
    # messages must not claim this run downloaded it from url=.
    root = tmp_path / "gtzan"
    root.mkdir()
    (root / "genres.tar.gz").write_text("not an archive\n")
    procs = [
        start_cli([f"root={root}", "sha256=null"], tmp_path, MODULE),
        start_cli([f"root={root}", f"sha256={'0' * 64}"], tmp_path, MODULE),
    ]
    wrong, mismatch = (one_error_line(proc) for proc in procs)
    found = f"{root}/genres.tar.gz (found there, not downloaded by this run)"
    assert wrong.startswith(f"error: {found} is not GTZAN's genres.tar.gz"), wrong
    assert f"Delete {root}/genres.tar.gz and rerun to download it. " in wrong, wrong
    assert mismatch.startswith(f"error: sha256 mismatch: {found} has SHA-256 "), mismatch
    assert "a damaged copy, or another release" in mismatch, mismatch
    assert "url=" not in wrong.split(". ")[0] and "url=" not in mismatch.split(". ")[0]
    assert (root / "genres.tar.gz").read_text() == "not an archive\n"  # the user's file, kept


@pytest.mark.parametrize(
    ("where", "url", "message"),
    [
        ("a file", None, r"^data\.root=.*: cannot be the data set's folder \(it is a file\)"),
        ("under a file", None, r"^data\.root=.*: cannot be the data set's folder \(Not a dir"),
        ("a folder", "notaurl", r"^data\.url=notaurl: could not download it: unknown url type"),
    ],
)
def test_a_root_or_url_that_cannot_work_is_one_error(
    tmp_path: Path, where: str, url: str | None, message: str
) -> None:
    # Each was a traceback: FileExistsError / NotADirectoryError from mkdir, urllib's ValueError.
    (tmp_path / "file").write_text("not a folder")
    root = {"a file": "file", "under a file": "file/gtzan", "a folder": "gtzan"}[where]
    with pytest.raises(GTZANDownloadError, match=message):
        ensure_gtzan(tmp_path / root, url=url or "http://127.0.0.1:9/genres.tar.gz")
    assert (tmp_path / "file").read_text() == "not a folder"


def test_the_tool_lists_and_refuses_without_importing_torch(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    # Data already in place: the tool lists it (the GTZAN index) and reports it ready.
    root = copy_sample(gtzan_sample, tmp_path / "gtzan" / "genres", ("blues", "jazz"), 2).parent
    out = f"hydra.run.dir={tmp_path / 'run'}"
    status, torch_imported, done = run_counting_torch(MODULE, f"root={root}", out)
    assert (status, torch_imported) == ("0", "False"), done.stderr
    said = done.stdout.splitlines()
    assert said[-1].startswith(f"GTZAN is ready under {root.resolve()}: 4 clips of 2 genres")
    # No network: one error line, and torch still not imported.
    url = f"http://127.0.0.1:{_free_port()}/genres.tar.gz"
    empty = f"root={tmp_path / 'empty'}"
    status, torch_imported, refused = run_counting_torch(MODULE, empty, f"url={url}", out)
    assert (status, torch_imported, refused.stdout) == ("2", "False", ""), refused.stderr
    assert refused.stderr.startswith(f"error: url={url}: could not download it: ")
    assert refused.stderr.count("\n") == 1, refused.stderr
