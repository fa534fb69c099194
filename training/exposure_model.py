"""The exposure model's training rows and its fit: real labelled photos plus shifted copies.

Real dark and overexposed photos are few (a hundred), and "correctly exposed" covers
snow, beaches, night streets and low-key portraits. So every photo that is exposed as
intended (sharp, shallow depth of field, blurry: their exposure is not the fault) also
yields copies shifted by :func:`training.degrade.expose`: 1.5 to 5 stops under (dark),
within half a stop (fine), 1.5 to 3 stops over (overexposed). The model learns what no
intended exposure looks like, relative to the photo's own content, while the real bright
and dark scenes among the sharp photos teach it what must be kept.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blurwatch import exposure
from blurwatch.logistic import Logistic
from training import degrade, logistic
from training.data import EXPOSURE_LABELS, LabelledPhoto, working_gray

# "ok", "dark", "overexposed" -> 0, 1, 2; a labelled photo of any other label is exposed as intended.
CLASS_OF = {name: i for i, name in enumerate(exposure.CLASSES)}
VARIANTS = 5  # shifted copies per well exposed photo
L2_C = 0.3  # inverse L2 strength: chosen among 0.1 / 0.3 / 1 / 10 by source-folded CV


@dataclass(frozen=True)
class Rows:
    x: np.ndarray  # (n, features)
    y: np.ndarray  # (n,) class index into blurwatch.exposure.CLASSES
    photo: np.ndarray  # (n,) index of the labelled photo it came from, -1 for train_sharp
    real: np.ndarray  # (n,) True for the photo itself, False for a shifted copy


def _row(gray: np.ndarray) -> np.ndarray:
    values = exposure.features(gray, exposure.histogram(gray))
    return np.array([values[name] for name in exposure.FEATURES])


def _photo_rows(args: tuple[Path, int, int, int, bool]) -> tuple[list[np.ndarray], list[int], list[bool]]:
    path, label_class, seed, variants, shift = args
    gray = working_gray(path)
    xs, ys, real = [_row(gray)], [label_class], [True]
    rng = np.random.default_rng(seed)
    for _ in range(variants if shift else 0):
        ev, kind = degrade.random_exposure(rng)
        shifted = degrade.expose(gray, ev, rng)
        xs.append(_row(shifted))
        ys.append(CLASS_OF[kind])
        real.append(False)
    return xs, ys, real


def rows(photos: list[LabelledPhoto], extra_sharp: list[Path], seed: int, variants: int = VARIANTS,
         workers: int = 2) -> Rows:
    """Feature rows of every labelled photo and of shifted copies of the well exposed ones."""
    jobs = [(p.path, CLASS_OF.get(p.label, CLASS_OF['ok']), seed * 7919 + i, variants, p.label not in EXPOSURE_LABELS)
            for i, p in enumerate(photos)]
    jobs += [(path, CLASS_OF['ok'], seed * 104729 + i, variants, True) for i, path in enumerate(extra_sharp)]
    owners = list(range(len(photos))) + [-1] * len(extra_sharp)
    x, y, photo, real = [], [], [], []
    with ProcessPoolExecutor(workers) as pool:
        for owner, (xs, ys, rs) in zip(owners, pool.map(_photo_rows, jobs, chunksize=4), strict=True):
            x += xs
            y += ys
            photo += [owner] * len(xs)
            real += rs
    return Rows(np.array(x), np.array(y), np.array(photo), np.array(real))


def fit(data: Rows, use: np.ndarray, seed: int) -> dict[str, Any]:
    """Model parameters fitted on the rows selected by the boolean mask ``use``."""
    return logistic.fit(data.x[use], data.y[use], exposure.FEATURES, len(exposure.CLASSES), L2_C, seed)


def metadata(params: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The content of ``exposure.json``, but for its name and limits (``training.train.with_limits`` adds them)."""
    return {"classes": list(exposure.CLASSES), **params, **extra}


def out_of_fold(data: Rows, fold_of: list[int], seed: int) -> np.ndarray:
    """(photos, classes) probabilities, each from a model fitted without the photo's fold."""
    folds = np.array(fold_of)
    owner_fold = np.where(data.photo >= 0, folds[np.maximum(data.photo, 0)], -1)
    probabilities = np.zeros((len(fold_of), len(exposure.CLASSES)))
    for fold in sorted(set(fold_of)):
        model = Logistic.from_dict(fit(data, owner_fold != fold, seed), exposure.FEATURES)
        held = data.real & (owner_fold == fold)
        for row, photo in zip(data.x[held], data.photo[held], strict=True):
            probabilities[photo] = model.probabilities(dict(zip(exposure.FEATURES, row, strict=True)))
    return probabilities
