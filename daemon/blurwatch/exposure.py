"""Exposure: measured brightness figures of a photo and the dark / overexposed flags.

The figures are taken on the display-referred grayscale image (what the photographer
sees), converted to linear light for the mean so that "one stop darker" means half the
light. Thresholds come from :class:`blurwatch.config.ExposureConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blurwatch.config import ExposureConfig

MID_GREY = 0.18
CLIPPED_LEVEL = 250  # of 255: blown highlights
CRUSHED_LEVEL = 5  # of 255: crushed shadows
BRIGHT_LEVEL = 192  # of 255: a light source or a highlight worth keeping a dark scene for


def _srgb_to_linear_lut() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


_LINEAR = _srgb_to_linear_lut()


@dataclass(frozen=True)
class Exposure:
    mean_ev: float  # log2(mean linear luminance / mid-grey)
    clipped: float  # fraction of pixels >= CLIPPED_LEVEL
    crushed: float  # fraction of pixels <= CRUSHED_LEVEL
    bright: float  # fraction of pixels >= BRIGHT_LEVEL
    median: float  # median display value, 0..255


def measure(gray: np.ndarray) -> Exposure:
    """Exposure figures of a 2-D uint8 image, from its 256-bin histogram."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        raise ValueError("empty image")
    frac = hist / total
    mean_linear = float(frac @ _LINEAR)
    cumulative = np.cumsum(frac)
    return Exposure(
        mean_ev=float(np.log2(max(mean_linear, 1e-6) / MID_GREY)),
        clipped=float(frac[CLIPPED_LEVEL:].sum()),
        crushed=float(frac[: CRUSHED_LEVEL + 1].sum()),
        bright=float(frac[BRIGHT_LEVEL:].sum()),
        median=float(np.searchsorted(cumulative, 0.5)),
    )


def flags(exposure: Exposure, config: ExposureConfig, shift_ev: float = 0.0) -> tuple[str, ...]:
    """The exposure reasons to reject: ``dark``, ``overexposed`` or none.

    ``shift_ev`` comes from the sensitivity setting: positive is stricter (flags more).
    A dark photo with a real share of bright pixels (street lights, a lit face in a
    low-key portrait) is taken as deliberate and kept.
    """
    reasons = []
    dark_limit = config.dark_ev + shift_ev
    if exposure.mean_ev < dark_limit and exposure.bright < config.highlight_keeps_dark:
        reasons.append("dark")
    clipped_limit = config.overexposed_clipped * 2.0 ** (-shift_ev)
    if exposure.clipped >= clipped_limit and exposure.mean_ev >= config.overexposed_ev - shift_ev:
        reasons.append("overexposed")
    return tuple(reasons)
