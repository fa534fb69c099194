"""Decoding: a photo file in, the grayscale image scoring needs out.

(Interface fixed; the implementation is being written.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blurwatch.config import DecodeConfig

# Lower-case extensions, with the dot.
RAW_EXTENSIONS: frozenset[str] = frozenset()
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})


@dataclass(frozen=True)
class PhotoInfo:
    """What the file says about how it was taken (None when unknown)."""

    exposure_time: float | None = None  # seconds
    focal_length_35mm: float | None = None  # mm
    iso: float | None = None


@dataclass(frozen=True)
class DecodedPhoto:
    path: Path
    gray: np.ndarray  # 2-D uint8, display-referred (sRGB gamma), EXIF orientation applied,
    #                   long side <= DecodeConfig.working_long_side (never upscaled)
    decoded_from: str  # "jpeg" | "image" | "raw-preview" | "raw-demosaic"
    full_size: tuple[int, int]  # (width, height) of the full image, orientation applied
    info: PhotoInfo


def is_photo(path: Path) -> bool:
    """True when the extension (any case) is one blurwatch decodes."""
    raise NotImplementedError


def decode(path: Path, config: DecodeConfig) -> DecodedPhoto:
    """Decode ``path``; raise :class:`blurwatch.errors.DecodeError` naming the cause."""
    raise NotImplementedError
