"""Verdict: scores in, keep / review / reject with reasons and the rating to write out.

One ``sensitivity`` knob moves every threshold together: the sharpness thresholds move
in logit space (so they stay inside 0..1) and the exposure thresholds in EV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from blurwatch import exposure as exposure_mod
from blurwatch.config import Config, SidecarConfig
from blurwatch.exposure import Exposure

Decision = Literal["keep", "review", "reject"]
REASONS = ("blurry", "dark", "overexposed")

# How far sensitivity +-1 moves the thresholds.
LOGIT_PER_SENSITIVITY = 1.5
EV_PER_SENSITIVITY = 0.7


@dataclass(frozen=True)
class Thresholds:
    """Sharpness score limits: below ``reject_below`` reject, below ``keep_from`` review."""

    reject_below: float
    keep_from: float

    def shifted(self, sensitivity: float) -> Thresholds:
        if sensitivity == 0:
            return self
        shift = sensitivity * LOGIT_PER_SENSITIVITY
        return Thresholds(_shift(self.reject_below, shift), _shift(self.keep_from, shift))


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...]  # for "review": what makes the photo doubtful
    quality: float  # 0..1, how far above the keep threshold (for by_quality stars)


def thresholds(config: Config, model_defaults: Thresholds) -> Thresholds:
    """The effective sharpness thresholds: config overrides, then sensitivity."""
    base = Thresholds(
        config.sharpness.reject_below if config.sharpness.reject_below is not None else model_defaults.reject_below,
        config.sharpness.keep_from if config.sharpness.keep_from is not None else model_defaults.keep_from,
    )
    return base.shifted(config.sensitivity)


def decide(sharpness: float, exposure: Exposure, config: Config, limits: Thresholds) -> Verdict:
    """Reject on any firm reason; review when sharpness is in the doubtful band; else keep."""
    reasons = list(exposure_mod.flags(exposure, config.exposure, config.sensitivity * EV_PER_SENSITIVITY))
    if sharpness < limits.reject_below:
        reasons.insert(0, "blurry")
    if reasons:
        return Verdict("reject", tuple(reasons), 0.0)
    if sharpness < limits.keep_from:
        return Verdict("review", ("blurry",), 0.0)
    quality = (sharpness - limits.keep_from) / max(1e-6, 1.0 - limits.keep_from)
    return Verdict("keep", (), min(1.0, max(0.0, quality)))


def rating(verdict: Verdict, config: SidecarConfig) -> int | None:
    """The xmp:Rating blurwatch writes, or None to leave the rating as it is.

    -1 is the XMP "rejected" value, which darktable shows as rejected.
    """
    if verdict.decision == "reject":
        return -1
    if verdict.decision == "review":
        return None if config.review_rating == "unchanged" else int(config.review_rating)
    if config.keeper_rating == "unchanged":
        return None
    if config.keeper_rating == "by_quality":
        return 1 + round(4 * verdict.quality)
    return int(config.keeper_rating)


def _shift(p: float, logit_shift: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return 1.0 / (1.0 + math.exp(-(math.log(p / (1 - p)) + logit_shift)))
