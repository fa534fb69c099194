"""Exposure: a photo's brightness figures and a learned judgement of dark / overexposed.

Hand rules ("dim and no highlights means dark") failed on real photos both ways: a
sunlit field with a blown sky or a hazy city view looks like an overexposed frame in a
few numbers, and an underexposed room with a bright window looks like a night scene
with lamps. So the judgement is a small multinomial logistic model (ok / dark /
overexposed) over figures that describe the whole tonal picture: the luminance
histogram (mean EV, percentiles, blown and crushed shares), how large the blown and
black areas are (a sky or a lamp), and where the detail sits (the levels of the
picture's edges: an underexposed photo keeps its detail in the shadows, a night scene
around its lights). ``training/`` fits it on labelled real photos plus exposure shifts
synthesised from well exposed ones, and writes ``models/exposure.json``; its
cross-validated figures are in ``training/README.md``.

The figures are taken on the display-referred grayscale working image (what the
photographer sees); the means are converted to linear light so that "one stop darker"
means half the light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from blurwatch.logistic import Logistic

MODEL_NAME = "exposure"
MID_GREY = 0.18
CLIPPED_LEVEL = 250  # of 255: blown highlights
CRUSHED_LEVEL = 5  # of 255: crushed shadows
# The model's inputs, in the order of its coefficients (``exposure.json`` names them too).
FEATURES = ("mean_ev", "p1", "p5", "p25", "p50", "p75", "p95", "p99", "clipped", "crushed",
            "blown_area", "black_area", "contrast", "edge_level", "edge_ev")
CLASSES = ("ok", "dark", "overexposed")
_PERCENTILES = (0.01, 0.05, 0.25, 0.50, 0.75, 0.95, 0.99)
# Area shares are judged on a 32 x 32 thumbnail: a lamp or a specular glint vanishes
# there, a blown sky or a black wall stays.
_THUMB = 32
_BLOWN_CELL = 245
_BLACK_CELL = 12
# Where the edges are is judged at most 512 px wide: cheap, and enough to find them.
_EDGE_LONG_SIDE = 512
_LOG_FLOOR = 1e-3  # shares enter as log10(share + this): 0.1% and 10% differ as much as 10% and 100%


def _srgb_to_linear_lut() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


LINEAR = _srgb_to_linear_lut()


@dataclass(frozen=True)
class Exposure:
    mean_ev: float  # log2(mean linear luminance / mid-grey)
    clipped: float  # fraction of pixels >= CLIPPED_LEVEL (blown highlights)
    crushed: float  # fraction of pixels <= CRUSHED_LEVEL (crushed shadows)
    shadows: int  # 1st percentile level, 0..255: how black the blacks are
    highlights: int  # 99th percentile level, 0..255: how bright the brightest parts are
    median: int  # median level, 0..255
    dark: float  # probability that the photo is underexposed (the model's)
    overexposed: float  # probability that it is overexposed


def histogram(gray: np.ndarray) -> np.ndarray:
    """The share of pixels at each level 0..255 of a 2-D uint8 image."""
    # OpenCV counts in place; np.bincount would first widen every pixel to 64 bits.
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    total = hist.sum()
    if total == 0:
        raise ValueError("empty image")
    share: np.ndarray = hist / total
    return share


def features(gray: np.ndarray, share: np.ndarray) -> dict[str, float]:
    """The model's inputs (:data:`FEATURES`) for an image and its :func:`histogram`."""
    levels = np.searchsorted(np.cumsum(share), _PERCENTILES) / 255.0
    thumb = cv2.resize(gray, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA)
    edge_level, edge_ev = _edge_levels(gray)
    values = [
        _ev(float(share @ LINEAR)),
        *levels,
        _log_share(share[CLIPPED_LEVEL:].sum()),
        _log_share(share[: CRUSHED_LEVEL + 1].sum()),
        _log_share((thumb >= _BLOWN_CELL).mean()),
        _log_share((thumb <= _BLACK_CELL).mean()),
        levels[5] - levels[1],
        edge_level,
        edge_ev,
    ]
    return dict(zip(FEATURES, map(float, values), strict=True))


def figures(share: np.ndarray) -> dict[str, Any]:
    """The readable figures of a :func:`histogram`, stored in sidecars and shown to the photographer."""
    shadows, median, highlights = np.searchsorted(np.cumsum(share), [0.01, 0.5, 0.99])
    return {"mean_ev": _ev(float(share @ LINEAR)), "clipped": float(share[CLIPPED_LEVEL:].sum()),
            "crushed": float(share[: CRUSHED_LEVEL + 1].sum()), "shadows": int(shadows),
            "highlights": int(highlights), "median": int(median)}


def _edge_levels(gray: np.ndarray) -> tuple[float, float]:
    """Where the picture's detail sits: the median level at its edges, and their mean EV.

    Each pixel counts by its gradient (after a light blur, so noise does not count): an
    underexposed frame has its edges in the shadows, a night street around its lamps,
    an overexposed frame in the bright tones while its blown areas hold none.
    """
    scale = min(1.0, _EDGE_LONG_SIDE / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(small.astype(np.float32), (0, 0), 1.0)
    weight = cv2.magnitude(cv2.Sobel(soft, cv2.CV_32F, 1, 0), cv2.Sobel(soft, cv2.CV_32F, 0, 1))
    by_level: np.ndarray = np.bincount(small.ravel(), weights=weight.ravel(), minlength=256).astype(np.float64)
    if by_level.sum() <= 0:  # a flat frame: no edges anywhere
        by_level = np.ones(256)
    by_level = by_level / by_level.sum()
    median = np.searchsorted(np.cumsum(by_level), 0.5) / 255.0
    return float(median), _ev(float(by_level @ LINEAR))


def _ev(mean_linear: float) -> float:
    return float(np.log2(max(mean_linear, 1e-6) / MID_GREY))


def _log_share(share: float) -> float:
    return float(np.log10(share + _LOG_FLOOR))


class ExposureModel:
    """The shipped exposure model (``models/exposure.json``) and its calibrated limits."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        if tuple(metadata["classes"]) != CLASSES:
            raise ValueError(f"exposure model has classes {metadata['classes']}, expected {list(CLASSES)}")
        self.metadata = metadata
        self.version: str = metadata["version"]
        self.logistic = Logistic.from_dict(metadata, FEATURES)
        # reason ("dark", "overexposed") -> {"reject_at": p, "review_at": p}
        self.thresholds: dict[str, dict[str, float]] = metadata["thresholds"]

    @classmethod
    def load(cls, model_dir: Path) -> ExposureModel:
        return cls(json.loads((model_dir / f"{MODEL_NAME}.json").read_text(encoding="utf-8")))

    def judge(self, gray: np.ndarray) -> Exposure:
        """The figures and the model's probabilities for a grayscale working image."""
        share = histogram(gray)
        p = self.logistic.probabilities(features(gray, share))
        return Exposure(**figures(share), dark=float(p[1]), overexposed=float(p[2]))
