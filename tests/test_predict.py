"""predict.py: a folder of recordings (good, broken, any length) to one CSV row each."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

from genre_lightning.audio import load_audio
from genre_lightning.inference import load_classifier
from genre_lightning.predict import main

from .conftest import run_cli, write_tone


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture
def music(tmp_path: Path, data_dir: Path) -> Path:
    """Two training clips, a long and a short tone, a broken file and a non-audio file."""
    folder = tmp_path / "music"
    folder.mkdir()
    for genre in ("drone", "swing"):
        shutil.copy(sorted((data_dir / "synthetic").glob(f"synthetic-*/{genre}/*.wav"))[0], folder)
    write_tone(folder / "sub" / "long.flac", seconds=5.0)
    write_tone(folder / "sub" / "short.wav", seconds=0.5)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00 junk, not audio")
    (folder / "notes.txt").write_text("not audio, not listed")
    return folder


def test_cli_writes_one_row_per_file(tiny_ckpt: Path, music: Path, tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    proc = run_cli(
        [f"ckpt_path={tiny_ckpt}", f"input={music}", f"output={out}", "device=cpu"],
        cwd=tmp_path,
        module="genre_lightning.predict",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "classified 4 of 5 file(s)" in proc.stdout and "broken.wav" in proc.stdout

    classifier = load_classifier(tiny_ckpt)
    columns, rows = _read(out)
    assert columns == ["file", "genre", "confidence", "error", *classifier.class_names]
    names = [Path(r["file"]).relative_to(music).as_posix() for r in rows]
    assert names == sorted(names) and "notes.txt" not in names and len(names) == 5
    for row in rows:
        if row["file"].endswith("broken.wav"):
            assert row["error"] and not row["genre"] and not row["confidence"]
            assert all(row[n] == "" for n in classifier.class_names)
            continue
        probs = torch.tensor([float(row[n]) for n in classifier.class_names])
        assert not row["error"] and float(probs.sum()) == pytest.approx(1.0, abs=1e-4)
        assert row["genre"] == classifier.class_names[int(probs.argmax())]
        assert float(row["confidence"]) == pytest.approx(float(probs.max()), abs=1e-5)
        # The CSV holds exactly what the library computes for the file.
        expected = classifier.classify(load_audio(row["file"], classifier.sample_rate))
        torch.testing.assert_close(probs, expected, atol=1e-5, rtol=0)


def test_nothing_decodable_exits_2(
    tiny_ckpt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.au").write_bytes(b".snd garbage")
    out = tmp_path / "preds.csv"
    assert main([f"ckpt_path={tiny_ckpt}", f"input={tmp_path / 'in'}", f"output={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: none of the 1 file(s) could be decoded")
    assert "Traceback" not in err
    assert _read(out)[1][0]["error"]  # the CSV still says why


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["input=x"], "missing ckpt_path="),
        (["ckpt_path=x.ckpt", "input=x", "outptu=y"], "unknown key 'outptu'"),
        (["ckpt_path=x.ckpt", "input=nowhere"], "input=nowhere: no such file or directory"),
    ],
)
def test_usage_errors(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_empty_folder_and_missing_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([f"ckpt_path={tmp_path / 'x.ckpt'}", f"input={tmp_path}"]) == 2
    assert "no audio files" in capsys.readouterr().err
    write_tone(tmp_path / "a.wav")
    assert main([f"ckpt_path={tmp_path / 'x.ckpt'}", f"input={tmp_path}"]) == 2
    assert "no checkpoint file at" in capsys.readouterr().err
