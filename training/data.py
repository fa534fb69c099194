"""The team's labelled photos, decoded exactly as blurwatch decodes them, and their folds.

Two manifests hold labelled real photos: ``photos/`` (the development set) and ``more/``
(other sources, same labels). ``train_sharp/`` holds extra sharp photos that are never
evaluated, only degraded into training examples.

Folds are made by *source* (the repository or collection a photo came from), so each
cross-validated figure says how blurwatch does on photos from a camera, a photographer
and a processing chain it never trained on, not on twins of its training photos.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from blurwatch import decoding
from blurwatch.config import DecodeConfig

GOOD_LABELS = ("sharp", "bokeh_sharp")
BLURRY_LABELS = ("blurry_natural", "blurry_lab", "blurry_multiframe")
EXPOSURE_LABELS = ("dark", "overexposed")
MANIFESTS = ("photos", "more")
TRAIN_ONLY = "train_sharp"  # photos that train every fold and are never evaluated


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    label: str
    source: str  # the repository it came from: folds never split a source
    group: str  # photos of one scene (a bracket, a sharp/blurred pair) share a group
    full_size: tuple[int, int]  # (width, height) as the manifest gives it


def read_labelled(data: Path, manifests: tuple[str, ...] = MANIFESTS) -> list[LabelledPhoto]:
    """The labelled real photos of ``data/<manifest>/manifest.csv``, in manifest order."""
    photos = []
    for name in manifests:
        folder = data / name
        with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                photos.append(LabelledPhoto(folder / row["relpath"], row["label"], row["source_repo"],
                                            row["pair_id"] or row["relpath"],
                                            (int(row["width"] or 0), int(row["height"] or 0))))
    return photos


def train_sharp_photos(data: Path) -> list[Path]:
    return sorted((data / TRAIN_ONLY).glob("*.png"))


@cache
def working_gray(path: Path) -> np.ndarray:
    """The grayscale image blurwatch scores, decoded by blurwatch itself (cached per process)."""
    return decoding.decode(path, DecodeConfig()).gray


def source_folds(photos: list[LabelledPhoto], k: int, seed: int) -> list[int]:
    """A fold 0..k-1 for each photo: whole sources go to one fold, labels spread evenly.

    Sources are placed largest first, each into the fold where it adds least to the
    square of that fold's count of each label it brings (a random tie-break), so that
    every fold holds some photos of every label where the sources allow it.
    """
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    for photo in photos:
        by_source[photo.source][photo.label] += 1
    rng = np.random.default_rng(seed)
    loads = [Counter[str]() for _ in range(k)]
    fold_of_source = {}
    for source in sorted(by_source, key=lambda s: (-sum(by_source[s].values()), s)):
        brings = by_source[source]
        costs = [(sum((loads[f][label] + n) ** 2 for label, n in brings.items()), rng.random()) for f in range(k)]
        fold = min(range(k), key=lambda f: costs[f])
        fold_of_source[source] = fold
        loads[fold] += brings
    return [fold_of_source[p.source] for p in photos]
