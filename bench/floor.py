"""The decode floors: decode each photo and nothing else.

    .venv/bin/python bench/floor.py [--jobs N] [--full] PHOTO...

The reduced floor (the default) decodes the way blurwatch needs it: a JPEG by libjpeg
straight to gray, reduced in the DCT by the power of two blurwatch asks for (the
largest that keeps the long side at or above its working size); a RAW gives LibRaw's
embedded JPEG preview, decoded the same way, or, without one, a half-size demosaic. No
EXIF, no orientation, no resizing, no checks: what is left is the least any tool must
spend to see the photos at blurwatch's size.

``--full`` is the floor as an OpenCV user writes it, which issue #16's targets are
about: ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``, the whole picture at full
resolution (JPEGs only).

Prints one JSON line: the photos decoded and the seconds spent decoding them, summed
over the processes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import rawpy

from common import pool_map

WORKING_LONG_SIDE = 2000  # blurwatch's default decode.working_long_side
REDUCED = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
           8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--full", action="store_true", help="cv2.imread(path, cv2.IMREAD_GRAYSCALE), JPEGs only")
    args = parser.parse_args()
    seconds = list(pool_map(functools.partial(decode, full=args.full), args.photos, args.jobs))
    print(json.dumps({"photos": len(seconds), "decode": sum(seconds)}))
    return 0


def decode(path: Path, full: bool = False) -> float:
    """Decode one photo; the seconds it took."""
    started = time.perf_counter()
    if full:
        if cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) is None:
            raise SystemExit(f"{path}: OpenCV cannot read it")
    elif path.suffix.lower() == ".dng":
        _decode_raw(path)
    else:
        _decode_jpeg(path.read_bytes())
    return time.perf_counter() - started


def _decode_jpeg(data: bytes) -> np.ndarray:
    scale = 1
    while scale < 8 and _long_side(data) >= 2 * scale * WORKING_LONG_SIDE:
        scale *= 2
    return cv2.imdecode(np.frombuffer(data, np.uint8), REDUCED[scale] | cv2.IMREAD_IGNORE_ORIENTATION)


def _decode_raw(path: Path) -> np.ndarray:
    with rawpy.imread(str(path)) as raw:
        try:
            thumb = raw.extract_thumb()
        except rawpy.LibRawNoThumbnailError:
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, no_auto_bright=True)
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return _decode_jpeg(thumb.data)


def _long_side(data: bytes) -> int:
    """The long side from the JPEG's frame header (SOF0-SOF2), found by walking the segments."""
    pos = 2
    while pos + 9 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            return max(int.from_bytes(data[pos + 5 : pos + 7], "big"), int.from_bytes(data[pos + 7 : pos + 9], "big"))
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    raise ValueError("no JPEG frame header")


if __name__ == "__main__":
    raise SystemExit(main())
