"""The benchmark's photos: camera-sized JPEGs and DNGs built from the team's real photos.

    .venv/bin/python bench/corpus.py [--n 100] [--kinds jpeg raw-preview raw] [--jobs N]

A photographer's files are 20-45 MP, and the team's photos are 1-16 MP, so each
benchmark picture is a real photo (``../shared/data/photos``) cropped to 3:2 and
upscaled to 6000x4000, given back the fine detail an upscale loses (the top octaves of
a natural image's spectrum, synthesised as band-limited noise where the picture has
contrast) and a camera's noise, so that it costs what a camera file costs to decode.
From one such picture come three files, one per kind:

- ``jpeg``: a camera JPEG, quality 92, with a real camera's EXIF block (a Canon EOS 20D's);
- ``raw-preview``: a 14-bit DNG, RGGB mosaic with black and white levels and sensor noise,
  lossless-JPEG compressed as cameras store it, with a full-size JPEG preview;
- ``raw``: the same DNG without a preview (blurwatch then demosaics at half size).

The photos were taken ten seconds apart (the JPEGs' EXIF capture times; the DNGs,
which carry none, by their files' mtimes), as a shoot of single frames is: bursts,
whose frames blurwatch judges together, have their own benchmark (``bursts.py``).

Files are cached under ``bench/cache/`` (git-ignored) and only missing ones are built,
each from its own seed, so a corpus is the same on every run and machine with the same
libraries. 100 photos of each kind take about 7.5 GB.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the DNG writer is shared with the decoding tests

from helpers.dng import write_dng  # noqa: E402

SHARED = Path(os.environ.get("BLURWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
CACHE = ROOT / "bench" / "cache"
KINDS = ("jpeg", "raw-preview", "raw")
SUFFIX = {"jpeg": ".jpg", "raw-preview": ".dng", "raw": ".dng"}

# Bump when the files change: the cache folder is named after it.
RECIPE = 2
PICTURES = 1  # the pictures' random seed (bursts.py builds its frames from them too)
JPEG_QUALITY = 92
MIN_SOURCE_SIDE = 600  # smaller photos would be upscaled beyond recognition
EXIF_DONOR = "sharp/mdeximg__Canon_EOS_20D__1_.jpg"
DONOR_TAKEN = b"2004:09:19 12:25:20"
# Synthesised detail, in 8-bit levels where the picture has full contrast: (blur sigma, std).
DETAIL_OCTAVES = ((0.7, 9.0), (1.6, 8.0))
LUMA_NOISE = 1.5  # noise everywhere, standard deviation in 8-bit levels
RAW_BLACK, RAW_WHITE = 512, 16383  # 14-bit
RAW_NOISE = 48.0  # sensor noise at white level, in raw units (base ISO)
# When photo 0 was taken (the donor's own capture time), and the seconds to the next:
# more than burst.gap_seconds, so no two photos make a burst.
FIRST_TAKEN = calendar.timegm((2004, 9, 19, 12, 25, 20))
SECONDS_APART = 10


@dataclass(frozen=True)
class Spec:
    """What a corpus is made of: everything that changes its files."""

    width: int = 6000
    height: int = 4000

    def folder(self, cache: Path, kind: str) -> Path:
        return cache / f"r{RECIPE}-{self.width}x{self.height}" / kind

    def path(self, cache: Path, kind: str, index: int) -> Path:
        return self.folder(cache, kind) / f"{index:04d}{SUFFIX[kind]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="photos of each kind")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes building files")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    spec = Spec(*map(int, args.size.split("x")))
    started = time.monotonic()
    folders = build(args.cache, spec, args.n, args.kinds, args.jobs)
    for kind, files in folders.items():
        size = sum(f.stat().st_size for f in files)
        print(f"{kind:<12}{len(files):>5} files  {size / len(files) / 1e6:6.1f} MB each  {files[0].parent}")
    print(f"ready in {time.monotonic() - started:.0f} s")
    return 0


def build(cache: Path, spec: Spec, n: int, kinds: list[str] | tuple[str, ...], jobs: int = 1) -> dict[str, list[Path]]:
    """The first ``n`` files of each kind, building those missing; kind -> sorted paths."""
    sources = source_photos()
    for kind in kinds:
        spec.folder(cache, kind).mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(n) if any(not spec.path(cache, kind, i).exists() for kind in kinds)]
    if missing:
        print(f"building {len(missing)} pictures into {spec.folder(cache, kinds[0]).parent} ...", file=sys.stderr)
        work = [(cache, spec, i, tuple(kinds), sources) for i in missing]
        if jobs > 1:
            with ProcessPoolExecutor(min(jobs, len(missing))) as pool:
                list(pool.map(_build_one, work))
        else:
            for item in work:
                _build_one(item)
    return {kind: [spec.path(cache, kind, i) for i in range(n)] for kind in kinds}


def source_photos() -> list[Path]:
    """The team's photos big enough to stand an upscale, in a fixed order."""
    manifest = SHARED / "photos" / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"the team's photos are not at {SHARED} (../shared/data beside the checkout)")
    with manifest.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    big = [r for r in rows if min(int(r["width"]), int(r["height"])) >= MIN_SOURCE_SIDE]
    return sorted(SHARED / "photos" / r["relpath"] for r in big)


