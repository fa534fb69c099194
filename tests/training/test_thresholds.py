"""Reject and review limits fitted to error budgets on held-out probabilities."""

from __future__ import annotations

import numpy as np

from training import thresholds
from training.thresholds import Budget


def test_limits_keep_to_their_budgets() -> None:
    rng = np.random.default_rng(1)
    good = rng.beta(1, 8, 400)  # fault probabilities of good photos: mostly low
    bad = rng.beta(6, 2, 200)
    budget = Budget(good_rejected=0.01, bad_kept=0.05, good_reviewed=0.10)
    limits = thresholds.fit(good, bad, budget)
    assert 0 < limits["review_at"] <= limits["reject_at"] < 1
    assert np.mean(good >= limits["reject_at"]) <= 0.01
    assert np.mean(good >= limits["review_at"]) <= 0.01 + 0.10
    assert np.mean(bad < limits["review_at"]) <= 0.05


def test_the_review_band_stays_small_when_the_faults_overlap_the_good() -> None:
    good = np.linspace(0.0, 1.0, 101)  # good photos everywhere: nothing can be called
    bad = np.linspace(0.0, 1.0, 101)
    limits = thresholds.fit(good, bad, Budget(good_rejected=0.0, bad_kept=0.0, good_reviewed=0.05))
    assert np.mean(good >= limits["review_at"]) <= 0.05
    assert limits["reject_at"] > 1.0 - 1e-9 or np.mean(good >= limits["reject_at"]) == 0


def test_every_reason_gets_limits() -> None:
    samples = {reason: (np.array([0.1, 0.2, 0.3]), np.array([0.8, 0.9])) for reason in thresholds.REASONS}
    fitted = thresholds.fit_all(samples)
    assert set(fitted) == set(thresholds.REASONS)
