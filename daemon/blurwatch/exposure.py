"""Exposure: measured brightness figures of a photo and the dark / overexposed flags.

The figures are taken on the display-referred grayscale image (what the photographer
sees), converted to linear light for the mean so that "one stop darker" means half the
light. Thresholds come from :class:`blurwatch.config.ExposureConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from blurwatch.config import ExposureConfig

MID_GREY = 0.18
CLIPPED_LEVEL = 250  # of 255: blown highlights
CRUSHED_LEVEL = 5  # of 255: crushed shadows


def _srgb_to_linear_lut() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


_LINEAR = _srgb_to_linear_lut()


@dataclass(frozen=True)
class Exposure:
    mean_ev: float  # log2(mean linear luminance / mid-grey)
    clipped: float  # fraction of pixels >= CLIPPED_LEVEL (blown highlights)
    crushed: float  # fraction of pixels <= CRUSHED_LEVEL (crushed shadows)
    shadows: int  # 1st percentile level, 0..255: how black the blacks are
    highlights: int  # 99th percentile level, 0..255: how bright the brightest parts are
    median: int  # median level, 0..255


def measure(gray: np.ndarray) -> Exposure:
    """Exposure figures of a 2-D uint8 image, from its 256-bin histogram."""
    # OpenCV counts in place; np.bincount first widens every pixel to 64 bits (a 20 MB copy
    # of a working image, 4x the time: bench/README.md).
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    total = hist.sum()
    if total == 0:
        raise ValueError("empty image")
    frac = hist / total
    mean_linear = float(frac @ _LINEAR)
    cumulative = np.cumsum(frac)
    shadows, median, highlights = np.searchsorted(cumulative, [0.01, 0.5, 0.99])
    return Exposure(
        mean_ev=float(np.log2(max(mean_linear, 1e-6) / MID_GREY)),
        clipped=float(frac[CLIPPED_LEVEL:].sum()),
        crushed=float(frac[: CRUSHED_LEVEL + 1].sum()),
        shadows=int(shadows),
        highlights=int(highlights),
        median=int(median),
    )


def flags(exposure: Exposure, config: ExposureConfig, shift_ev: float = 0.0) -> tuple[str, ...]:
    """The exposure reasons to reject: ``dark``, ``overexposed`` or none.

    ``shift_ev`` comes from the sensitivity setting: positive is stricter (flags more).

    Dark: the photo is dim overall *and* nothing in it is bright. A night street with
    lamps or a low-key portrait with a lit face has real highlights and is taken as
    deliberate, unless it is very dark indeed.

    Overexposed: bright overall *and* either a real share of blown highlights or no true
    blacks left (lifted shadows). A snow or beach scene exposed well keeps its darks
    and few clipped pixels, so it is not flagged.
    """
    reasons = []
    dim = exposure.mean_ev < config.dark_ev + shift_ev
    if (dim and exposure.highlights < config.dark_highlights) or exposure.mean_ev < config.very_dark_ev + shift_ev:
        reasons.append("dark")
    bright = exposure.mean_ev >= config.overexposed_ev - shift_ev
    if bright and (exposure.clipped >= config.overexposed_clipped or exposure.shadows >= config.overexposed_shadows):
        reasons.append("overexposed")
    return tuple(reasons)
