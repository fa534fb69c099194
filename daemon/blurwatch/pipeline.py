"""Judging: a decoded photo in, its :class:`PhotoResult` out, nothing written.

:func:`judge` is the one call that measures and decides. The per-photo job
(:func:`blurwatch.job.run_job`, which ``--once``, the daemon, ``score`` and the tests
run) calls it between decoding and writing the sidecars.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blurwatch import decoding, verdict
from blurwatch.config import Config
from blurwatch.exposure import Exposure, ExposureModel
from blurwatch.sharpness import Sharpness, SharpnessModel, default_model_dir, encode_map
from blurwatch.verdict import Thresholds, Verdict


@dataclass(frozen=True)
class Models:
    """The shipped models judging needs, loaded together from one folder."""

    sharpness: SharpnessModel
    exposure: ExposureModel

    @classmethod
    def load(cls, model_dir: Path | None = None, num_threads: int = 1) -> Models:
        """The models in ``model_dir`` (default: the ones inside the package)."""
        model_dir = model_dir or default_model_dir()
        return cls(SharpnessModel.load(model_dir, num_threads), ExposureModel.load(model_dir))

    @property
    def version(self) -> str:
        """Both models' versions: a photo judged by either other model is judged again."""
        return f"{self.sharpness.version}+{self.exposure.version}"

    def thresholds(self, config: Config) -> Thresholds:
        """The limits in effect: the models' calibrated ones under the config's overrides and sensitivity."""
        return verdict.thresholds(config, self.sharpness.thresholds, self.exposure.thresholds)


@dataclass(frozen=True)
class PhotoResult:
    path: Path
    verdict: Verdict
    rating: int | None  # the xmp:Rating to write, None = leave as it is
    sharpness: Sharpness
    exposure: Exposure
    decoded_from: str
    model_version: str
    thresholds: Thresholds

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form of one photo (``sidecar`` is added by the writer)."""
        return {
            "path": str(self.path),
            "verdict": self.verdict.decision,
            "reasons": list(self.verdict.reasons),
            "rating": self.rating,
            "scores": {
                "sharpness": None if self.sharpness.score is None else round(self.sharpness.score, 4),
                "patches": self.sharpness.patches,
                "dark": round(self.exposure.dark, 4),
                "overexposed": round(self.exposure.overexposed, 4),
                "exposure_ev": round(self.exposure.mean_ev, 3),
                "clipped": round(self.exposure.clipped, 4),
                "crushed": round(self.exposure.crushed, 4),
                "shadows": self.exposure.shadows,
                "highlights": self.exposure.highlights,
                "median": self.exposure.median,
            },
            "thresholds": {
                "sharpness": {"reject_below": round(self.thresholds.reject_below, 4),
                              "keep_from": round(self.thresholds.keep_from, 4)},
                "dark": {"reject_at": round(self.thresholds.dark.reject_at, 4),
                         "review_at": round(self.thresholds.dark.review_at, 4)},
                "overexposed": {"reject_at": round(self.thresholds.overexposed.reject_at, 4),
                                "review_at": round(self.thresholds.overexposed.review_at, 4)},
            },
            "sharpness_map": encode_map(self.sharpness.map),
            "decoded_from": self.decoded_from,
            "model_version": self.model_version,
        }


def judge(photo: decoding.DecodedPhoto, config: Config, models: Models,
          timings: dict[str, float] | None = None) -> PhotoResult:
    """Score an already decoded photo (evaluation reuses decodes across settings).

    ``timings``, when given, gets the seconds of each step added: ``exposure``,
    ``patches`` (cutting and choosing them) and ``network`` (the network, the head that
    turns its logits into the score, and the verdict): where a photo's time goes, for
    ``--json`` and the benchmarks.
    """
    laps = _Laps(timings)
    measured = models.exposure.judge(photo.gray)
    laps.lap("exposure")
    patches = models.sharpness.patches(photo.gray)
    laps.lap("patches")
    sharp = models.sharpness.score_patches(patches)
    limits = models.thresholds(config)
    decided = verdict.decide(sharp, measured, limits)
    laps.lap("network")
    return PhotoResult(
        path=photo.path,
        verdict=decided,
        rating=verdict.rating(decided, config.sidecar),
        sharpness=sharp,
        exposure=measured,
        decoded_from=photo.decoded_from,
        model_version=models.version,
        thresholds=limits,
    )


class _Laps:
    """Adds the seconds since the last lap to ``timings[step]``; does nothing without ``timings``."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self._timings = timings
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        if self._timings is not None:
            now = time.perf_counter()
            self._timings[step] = self._timings.get(step, 0.0) + now - self._last
            self._last = now
