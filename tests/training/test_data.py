"""The labelled photos and their folds by source."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import requires_shared
from training import data
from training.data import LabelledPhoto


def _photo(source: str, label: str, i: int) -> LabelledPhoto:
    return LabelledPhoto(Path(f"{source}/{i}.jpg"), label, source, f"{source}{i}", (800, 600))


def test_a_source_never_spans_two_folds() -> None:
    photos = [_photo(f"repo{s}", label, i) for s in range(9) for i, label in
              enumerate(["sharp"] * (s + 2) + ["blurry_natural"] * (s % 3) + ["dark"] * (s % 2))]
    fold_of = data.source_folds(photos, 3, seed=4)
    by_source: dict[str, set[int]] = {}
    for photo, fold in zip(photos, fold_of, strict=True):
        by_source.setdefault(photo.source, set()).add(fold)
    assert all(len(folds) == 1 for folds in by_source.values())
    assert set(fold_of) == {0, 1, 2}


def test_folds_spread_each_label() -> None:
    photos = [_photo(f"repo{s}", "sharp" if s % 2 else "dark", i) for s in range(8) for i in range(5)]
    fold_of = data.source_folds(photos, 2, seed=1)
    for label in ("sharp", "dark"):
        assert {f for p, f in zip(photos, fold_of, strict=True) if p.label == label} == {0, 1}


@requires_shared
@pytest.mark.shared
def test_both_manifests_are_read(shared_data: Path) -> None:
    photos = data.read_labelled(shared_data)
    assert {"photos", "more"} <= {p.path.parent.parent.name for p in photos}
    assert all(p.path.is_file() for p in photos)
    assert {p.label for p in photos} >= set(data.GOOD_LABELS) | {"dark", "overexposed", "blurry_natural"}
