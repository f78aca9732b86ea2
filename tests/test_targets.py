"""targets.py: the class a ``_target_`` names, or one line saying why there is none."""

from __future__ import annotations

import logging

import pytest

from genre_lightning.models.resnet import ResNet
from genre_lightning.targets import TargetError, locate_class


def test_a_class_is_found() -> None:
    assert locate_class("genre_lightning.models.resnet.ResNet") is ResNet


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("nowhere.Net", "ModuleNotFoundError: No module named 'nowhere'"),
        ("genre_lightning.models.Nope", "AttributeError: module 'genre_lightning.models' has no"),
        ("builtins.len", "it is a builtin_function_or_method, not a class"),
        ("Net", "ValueError: Empty module name"),
    ],
)
def test_what_names_no_class_says_why_and_logs_nothing(
    target: object, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(TargetError) as raised:
        locate_class(target)
    assert reason in str(raised.value) and "\n" not in str(raised.value)
    assert not caplog.records  # hydra's get_class logs an ERROR line of its own
