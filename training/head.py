"""The sharpness head: photo figures in, the probability that the photo is sharp out.

A logistic regression over :data:`blurwatch.sharpness.PHOTO_FEATURES`, fitted on
held-out rows (:mod:`training.held_out`): real good photos and untouched camera photos
are sharp; real blurry photos and blurred copies of good ones are not. Real dark and
overexposed photos are left out: whether they are also blurry is not labelled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blurwatch.logistic import Logistic
from blurwatch.sharpness import PHOTO_FEATURES
from training import logistic
from training.data import BLURRY_LABELS, GOOD_LABELS, LabelledPhoto
from training.held_out import Row

L2_C = 1.0  # inverse L2 strength, chosen among 0.1 / 1 / 10 by source-folded CV


def target(row: Row, photos: list[LabelledPhoto]) -> int | None:
    """1 = sharp, 0 = blurry, None = not a sharpness example (or nothing to judge by)."""
    if row.figures is None:
        return None
    if row.blurred:
        return 0
    label = photos[row.photo].label
    return 1 if label in GOOD_LABELS else 0 if label in BLURRY_LABELS else None


def fit(rows: list[Row], photos: list[LabelledPhoto], seed: int) -> dict[str, Any]:
    """The head's parameters from every usable row in ``rows``."""
    usable = [(row, t) for row in rows if (t := target(row, photos)) is not None]
    x = np.array([[row.figures[name] for name in PHOTO_FEATURES] for row, _ in usable if row.figures])
    y = np.array([t for _, t in usable])
    return logistic.fit(x, y, PHOTO_FEATURES, 2, L2_C, seed)


def out_of_fold(rows: list[Row], photos: list[LabelledPhoto], fold_of: list[int], seed: int) -> list[float | None]:
    """P(sharp) of every row, from a head fitted on the other folds' rows (None without figures)."""
    scores: list[float | None] = [None] * len(rows)
    for fold in sorted(set(fold_of)):
        head = Logistic.from_dict(fit([r for r in rows if fold_of[r.photo] != fold], photos, seed), PHOTO_FEATURES)
        for i, row in enumerate(rows):
            if fold_of[row.photo] == fold and row.figures is not None:
                scores[i] = float(head.probabilities(row.figures)[1])
    return scores
