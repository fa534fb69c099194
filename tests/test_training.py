"""Training smoke test: a few steps on a handful of photos, exported and run by blurwatch.

Needs TensorFlow (the ``[train]`` extra); skipped without it or without ../shared.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_shared
from training import dataset, thresholds


@requires_shared
@pytest.mark.shared
@pytest.mark.train
@pytest.mark.slow
def test_train_export_and_run(shared_data, tmp_path):
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[train]')")
    from training import train

    photos = [p for p in dataset.read_manifest(shared_data) if p.label in ("sharp", "blurry_natural")][::12]
    recipe = train.Recipe(epochs=1, variants=1, per_image=8)
    x, y = train.training_set(shared_data, photos, recipe, seed=1, limit=4)
    assert len(x) > 50 and 0 < y.mean() < 1
    metadata = {"version": "smoke", "thresholds": {"reject_below": 0.4, "keep_from": 0.6}}
    model = train.fit_and_export(x, y, recipe, tmp_path, seed=1, metadata=metadata)
    assert (tmp_path / "sharpness.tflite").stat().st_size < 1_000_000
    gray = dataset.working_gray(photos[0].path)
    result = model.score(gray)
    assert 0.0 <= result.score <= 1.0 and result.patches > 0


def test_thresholds_keep_the_review_band_ordered():
    rows = [{"label": "sharp", "sharpness": s, "fold": 0} for s in np.linspace(0.5, 1.0, 50)]
    rows += [{"label": "blurry_natural", "sharpness": s, "fold": 1} for s in np.linspace(0.0, 0.6, 50)]
    limits = thresholds.fit(rows)
    assert 0.0 < limits["reject_below"] <= limits["keep_from"] <= 1.0
    assert thresholds.rates(rows, limits)["sharp"]["rejected"] <= thresholds.MAX_SHARP_REJECTED


def test_folds_keep_scenes_together(shared_data):
    photos = dataset.read_manifest(shared_data)
    fold_of = dataset.folds(photos, 3, seed=4)
    by_group: dict[str, set[int]] = {}
    for photo, fold in zip(photos, fold_of, strict=True):
        by_group.setdefault(photo.group, set()).add(fold)
    assert all(len(f) == 1 for f in by_group.values())
    assert set(fold_of) == {0, 1, 2}
