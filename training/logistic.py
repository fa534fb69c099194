"""Fitting the small logistic models blurwatch ships, in the form blurwatch reads them back.

scikit-learn fits; blurwatch evaluates the result with numpy alone (standardise, one
matrix product, softmax), so the runtime needs no scikit-learn. :func:`fit` returns
exactly the fields :class:`blurwatch.logistic.Logistic` loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def fit(x: np.ndarray, y: np.ndarray, features: tuple[str, ...], classes: int, c: float, seed: int,
        weight: np.ndarray | None = None) -> dict[str, Any]:
    """A logistic regression of ``y`` (0..classes-1) on ``x`` (columns named ``features``), L2 strength 1/c."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    model.fit((x - mean) / scale, y, sample_weight=weight)
    if list(model.classes_) != list(range(classes)):
        raise ValueError(f"training data hold classes {list(model.classes_)}, expected 0..{classes - 1}")
    return {"features": list(features), "mean": mean.tolist(), "scale": scale.tolist(), "coef": model.coef_.tolist(),
            "intercept": model.intercept_.tolist()}
