"""The network's training examples: patches cut by blurwatch's own patch function.

Every patch comes from :func:`blurwatch.sharpness.extract_patches` applied to a
:func:`blurwatch.decoding.decode` result (or a degraded copy of one), so training and
inference see identical patches. From each sharp source photo come sharp variants,
blurred variants and a shallow depth-of-field variant (:mod:`training.degrade`); real
labelled photos of the training folds add their own patches.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from blurwatch.sharpness import PatchSpec, extract_patches
from training import degrade
from training.data import working_gray

# Real photos are the scarcest and most telling examples: each is cut at this many grid offsets.
REAL_OFFSETS = 3


def _patches(gray: np.ndarray, spec: PatchSpec, rng: np.random.Generator, count: int,
             sharp_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` random textured patches, with per-patch labels from ``sharp_mask``."""
    dy, dx = (int(rng.integers(spec.size)) for _ in range(2))
    shifted = gray[dy:, dx:]
    patches = extract_patches(shifted, spec)
    if len(patches.data) == 0:
        return patches.data, np.zeros(0, np.float32)
    pick = rng.permutation(len(patches.data))[:count]
    data = patches.data[pick]
    if sharp_mask is None:
        return data, np.ones(len(pick), np.float32)
    top, left = patches.origin
    centres_y = dy + top + patches.cells[pick, 0] * spec.size + spec.size // 2
    centres_x = dx + left + patches.cells[pick, 1] * spec.size + spec.size // 2
    return data, sharp_mask[centres_y, centres_x].astype(np.float32)


def _examples_from(args: tuple[Path, int, int, PatchSpec, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sharp, blurred and bokeh examples from one sharp source photo."""
    path, seed, variants, spec, per_image = args
    rng = np.random.default_rng(seed)
    gray = working_gray(path)
    xs, ys = [], []

    def add(image: np.ndarray, label: float, mask: np.ndarray | None = None) -> None:
        data, labels = _patches(image, spec, rng, per_image, mask)
        if mask is None:
            labels = np.full(len(data), label, np.float32)
        xs.append(data)
        ys.append(labels)

    for _ in range(variants):
        add(degrade.sharp_variant(gray, rng), 1.0)
    for _ in range(variants):
        _, kernel = degrade.random_blur_kernel(rng)
        add(degrade.camera_finish(degrade.blur(gray, kernel), rng), 0.0)
    image, mask = degrade.bokeh_variant(gray, rng)
    add(image, 1.0, mask)
    return np.concatenate(xs), np.concatenate(ys)


def _examples_real(args: tuple[Path, float, int, PatchSpec, int]) -> tuple[np.ndarray, np.ndarray]:
    """Patches of a real labelled photo (blurry or sharp), a few random grid offsets."""
    path, label, seed, spec, per_image = args
    rng = np.random.default_rng(seed)
    gray = working_gray(path)
    data = [_patches(gray, spec, rng, per_image)[0] for _ in range(REAL_OFFSETS)]
    x = np.concatenate(data)
    return x, np.full(len(x), label, np.float32)


def build(sharp_sources: list[Path], real: list[tuple[Path, float]], spec: PatchSpec, seed: int,
          variants: int = 3, per_image: int = 24, workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """All training patches and labels (1 = sharp) from synthetic and real examples."""
    synthetic = [(p, seed * 100003 + i, variants, spec, per_image) for i, p in enumerate(sharp_sources)]
    real_args = [(p, label, seed * 7919 + i, spec, per_image) for i, (p, label) in enumerate(real)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_examples_from, synthetic)) + list(pool.map(_examples_real, real_args))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return _rotate_and_flip(x, np.random.default_rng(seed)), y


def _rotate_and_flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur has no preferred orientation: turn each patch by a random quarter and maybe mirror it."""
    turns = rng.integers(4, size=len(x))
    out = np.empty_like(x)
    for k in range(4):
        sel = turns == k
        out[sel] = np.rot90(x[sel], k, axes=(1, 2))
    mirror = rng.random(len(x)) < 0.5
    out[mirror] = out[mirror][:, :, ::-1]
    return out
