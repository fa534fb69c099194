"""The demo folder: real photographs shipped inside scikit-image, some with made faults.

``blurwatch demo`` builds it and scores it, so a new user sees every kind of verdict
without network access or photos of their own. The faults are made the way they happen
in a camera: blur and exposure changes in linear light, defocus as a disc (the aperture's
shape), camera shake as a random-walk path, underexposure with the sensor noise that
comes with pushing a dark frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from blurwatch.errors import UsageError

log = logging.getLogger(__name__)

MARKER = ".blurwatch-demo"  # marks a folder as the demo's own, safe to rebuild
JPEG_QUALITY = 92
SEED = 20240601


@dataclass(frozen=True)
class DemoPhoto:
    name: str
    source: str  # the skimage.data function
    fault: str  # what was done to it, for the table
    expected: str  # the verdict blurwatch should reach: keep, review, reject, or "not reject"

    def matches(self, decision: str) -> bool:
        """True when ``decision`` is what this photo should get."""
        return decision != "reject" if self.expected == "not reject" else decision == self.expected
    make: Callable[[np.ndarray, np.random.Generator], np.ndarray]  # linear RGB in, linear RGB out


def _untouched(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image


def _defocus(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _convolve(image, disc_kernel(radius=6))


def _shake(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _convolve(image, shake_kernel(rng, length=24))


def _underexposed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = image * 2.0**-4
    noise = rng.normal(0.0, 1.0, dark.shape) * np.sqrt(dark * 0.002 + 0.0004**2)  # shot + read noise
    return np.clip(dark + noise, 0.0, 1.0)


def _overexposed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image * 2.0**2, 0.0, 1.0)


def _bokeh(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sharp subject in the middle, the rest behind it thrown out of focus by a wide aperture."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.float32)
    centre = (int(width * 0.55), int(height * 0.6))  # the motorcycle
    axes = (int(width * 0.33), int(height * 0.33))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1)
    soft = cv2.GaussianBlur(mask, (0, 0), sigmaX=max(width, height) * 0.015)[..., None]
    background = _convolve(image, disc_kernel(radius=10))
    return np.asarray(soft * image + (1.0 - soft) * background)


PHOTOS: tuple[DemoPhoto, ...] = (
    DemoPhoto("motorcycle.jpg", "stereo_motorcycle", "none", "keep", _untouched),
    DemoPhoto("motorcycle-bokeh.jpg", "stereo_motorcycle", "sharp subject, blurred background", "not reject", _bokeh),
    DemoPhoto("cameraman.jpg", "camera", "none", "keep", _untouched),
    DemoPhoto("chelsea.jpg", "chelsea", "none (shallow focus, a little soft)", "not reject", _untouched),
    DemoPhoto("chelsea-defocus.jpg", "chelsea", "missed focus (defocus blur)", "reject", _defocus),
    DemoPhoto("astronaut-shake.jpg", "astronaut", "camera shake", "reject", _shake),
    DemoPhoto("motorcycle-dark.jpg", "stereo_motorcycle", "underexposed by 4 EV", "reject", _underexposed),
    DemoPhoto("astronaut-bright.jpg", "astronaut", "overexposed by 2 EV", "reject", _overexposed),
)


def build(folder: Path) -> list[tuple[Path, DemoPhoto]]:
    """Write the demo photos into ``folder`` (created; refused when it holds other files)."""
    _claim(folder)
    rng = np.random.default_rng(SEED)
    written = []
    for photo in PHOTOS:
        linear = _to_linear(_load(photo.source))
        path = folder / photo.name
        _write_jpeg(path, _to_srgb(photo.make(linear, rng)))
        log.debug("%s: written (%s)", path, photo.fault)
        written.append((path, photo))
    return written


def disc_kernel(radius: int) -> np.ndarray:
    """A uniform disc: the blur of a point out of focus through a round aperture."""
    size = 2 * radius + 1
    kernel = np.zeros((size, size), np.float32)
    cv2.circle(kernel, (radius, radius), radius, 1.0, thickness=-1, lineType=cv2.LINE_AA)
    return np.asarray(kernel / kernel.sum())


def shake_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    """The path of a hand-held camera during the exposure: a random walk with momentum."""
    steps = length * 4
    heading = rng.uniform(0, 2 * np.pi)
    turns = np.cumsum(rng.normal(0.0, 0.25, steps))
    path = np.cumsum(np.stack([np.cos(heading + turns), np.sin(heading + turns)], axis=1) * 0.25, axis=0)
    path -= path.mean(axis=0)
    size = int(np.ceil(np.abs(path).max())) * 2 + 3
    kernel = np.zeros((size, size), np.float32)
    for x, y in path + size // 2:
        kernel[int(round(y)), int(round(x))] += 1.0
    smooth = cv2.GaussianBlur(kernel, (3, 3), 0.5)
    return np.asarray(smooth / smooth.sum())


def _claim(folder: Path) -> None:
    """Make ``folder`` the demo's own; never write into a folder of someone's photos."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise UsageError(f"{folder}: exists and is not a blurwatch demo folder; choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("Made by 'blurwatch demo'; safe to delete.\n", encoding="utf-8")


def _load(source: str) -> np.ndarray:
    """An RGB photograph from skimage.data (the stereo pair's left frame; grey made RGB)."""
    image = getattr(data, source)()
    image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)
    return np.dstack([image] * 3) if image.ndim == 2 else image


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    v = srgb.astype(np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    v = np.clip(linear, 0.0, 1.0)
    encoded = np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    return np.asarray(np.round(encoded * 255.0), dtype=np.uint8)


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"{path}: OpenCV could not encode the JPEG")
    path.write_bytes(encoded.tobytes())
