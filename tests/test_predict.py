"""predict.py: recordings of any kind to one CSV row each, streamed, in bounded memory.

Every run here is the real CLI in a subprocess (``python -m genre_lightning.predict``), except
where a test says otherwise.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from genre_lightning.audio import load_audio
from genre_lightning.errors import UserError
from genre_lightning.files import partial_path
from genre_lightning.inference import load_classifier
from genre_lightning.predict import COLUMNS, predict, shown

from .conftest import (
    _train,
    cli_env,
    one_error_line,
    run_cli,
    start_cli,
    start_process,
    tiny_for,
    write_tone,
)
from .training.test_checkpoint import FIXTURE, write_damaged

MODULE = "genre_lightning.predict"
#: A file name that is not valid UTF-8 (Latin-1 "café" and a stray byte).
NON_UTF8 = b"caf\xe9 \xff.wav"


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    # The names are written as the file system holds them: read them back the same way.
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _make_unreadable(path: Path) -> str:
    """A file the process cannot read; returns the reason the OS gives."""
    if os.geteuid() != 0:
        write_tone(path)
        path.chmod(0)
        return "Permission denied"
    # Root reads any file; /proc/self/mem cannot be read from its start by anyone.
    path.symlink_to("/proc/self/mem")
    return "Input/output error"


@pytest.fixture
def music(tmp_path: Path, data_dir: Path) -> tuple[Path, str]:
    """Training clips (one under a non-UTF-8 name), a long, a short and a nearly whole tone, a
    broken file, an unreadable file and a non-audio file; and the reason the unreadable one
    gives."""
    folder = tmp_path / "music"
    folder.mkdir()
    for genre in ("drone", "swing"):
        shutil.copy(sorted((data_dir / "synthetic").glob(f"synthetic-*/{genre}/*.wav"))[0], folder)
    shutil.copy(folder / "drone.00000.wav", os.fsdecode(bytes(folder) + b"/" + NON_UTF8))
    write_tone(folder / "sub" / "long.flac", seconds=5.0, sr=44100, channels=2)
    write_tone(folder / "sub" / "short.wav", seconds=0.5)
    # Padded by a few frames, as training pads GTZAN's shorter clips: not named as short.
    write_tone(folder / "sub" / "nearly.wav", seconds=1.95)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00 junk, not audio")
    reason = _make_unreadable(folder / "locked.wav")
    (folder / "notes.txt").write_text("not audio, not listed")
    return folder, reason


def test_a_listing_warning_is_said_once(tiny_ckpt: Path, tmp_path: Path) -> None:
    # Said by the checks before launch, unformatted, and again by the job.
    write_tone(tmp_path / "in" / "a.wav")
    (tmp_path / "in" / "b.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    proc = run_cli([f"ckpt_path={tiny_ckpt}", f"input={tmp_path / 'in'}"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = proc.stdout + proc.stderr
    assert said.count("skipped 1 .m4a file in a format that cannot be decoded here") == 1, said


def test_cli_writes_one_row_per_file_into_its_run_dir(
    tiny_ckpt: Path, music: tuple[Path, str], tmp_path: Path
) -> None:
    folder, unreadable = music
    proc = run_cli([f"ckpt_path={tiny_ckpt}", f"input={folder}", "device=cpu"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The default output: this run's own directory under outputs/predict/.
    (out,) = (tmp_path / "outputs" / "predict").glob("*/*/predictions.csv")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-\d{6}", out.parent.relative_to(out.parents[2]).as_posix()
    )
    assert (out.parent / "predict.log").is_file() and not partial_path(out).exists()
    assert f"classified 6 of 8 file(s) -> {out}" in proc.stdout
    assert "sub/long.flac: 2 windows, 4.0 of 5.0 s" in proc.stdout
    assert "1 file(s) shorter than one 2 s window, classified zero-padded" in proc.stdout
    assert "sub/short.wav: 0.5 s" in proc.stdout and "nearly.wav" not in proc.stdout
    # The run's log keeps the summary the console showed.
    log = (out.parent / "predict.log").read_text()
    for line in proc.stdout.splitlines():
        assert line.strip() in log, line

    classifier = load_classifier(tiny_ckpt)
    columns, rows = _read(out)
    assert columns == [*COLUMNS, *classifier.class_names]
    by_name = {os.fsencode(Path(r["file"]).relative_to(folder)): r for r in rows}
    assert list(by_name) == sorted(by_name) and len(rows) == 8 and b"notes.txt" not in by_name
    assert by_name[b"broken.wav"]["error"].startswith("cannot decode audio (")
    assert by_name[b"locked.wav"]["error"] == f"cannot read the file ({unreadable})"
    for name in (b"broken.wav", b"locked.wav"):
        row = by_name[name]
        assert not row["genre"] and not row["windows"]
        assert all(row[n] == "" for n in classifier.class_names)
    assert (by_name[b"sub/long.flac"]["windows"], by_name[b"sub/long.flac"]["seconds"]) == (
        "2",
        "5.000",
    )
    assert (by_name[b"sub/short.wav"]["windows"], by_name[b"sub/short.wav"]["seconds"]) == (
        "1",
        "0.500",
    )
    for name, row in by_name.items():
        if row["error"]:
            continue
        probs = torch.tensor([float(row[n]) for n in classifier.class_names])
        assert float(probs.sum()) == pytest.approx(1.0, abs=1e-4)
        assert row["genre"] == classifier.class_names[int(probs.argmax())]
        assert float(row["confidence"]) == pytest.approx(float(probs.max()), abs=1e-5)
        # The streamed, windowed decode gives what the library gives for the whole file.
        expected = classifier.classify(load_audio(folder / os.fsdecode(name)))
        torch.testing.assert_close(probs, expected, atol=1e-5, rtol=0)
    # The non-UTF-8 name is the very file: its bytes went into the CSV unchanged...
    assert by_name[NON_UTF8]["genre"] == by_name[b"drone.00000.wav"]["genre"]
    # ...and the console shows it escaped (printing it as is would raise UnicodeEncodeError).
    assert shown(os.fsdecode(NON_UTF8)) == "caf\\xe9 \\xff.wav"


def test_multirun_predicts_each_input(tiny_ckpt: Path, tmp_path: Path, data_dir: Path) -> None:
    clips = sorted((data_dir / "synthetic").glob("synthetic-*/*/*.00000.wav"))
    for folder, clip in zip(("a", "b"), clips[:2], strict=True):
        (tmp_path / folder).mkdir()
        shutil.copy(clip, tmp_path / folder)
    proc = run_cli(["-m", f"ckpt_path={tiny_ckpt}", "input=a,b", "device=cpu"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "outputs" / "predict" / "multirun").glob("*/*/*/predictions.csv"))
    assert [p.parent.name for p in jobs] == ["0", "1"]
    for job, folder, clip in zip(jobs, ("a", "b"), clips[:2], strict=True):
        (row,) = _read(job)[1]
        assert row["file"] == f"{folder}/{clip.name}" and row["genre"]


def test_bad_outputs_are_refused_before_any_work(tmp_path: Path) -> None:
    # Not a checkpoint: were it read before the output is checked, the error would say so.
    (tmp_path / "garbage.ckpt").write_text("not a checkpoint")
    write_tone(tmp_path / "in" / "a.wav")
    (tmp_path / "file.txt").write_text("x")
    common = ["ckpt_path=garbage.ckpt", "input=in"]
    cases = {
        "a folder": (["output=in"], "output=in: is a folder, but output names the file"),
        "under a file": (["output=file.txt/p.csv"], "file.txt is a file, so nothing can be"),
        "unwritable": (["output=/proc/gl/p.csv"], "output=/proc/gl/p.csv: cannot create files"),
    }
    started = {k: start_cli([*common, *extra], tmp_path, MODULE) for k, (extra, _) in cases.items()}
    for case, proc in started.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, (case, err)
        assert err.startswith("error: ") and err.count("\n") == 1, (case, err)
        assert cases[case][1] in err, (case, err)
    assert not list(tmp_path.glob("**/*.csv*")) and not list(tmp_path.glob("in/*.csv*"))


def test_the_check_comes_before_any_import_of_torch(tmp_path: Path) -> None:
    # In-process: the output check runs first, so nothing heavy is needed to refuse.
    code = (
        "import sys\nfrom genre_lightning.predict import predict\n"
        "try:\n    predict('x.ckpt', 'in', '/proc/gl/p.csv')\n"
        "except Exception as e:\n    print(type(e).__name__, 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "UserError False", proc.stderr


def _rows_in(path: Path) -> int:
    """Complete rows in a CSV being written (a last line without its newline is not one)."""
    if not path.exists():
        return 0
    return max(0, path.read_bytes().count(b"\n") - 1)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_rows_survive_a_stop_midway(
    stop: signal.Signals, tiny_ckpt: Path, tmp_path: Path, data_dir: Path
) -> None:
    clip = sorted((data_dir / "synthetic").glob("synthetic-*/drone/*.wav"))[0]
    (tmp_path / "in").mkdir()
    for i in range(400):  # 400 names of one clip: classifying them all takes a while
        os.link(clip, tmp_path / "in" / f"{i:03d}.wav")
    out = tmp_path / "p.csv"
    args = [f"ckpt_path={tiny_ckpt}", "input=in", f"output={out}"]
    proc = start_process(args, tmp_path, MODULE)  # signalled while it runs
    deadline = time.monotonic() + 240
    while _rows_in(partial_path(out)) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=120)

    assert not out.exists()  # the final name only appears when every file has its row
    _, rows = _read(partial_path(out))
    assert len(rows) >= 5 and len(rows) < 400, "stopped too late to test anything"
    complete = [r for r in rows if r["drone"]]  # SIGKILL may cut the very last row short
    assert len(complete) >= len(rows) - 1
    assert [r["file"] for r in complete] == [f"in/{i:03d}.wav" for i in range(len(complete))]
    assert all(r["genre"] == complete[0]["genre"] and not r["error"] for r in complete)
    if stop == signal.SIGTERM:  # handled: it says where the rows are, and exits 143
        assert proc.returncode == 143
        assert err.strip().endswith(
            f"interrupted: stopped after {len(rows)} of 400 file(s); their rows are in "
            f"{partial_path(out)}"
        )


def test_nothing_decodable_is_an_error_and_the_csv_says_why(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.au").write_bytes(b".snd garbage")
    out = tmp_path / "preds.csv"
    with pytest.raises(UserError, match=r"none of the 1 file\(s\) could be classified"):
        predict(tiny_ckpt, tmp_path / "in", out)
    assert _read(out)[1][0]["error"].startswith("cannot decode audio")


def test_silence_is_not_given_a_genre(tiny_ckpt: Path, tmp_path: Path) -> None:
    # A network names a genre for anything: digital silence got one, with no word said.
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "silence.wav", np.zeros(44100 * 3, np.float32), 22050)
    tone = 0.3 * np.sin(np.arange(44100 * 3) * 0.05).astype(np.float32)
    # Channels in opposite phase: silent once mixed to mono, as the network would hear it.
    sf.write(tmp_path / "in" / "antiphase.wav", np.stack([tone, -tone], axis=1), 22050)
    out = tmp_path / "preds.csv"
    with pytest.raises(UserError, match=r"none of the 2 file\(s\) could be classified"):
        predict(tiny_ckpt, tmp_path / "in", out)
    rows = _read(out)[1]
    assert [r["error"] for r in rows] == [
        "silent: no sample above -90 dBFS (its channels mixed to mono), no music to classify"
    ] * 2
    assert not any(r["genre"] for r in rows)
    sf.write(tmp_path / "in" / "tone.wav", tone, 22050)  # one with sound: classified
    predict(tiny_ckpt, tmp_path / "in", out)
    assert [bool(r["genre"]) for r in _read(out)[1]] == [False, False, True]


def test_missing_input_and_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"input=.*nowhere: no such file or directory"):
        predict(tmp_path / "x.ckpt", tmp_path / "nowhere", tmp_path / "p.csv")
    with pytest.raises(UserError, match=r"input=/dev/null: is neither a regular file nor a"):
        predict(tmp_path / "x.ckpt", Path("/dev/null"), tmp_path / "p.csv")
    with pytest.raises(UserError, match="no audio files"):
        predict(tmp_path / "x.ckpt", tmp_path, tmp_path / "p.csv")
    (tmp_path / "a.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    with pytest.raises(UserError) as caught:  # a format it cannot decode is named, with the fix
        predict(tmp_path / "x.ckpt", tmp_path, tmp_path / "p.csv")
    assert str(caught.value).endswith(
        f"in this directory; it holds 1 .m4a file in a format that cannot be decoded here "
        f"(e.g. {tmp_path / 'a.m4a'}): convert it to FLAC, e.g. `ffmpeg -i 'song.m4a' "
        f"'song.flac'`"
    )
    write_tone(tmp_path / "a.wav")
    with pytest.raises(UserError, match="no checkpoint file at"):
        predict(tmp_path / "x.ckpt", tmp_path, tmp_path / "p.csv")


@pytest.fixture(scope="module")
def mfcc_ckpt(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The MFCC baseline on the tiny set: classifying 20 minutes of 2 s windows takes seconds."""
    overrides = [
        "model=mfcc_linear",
        "data.features.log=true",  # the baseline's own input (experiment=mfcc_baseline's)
        "module.normalize=none",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
    ]
    return _train("mfcc", tmp_path_factory, data_dir, [*tiny_for(*overrides), *overrides])


