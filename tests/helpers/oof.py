"""A made out-of-fold table, as ``training.train`` keeps it, for tests of what is computed from one."""

from __future__ import annotations

from typing import Any

import numpy as np

from training import evaluate

FIGURES = {"mean_ev": 0.0, "clipped": 0.0, "crushed": 0.0, "shadows": 5, "highlights": 240, "median": 110}


def made_table(seed: int = 0) -> evaluate.Table:
    """Two folds of well separated photos: good ones sharp and exposed as meant, bad ones not."""
    rng = np.random.default_rng(seed)
    photos: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for fold in (0, 1):
        for label, n in (("sharp", 30), ("bokeh_sharp", 10), ("blurry_natural", 15), ("dark", 10)):
            for _ in range(n):
                dark = float(rng.uniform(0.7, 1.0) if label == "dark" else rng.uniform(0.0, 0.2))
                photos.append({"path": "p", "label": label, "source": f"source{fold}", "fold": fold,
                               "dark": dark, "overexposed": 0.01, "figures": FIGURES})
                blurry = label == "blurry_natural"
                rows.append({"photo": len(photos) - 1, "kind": "real", "note": None, "figures": {},
                             "sharpness": float(rng.uniform(0.0, 0.3) if blurry else rng.uniform(0.7, 1.0)),
                             "laplacian": float(rng.uniform(10, 50) if blurry else rng.uniform(100, 900))})
    return evaluate.Table(photos, rows)
