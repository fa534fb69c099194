"""The small logistic models blurwatch ships beside its network, evaluated with numpy.

Exposure (ok / dark / overexposed) and the photo-level sharpness head are logistic
regressions over a handful of named figures. ``training/`` fits them with scikit-learn
and writes their parameters into the models' JSON files; here they are one
standardisation, one matrix product and a softmax, so the runtime needs nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Logistic:
    features: tuple[str, ...]  # the inputs' names, in the coefficients' order
    mean: np.ndarray  # per feature, subtracted before ...
    scale: np.ndarray  # ... dividing by this
    coef: np.ndarray  # (classes, features); one row for a two-class model
    intercept: np.ndarray  # (classes,)

    @classmethod
    def from_dict(cls, params: Mapping[str, Any], expected_features: Sequence[str]) -> Logistic:
        """Parameters as ``training.logistic.fit`` writes them; the inputs must be the ones we compute."""
        features = tuple(params["features"])
        unknown = set(features) - set(expected_features)
        if unknown:
            raise ValueError(f"model expects inputs this blurwatch does not compute: {', '.join(sorted(unknown))}")
        return cls(features, np.asarray(params["mean"], float), np.asarray(params["scale"], float),
                   np.atleast_2d(np.asarray(params["coef"], float)),
                   np.atleast_1d(np.asarray(params["intercept"], float)))

    def logits(self, values: Mapping[str, float]) -> np.ndarray:
        """Each class's logit for one photo's named figures (two classes: [0, log-odds of class 1])."""
        x = (np.array([values[name] for name in self.features]) - self.mean) / self.scale
        logits = self.coef @ x + self.intercept
        if len(logits) == 1:  # a two-class model keeps only the second class's row
            logits = np.array([0.0, logits[0]])
        return np.asarray(logits)

    def probabilities(self, values: Mapping[str, float]) -> np.ndarray:
        """Each class's probability for one photo's named figures (two classes: [P(0), P(1)])."""
        logits = self.logits(values)
        odds = np.exp(logits - logits.max())
        return np.asarray(odds / odds.sum())