def _peak_rss(args: list[str], cwd: Path) -> tuple[int, float]:
    """Run the CLI; return its exit status and peak resident memory (MiB)."""
    # One thread: the per-window work is small, and on a busy 2-core machine thread hand-offs
    # would make a long recording take minutes. It changes nothing about memory.
    env = cli_env({"OMP_NUM_THREADS": "1"})
    proc = subprocess.Popen([sys.executable, "-m", MODULE, *args], cwd=cwd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024  # kilobytes on Linux


def _write_sparse_recording(path: Path, seconds: int, rate: int = 44100) -> None:
    """Stereo FLAC, written 10 s at a time: silence with a 2 s tone every 5 minutes."""
    t = np.arange(2 * rate) / rate
    with sf.SoundFile(path, "w", rate, 2, format="FLAC", subtype="PCM_16") as f:
        for block in range(seconds // 10):
            data = np.zeros((10 * rate, 2), np.float32)
            if block % 30 == 0:
                data[: 2 * rate] = 0.3 * np.sin(2 * np.pi * (220 + block) * t)[:, None]
            f.write(data)


@pytest.mark.slow
def test_twenty_minutes_are_classified_in_bounded_memory(mfcc_ckpt: Path, tmp_path: Path) -> None:
    (tmp_path / "short").mkdir()
    (tmp_path / "long").mkdir()
    _write_sparse_recording(tmp_path / "short" / "10s.flac", 10)
    # 20 minutes are enough to tell bounded memory from a whole decode (below).
    _write_sparse_recording(tmp_path / "long" / "long.flac", 1200)
    args = [f"ckpt_path={mfcc_ckpt}", "device=cpu"]
    status, short_peak = _peak_rss([*args, "input=short", "output=short.csv"], tmp_path)
    assert status == 0
    status, long_peak = _peak_rss([*args, "input=long", "output=long.csv"], tmp_path)
    assert status == 0

    (row,) = _read(tmp_path / "long.csv")[1]
    assert (row["seconds"], row["windows"], row["error"]) == ("1200.000", "600", "")
    # Decoding the whole file would hold its 53 million float32 stereo frames (404 MiB) at
    # once, before the mono mix and the resampled copy. Block by block it stays near the
    # memory of classifying 10 seconds.
    whole_file = 1200 * 44100 * 2 * 4 / 2**20
    assert long_peak - short_peak < whole_file / 4, (short_peak, long_peak)


#: What each file given as ckpt_path is not (the files of :func:`_not_checkpoints`).
NOT_ZIP = "not a PyTorch checkpoint: not a zip archive, the format torch.save writes"
CUT = "a zip archive cut short, as a truncated copy is: its directory at the end is missing"


def _not_checkpoints(folder: Path) -> dict[Path, str]:
    """Files that are no checkpoint, each with what the refusal must say about it."""
    write_tone(folder / "a.wav")
    (folder / "empty.ckpt").write_bytes(b"")
    return {
        folder / "a.wav": NOT_ZIP,
        folder / "empty.ckpt": "an empty file",
        write_damaged("junk", folder / "junk.ckpt"): NOT_ZIP,
        write_damaged("cut-early", folder / "cut-early.ckpt"): CUT,
        write_damaged("cut-late", folder / "cut-late.ckpt"): CUT,
        write_damaged("zip", folder / "zip.ckpt"): "a zip archive, but not a PyTorch "
        "checkpoint: it holds no data.pkl",
        write_damaged("zip-pickle", folder / "zip-pickle.ckpt"): "a zip archive laid out as a "
        "PyTorch checkpoint, but its archive/data.pkl is not a pickle: the file is damaged",
    }


def _refusal(ckpt: Path, what: str) -> str:
    return (
        f"ckpt_path={ckpt}: not a readable checkpoint ({what}); pass a .ckpt written by "
        f"genre_lightning training (a run's checkpoints/ folder)"
    )


def test_a_file_that_is_no_checkpoint_is_one_line_saying_what_it_is_not(tmp_path: Path) -> None:
    # A recording given as ckpt_path (the arguments swapped) said "IndexError: pop from empty
    # list": whatever torch's unpickler tripped over. Now: what the file is not, by the CLI...
    cases = _not_checkpoints(tmp_path)
    started = {
        ckpt: start_cli(
            [f"ckpt_path={ckpt}", "input=a.wav", f"output={ckpt.stem}.csv"], tmp_path, MODULE
        )
        for ckpt in (tmp_path / "a.wav", tmp_path / "cut-late.ckpt")
    }
    for ckpt, proc in started.items():
        assert one_error_line(proc) == f"error: {_refusal(ckpt, cases[ckpt])}"
    assert not list(tmp_path.glob("*.csv*"))
    # ... and for every kind of file, as the tools' shared loader says it (no Python names).
    for ckpt, what in cases.items():
        with pytest.raises(UserError) as err:
            load_classifier(ckpt)
        assert str(err.value) == _refusal(ckpt, what)
    # A real checkpoint in torch.save's legacy format (a bare pickle, no zip) still loads.
    legacy = tmp_path / "legacy.ckpt"
    torch.save(torch.load(FIXTURE, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    assert load_classifier(legacy).class_names == load_classifier(FIXTURE).class_names


def test_values_of_the_wrong_kind_areone_error_line(tmp_path: Path) -> None:
    # Each one crashed with a TypeError or AttributeError before it was checked.
    write_tone(tmp_path / "a.wav")
    common = {"ckpt_path": "x.ckpt", "input": "a.wav", "output": "p.csv"}
    cases = {
        "input=null": "input=null must be a text; e.g. input=song.mp3",
        "input=[a.wav,a.wav]": "input=[a.wav,a.wav] must be a text; e.g. input=song.mp3",
        "ckpt_path=[x.ckpt]": "ckpt_path=[x.ckpt] must be a text; e.g. ckpt_path=",
        "device=null": "device=null must be auto, cpu, cuda or cuda:N (N a GPU number)",
        "device=0": "device=0 must be auto, cpu, cuda or cuda:N",
        "device=gpu": "device=gpu must be auto, cpu, cuda or cuda:N",
        "output=null": "output=null must be a text; e.g. output=predictions.csv",
        "paths.output_dir=null": "paths.output_dir=null must be a text",
    }
    started = {}
    for arg in cases:
        key = arg.partition("=")[0]
        args = [f"{k}={v}" for k, v in common.items() if k != key]
        started[arg] = start_cli([*args, arg], tmp_path, MODULE)
    for arg, proc in started.items():
        assert cases[arg] in one_error_line(proc), arg
    assert not list(tmp_path.glob("**/*.csv*"))


def test_samples_past_full_scale_are_clipped_as_training_clips_them(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    # A float WAV may hold any value. Training's int16 cache clips it to full scale; predict
    # read the raw samples (at 1e30 the mel's power overflowed: every probability was NaN).
    from genre_lightning.predict import predict_file

    t = np.arange(22050 * 3) / 22050
    sine = np.sin(2 * np.pi * 440 * t)
    rows = {}
    for name, wave in (("loud", sine * 1e30), ("hot", sine * 3.0), ("clipped", np.sign(sine))):
        sf.write(tmp_path / f"{name}.wav", wave.astype(np.float32), 22050, "FLOAT")
        rows[name] = predict_file(load_classifier(tiny_ckpt), tmp_path / f"{name}.wav")
    names = load_classifier(tiny_ckpt).class_names
    probs = {k: np.array([float(r[n]) for n in names]) for k, r in rows.items()}
    assert all(r["error"] == "" for r in rows.values())
    np.testing.assert_allclose(probs["loud"], probs["clipped"], rtol=1e-4, atol=1e-6)
    assert rows["hot"]["genre"] != "" and np.isfinite(probs["hot"]).all()


def test_an_output_that_is_a_file_read_or_a_recording_is_refused(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    from genre_lightning.export import export

    clip = tmp_path / "clip.wav"
    write_tone(clip, seconds=1.0)
    ckpt = tmp_path / "model.ckpt"
    shutil.copy(tiny_ckpt, ckpt)
    kept = {p: p.read_bytes() for p in (clip, ckpt)}
    cases = [
        (lambda: predict(ckpt, clip, clip), f"output={clip}: is the file input names"),
        (lambda: predict(ckpt, clip, ckpt), f"output={ckpt}: is the file ckpt_path names"),
        # A recording of the folder being classified, or any other: not replaced by a CSV.
        (lambda: predict(ckpt, tmp_path, clip), f"output={clip}: is an audio file"),
        (lambda: export(ckpt, "torchscript", ckpt), f"output={ckpt}: is the file ckpt_path names"),
    ]
    for call, message in cases:
        with pytest.raises(UserError) as info:
            call()
        assert str(info.value).startswith(message), info.value
    assert {p: p.read_bytes() for p in kept} == kept
