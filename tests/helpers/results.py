"""Judging results made by hand, as :func:`blurwatch.pipeline.judge` hands them on: no model, no photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blurwatch.exposure import Exposure
from blurwatch.pipeline import PhotoResult
from blurwatch.sharpness import Sharpness
from blurwatch.verdict import Thresholds, Verdict

LIMITS = Thresholds(0.3, 0.6)
DEFAULT_REASONS = {"reject": ("blurry", "dark"), "review": ("blurry",), "keep": ()}
EXPOSURE = Exposure(mean_ev=-2.75, clipped=0.0123, crushed=0.2468, shadows=2, highlights=180, median=40)
GRID = np.array([[0.1, np.nan, 0.5], [0.9, 0.25, np.nan]], np.float32)


def photo_result(photo: Path = Path("IMG_0001.jpg"), decision: str = "reject", reasons: tuple[str, ...] | None = None,
                 *, rating: int | None | str = "auto", score: float = 0.1234, exposure: Exposure = EXPOSURE,
                 grid: np.ndarray = GRID, model_version: str = "test-model-1",
                 thresholds: Thresholds = LIMITS) -> PhotoResult:
    """A result for ``photo``: ``rating`` "auto" is what the default sidecar settings write (-1 for a reject)."""
    return PhotoResult(
        path=photo,
        verdict=Verdict(decision, DEFAULT_REASONS[decision] if reasons is None else reasons,  # type: ignore[arg-type]
                        0.5 if decision == "keep" else 0.0),
        rating=(-1 if decision == "reject" else None) if rating == "auto" else rating,  # type: ignore[arg-type]
        sharpness=Sharpness(score, grid, 4),
        exposure=exposure,
        decoded_from="jpeg",
        model_version=model_version,
        thresholds=thresholds,
    )
