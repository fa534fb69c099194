"""Choosing the sharpness thresholds from out-of-fold scores, and reporting them honestly.

``reject_below`` is set so that few sharp photos (sharp and shallow depth of field) are
rejected; ``keep_from`` so that few blurry photos are kept outright. Between the two is
the review band. The figures reported beside them are nested: for each fold the
thresholds are chosen on the other folds only and applied to the held-out one.
"""

from __future__ import annotations

import numpy as np

SHARP = ("sharp", "bokeh_sharp")
BLURRY = ("blurry_natural", "blurry_lab")
# At most this share of sharp photos may fall below reject_below ...
MAX_SHARP_REJECTED = 0.02
# ... at most this share of blurry photos should reach keep_from ...
MAX_BLURRY_KEPT = 0.02
# ... but the review band must stay small enough to be worth looking through: at most
# this share of sharp photos lands in it.
MAX_SHARP_REVIEWED = 0.10


def _split(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    sharp = np.array([r["sharpness"] for r in rows if r["label"] in SHARP])
    blurry = np.array([r["sharpness"] for r in rows if r["label"] in BLURRY])
    return sharp, blurry


def _below_quantile(values: np.ndarray, share: float) -> float:
    """A threshold with at most ``share`` of ``values`` strictly below it, midway between two scores."""
    ordered = np.sort(values)
    allowed = int(np.floor(share * len(ordered)))
    lower = ordered[allowed - 1] if allowed > 0 else 0.0
    return float((lower + ordered[allowed]) / 2)


def fit(rows: list[dict]) -> dict[str, float]:
    """Thresholds from scored rows (each with ``label`` and ``sharpness``)."""
    sharp, blurry = _split(rows)
    reject_below = _below_quantile(sharp, MAX_SHARP_REJECTED)
    # keep_from: at most MAX_BLURRY_KEPT of blurry scores at or above it, unless that
    # would send more than MAX_SHARP_REVIEWED of the sharp photos to review.
    blurry_bound = 1.0 - _below_quantile(1.0 - blurry, MAX_BLURRY_KEPT)
    review_bound = _below_quantile(sharp, MAX_SHARP_REJECTED + MAX_SHARP_REVIEWED)
    keep_from = min(blurry_bound, review_bound)
    return {"reject_below": round(reject_below, 4), "keep_from": round(max(keep_from, reject_below), 4)}


def rates(rows: list[dict], limits: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per label: share rejected as blurry, share in review, share kept."""
    out: dict[str, dict[str, float]] = {}
    for label in sorted({r["label"] for r in rows}):
        scores = np.array([r["sharpness"] for r in rows if r["label"] == label])
        rejected = scores < limits["reject_below"]
        kept = scores >= limits["keep_from"]
        out[label] = {"n": int(len(scores)), "rejected": float(rejected.mean()),
                      "review": float((~rejected & ~kept).mean()), "kept": float(kept.mean())}
    return out


def choose(rows: list[dict]) -> dict:
    """Thresholds on all rows, plus the nested cross-validated figures and their spread."""
    folds = sorted({r["fold"] for r in rows})
    per_fold = []
    held_out_rows = []
    for fold in folds:
        limits = fit([r for r in rows if r["fold"] != fold])
        held = [r for r in rows if r["fold"] == fold]
        per_fold.append({"fold": fold, "thresholds": limits, "rates": rates(held, limits)})
        held_out_rows += [{**r, "reject": r["sharpness"] < limits["reject_below"],
                           "keep": r["sharpness"] >= limits["keep_from"]} for r in held]
    pooled = {}
    for label in sorted({r["label"] for r in held_out_rows}):
        mine = [r for r in held_out_rows if r["label"] == label]
        pooled[label] = {"n": len(mine), "rejected": float(np.mean([r["reject"] for r in mine])),
                         "kept": float(np.mean([r["keep"] for r in mine]))}
    return {"thresholds": fit(rows), "report": {"pooled_held_out": pooled, "per_fold": per_fold}}
