"""The peer: the blur detector every tutorial copies, at blurwatch's parallelism.

    .venv/bin/python bench/peer.py [--jobs N] [--threshold 100] PHOTO...

Full-resolution colour decode, gray, variance of the Laplacian, a fixed threshold
(Pech-Pacheco et al. 2000, popularised by the 2015 PyImageSearch post and its many
copies). A RAW is demosaiced in full with LibRaw's defaults, as ``rawpy`` examples do.
Prints one line per photo, as the original does.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import rawpy

from common import pool_map


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threshold", type=float, default=100.0)
    args = parser.parse_args()
    for path, focus in pool_map(focus_measure, args.photos, args.jobs):
        print(f"{path}: {'Blurry' if focus < args.threshold else 'Not Blurry'} ({focus:.2f})")
    return 0


def focus_measure(path: Path) -> tuple[Path, float]:
    if path.suffix.lower() == ".dng":
        with rawpy.imread(str(path)) as raw:
            gray = cv2.cvtColor(raw.postprocess(), cv2.COLOR_RGB2GRAY)
    else:
        gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
    return path, float(cv2.Laplacian(gray, cv2.CV_64F).var())


if __name__ == "__main__":
    raise SystemExit(main())
