"""Small made photos for tests that need a picture but not a real one."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np


def make_photo(path: Path, size: tuple[int, int] = (600, 400), seed: int = 0) -> Path:
    """A colourful JPEG: a warm left half, a cool right half, some texture."""
    rng = np.random.default_rng(seed)
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (40, 90, 220)  # BGR: orange-red
    image[:, width // 2 :] = (200, 120, 30)  # blue
    image = cv2.add(image, rng.integers(0, 40, image.shape, dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def warm_cool(size: tuple[int, int] = (600, 400)) -> np.ndarray:
    """The RGB of :func:`make_photo`'s picture: warm left half, cool right half."""
    return cv2.cvtColor(cv2.imread(str(make_photo(Path(tempfile.mkdtemp()) / "p.jpg", size))), cv2.COLOR_BGR2RGB)
