"""Choosing each fault's reject and review limits from held-out probabilities.

Every fault blurwatch names (blurry, dark, overexposed) comes with a probability; a
photo is rejected for it from ``reject_at`` up, marked for review from ``review_at``
up. Both limits are set from measured error on photos the models never trained on
(out-of-fold probabilities), against a budget per fault:

- ``reject_at``: at most ``good_rejected`` of the good photos (sharp and shallow depth
  of field) reach it: a wrong reject is the error photographers forgive least.
- ``review_at``: at most ``bad_kept`` of the photos with that fault stay below it (kept
  without a word), unless that would send more than ``good_reviewed`` of the good photos
  to review: a review label on everything tells the photographer nothing.

So the review band holds what the model cannot call, not a fixed share. The figures
reported beside the limits are nested: each fold's limits are fitted on the other
folds only and applied to the held-out one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REASONS = ("blurry", "dark", "overexposed")


@dataclass(frozen=True)
class Budget:
    good_rejected: float
    bad_kept: float
    good_reviewed: float


# Blur and overexposure allow no good photo of the fitting folds above their reject
# limits. Dark allows two: dark scenes exposed as meant (a moonlit hill at -5 EV, a
# low-key tulip, a night alley) sit among the underexposed frames, and a limit above all
# but one of them caught half the dark photos, fewer than the mean luminance. Over ten
# other source splits, allowing two (of ~130 good photos per fit) rejects 0.8% more good
# photos for exposure and catches 22 points more of the dark ones (training/README.md).
BUDGETS = {
    "blurry": Budget(good_rejected=0.005, bad_kept=0.01, good_reviewed=0.05),
    "dark": Budget(good_rejected=0.02, bad_kept=0.03, good_reviewed=0.02),
    "overexposed": Budget(good_rejected=0.005, bad_kept=0.02, good_reviewed=0.015),
}


def _at_most_above(good: np.ndarray, share: float, bad: np.ndarray) -> float:
    """A limit with at most ``share`` of ``good`` at or above it, as low as that allows.

    Between the highest good value that must stay below and the next one up, the limit
    goes midway to the first faulty value there (the widest margin on both sides).
    """
    ordered = np.sort(good)[::-1]
    allowed = int(np.floor(share * len(ordered)))
    if allowed >= len(ordered):
        return 0.0
    keep = float(ordered[allowed])
    ceiling = float(ordered[allowed - 1]) if allowed > 0 else 1.0
    above = bad[(bad > keep) & (bad <= ceiling)]
    return (keep + (float(above.min()) if len(above) else ceiling)) / 2


def fit(good: np.ndarray, bad: np.ndarray, budget: Budget) -> dict[str, float]:
    """``reject_at`` and ``review_at`` for one fault from good and faulty photos' probabilities."""
    reject_at = _at_most_above(good, budget.good_rejected, bad)
    kept_bound = float(np.quantile(bad, budget.bad_kept, method="lower")) if len(bad) else reject_at
    review_bound = _at_most_above(good, budget.good_rejected + budget.good_reviewed, bad)
    review_at = min(reject_at, max(kept_bound, review_bound))
    return {"reject_at": _up(reject_at), "review_at": _up(review_at)}


def _up(limit: float) -> float:
    """Rounded up to 4 decimals, so that no value the limit was set above ends up on it."""
    return math.ceil(limit * 10_000) / 10_000


def fit_all(samples: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Limits for every reason from its (good photos', faulty photos') probabilities."""
    return {reason: fit(good, bad, BUDGETS[reason]) for reason, (good, bad) in samples.items()}
