"""Training end to end in miniature: a few steps on a handful of photos, exported and run by blurwatch.

Needs TensorFlow (the ``[train]`` extra) and the team's photos; skipped without either.
Refitting the limits alone needs neither.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from blurwatch import exposure, sharpness
from blurwatch.logistic import Logistic
from blurwatch.sharpness import PHOTO_FEATURES
from conftest import requires_shared
from helpers.oof import made_table
from training import data, head, held_out, thresholds, train


@requires_shared
@pytest.mark.shared
@pytest.mark.train
@pytest.mark.slow
def test_a_network_trains_exports_and_scores_held_out_photos(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install -e '.[train]')")
    photos = [p for p in data.read_labelled(shared_data, ("photos",)) if p.label in ("sharp", "blurry_natural")]
    training, held = photos[::12], photos[5::40]
    recipe = dataclasses.replace(train.Recipe(), epochs=1, variants=1, per_image=8)
    x, y = train.network_examples(shared_data, training, recipe, seed=1, limit=4)
    assert len(x) > 50 and 0 < y.mean() < 1
    network = train.fit_network(x, y, recipe, tmp_path / "sharpness.tflite", seed=1)
    assert (tmp_path / "sharpness.tflite").stat().st_size < 200_000

    rows = held_out.held_out_rows(held, list(range(len(held))), network, seed=2)
    assert {r.kind for r in rows} >= {"real", "blurred"}
    assert all(set(r.figures) == set(PHOTO_FEATURES) for r in rows if r.figures is not None)
    fitted = Logistic.from_dict(head.fit(rows, held, seed=3), PHOTO_FEATURES)
    scored = [fitted.probabilities(r.figures)[1] for r in rows if r.figures is not None]
    assert all(0.0 <= p <= 1.0 for p in scored) and np.ptp(scored) > 0


def test_limits_only_rewrites_the_limits_report_and_names_and_nothing_else(tmp_path: Path) -> None:
    table = made_table()
    (tmp_path / "oof.json").write_text(json.dumps({"photos": table.photos, "rows": table.rows}), encoding="utf-8")
    models = tmp_path / "models"
    shutil.copytree(sharpness.default_model_dir(), models)
    paths = models / f"{sharpness.MODEL_NAME}.json", models / f"{exposure.MODEL_NAME}.json"
    before = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    refit = ["--limits-only", "--work", str(tmp_path), "--out", str(models)]

    assert train.main(refit) == 0

    after = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    fitted = thresholds.fit_all(table.fault_samples())
    assert after[0]["thresholds"] == {"reject_below": round(1 - fitted["blurry"]["reject_at"], 4),
                                      "keep_from": round(1 - fitted["blurry"]["review_at"], 4)}
    assert after[1]["thresholds"] == {"dark": fitted["dark"], "overexposed": fitted["overexposed"]}
    assert after[0]["cross_validation"]["blurwatch"]["n_good"] == 80
    def kept(meta: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in meta.items() if k not in ("version", "thresholds", "cross_validation")}

    for old, new in zip(before, after, strict=True):
        assert new["version"] != old["version"]  # other limits: another name, so photos are judged again
        assert kept(new) == kept(old)
    assert (models / f"{sharpness.MODEL_NAME}.tflite").read_bytes() == \
           (sharpness.default_model_dir() / f"{sharpness.MODEL_NAME}.tflite").read_bytes()

    written = [path.read_bytes() for path in paths]
    assert train.main(refit) == 0
    assert [path.read_bytes() for path in paths] == written  # nothing new: the same bytes, the same names


def test_limits_only_without_a_full_run_says_which_file_is_missing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--limits-only", "--work", str(tmp_path), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"{tmp_path / 'oof.json'}: no out-of-fold table" in capsys.readouterr().err
