"""data/plan.py: each part's windows and mel source are decided once, from the settings."""

from __future__ import annotations

import pytest

from genre_lightning.data.plan import Source, make_plan
from genre_lightning.errors import UserError


def _sources(**settings: object) -> dict[str, Source]:
    plan = make_plan(**settings)  # type: ignore[arg-type]
    return {part: p.source for part, p in plan.parts.items()}


def test_fixed_windows_get_a_features_table_everywhere() -> None:
    plan = make_plan("start", chunked=False, on_device=False, cache_features="auto")
    assert plan.tables == {"train", "val", "test"}
    assert all(p.fixed_windows and not p.carries_samples for p in plan.parts.values())
    assert plan.describe() == "computed once for test, train, val"


def test_random_training_windows_load_samples_and_evaluation_uses_the_centre() -> None:
    plan = make_plan("random", chunked=False, on_device=False, cache_features="auto")
    assert (plan["train"].crop, plan["train"].source) == ("random", Source.LOADER)
    assert plan["train"].carries_samples and not plan["train"].fixed_windows
    assert (plan["val"].crop, plan["val"].source) == ("centre", Source.TABLE)
    assert plan.describe() == "computed once for test, val, per batch for the rest"


def test_chunks_are_random_for_training_and_all_for_evaluation() -> None:
    plan = make_plan("start", chunked=True, on_device=True, cache_features="auto")
    assert [plan[p].chunks for p in ("train", "val", "test")] == ["random", "all", "all"]
    assert plan["train"].source is Source.DEVICE and plan.tables == {"val", "test"}


def test_without_tables_the_device_or_the_loader_serves() -> None:
    on_device = _sources(crop="start", chunked=False, on_device=True, cache_features=False)
    assert set(on_device.values()) == {Source.DEVICE}
    loaded = _sources(crop="centre", chunked=False, on_device=False, cache_features=False)
    assert set(loaded.values()) == {Source.LOADER}
    assert make_plan("start", False, False, False).describe() == "per batch"


def test_a_table_for_random_training_windows_is_refused() -> None:
    with pytest.raises(UserError, match=r"data\.cache_features=true"):
        make_plan("start", chunked=True, on_device=False, cache_features=True)
    assert make_plan("start", False, False, True).tables == {"train", "val", "test"}


def test_only_the_training_part_overlaps_and_only_with_fixed_chunks() -> None:
    plan = make_plan("start", True, False, "auto", train_chunks="all", train_hop=5)
    assert [plan[p].hop for p in ("train", "val", "test")] == [5, None, None]
    assert plan.tables == {"train", "val", "test"}  # overlapping chunks are still fixed windows
    random = make_plan("start", True, False, "auto", train_chunks="random", train_hop=5)
    assert random["train"].hop is None  # random draws have no hop (config refuses the pair)
