"""Test shoots built from real photos: hand-held bursts, exposure brackets and single frames, with EXIF.

A burst is one photo framed again and again: each frame drifts a few pixels (and a
fraction of a degree), all but the sharp one are shaken with the training pipeline's
shake and streak kernels, and each gets camera noise. A bracket is one frame at -2, 0
and +2 EV (linear light scaled, highlights clipping as a sensor's do), marked auto
bracket in EXIF. EXIF (camera, serial number, capture time with sub-seconds, exposure)
is written with pyexiv2, as a camera would have it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pyexiv2

from training import degrade

START = datetime(2026, 6, 1, 10, 0, 0)


@dataclass(frozen=True)
class Camera:
    make: str = "Canon"
    model: str = "Canon EOS R6"
    serial: str = "012345678901"


def load(path: Path, long_side: int = 1600) -> np.ndarray:
    """A photo in colour (BGR), its long side at most ``long_side``."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    scale = long_side / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def write_frame(path: Path, image: np.ndarray, when: datetime, camera: Camera | None = Camera(),
                bias: float | None = 0.0, exposure_time: str = "1/250", auto_bracket: bool = False) -> Path:
    """A JPEG with a camera's EXIF (None: no EXIF at all, and the mtime set to ``when``)."""
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if camera is None:
        os.utime(path, (when.timestamp(), when.timestamp()))
        return path
    exif = {
        "Exif.Image.Make": camera.make, "Exif.Image.Model": camera.model,
        "Exif.Photo.BodySerialNumber": camera.serial,
        "Exif.Photo.DateTimeOriginal": when.strftime("%Y:%m:%d %H:%M:%S"),
        "Exif.Photo.SubSecTimeOriginal": f"{when.microsecond // 10000:02d}",
        "Exif.Photo.ExposureTime": exposure_time, "Exif.Photo.FNumber": "56/10",
        "Exif.Photo.ISOSpeedRatings": "200",
        "Exif.Photo.ExposureMode": "2" if auto_bracket else "0",
    }
    if bias is not None:
        exif["Exif.Photo.ExposureBiasValue"] = f"{round(bias * 3)}/3"
    with pyexiv2.Image(str(path)) as image_file:
        image_file.modify_exif(exif)
    return path


def _drift(image: np.ndarray, rng: np.random.Generator, pixels: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-0.3, 0.3), 1.0)
    matrix[:, 2] += rng.uniform(-pixels, pixels, 2)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8)


def _shaken(image: np.ndarray, rng: np.random.Generator, index: int) -> np.ndarray:
    kernel = (degrade.shake_kernel(rng.uniform(10, 24), rng) if index % 2
              else degrade.line_kernel(rng.uniform(10, 24), rng.uniform(0, np.pi)))
    return np.dstack([degrade.blur(image[..., c], kernel) for c in range(3)])


def burst(folder: Path, source: np.ndarray, name: str, when: datetime, frames: int = 5, sharp: int = 2,
          camera: Camera | None = Camera(), interval: float = 0.25, seed: int = 0) -> list[Path]:
    """A hand-held burst: frame ``sharp`` is sharp, the others shaken; all drift a few pixels."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(frames):
        image = _drift(source, rng, 6.0).astype(np.float32)
        if i != sharp:
            image = _shaken(image, rng, i)
        paths.append(write_frame(folder / f"{name}_{i + 1}.jpg", _noisy(image, rng),
                                 when + timedelta(seconds=i * interval), camera))
    return paths


def bracket(folder: Path, source: np.ndarray, name: str, when: datetime, stops: tuple[float, ...] = (0, -2, 2),
            camera: Camera | None = Camera(), seed: int = 0) -> list[Path]:
    """An auto-exposure bracket (Canon's order: 0, -2, +2 EV), hand-held, frames 0.3 s apart."""
    rng = np.random.default_rng(seed)
    linear = (source.astype(np.float32) / 255.0) ** 2.2
    paths = []
    for i, stop in enumerate(stops):
        image = (np.clip(linear * 2.0 ** stop, 0, 1) ** (1 / 2.2) * 255.0).astype(np.float32)
        seconds = 2.0 ** -(8 - stop)  # 1/250 s at 0 EV
        paths.append(write_frame(folder / f"{name}_{i + 1}.jpg", _noisy(_drift(image, rng, 3.0), rng),
                                 when + timedelta(seconds=0.3 * i), camera, bias=stop,
                                 exposure_time=f"1/{round(1 / seconds)}" if seconds < 1 else f"{seconds:g}",
                                 auto_bracket=True))
    return paths


def single(folder: Path, source: np.ndarray, name: str, when: datetime, camera: Camera | None = Camera(),
           seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    return write_frame(folder / f"{name}.jpg", _noisy(source.astype(np.float32), rng), when, camera)


SHARP = "photos/sharp"
SCENES = {  # real photos (under ../shared/data) the shoot is made of
    "A": f"{SHARP}/denoisds-sunhays__wheat_field_sun_azmzksauruixhpsp.jpg",
    "B": f"{SHARP}/denoisds-sunhays__pagoda_sun_bnplkvpfjuzxhnjx.jpg",
    "H": "more/sharp/cvg__LightGlue__assets__sacre_coeur1.jpg",
    "S1": f"{SHARP}/denoisds-sunhays__balcony_interior_sun_bammhtthmkjntkqh.jpg",
    "S2": f"{SHARP}/denoisds-sunhays__skyscraper_sun_bmqtqkyurjjefkjj.jpg",
    "S3": f"{SHARP}/denoisds-sunhays__campsite_sun_agkgjmhhyqowlmdm.jpg",
}


@dataclass(frozen=True)
class Shoot:
    """What a shoot holds: its bursts (frames, the sharp one), its bracket, its single frames."""

    bursts: dict[str, tuple[list[Path], Path]]
    bracket: list[Path]
    singles: list[Path]


def shoot(folder: Path, shared: Path, long_side: int = 1000) -> Shoot:
    """The issue's test shoot: two hand-held bursts of five, a +-2 EV bracket, three single frames.

    Two of the singles are taken within a second of a burst (S1 between the bursts, S2
    right after the second); S3 a minute later.
    """
    folder.mkdir(parents=True, exist_ok=True)
    images = {name: load(shared / relpath, long_side) for name, relpath in SCENES.items()}
    a = burst(folder, images["A"], "A", START, sharp=2, seed=1)
    b = burst(folder, images["B"], "B", START + timedelta(seconds=2.2), sharp=0, seed=2)
    return Shoot(
        bursts={"A": (a, a[2]), "B": (b, b[0])},
        bracket=bracket(folder, images["H"], "H", START + timedelta(seconds=30)),
        singles=[single(folder, images["S1"], "S1", START + timedelta(seconds=1.6)),
                 single(folder, images["S2"], "S2", START + timedelta(seconds=3.8)),
                 single(folder, images["S3"], "S3", START + timedelta(seconds=60))],
    )
