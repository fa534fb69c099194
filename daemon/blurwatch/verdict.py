"""Verdict: scores in, keep / review / reject with reasons and the rating to write out.

Each fault has two limits fitted on held-out photos (``training/thresholds.py``): from
``reject`` on the photo is rejected for it, from ``review`` on it is marked for
review, because there the models cannot call it. Sharpness is a score (1 = sharp), so
its limits are ``reject_below`` and ``keep_from``; dark and overexposed are the
exposure model's probabilities, with ``reject_at`` and ``review_at``.

One ``sensitivity`` knob moves every limit together, in logit space (so they stay
inside 0..1): +1 is strict (more rejects), -1 lenient. The model card measures what
it does to the rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from blurwatch.config import Config, SidecarConfig
from blurwatch.exposure import Exposure
from blurwatch.sharpness import NO_DETAIL, TOO_SMALL, Sharpness

Decision = Literal["keep", "review", "reject"]
# Faults first, then the notes that stand for "no sharpness score".
REASONS = ("blurry", "dark", "overexposed", TOO_SMALL, NO_DETAIL)

# How far sensitivity +-1 moves every limit, in logits. Measured on held-out photos
# (training/README.md): -1 rejects 1.8% of good photos and catches 63% of bad ones, 0
# 3.5% and 83%, +1 9.4% and 90%.
LOGIT_PER_SENSITIVITY = 1.0


@dataclass(frozen=True)
class Limits:
    """Limits on a fault's probability: reject from ``reject_at``, review from ``review_at``."""

    reject_at: float
    review_at: float

    def shifted(self, logits: float) -> Limits:
        """Stricter (lower limits) for positive ``logits``."""
        return Limits(_shift(self.reject_at, -logits), _shift(self.review_at, -logits))


@dataclass(frozen=True)
class Thresholds:
    """Sharpness score limits (below ``reject_below`` reject, below ``keep_from`` review) and exposure limits."""

    reject_below: float
    keep_from: float
    dark: Limits
    overexposed: Limits

    def shifted(self, sensitivity: float) -> Thresholds:
        if sensitivity == 0:
            return self
        logits = sensitivity * LOGIT_PER_SENSITIVITY
        return Thresholds(_shift(self.reject_below, logits), _shift(self.keep_from, logits),
                          self.dark.shifted(logits), self.overexposed.shifted(logits))


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...]  # for "review": what makes the photo doubtful
    quality: float  # 0..1, how far above the keep threshold (for by_quality stars)


def thresholds(config: Config, sharpness: dict[str, float], exposure: dict[str, dict[str, float]]) -> Thresholds:
    """The effective limits: the models' calibrated ones, config overrides, then sensitivity."""
    def chosen(own: float | None, model: float) -> float:
        return model if own is None else own

    ours = config.exposure
    base = Thresholds(
        chosen(config.sharpness.reject_below, sharpness["reject_below"]),
        chosen(config.sharpness.keep_from, sharpness["keep_from"]),
        Limits(chosen(ours.dark_reject_at, exposure["dark"]["reject_at"]),
               chosen(ours.dark_review_at, exposure["dark"]["review_at"])),
        Limits(chosen(ours.overexposed_reject_at, exposure["overexposed"]["reject_at"]),
               chosen(ours.overexposed_review_at, exposure["overexposed"]["review_at"])),
    )
    return base.shifted(config.sensitivity)


def decide(sharpness: Sharpness, exposure: Exposure, limits: Thresholds) -> Verdict:
    """Reject on any firm reason; review on any doubtful one; else keep.

    A photo without a sharpness score (too small, or nothing textured in it) is never
    rejected as blurry: its note is the doubt.
    """
    firm, doubtful = [], []
    if sharpness.score is None:
        doubtful.append(str(sharpness.note))
    elif sharpness.score < limits.reject_below:
        firm.append("blurry")
    elif sharpness.score < limits.keep_from:
        doubtful.append("blurry")
    for reason, probability, limit in (("dark", exposure.dark, limits.dark),
                                       ("overexposed", exposure.overexposed, limits.overexposed)):
        if probability >= limit.reject_at:
            firm.append(reason)
        elif probability >= limit.review_at:
            doubtful.append(reason)
    if firm:
        return Verdict("reject", tuple(firm), 0.0)
    if doubtful or sharpness.score is None:
        return Verdict("review", tuple(doubtful), 0.0)
    quality = (sharpness.score - limits.keep_from) / max(1e-6, 1.0 - limits.keep_from)
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