def _build_one(item: tuple[Path, Spec, int, tuple[str, ...], list[Path]]) -> None:
    cache, spec, index, kinds, sources = item
    rgb = picture(sources, index, spec.width, spec.height)
    for kind in kinds:
        path = spec.path(cache, kind, index)
        if path.exists():
            continue
        partial = path.with_suffix(".part")
        taken = FIRST_TAKEN + SECONDS_APART * index
        if kind == "jpeg":
            partial.write_bytes(camera_jpeg(rgb, taken))
        else:
            write_dng(partial, rgb, preview_long_side=max(rgb.shape) if kind == "raw-preview" else None,
                      black_level=RAW_BLACK, white_level=RAW_WHITE, noise=RAW_NOISE, seed=index, compress=True)
        os.utime(partial, (taken, taken))  # the capture time of a file without one in its EXIF
        os.replace(partial, path)  # an interrupted build leaves no half file under the real name


def picture(sources: list[Path], index: int, width: int, height: int) -> np.ndarray:
    """Picture ``index`` (H x W x 3 uint8 RGB): a real photo at camera size, with texture and noise."""
    rng = np.random.default_rng([PICTURES, index])
    source = sources[int(rng.permutation(len(sources))[index % len(sources)])]
    base = _crop(_read_rgb(source), width / height, rng)
    base = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    white = rng.standard_normal((height, width), dtype=np.float32)
    add = _fine_detail(white) * _contrast_mask(base) + white * LUMA_NOISE
    return cv2.add(base, cv2.merge([add, add, add]), dtype=cv2.CV_8U)


def camera_jpeg(rgb: np.ndarray, taken: float | None = None) -> bytes:
    """Encode like a camera: quality 92, an EXIF APP1 block first (cameras write no JFIF header).

    The block's capture times (the donor's, in three tags) become ``taken`` (seconds, UTC) when given.
    """
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a benchmark JPEG")
    data = encoded.tobytes()
    if data[2:4] == b"\xff\xe0":  # drop the JFIF APP0 segment
        data = data[:2] + data[4 + int.from_bytes(data[4:6], "big"):]
    exif = _exif_segment()
    if taken is not None:
        exif = exif.replace(DONOR_TAKEN, time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(taken)).encode())
    return data[:2] + exif + data[2:]


def _exif_segment() -> bytes:
    """The donor camera JPEG's APP1 (EXIF) segment, verbatim."""
    data = (SHARED / "photos" / EXIF_DONOR).read_bytes()
    if data[2:4] != b"\xff\xe1":
        raise SystemExit(f"{SHARED / 'photos' / EXIF_DONOR}: expected its EXIF block right after the start marker")
    segment = data[2 : 4 + int.from_bytes(data[4:6], "big")]
    if segment.count(DONOR_TAKEN) != 3:  # DateTime, DateTimeOriginal, DateTimeDigitized
        raise SystemExit(f"{SHARED / 'photos' / EXIF_DONOR}: expected its capture time {DONOR_TAKEN!r} in three tags")
    return segment


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{path}: cannot read this source photo")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _crop(rgb: np.ndarray, aspect: float, rng: np.random.Generator) -> np.ndarray:
    """A random crop of 80-100 % of the photo at ``aspect`` (width / height), maybe mirrored."""
    height, width = rgb.shape[:2]
    full = (height, round(height * aspect)) if width / height > aspect else (round(width / aspect), width)
    scale = rng.uniform(0.8, 1.0)
    h, w = max(1, round(full[0] * scale)), max(1, round(full[1] * scale))
    top, left = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
    crop = rgb[top : top + h, left : left + w]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def _fine_detail(white: np.ndarray) -> np.ndarray:
    """Texture at the scales an upscale leaves empty: white noise blurred to each octave, summed."""
    detail = np.zeros_like(white)
    for sigma, std in DETAIL_OCTAVES:
        band = cv2.GaussianBlur(white, (0, 0), sigma)
        detail += band * (std / float(band[::16, ::16].std()))
    return detail


def _contrast_mask(rgb: np.ndarray) -> np.ndarray:
    """0..1: where the upscaled picture has local contrast (texture goes there, not into clear sky)."""
    small = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), None, fx=0.125, fy=0.125, interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    mean = cv2.blur(small, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(small * small, (5, 5)) - mean * mean, 0))
    mask = np.clip(std / 20.0, 0, 1)
    return cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)


if __name__ == "__main__":
    raise SystemExit(main())
