"""What a fold's network makes of the photos it never trained on.

For every held-out photo, the photo figures blurwatch's sharpness head reads
(:func:`blurwatch.sharpness.photo_features`) and the Laplacian-variance baseline. For
held-out photos that are good, also blurred copies, scored the same way:

- ``blurred``: the working image blurred by a random kernel (defocus, shake, streak or
  Gaussian, from subtle to gross): negatives for the head, so that it learns where
  blur begins on photos of every kind, not only on the few real blurry ones;
- for sharp camera photos of at least :data:`CAMERA_LONG_SIDE` px, copies blurred at
  full resolution, saved as JPEG q95 and decoded by blurwatch like any photo: the
  "subtle blur" a photographer sees at 100% view. ``subtle_train_*`` at random
  strengths around it teach the head; ``subtle_*`` at exactly defocus 0.15% and shake
  0.35% of the long side measure it, as the issue's check does.

Every row is computed by the network of the photo's own fold, so every figure built on
them is out-of-fold.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from blurwatch import decoding
from blurwatch.config import DecodeConfig
from blurwatch.sharpness import PatchNetwork, evidence_note, extract_patches, photo_features
from training import degrade
from training.data import GOOD_LABELS, LabelledPhoto, working_gray

CAMERA_LONG_SIDE = 1600
SUBTLE_DEFOCUS = 0.0015  # of the long side, at full resolution
SUBTLE_SHAKE = 0.0035
# Training copies straddle the subtle strengths: from hard to see to plainly soft.
SUBTLE_TRAIN_RANGE = (0.6, 2.5)  # times the strengths above


@dataclass(frozen=True)
class Row:
    photo: int  # index of the labelled photo
    kind: str  # "real", "blurred", "subtle_train_defocus", ..., "subtle_original", "subtle_defocus", "subtle_shake"
    figures: dict[str, float] | None  # the head's inputs; None when the photo has too little to judge by
    note: str | None  # sharpness.TOO_SMALL / NO_DETAIL when figures is None
    laplacian: float  # the baseline's score

    @property
    def blurred(self) -> bool:
        """Whether this row is a blurred copy (a negative whatever the photo's label)."""
        return self.kind != "real" and self.kind != "subtle_original"


def laplacian_variance(gray: np.ndarray) -> float:
    """The usual script's score: variance of the Laplacian of the same working image."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def photo_row(photo: int, kind: str, gray: np.ndarray, network: PatchNetwork) -> Row:
    """One scored image: what the sharpness head would read, and the baseline."""
    patches = extract_patches(gray, network.spec)
    lap = laplacian_variance(gray)
    note = evidence_note(patches, network.spec)
    if note:
        return Row(photo, kind, None, note, lap)
    return Row(photo, kind, photo_features(network.predict(patches.data), patches.data, network.spec), None, lap)


def held_out_rows(photos: list[LabelledPhoto], held: list[int], network: PatchNetwork, seed: int) -> list[Row]:
    """Rows of the held-out photos ``held`` (indices into ``photos``) and their blurred copies."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in held:
        photo = photos[index]
        gray = working_gray(photo.path)
        rows.append(photo_row(index, "real", gray, network))
        if photo.label not in GOOD_LABELS:
            continue
        _, kernel = degrade.random_blur_kernel(rng, strength=rng.uniform(0.35, 1.0))
        rows.append(photo_row(index, "blurred", degrade.camera_finish(degrade.blur(gray, kernel), rng), network))
        if photo.label == "sharp" and max(photo.full_size) >= CAMERA_LONG_SIDE:
            rows += _subtle_rows(index, photo.path, network, rng)
    return rows


def _subtle_rows(index: int, path: Path, network: PatchNetwork, rng: np.random.Generator) -> list[Row]:
    full = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    long_side = max(full.shape)
    train = rng.uniform(*SUBTLE_TRAIN_RANGE, size=2)
    variants = {
        "subtle_original": full.astype(np.float32),
        "subtle_defocus": degrade.blur(full, degrade.defocus_kernel(SUBTLE_DEFOCUS * long_side)),
        "subtle_shake": degrade.blur(full, degrade.shake_kernel(SUBTLE_SHAKE * long_side, rng)),
        "subtle_train_defocus": degrade.blur(full, degrade.defocus_kernel(train[0] * SUBTLE_DEFOCUS * long_side)),
        "subtle_train_shake": degrade.blur(full, degrade.shake_kernel(train[1] * SUBTLE_SHAKE * long_side, rng)),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "subtle.jpg"
        for kind, image in variants.items():
            cv2.imwrite(str(out), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
            rows.append(photo_row(index, kind, decoding.decode(out, DecodeConfig()).gray, network))
    return rows
