"""Run the ORIGINAL musicnn TensorFlow graph on real clips; write the parity fixture.

Dev-only (CI never runs it): it builds a throwaway virtual environment with ``tensorflow-cpu``,
librosa and resampy (none of them dependencies of this project) and writes
``tests/fixtures/musicnn_reference.npz``, which ``tests/models/test_musicnn.py`` compares the
PyTorch port and its front end against. Run it from the repository root with any Python 3.11::

    python scripts/musicnn_reference.py --wheel /tmp/musicnn-wheel/musicnn-0.1.0-py3-none-any.whl

How the original graph is run: ``import_meta_graph`` on musicnn's ``.meta`` fails in TF 2 (the
saved gradient nodes carry inconsistent ``_output_shapes``), so the worker parses the
MetaGraphDef, keeps the subgraph that computes the logits, strips every ``_output_shapes``
attribute, imports it, assigns the checkpoint's variables and feeds ``model/Placeholder``
(N x 187 x 96 log-mel patches) with ``model/Placeholder_2`` (is_training) = False.

Input patches: the original extractor's recipe, with 2019's defaults spelled out for today's
librosa: ``librosa.load(sr=16000, res_type="kaiser_best")`` (resampy), ``melspectrogram`` with
``pad_mode="reflect"``, then ``log10(10000 x + 1)`` in float32 (float16 overflows). The
network's parity does not depend on them (both sides get the same patches); the front-end test
does.

The same file is the TensorFlow worker: ``--tf-worker`` is how the driver runs it inside the
throwaway environment, where this project is not installed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REQUIREMENTS = ("tensorflow-cpu==2.21.0", "librosa==0.11.0", "resampy==0.4.3")
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: One clip per genre where the tags are unambiguous, and two patches (of 10) from each.
CLIPS = (
    "genres_original/metal/metal.00000.wav",
    "genres_original/jazz/jazz.00000.wav",
    "genres_original/classical/classical.00000.wav",
)
PATCHES = (0, 5)
#: Graph tensors fetched from the original: logits, penultimate (after batch norm), pooled.
OUTPUTS = {
    "logits": "model/dense_1/BiasAdd:0",
    "penultimate": "model/batch_normalization_10/batchnorm/add_1:0",
    "pooled": "model/Flatten/flatten/Reshape:0",
}
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="musicnn-0.1.0 wheel (pip download)")
    parser.add_argument("--sample", type=Path, default=REPO.parent / "shared" / "gtzan-sample")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/tfref"))
    parser.add_argument("--out", type=Path, default=REPO / "tests/fixtures/musicnn_reference.npz")
    parser.add_argument("--tf-worker", nargs=3, metavar=("SAMPLE", "MODELS_DIR", "OUTPUT"))
    args = parser.parse_args()
    if args.tf_worker:
        tf_worker(*(Path(p) for p in args.tf_worker))
    elif args.wheel is None:
        parser.error("--wheel is required")
    else:
        drive(args.wheel, args.sample, args.venv, args.out)


def drive(wheel: Path, sample: Path, venv: Path, out: Path) -> None:
    """Run the worker in the throwaway venv (made if missing); write the fixture."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", *REQUIREMENTS], check=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.split("/")[1:2] and member.split("/")[1] in MODELS:
                    archive.extract(member, tmp)
        worker = [str(python), __file__, "--tf-worker", str(sample)]
        subprocess.run([*worker, str(tmp / "musicnn"), str(tmp / "out.npz")], check=True)
        with np.load(tmp / "out.npz") as results:
            arrays = {k: results[k] for k in results.files}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size} bytes): {arrays['names']}, {arrays['versions']}")


def original_patches(sample: Path) -> tuple[np.ndarray, list[str]]:
    """Log-mel patches of CLIPS as musicnn's extractor made them (inside the venv)."""
    import librosa

    patches, names = [], []
    for clip in CLIPS:
        audio, sr = librosa.load(sample / clip, sr=16000, res_type="kaiser_best")
        mel = librosa.feature.melspectrogram(
            y=audio, sr=sr, n_fft=512, hop_length=256, n_mels=96, pad_mode="reflect"
        ).T
        logmel = np.log10(10000.0 * mel.astype(np.float32) + 1.0)
        for p in PATCHES:
            patches.append(logmel[p * 187 : (p + 1) * 187])
            names.append(f"{clip}#{p}")
    return np.stack(patches).astype(np.float32), names


def tf_worker(sample: Path, models_dir: Path, output_path: Path) -> None:
    """Make the patches, run each model's original graph on them (inside the venv)."""
    import librosa
    import resampy
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    tf.compat.v1.disable_eager_execution()
    batch, names = original_patches(sample)
    results: dict[str, np.ndarray] = {}
    for model in MODELS:
        prefix = str(models_dir / model) + "/"
        meta = meta_graph_pb2.MetaGraphDef()
        meta.ParseFromString(Path(prefix + ".meta").read_bytes())
        graph_def = tf.compat.v1.graph_util.extract_sub_graph(
            meta.graph_def, ["model/dense_1/BiasAdd"]
        )
        for node in graph_def.node:
            if "_output_shapes" in node.attr:
                del node.attr["_output_shapes"]
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
            reader = tf.compat.v1.train.NewCheckpointReader(prefix)
            ops = graph.get_operations()
            variables = [op.name for op in ops if op.type == "VariableV2"]
            assigns = [
                tf.compat.v1.assign(graph.get_tensor_by_name(f"{name}:0"), reader.get_tensor(name))
                for name in variables
            ]
            epsilons = sorted({op.get_attr("epsilon") for op in ops if op.type == "FusedBatchNorm"})
            with tf.compat.v1.Session(graph=graph) as session:
                session.run(assigns)
                fetched = session.run(
                    {key: graph.get_tensor_by_name(name) for key, name in OUTPUTS.items()},
                    feed_dict={"model/Placeholder:0": batch, "model/Placeholder_2:0": False},
                )
        print(f"{model}: {len(variables)} variables, fused batch-norm epsilons {epsilons}")
        for key, value in fetched.items():
            results[f"{model}_{key}"] = np.asarray(value, dtype=np.float32)
    versions = {
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,  # type: ignore[attr-defined]
        "resampy": resampy.__version__,
        "numpy": np.__version__,
    }
    np.savez(
        output_path,
        patches=batch,
        names=np.array(names),
        versions=json.dumps(versions),
        **results,  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
