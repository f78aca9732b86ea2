"""train_checks.py, train_rules.py and the data package's checks: every bad value of a training
command is one error: line and exit 2.

Each case is a real training command on the tiny demo (run by the session's CLI worker, whose
imports are paid once); none gets as far as decoding audio.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_lightning.errors import UserError
from genre_lightning.hydra_conf import compose_config
from genre_lightning.train_checks import TRAIN_CHECKS, check_training
from genre_lightning.validate import check_section

from .conftest import one_error_line, run_cli, run_counting_torch, run_tiny

#: (override, what the one error line must say).
BAD_VALUES = [
    ("optimizer.lr=abc", "optimizer.lr=abc is not a number; e.g. optimizer.lr=5e-4"),
    ("optimizer.lr=0", "optimizer.lr=0 must be above 0, or null"),
    ("seed=abc", "seed=abc is not a number; e.g. seed=42"),
    ("seed=-1", "seed=-1 must be at least 0"),
    (
        "trainer.max_epochs=0",
        "trainer.max_epochs=0 must be at least 1; e.g. trainer.max_epochs=100",
    ),
    ("module.normalize=foo", "module.normalize=foo is not known; use module.normalize=element|mel"),
    ("module.mixup_alpha=-0.5", "module.mixup_alpha=-0.5 must be at least 0"),
    ("module.embedding_cache_dir=5", "module.embedding_cache_dir=5 must be a text or null"),
    ("module.embedding_cache_keep=0", "module.embedding_cache_keep=0 must be at least 1, or null"),
    ("data.batch_size=0", "data.batch_size=0 must be at least 1; e.g. data.batch_size=32"),
    ("data.batch_size=-4", "data.batch_size=-4 must be at least 1"),
    ("data.clip_samples=0", "data.clip_samples=0 must be at least 1"),
    ("data.chunk_seconds=0", "data.chunk_seconds=0 must be above 0, or null"),
    ("data.sample_rate=0", "data.sample_rate=0 must be at least 1"),
    ("data.features.n_mels=0", "data.features.n_mels=0 must be at least 1"),
    (
        "data.split=foo",
        "data.split=foo is not known; use data.split=random|filtered|kfold|all|test (test: "
        "evaluate only)",
    ),
    (
        "data.split=test",
        "data.split=test puts every track in the test part, to test a trained checkpoint on "
        "(genre_lightning.evaluate); training needs data.split=random, kfold, filtered or all",
    ),
    ("data.split=kfold data.fold=12", "data.fold=12 must be in [0, 9] with data.num_folds=10"),
    ("data.split=kfold data.val_fraction=1.5", "data.val_fraction=1.5 must be in (0, 1)"),
    ("optimizer.lr=-1", "optimizer.lr=-1 must be above 0"),
    ("data.train_on_val=maybe", "data.train_on_val=maybe must be true or false"),
    (
        "callbacks=early_stopping callbacks.early_stopping.patience=-1",
        "callbacks.early_stopping.patience=-1 must be at least 0; e.g. "
        "callbacks.early_stopping.patience=15",
    ),
    (
        "model._target_=nowhere.Net",
        "model._target_=nowhere.Net: cannot import it (ModuleNotFoundError: No module ",
    ),
    (
        "model=musicnn model.layer=[pooled,pooled]",
        "model.layer=[pooled,pooled]: use one of penultimate, pooled, tags, or a list of",
    ),
    (
        "data.train_on_val=true",
        "callbacks.model_checkpoint.monitor=val/acc needs validation, and "
        "data.train_on_val=true trains on the validation tracks instead; add "
        "callbacks.model_checkpoint.monitor=null",
    ),
    (
        "data.train_on_val=true callbacks.model_checkpoint.monitor=null "
        "+callbacks.stop2._target_=pytorch_lightning.callbacks.EarlyStopping "
        "+callbacks.stop2.monitor=val/acc",
        "callbacks.stop2.monitor=val/acc needs validation, and data.train_on_val=true trains "
        "on the validation tracks instead; add callbacks.stop2.monitor=null",
    ),
    (
        "data.train_on_val=true callbacks.model_checkpoint.monitor=null "
        "callbacks.last_checkpoint.monitor=val/loss",
        "callbacks.last_checkpoint.monitor=val/loss needs validation",
    ),
    (
        "module.spec_augment={time_width:45}",
        "module.spec_augment.time_width=45 can mask all 45 frames of an input, leaving nothing "
        "to learn from; use a fraction of them, e.g. module.spec_augment.time_width=9",
    ),
    (
        "data.train_chunks=all",
        "data.train_chunks=all trains on every chunk of each track, but data.chunk_seconds=null "
        "cuts none: add data.chunk_seconds=3.0",
    ),
    ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps=0 must be at least 1, or null"),
    (
        "module.cache_embeddings=true",
        "module.cache_embeddings=true needs a frozen pretrained network (model=musicnn "
        "model.freeze=true), got model._target_=genre_lightning.models.resnet.ResNet",
    ),
    (
        "data.split=all",
        "callbacks.model_checkpoint.monitor=val/acc needs validation, and data.split=all trains "
        "on every track, validating none; add callbacks.model_checkpoint.monitor=null (the last "
        "epoch is kept), or measure the recipe first with data.split=kfold",
    ),
    (
        "data.split=all callbacks.model_checkpoint.monitor=null callbacks=early_stopping",
        "callbacks.early_stopping.monitor=val/acc needs validation, and data.split=all",
    ),
    (
        "data.split=all callbacks.model_checkpoint.monitor=null data.fold=2",
        "data.fold=2 has no effect: ",
    ),
    # The mask value 0 is the mean only of normalised features: of a raw dB mel, a loud band.
    (
        "module.normalize=none data.features.log=true module.spec_augment={time_masks:1}",
        "module.spec_augment masks with 0, the mean of normalised features, but with "
        "module.normalize=none and data.features.log=true 0 is 0 dB",
    ),
    # Never logged without chunks: Lightning stopped after the first epoch (a traceback).
    (
        "callbacks.model_checkpoint.monitor=val/chunk_acc",
        "callbacks.model_checkpoint.monitor=val/chunk_acc is logged only where tracks are cut "
        "into chunks (data.chunk_seconds), which this run does not",
    ),
    # One chunk per track: chunk accuracy is track accuracy, and is not logged either.
    (
        "callbacks.model_checkpoint.monitor=val/chunk_acc data.chunk_seconds=1.5",
        "callbacks.model_checkpoint.monitor=val/chunk_acc is logged only where a track holds "
        "several chunks, but data.chunk_seconds=1.5 cuts one from each 2 s clip; monitor "
        "val/acc, or set data.chunk_seconds=0.2",
    ),
    (
        "callbacks.model_checkpoint.monitor=val/nosuch",
        "callbacks.model_checkpoint.monitor=val/nosuch is not a logged metric; use one of "
        "train/loss",
    ),
    ("model=musicnn model.layer=null", "model.layer=null: use one of penultimate"),
    ("model=musicnn model.layer=5", "model.layer=5: use one of penultimate"),
    ("model=musicnn model.layer=[[pooled]]", "model.layer=[[pooled]]: use one of penultimate"),
    (
        "+model.layer=pooled",
        "model.layer: ResNet (genre_lightning.models.resnet.ResNet) takes no such setting",
    ),
    (
        "model=musicnn",
        "data.features.n_mels=64: MusicnnClassifier reads only what its recipe gives it "
        "(data.features.n_mels=96); use experiment=musicnn_probe, which sets it",
    ),
    ("model=alexnet model.adaptive=maybe", "model.adaptive=maybe must be true or false"),
    (
        "model=mfcc_linear model.n_mfcc=abc",
        "model.n_mfcc=abc is not a number; e.g. model.n_mfcc=20",
    ),
    ("model=alexnet model.dropout=2", "model.dropout=2 must be at most 1 (a probability)"),
    (
        "model=mfcc_linear data.features.log=true module.normalize=none model.n_mfcc=65",
        "model.n_mfcc=65 exceeds data.features.n_mels=64: the cepstrum of 64 mel bands has 64",
    ),
    ("data.sha256=abc", "data.sha256=abc is not a SHA-256 digest (64 hex digits) or null"),
    ("trainer.max_epochs=2.0", "trainer.max_epochs=2.0 is not a whole number"),
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0 must be at least 1"),
    ("trainer.precision=abc", "trainer.precision=abc: Precision 'abc' is invalid"),
    ("trainer.devices=abc", "trainer.devices=abc: `devices` selected with"),
    # Lightning's own message ("not a valid input using cpu accelerator") gave no value to use.
    (
        "trainer.devices=0",
        "trainer.devices=0 must be at least 1, or -1 for every device; e.g. trainer.devices=1",
    ),
    ("trainer.devices=[0,-1]", "trainer.devices=[0,-1] is neither a number of devices nor a"),
    # Lightning's message names a package (torch_xla), not the key: the key is found by trying.
    ("trainer.accelerator=tpu", "trainer.accelerator=tpu: Requirement 'torch_xla"),
    ('data.batch_size="32"', 'data.batch_size="32" is not a number; e.g. data.batch_size=32'),
    ("module.spec_augment=abc", "module.spec_augment=abc is not SpecAugment's settings"),
    ("module.spec_augment={foo:1}", "module.spec_augment.foo: SpecAugment takes no such"),
    (
        "module.spec_augment={time_masks:abc}",  # a traceback inside the first training step
        "module.spec_augment.time_masks=abc is not a number",
    ),
    # The values beside the class's own words, which name none.
    (
        "optimizer.betas=[0.9]",
        "optimizer (torch.optim.Adam, lr=0.0005, betas=[0.9], weight_decay=0.0): list index out",
    ),
    (
        "scheduler=cosine scheduler.scheduler.T_max=0",  # a traceback after the first epoch
        "scheduler (torch.optim.lr_scheduler.CosineAnnealingLR, T_max=0, eta_min=1e-06): integer "
        "modulo by zero",
    ),
    ("scheduler=cosine scheduler.interval=month", "scheduler.interval=month is not known"),
    (
        "scheduler=onecycle scheduler.scheduler.pct_start=2",
        "Expected float between 0 and 1 pct_start, but got 2",
    ),
    ("data.chunk_seconds=0.01", "data.chunk_seconds=0.01 is shorter than one FFT window"),
    ("data.fold=3", "data.fold=3 has no effect: this run is split data.split=random, and only"),
    ("data.chunk_seconds=3", "data.chunk_seconds=3 exceeds the clips' length (2 s"),
    ("data.features.num_frames=1000", "data.features.num_frames=1000 exceeds the"),
    ("data.features.hop_length=100000", "data.features.hop_length=100000 exceeds the window"),
    (
        "data.train_on_val=true callbacks=early_stopping callbacks.model_checkpoint.monitor=null",
        "callbacks.early_stopping.monitor=val/acc needs validation, and "
        "data.train_on_val=true trains on the validation tracks instead; add "
        "callbacks.early_stopping=null",
    ),
    # An interpolation naming no key or resolver (Hydra's traceback, in the job or before).
    (
        "optimizer.lr=${nonexistent}",
        "optimizer.lr=${nonexistent}: interpolation key 'nonexistent' not found; a ${...} names "
        "a key of the config (--cfg job lists them)",
    ),
    ("hydra.job.name=${nope}", "hydra.job.name=${nope}: interpolation key 'nope' not found"),
    ("data.root=${oops:1}", "data.root=${oops:1}: unsupported interpolation type oops"),
    # A group removed, or an optimizer that does not import (Hydra's tracebacks).
    ("~model", "model: none is configured (removed with ~model?); training needs one, e.g. "),
    ("~optimizer", "optimizer: none is configured (removed with ~optimizer?)"),
    # Files the job would refuse after Hydra made the run folder.
    ("ckpt_path=/nonexistent/x.ckpt", "ckpt_path=/nonexistent/x.ckpt: no checkpoint at"),
    ("ckpt_path=/dev/null", "ckpt_path=/dev/null: is neither a regular file nor a folder; resume"),
    ("data.cache_dir=/proc/version/x", "data.cache_dir=/proc/version/x: /proc/version is a file"),
    ("optimizer._target_=torch.optim.Foo", "optimizer._target_=torch.optim.Foo: cannot build it"),
]


def test_a_group_removed_beside_an_experiment_that_sets_some_of_its_keys_is_refused() -> None:
    # experiment=demo sets trainer.max_epochs: ~trainer left that key alone (a traceback).
    cfg = compose_config("train", ["experiment=demo", "~trainer"])
    with pytest.raises(UserError) as caught:
        check_training(cfg)
    assert str(caught.value) == (
        "trainer: none is configured (removed with ~trainer?); only max_epochs of it is set; "
        "training needs one, e.g. trainer=default (--help lists them)"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # The mel bands the first message asks for, but not the rest of musicnn's front end.
        (
            ["model=musicnn", "data.features.n_mels=96"],
            "data.features.resample_to=null: MusicnnClassifier reads only what its recipe "
            "gives it (data.features.resample_to=16000)",
        ),
        (
            ["experiment=musicnn_probe", "data.features.log=db"],
            "data.features.log=db: MusicnnClassifier reads only what its recipe gives it "
            "(data.features.log=musicnn)",
        ),
        # 187 frames are 3 s: the rest of a longer chunk would be cut off.
        (
            ["experiment=musicnn_probe", "data.chunk_seconds=10"],
            "data.chunk_seconds=10: MusicnnClassifier reads only what its recipe gives it "
            "(data.chunk_seconds=3.0)",
        ),
        (
            ["experiment=musicnn_probe", "model.freeze=false"],
            "module.cache_embeddings=true with model.freeze=false: the network's features "
            "change as it trains",
        ),
        # Features computed once need a frozen encoder that sees the same input every epoch
        # (said after decoding before, and leaving a run folder).
        (
            ["experiment=musicnn_probe", "model=resnet"],
            "module.cache_embeddings=true needs a frozen pretrained network (model=musicnn "
            "model.freeze=true), got model._target_=genre_lightning.models.resnet.ResNet",
        ),
        (
            ["experiment=musicnn_probe", "module.mixup_alpha=0.2"],
            "module.cache_embeddings=true with module.spec_augment / module.mixup_alpha",
        ),
        (
            ["experiment=musicnn_probe", "data.train_chunks=random"],
            "module.cache_embeddings=true with data.crop=random or random training chunks",
        ),
        # A setting the experiment gives its own network: how to drop it is said.
        (
            ["experiment=improved_alexnet", "model=resnet"],
            "model.adaptive: ResNet (genre_lightning.models.resnet.ResNet) takes no such "
            "setting; remove it, or where an experiment sets it for its own network, drop it "
            "with ~model.adaptive",
        ),
        # The MFCCs of the normalised power mel: the under-fitted baseline's 0.40.
        (
            ["model=mfcc_linear"],
            "data.features.log=false: MfccLinear reads only what its recipe gives it "
            "(data.features.log=true); use experiment=mfcc_baseline, which sets it",
        ),
        (
            ["experiment=mfcc_baseline", "module.normalize=element"],
            "module.normalize=element: MfccLinear reads only what its recipe gives it",
        ),
        # None only rebuilds a trained checkpoint's network: a probe on random features.
        (
            ["experiment=musicnn_probe", "model.pretrained=null"],
            "model.pretrained=null: training starts from pretrained weights; use MSD_musicnn "
            "or MTT_musicnn",
        ),
    ],
)
def test_recipes_and_their_networks_train_only_on_what_they_were_made_for(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(UserError) as caught:
        check_training(compose_config("train", overrides))
    assert str(caught.value).startswith(message)
    for recipe in ("musicnn_probe", "musicnn_finetune", "mfcc_baseline"):  # as shipped, they pass
        check_training(compose_config("train", [f"experiment={recipe}"]))


def test_a_recipe_s_setting_typed_over_is_named_as_typed(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    # The message told the user to use the experiment the command already chose.
    given = ["experiment=musicnn_probe", "data=folder", f"data.root={gtzan_sample}"]
    proc = run_cli([*given, "data.features.n_mels=32"], tmp_path)
    assert proc.returncode == 2 and proc.stderr == (
        "error: data.features.n_mels=32: MusicnnClassifier reads only what its recipe gives it "
        "(data.features.n_mels=96); leave data.features.n_mels out of the command line "
        "(experiment=musicnn_probe sets it)\n"
    )


def test_every_bad_value_is_one_error_line(tmp_path: Path, data_dir: Path) -> None:
    for i, (override, expected) in enumerate(BAD_VALUES):
        done = run_tiny(tmp_path / f"run{i}", data_dir, *override.split())
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode == 2, (override, done.stderr[-2000:])
        assert len(errors) == 1 and expected in errors[0], (override, errors)
        assert "Traceback" not in done.stderr, override
    # Refused before Hydra started: no run left even a run folder (nothing decoded or trained),
    # Lightning's own refusals (a bare Trainer built silently before launch) included.
    left = {BAD_VALUES[int(p.name[3:])][0] for p in tmp_path.glob("run*")}
    assert not left, left


def test_numbers_flags_texts_and_names_are_refused_before_torch_is_imported(
    tmp_path: Path,
) -> None:
    # The common typos, said in about a second rather than after torch's and Lightning's
    # imports. module.spec_augment's settings (SpecAugment's signature) still wait for torch.
    for override, message in [
        ("data.split=kfolds", "data.split=kfolds is not known; use data.split=random|"),
        ("data.crop=middle", "data.crop=middle is not known; use data.crop=start|centre|"),
        ("seed=abc", "seed=abc is not a number"),
        ("optimizer.lr=abc", "optimizer.lr=abc is not a number"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0 must be at least 1"),
        ("data.batch_size=0", "data.batch_size=0 must be at least 1"),
        ("data.chunk_seconds=-1", "data.chunk_seconds=-1 must be above 0"),
        ("module.normalize=foo", "module.normalize=foo is not known; use module.normalize="),
        ("model=musicnn model.layer=poold", "model.layer=poold: use one of penultimate, pooled"),
        # Every job of a sweep is checked so first: the first job was checked in full before.
        ("seed=1,abc", "seed=abc is not a number"),
    ]:
        run = f"hydra.run.dir={tmp_path / 'run'}"
        sweep = ["-m", f"hydra.sweep.dir={tmp_path / 'run'}"] if "," in override else []
        status, torch_imported, done = run_counting_torch(
            "genre_lightning", *sweep, "experiment=demo", *override.split(), run
        )
        assert (status, torch_imported) == ("2", "False"), (override, done.stderr[-2000:])
        assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert not (tmp_path / "run").exists()


def test_good_values_pass_and_missing_keys_are_skipped() -> None:
    good = {
        "seed": 0,
        "trainer": {"max_epochs": 1},
        "optimizer": {"lr": 5e-4, "weight_decay": 0.0},
        "module": {"normalize": "mel", "mixup_alpha": 0.0, "cache_embeddings": False},
        "compile": False,
    }
    check_section(good, TRAIN_CHECKS)
    check_section({}, TRAIN_CHECKS)


@pytest.mark.parametrize("devices", [1, 4, -1, "auto", "2", "-1", "0,1", [0], [0, 2]])
def test_the_forms_of_trainer_devices_lightning_reads_pass(devices: object) -> None:
    # Counts, -1 and auto on any accelerator; index lists and texts select GPUs (on the CPU
    # Lightning refuses those itself, and check_trainer names the key).
    check_section({"trainer": {"devices": devices}}, TRAIN_CHECKS)


@pytest.mark.parametrize("devices", [0, -2, "0", [], [-1], [0.5], True, 1.5])
def test_trainer_devices_lightning_would_refuse_are_refused_with_one_to_use(
    devices: object,
) -> None:
    with pytest.raises(UserError, match=r"^trainer\.devices=.*; e\.g\. trainer\.devices=1"):
        check_section({"trainer": {"devices": devices}}, TRAIN_CHECKS)


def test_an_interpolation_known_only_in_the_job_fails_in_one_line(
    tmp_path: Path, data_dir: Path
) -> None:
    done = run_tiny(tmp_path / "run", data_dir, "data.root=${oc.env:GL_TEST_NO_SUCH_VARIABLE}")
    assert one_error_line(done) == (
        'error: data.root: KeyError raised while resolving interpolation: "Environment variable '
        "'GL_TEST_NO_SUCH_VARIABLE' not found\"; a ${...} names a key of the config (--cfg job "
        "lists them) or a resolver (oc.env, oc.select, ...), or give the value itself"
    )
