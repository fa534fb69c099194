"""How a frame was taken and what it shows, in the few facts that tell bursts and brackets apart.

The per-photo job makes a :class:`Capture` from what it already has: the EXIF that
decoding read (for a JPEG from the header it parsed for the orientation, for a RAW
through exiv2, never LibRaw's ``other`` block, which raises on metadata-only files),
the file's mtime, and the working image it decoded (no second decode). Grouping
(:mod:`blurwatch.bursts`) needs nothing else.

Likeness is a perceptual hash (``imagehash``'s pHash, the field's standard) of the
working image shrunk to 32x32 and histogram-equalised. At that size hand-held drift of
a few pixels and the shake of a blurred frame are far below one pixel, and the
equalisation makes the frames of an exposure bracket look alike (measured in
``bench/bursts.py``: frames of one shot differ in at most 14 of the 64 bits, unrelated
photos in 16 or more, most in about 32).
"""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import imagehash
import numpy as np
from PIL import Image

from blurwatch import decoding
from blurwatch.decoding import parse_number
from blurwatch.xmp import Exif

HASH_SIDE = 32  # pixels of the thumbnail pHash takes its 8x8 low frequencies from
AUTO_BRACKET = "2"  # EXIF ExposureMode: 0 auto, 1 manual, 2 auto bracket

_CAMERA_KEYS = ("Exif.Image.Make", "Exif.Image.Model")
_SERIAL_KEYS = ("Exif.Photo.BodySerialNumber", "Exif.Canon.SerialNumber", "Exif.Nikon3.SerialNumber",
                "Exif.Fujifilm.SerialNumber", "Exif.Olympus.SerialNumber", "Exif.Pentax.SerialNumber",
                "Exif.Sony1.SerialNumber", "Exif.Panasonic.InternalSerialNumber")
_SEQUENCE_NUMBER_SUFFIXES = (".SequenceImageNumber",)  # Sony's frame number within a continuous run
_BURST_ID_KEYS = ("Xmp.GCamera.BurstID",)  # Google camera: the same id in every frame of a burst


@dataclass(frozen=True)
class Capture:
    """The facts grouping looks at; plain values, so they travel between processes and into JSON."""

    camera: str  # "Make Model #serial"; "" when the file names no camera
    taken: float  # seconds: EXIF capture time with sub-seconds (as if UTC), else the file's mtime
    clock: str  # "exif" | "mtime": times from different clocks are never compared
    likeness: str  # 16 hex digits, the 64-bit perceptual hash
    bias: float | None = None  # ExposureBiasValue, EV
    exposure: float | None = None  # the exposure the camera set, EV at ISO 100 (aperture, time, ISO)
    auto_bracket: bool = False  # ExposureMode says auto bracket
    burst_id: str | None = None  # the camera's own burst id (Google BurstID)
    sequence_number: int | None = None  # the camera's frame number in a continuous run (Sony)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Capture:
        return cls(**data)


def capture(exif: Exif, mtime: float, gray: np.ndarray) -> Capture:
    """The facts of one frame from its EXIF, its file's mtime and its decoded working image."""
    taken = _exif_time(exif)
    return Capture(
        camera=_camera(exif),
        taken=taken if taken is not None else mtime,
        clock="exif" if taken is not None else "mtime",
        likeness=likeness(gray),
        bias=_number(exif, "Exif.Photo.ExposureBiasValue"),
        exposure=_exposure(exif),
        auto_bracket=_text(exif, "Exif.Photo.ExposureMode") == AUTO_BRACKET,
        burst_id=next((_text(exif, key) for key in _BURST_ID_KEYS if _text(exif, key)), None),
        sequence_number=_sequence_number(exif),
    )


def clock_of(photo: Path) -> tuple[str, str, float]:
    """(camera, clock, taken) of a photo from its metadata alone, without decoding it.

    For finding a photo's neighbours in time before any is judged; the camera may lack
    the serial number a maker note holds, which :func:`capture` reads.
    """
    exif = decoding.capture_tags(photo)
    taken = _exif_time(exif)
    if taken is not None:
        return _camera(exif), "exif", taken
    try:
        return _camera(exif), "mtime", photo.stat().st_mtime
    except OSError:
        return _camera(exif), "mtime", 0.0


def likeness(gray: np.ndarray) -> str:
    """The 64-bit pHash of the image shrunk to 32x32 and equalised, as hex.

    Halved with a Gaussian pyramid while both sides stay at least 4x32 px, then area
    averaged: a tenth of the time of one area resize from the working size (0.4 ms
    against 4 ms at 2000 px), and as free of aliasing.
    """
    while min(gray.shape[:2]) >= 8 * HASH_SIDE:
        gray = cv2.pyrDown(gray)
    small = cv2.equalizeHist(cv2.resize(gray, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA))
    return str(imagehash.phash(Image.fromarray(small)))


def difference(a: str, b: str) -> int:
    """How many of the 64 bits two likeness hashes differ in (0 = alike, about 32 = unrelated)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _camera(exif: Exif) -> str:
    names = [_text(exif, key) for key in _CAMERA_KEYS]
    serial = next((_text(exif, key) for key in _SERIAL_KEYS if _text(exif, key)), "")
    camera = " ".join(name for name in names if name)
    return f"{camera} #{serial}" if camera and serial else camera


def _exif_time(exif: Exif) -> float | None:
    """DateTimeOriginal plus SubSecTimeOriginal in seconds, read as UTC (only differences matter)."""
    text = _text(exif, "Exif.Photo.DateTimeOriginal")
    try:
        taken = float(calendar.timegm(time.strptime(text.strip(), "%Y:%m:%d %H:%M:%S")))
    except ValueError:
        return None
    subsec = "".join(ch for ch in _text(exif, "Exif.Photo.SubSecTimeOriginal") if ch.isdigit())
    return taken + (int(subsec) / 10 ** len(subsec) if subsec else 0.0)


def _exposure(exif: Exif) -> float | None:
    """EV at ISO 100 of the settings: log2(N^2 / t) - log2(ISO / 100); None when one is missing."""
    aperture = _number(exif, "Exif.Photo.FNumber")
    seconds = _number(exif, "Exif.Photo.ExposureTime")
    iso = _number(exif, "Exif.Photo.ISOSpeedRatings") or _number(exif, "Exif.Photo.PhotographicSensitivity")
    if not aperture or not seconds or not iso or aperture <= 0 or seconds <= 0 or iso <= 0:
        return None
    return math.log2(aperture * aperture / seconds) - math.log2(iso / 100)


def _sequence_number(exif: Exif) -> int | None:
    for key, value in exif.items():
        if key.startswith("Exif.Sony") and key.endswith(_SEQUENCE_NUMBER_SUFFIXES):
            number = _number({key: value}, key)
            if number is not None and number >= 1:
                return int(number)
    return None


def _text(exif: Exif, key: str) -> str:
    value = exif.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _number(exif: Exif, key: str) -> float | None:
    """An EXIF number ("1/250", "-2/3", "100"); None when absent or not a number."""
    words = _text(exif, key).split()
    return parse_number(words[0]) if words else None
