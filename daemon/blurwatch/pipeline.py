"""Judging: a decoded photo in, its :class:`PhotoResult` out, nothing written.

:func:`judge` is the one call that measures and decides. The per-photo job
(:func:`blurwatch.job.run_job`, which ``--once``, the daemon, ``score`` and the tests
run) calls it between decoding and writing the sidecars.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blurwatch import decoding, exposure, verdict
from blurwatch.config import Config
from blurwatch.exposure import Exposure
from blurwatch.sharpness import Sharpness, SharpnessModel, encode_map
from blurwatch.verdict import Thresholds, Verdict


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
                "sharpness": round(self.sharpness.score, 4),
                "patches": self.sharpness.patches,
                "exposure_ev": round(self.exposure.mean_ev, 3),
                "clipped": round(self.exposure.clipped, 4),
                "crushed": round(self.exposure.crushed, 4),
                "shadows": self.exposure.shadows,
                "highlights": self.exposure.highlights,
                "median": self.exposure.median,
            },
            "thresholds": {"reject_below": round(self.thresholds.reject_below, 4),
                           "keep_from": round(self.thresholds.keep_from, 4)},
            "sharpness_map": encode_map(self.sharpness.map),
            "decoded_from": self.decoded_from,
            "model_version": self.model_version,
        }


def judge(photo: decoding.DecodedPhoto, config: Config, model: SharpnessModel) -> PhotoResult:
    """Score an already decoded photo (evaluation reuses decodes across settings)."""
    measured = exposure.measure(photo.gray)
    sharp = model.score(photo.gray)
    limits = verdict.thresholds(config, verdict.Thresholds(**model.thresholds))
    decided = verdict.decide(sharp.score, measured, config, limits)
    return PhotoResult(
        path=photo.path,
        verdict=decided,
        rating=verdict.rating(decided, config.sidecar),
        sharpness=sharp,
        exposure=measured,
        decoded_from=photo.decoded_from,
        model_version=model.version,
        thresholds=limits,
    )
