"""Judging results made by hand, as :func:`blurwatch.pipeline.judge` hands them on: no model, no photo."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from blurwatch.exposure import FEATURES, Exposure, ExposureModel
from blurwatch.pipeline import Models, PhotoResult
from blurwatch.sharpness import PHOTO_FEATURES, PatchNetwork, PatchSpec, Sharpness, SharpnessModel
from blurwatch.verdict import Limits, Thresholds, Verdict

LIMITS = Thresholds(0.3, 0.6, Limits(0.9, 0.6), Limits(0.9, 0.6))
DEFAULT_REASONS = {"reject": ("blurry", "dark"), "review": ("blurry",), "keep": ()}
EXPOSURE = Exposure(mean_ev=-2.75, clipped=0.0123, crushed=0.2468, shadows=2, highlights=180, median=40,
                    dark=0.95, overexposed=0.01)
GRID = np.array([[0.1, np.nan, 0.5], [0.9, 0.25, np.nan]], np.float32)


def photo_result(photo: Path = Path("IMG_0001.jpg"), decision: str = "reject", reasons: tuple[str, ...] | None = None,
                 *, rating: int | None | str = "auto", score: float | None = 0.1234, exposure: Exposure = EXPOSURE,
                 grid: np.ndarray = GRID, model_version: str = "test-model-1",
                 thresholds: Thresholds = LIMITS) -> PhotoResult:
    """A result for ``photo``: ``rating`` "auto" is what the default sidecar settings write (-1 for a reject)."""
    return PhotoResult(
        path=photo,
        verdict=Verdict(decision, DEFAULT_REASONS[decision] if reasons is None else reasons,  # type: ignore[arg-type]
                        0.5 if decision == "keep" else 0.0),
        rating=(-1 if decision == "reject" else None) if rating == "auto" else rating,  # type: ignore[arg-type]
        sharpness=Sharpness(score, grid, 4, log_odds=None if score is None else math.log(score / (1 - score))),
        exposure=exposure,
        decoded_from="jpeg",
        model_version=model_version,
        thresholds=thresholds,
    )


def limits_models(reject_below: float = 0.3, keep_from: float = 0.5) -> Models:
    """Models with known limits and neutral weights; no interpreter is ever created (their files need not exist)."""
    def neutral(features: tuple[str, ...], classes: int) -> dict[str, object]:
        n = len(features)
        return {"features": list(features), "mean": [0.0] * n, "scale": [1.0] * n,
                "coef": [[0.0] * n] * classes, "intercept": [0.0] * classes}

    sharpness = SharpnessModel(PatchNetwork(Path("unused.tflite"), PatchSpec()), {
        "version": "test-model", "head": neutral(PHOTO_FEATURES, 1),
        "thresholds": {"reject_below": reject_below, "keep_from": keep_from}})
    exposure = ExposureModel({"version": "test-exposure", "classes": ["ok", "dark", "overexposed"],
                              **neutral(FEATURES, 3),
                              "thresholds": {"dark": {"reject_at": 0.9, "review_at": 0.6},
                                             "overexposed": {"reject_at": 0.9, "review_at": 0.6}}})
    return Models(sharpness, exposure)
