"""Thumbnails: small colour JPEGs of the photos, for the report, cached in a folder.

A thumbnail is decoded the way scoring decodes (:func:`blurwatch.decoding.decode_colour`:
a JPEG reduced as it is decoded, a RAW's embedded preview, the same rule for turning
it upright), in colour because people look at it. A RAW without a preview big enough
to show gets decoding's grayscale. Thumbnails are cached under a key of the photo's
path, size and mtime, so a second report of the same folder makes thumbnails only for
photos that changed; thumbnails no longer wanted are removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from blurwatch import decoding, files
from blurwatch.config import Config, DecodeConfig
from blurwatch.errors import DecodeError

log = logging.getLogger(__name__)

LONG_SIDE = 360  # px: a 180 px tile stays crisp on a 2x screen
QUALITY = 82
# An embedded RAW preview smaller than this (some cameras store 8x8 or 160x120 px) is
# not used: blown up to tile size it would look blurry, on a page about blur.
MIN_EMBEDDED = LONG_SIDE // 2
_NAME = re.compile(r"^([0-9a-f]{20})_(\d+)x(\d+)\.jpg$")


@dataclass(frozen=True)
class Thumb:
    """A thumbnail file in the cache folder."""

    name: str
    width: int
    height: int


def make_thumbnails(photos: Sequence[Path], folder: Path, config: Config) -> dict[Path, Thumb | None]:
    """A thumbnail per photo (None where none can be made), cached in ``folder``.

    Work runs on ``config.jobs`` threads (cv2 and LibRaw release the GIL while decoding).
    """
    folder.mkdir(parents=True, exist_ok=True)
    cached = _cached(folder)
    keys = {photo: key for photo in photos if (key := _key(photo))}
    missing = [photo for photo in keys if keys[photo] not in cached]
    if missing:
        log.info("%s: making %d thumbnails (%d cached)", folder, len(missing), len(photos) - len(missing))
        with ThreadPoolExecutor(max_workers=config.jobs or os.cpu_count() or 1) as pool:
            made = pool.map(lambda p: _make(p, keys[p], folder, config.decode), missing)
            cached.update({keys[p]: thumb for p, thumb in zip(missing, made, strict=True) if thumb})
    _prune(folder, cached, set(keys.values()))
    return {photo: cached.get(keys.get(photo, "")) for photo in photos}


def picture(photo: Path, config: DecodeConfig) -> np.ndarray:
    """The thumbnail's pixels: BGR, upright, at most :data:`LONG_SIDE` px. Raises DecodeError."""
    image = decoding.decode_colour(photo, LONG_SIDE, MIN_EMBEDDED, config.max_megapixels)
    if image is not None:
        return image
    gray = decoding.decode(photo, dataclasses.replace(config, working_long_side=LONG_SIDE)).gray
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def _make(photo: Path, key: str, folder: Path, config: DecodeConfig) -> Thumb | None:
    try:
        image = picture(photo, config)
    except DecodeError as exc:
        log.warning("%s: no thumbnail: %s", photo, exc.reason)
        return None
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise RuntimeError(f"{photo}: cv2 could not encode a {image.shape} thumbnail")
    thumb = Thumb(f"{key}_{image.shape[1]}x{image.shape[0]}.jpg", image.shape[1], image.shape[0])
    files.replace(folder / thumb.name, encoded.tobytes(), durable=False)  # a cache: made again if lost
    return thumb


def _key(photo: Path) -> str | None:
    """Changes when the photo does (size, mtime) or the thumbnail recipe does; None if it is gone."""
    try:
        st = photo.stat()
    except OSError as exc:
        log.warning("%s: no thumbnail: %s", photo, exc.strerror or exc)
        return None
    identity = f"{photo.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{LONG_SIDE}"
    return hashlib.sha1(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def _cached(folder: Path) -> dict[str, Thumb]:
    """The thumbnails in ``folder``; an empty one (cut short by a crash) is removed, to be made again."""
    cached = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            match = _NAME.match(entry.name)
            if match and entry.stat().st_size == 0:
                os.unlink(entry.path)
            elif match:
                cached[match.group(1)] = Thumb(entry.name, int(match.group(2)), int(match.group(3)))
    return cached


def _prune(folder: Path, cached: dict[str, Thumb], wanted: set[str]) -> None:
    """Remove thumbnails of photos no longer shown (only files this module names)."""
    for key, thumb in cached.items():
        if key not in wanted:
            (folder / thumb.name).unlink(missing_ok=True)
