"""Which musicnn probe, and how many clips it needs: measured without touching a test fold.

Dev-only (CI never runs it). From the repository root::

    .venv/bin/python scripts/probe_variants.py --root ../shared/gtzan-sample

1. Every 3 s chunk of every clip, starting every 1.5 s (the front end and chunking of
   ``experiment=musicnn_probe``, composed from its config), goes through both pretrained musicnn
   models once; the features of every layer are kept in ``--features`` so later runs with the
   same ``--root`` and layout skip this step. Training uses the non-overlapping chunks, as the
   recipe does, or all of them (``data.train_hop_seconds=1.5``); scoring always uses the
   non-overlapping ones, as evaluation does.
2. **Variants** (training chunks, layer, model, both models' features side by side, a longer
   fit, track statistics): for each outer fold of the report's k-fold split, only its 40
   non-test tracks are used, cut into 5 inner folds (32 train / 8 scored). An inner fold's
   score is the mean over ``--seeds`` head trainings (the head's seed moves a score by as much
   as most variants do); the table gives the mean over the 25 inner folds, with its standard
   error. The outer test tracks are never read, so a choice made on this table can still be
   tested honestly by ``make report``.
3. **Learning curve**: random draws of n clips per genre for training, the rest scored.

The head is the recipe's own (``classifier_head``: batch-norm standardisation, dropout, one
linear layer), trained with AdamW at the recipe's learning rate, weight decay, batch size and
epochs; a track's prediction averages its chunks' logits.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from genre_lightning.audio import fix_length, load_audio
from genre_lightning.data.index import index_clips
from genre_lightning.data.splits import kfold_split
from genre_lightning.data.windows import window_samples
from genre_lightning.features.mel import MelFeatures
from genre_lightning.hydra_conf import compose_config
from genre_lightning.models.musicnn_classifier import classifier_head
from genre_lightning.models.musicnn_tf import pretrained_musicnn

MODELS = ("MSD_musicnn", "MTT_musicnn")
LAYERS = ("penultimate", "pooled", "logits")
#: name -> (feature blocks placed side by side, changes to the recipe's head training; "overlap":
#: 1 trains on the half-overlapping chunks too; "stats": 1 describes each track by the mean and
#: standard deviation of its chunks' features, the statistics pooling of speaker embeddings, and
#: trains the head on those, one row per track)
VARIANTS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "MSD penultimate (the recipe)": (("MSD_musicnn/penultimate",), {}),
    "MSD penultimate, half-overlapping chunks": (("MSD_musicnn/penultimate",), {"overlap": 1}),
    "MSD pooled": (("MSD_musicnn/pooled",), {}),
    "MSD tags": (("MSD_musicnn/logits",), {}),
    "MTT penultimate": (("MTT_musicnn/penultimate",), {}),
    "MSD + MTT penultimate": (("MSD_musicnn/penultimate", "MTT_musicnn/penultimate"), {}),
    "MSD penultimate + pooled": (("MSD_musicnn/penultimate", "MSD_musicnn/pooled"), {}),
    "MSD penultimate, 10x lr, 200 epochs": (("MSD_musicnn/penultimate",), {"lr": 10.0, "ep": 200}),
    "MSD penultimate, track mean + std": (("MSD_musicnn/penultimate",), {"stats": 1}),
    "MSD penultimate + pooled, half-overlapping": (
        ("MSD_musicnn/penultimate", "MSD_musicnn/pooled"),
        {"overlap": 1},
    ),
    "MSD penultimate + pooled + tags": (
        ("MSD_musicnn/penultimate", "MSD_musicnn/pooled", "MSD_musicnn/logits"),
        {},
    ),
}
#: Full-batch steps of a head trained on one row per track ("stats"): past 1000 the score moves
#: by less than 0.005, so the head is fitted.
TRACK_HEAD_STEPS = 1000


def extract(root: Path, cfg: DictConfig, whole_clip_mel: bool = False) -> dict[str, np.ndarray]:
    """Features of every chunk of every clip under ``root``, for every model and layer.

    Chunks start every half chunk; ``grid`` marks the non-overlapping ones.

    Args:
        whole_clip_mel: Compute the mel of the whole clip and cut it into patches (the original
            extractor's layout) instead of the mel of each 3 s chunk (the recipe's).
    """
    data = cfg.data
    clips, _ = index_clips(root)
    window = window_samples(data.clip_samples, data.chunk_seconds, data.sample_rate)
    hop = window // 2
    waves = [fix_length(load_audio(c.path, data.sample_rate), data.clip_samples) for c in clips]
    if whole_clip_mel:
        frames = data.features.num_frames
        whole = MelFeatures(sample_rate=data.sample_rate, **{**data.features, "num_frames": None})
        mels = [whole(w[None])[0, 0] for w in waves]
        # The grid's patches, and those halfway between them.
        starts = [
            sorted(
                g + s
                for g in range(0, len(m) - frames + 1, frames)
                for s in (0, frames // 2)
                if g + s + frames <= len(m)
            )
            for m in mels
        ]
        chunks = [
            torch.stack([m[i : i + frames] for i in st])[:, None]
            for m, st in zip(mels, starts, strict=True)
        ]
        grid = np.concatenate([np.array(st) % frames == 0 for st in starts])
    else:
        mel = MelFeatures(sample_rate=data.sample_rate, **data.features)
        chunks = [mel(w.unfold(0, window, hop)) for w in waves]
        grid = np.concatenate([np.arange(len(c)) * hop % window == 0 for c in chunks])
    found: dict[str, np.ndarray] = {
        "track": np.concatenate([np.full(len(c), i) for i, c in enumerate(chunks)]),
        "grid": grid,
        "label": np.array([c.label for c in clips]),
    }
    for name in MODELS:
        network = pretrained_musicnn(name)
        with torch.no_grad():
            outputs = [network(c) for c in chunks]
        for layer in LAYERS:
            found[f"{name}/{layer}"] = torch.cat([getattr(o, layer) for o in outputs]).numpy()
    return found


def track_accuracy(
    feats: np.ndarray,
    data: dict[str, np.ndarray],
    train: Sequence[int] | np.ndarray,
    scored: Sequence[int] | np.ndarray,
    recipe: dict[str, float],
    seed: int = 0,
) -> float:
    """Train the recipe's head on ``train`` tracks' chunks; track accuracy on ``scored``.

    Training takes the non-overlapping chunks, or every chunk if ``recipe["overlap"]``;
    scoring takes the non-overlapping ones.
    """
    track, label, grid = data["track"], data["label"], data["grid"]
    torch.manual_seed(seed)
    fit = np.isin(track, train) & (grid | bool(recipe["overlap"]))
    x, y = torch.from_numpy(feats[fit]).float(), torch.from_numpy(label[track[fit]])
    head = classifier_head(x.shape[1], int(label.max()) + 1, recipe["dropout"])
    opt = torch.optim.AdamW(head.parameters(), lr=recipe["lr"], weight_decay=recipe["wd"])
    head.train()
    for _ in range(int(recipe["ep"])):
        for batch in torch.randperm(len(x)).split(int(recipe["batch"])):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(x[batch]), y[batch]).backward()
            opt.step()
    head.eval()
    right = 0
    with torch.no_grad():
        for t in scored:
            logits = head(torch.from_numpy(feats[(track == t) & grid]).float())
            right += int(logits.mean(0).argmax()) == int(label[t])
    return right / len(scored)


def track_statistics(
    feats: np.ndarray, data: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each track as one row: the mean and standard deviation of its non-overlapping chunks.

    Returns the rows and a ``data`` that makes each row a track's only chunk, so
    :func:`track_accuracy` trains and scores on them. The mean alone would add nothing: the head
    is affine, so averaging its chunk logits (the recipe) already scores the mean feature.
    """
    track, label, grid = data["track"], data["label"], data["grid"]
    rows = np.stack(
        [
            np.concatenate([f.mean(0), f.std(0)])
            for f in (feats[(track == t) & grid] for t in range(len(label)))
        ]
    )
    one_each = np.arange(len(label))
    return rows, {"track": one_each, "grid": np.ones(len(label), bool), "label": label}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/gtzan-sample"))
    parser.add_argument("--features", type=Path, default=Path("outputs/probe_variants.npz"))
    parser.add_argument(
        "--whole-clip-mel",
        action="store_true",
        help="patches cut from the whole clip's mel (musicnn's extractor), not per 3 s chunk",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=40, help="learning-curve draws per size")
    parser.add_argument(
        "--seeds", type=int, default=3, help="head trainings (seeds) averaged per inner fold"
    )
    args = parser.parse_args()
    cfg = compose_config("train", ["experiment=musicnn_probe"])
    recipe = {
        "lr": cfg.optimizer.lr,
        "wd": cfg.optimizer.weight_decay,
        "ep": cfg.trainer.max_epochs,
        "batch": cfg.data.batch_size,
        "dropout": cfg.model.dropout,
        "overlap": 0.0,
    }
    if cfg.data.train_hop_seconds is not None:
        raise SystemExit("the script's recipe trains on non-overlapping chunks; see VARIANTS")
    # The saved features are reused only if they were extracted the way this run asks.
    made_from = f"{args.root.resolve()} whole_clip_mel={args.whole_clip_mel} half-hop"
    data = dict(np.load(args.features)) if args.features.exists() else {}
    if str(data.get("made_from")) != made_from:
        data = extract(args.root, cfg, args.whole_clip_mel)
        args.features.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.features, made_from=np.array(made_from), **data)  # type: ignore[arg-type]
    labels = data["label"].tolist()
    seeds = range(args.seeds)
    # Only each split's test part matters below: its train and val parts are used together.

    print(
        f"variants: mean (± standard error) over {args.folds}x{args.folds} inner folds (each "
        f"the mean of {args.seeds} head seeds), and the paired difference from the recipe's "
        "(first row's) score"
    )
    baseline: list[float] = []
    for name, (blocks, change) in VARIANTS.items():
        feats = np.concatenate([data[b] for b in blocks], axis=1)
        run = {
            **recipe,
            "lr": recipe["lr"] * change.get("lr", 1.0),
            "ep": change.get("ep", recipe["ep"]),
            "overlap": change.get("overlap", recipe["overlap"]),
        }
        found = data
        if change.get("stats"):
            # Full-batch steps: one row per track leaves a few dozen rows to fit.
            feats, found = track_statistics(feats, data)
            run.update(ep=TRACK_HEAD_STEPS, batch=len(feats))
        scores = []
        for fold in range(args.folds):
            outer = kfold_split(labels, fold, args.folds, cfg.data.split_seed, 0.2)
            rest = np.array(sorted(outer["train"] + outer["val"]))
            for inner in range(args.folds):
                part = kfold_split([labels[i] for i in rest], inner, args.folds, 7, 0.2)
                train = rest[part["train"] + part["val"]]
                scored = rest[part["test"]]
                runs = [track_accuracy(feats, found, train, scored, run, s) for s in seeds]
                scores.append(float(np.mean(runs)))
        baseline = baseline or scores
        diff = np.subtract(scores, baseline)
        print(
            f"  {name:38s} {np.mean(scores):.3f} ± {_sem(scores):.3f}   "
            f"difference {np.mean(diff):+.3f} ± {_sem(diff):.3f}",
            flush=True,
        )

    print(f"learning curve (the recipe): mean (± standard error) over {args.draws} draws")
    rng = np.random.default_rng(0)
    per_genre = int(np.bincount(labels).min())
    for n in range(2, per_genre):
        scores = []
        for draw in range(args.draws):
            picks = [rng.permutation(np.flatnonzero(data["label"] == c)) for c in set(labels)]
            chosen = sorted(int(i) for p in picks for i in p[:n])
            others = sorted(int(i) for p in picks for i in p[n:])
            scores.append(
                track_accuracy(data["MSD_musicnn/penultimate"], data, chosen, others, recipe, draw)
            )
        print(f"  {n} clips per genre: {np.mean(scores):.3f} ± {_sem(scores):.3f}", flush=True)


def _sem(values: Sequence[float] | np.ndarray) -> float:
    """Standard error of a mean."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


if __name__ == "__main__":
    main()
