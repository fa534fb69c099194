"""Bursts: how well the likeness hash tells frames of one shot from other photos, and what grouping costs.

    .venv/bin/python bench/bursts.py likeness               # a minute: the hash on synthetic and real sequences
    .venv/bin/python bench/bursts.py speed [--n 500]        # grouping's share of a --once run on a shoot

``likeness``: frames of one shot are made from the team's sharp photos at the working
size (2000 px) as a hand-held burst makes them (drift of up to 8 px and 0.4 degrees,
shake and streak kernels of 4-28 px from training/degrade.py, noise); the bits they
differ in from their sharp frame are set against the bits between unrelated photos.
Then the real sequences in ../shared: recorded hand shakes (Köhler et al.), a camera's
and a phone's sharp / defocused / moved triplets, and real exposure brackets; for each,
the largest step single linkage needs to join all its frames (what grouping does).

``speed``: a shoot of ``--n`` 24 MP JPEGs (bench/cache, built once from corpus.py's
pictures): bursts of five at 10 frames a second (one sharp, four shaken, all drifting),
+-2 EV auto brackets and single frames, with camera EXIF. ``blurwatch --once --json``
runs on it with bursts on and off in turn (``--repeat`` times, the order alternating);
grouping's cost is the in-worker capture facts and likeness hash (the "group" timing,
shared by the workers) plus the burst stage after the jobs (which writes the sidecars
of frames with neighbours in time, writes their jobs left to it), less the writing the
workers no longer do, against the run's wall time; and the CPU time on against off. It also checks the groups found are
the ones planned.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

import corpus
from common import machine

ROOT = corpus.ROOT
sys.path[:0] = [str(ROOT), str(ROOT / "daemon")]

from blurwatch import capture, decoding  # noqa: E402
from blurwatch.config import BurstConfig, DecodeConfig  # noqa: E402
from training import degrade  # noqa: E402

RECIPE = 1  # bump when the shoot's files change
BURST, BRACKET = 5, (0, -2, 2)
GROUPED_LINE = re.compile(r"grouped: (?P<what>.+) in (?P<seconds>[\d.]+) s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("likeness", "speed"))
    parser.add_argument("--n", type=int, default=500, help="photos in the speed shoot")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=corpus.CACHE)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    return likeness() if args.part == "likeness" else speed(args.n, args.repeat, args.jobs, args.cache)


# --- likeness --------------------------------------------------------------------------------


def likeness() -> int:
    limit = BurstConfig().likeness_bits
    rng = np.random.default_rng(15)
    sources = sorted((corpus.SHARED / "photos" / "sharp").glob("*"))[::2]
    same, originals = [], []
    for source in sources:
        gray = decoding.decode(source, DecodeConfig()).gray
        frames = [_frame(gray, rng, shake=i < 3) for i in range(4)]
        original = capture.likeness(_frame(gray, rng, shake=False, drift=0.0))
        originals.append(original)
        same += [capture.difference(original, capture.likeness(f)) for f in frames]
    unrelated = [capture.difference(a, b) for a, b in itertools.combinations(originals, 2)]
    print(f"\nlikeness hash (64 bits), grouping joins at <= {limit} bits:")
    print(f"  synthetic frames of one shot ({len(same)}, from {len(sources)} photos): median {np.median(same):.0f}, "
          f"95th percentile {np.percentile(same, 95):.0f}, most {max(same)}")
    print(f"  unrelated photos ({len(unrelated)} pairs): fewest {min(unrelated)}, 1st percentile "
          f"{np.percentile(unrelated, 1):.0f}, median {np.median(unrelated):.0f}")
    print("  real sequences: the step single linkage needs to join every frame")
    for name, pattern in REAL.items():
        paths = sorted(corpus.SHARED.glob(pattern))
        hashes = [capture.likeness(decoding.decode(p, DecodeConfig()).gray) for p in paths]
        print(f"    {name:<48} {len(paths):>2} frames: {_linkage(hashes):>2} bits")
    return 0


REAL = {
    "Köhler et al. scene 2, twelve recorded hand shakes": "photos/blurry_natural/pmp__Blurry2_*.png",
    "Köhler et al. scene 3, twelve recorded hand shakes": "photos/blurry_natural/pmp__Blurry3_*.png",
    "Levin et al. im3, eight shakes": "photos/blurry_lab/selfdeblur__im3_*",
    "Nikon D3400 sharp / defocused / moved": "photos/*/kwentar__106_*",
    "Honor 7X sharp / defocused / moved": "photos/*/kwentar__176_*",
    "Canon auto bracket -2/0/+2 EV, hand-held": "more/*/banterle__HDR_Toolbox__demos__stack_alignment__*",
    "Canon auto bracket -2/+2 EV": "more/*/banterle__HDR_Toolbox__demos__stack_ghost__*",
    "Samsung manual bracket of five": "more/*/sycLin__VFX-Project-1__input__scene2__SAM_00*",
    "Canon manual bracket of four (+2 to -4 EV)": "more/*/banterle__HDR_Toolbox__demos__stack__stack_room_*",
}


def _frame(gray: np.ndarray, rng: np.random.Generator, shake: bool, drift: float = 8.0) -> np.ndarray:
    h, w = gray.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-0.4, 0.4) if drift else 0.0, 1.0)
    matrix[:, 2] += rng.uniform(-drift, drift, 2)
    frame = cv2.warpAffine(gray, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)[24:-24, 24:-24]
    if shake:
        kernel = degrade.shake_kernel(rng.uniform(4, 28), rng)
        frame = degrade.blur(frame, kernel)
    return np.clip(frame + rng.normal(0, 3.0, frame.shape), 0, 255).astype(np.uint8)


def _linkage(hashes: list[str]) -> int:
    """The smallest limit at which single linkage joins every frame (a minimum spanning tree's longest edge)."""
    joined, longest = {0}, 0
    while len(joined) < len(hashes):
        step, j = min((capture.difference(hashes[a], hashes[b]), b)
                      for a in joined for b in range(len(hashes)) if b not in joined)
        joined.add(j)
        longest = max(longest, step)
    return longest


# --- speed -----------------------------------------------------------------------------------


def plan(n: int) -> list[tuple[str, int, int]]:
    """(kind, picture, frames) of the shoot until it holds ``n`` photos: burst, burst, bracket, single, single."""
    items, total, picture = [], 0, 0
    for kind in itertools.cycle(("burst", "burst", "bracket", "single", "single")):
        size = {"burst": BURST, "bracket": len(BRACKET), "single": 1}[kind]
        if total + size > n:
            size = n - total
            kind = "single" if size == 1 else kind
        if size <= 0:
            return items
        items.append((kind, picture, size))
        total, picture = total + size, picture + 1


def build_shoot(cache: Path, n: int, jobs: int) -> tuple[Path, list[tuple[str, list[Path]]]]:
    folder = cache / f"bursts-r{RECIPE}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    items, work, clock = [], [], 0.0
    for number, (kind, picture, size) in enumerate(plan(n)):
        names = [folder / f"IMG_{number:04d}_{i}.jpg" for i in range(size)]
        items.append((kind, names))
        times = [clock + (0.1 * i if kind == "burst" else 0.3 * i) for i in range(size)]
        clock = times[-1] + 6.0
        if not all(p.exists() for p in names):
            work.append((kind, picture, names, times))
    if work:
        print(f"building {sum(len(w[2]) for w in work)} photos into {folder} ...", file=sys.stderr)
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_build_item, work))
    return folder, items


def _build_item(item: tuple[str, int, list[Path], list[float]]) -> None:
    import pyexiv2

    kind, picture, names, times = item
    rgb = corpus.picture(corpus.source_photos(), picture, 6000, 4000)
    rng = np.random.default_rng([RECIPE, picture])
    for i, (path, seconds) in enumerate(zip(names, times, strict=True)):
        frame = np.roll(rgb, tuple(rng.integers(-20, 21, 2)), axis=(0, 1))
        bias = 0
        if kind == "burst" and i != BURST // 2:
            frame = cv2.filter2D(frame, -1, degrade.line_kernel(rng.uniform(20, 60), rng.uniform(0, np.pi)))
        if kind == "bracket":
            bias = BRACKET[i]
            lut = (np.clip((np.arange(256) / 255.0) ** 2.2 * 2.0**bias, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
            frame = cv2.LUT(frame, lut)
        partial = path.with_suffix(".part")
        partial.write_bytes(corpus.camera_jpeg(frame))
        stamp = time.gmtime(1_750_000_000 + int(seconds))
        with pyexiv2.Image(str(partial)) as image:
            image.modify_exif({
                "Exif.Photo.DateTimeOriginal": time.strftime("%Y:%m:%d %H:%M:%S", stamp),
                "Exif.Photo.SubSecTimeOriginal": f"{round((seconds % 1) * 100):02d}",
                "Exif.Photo.ExposureBiasValue": f"{bias}/1",
                "Exif.Photo.ExposureMode": "2" if kind == "bracket" else "0",
                "Exif.Photo.ExposureTime": f"1/{round(250 / 2.0**bias)}" if bias <= 0 else f"1/{round(250 / 4)}",
            })
        os.replace(partial, path)


def speed(n: int, repeat: int, jobs: int, cache: Path) -> int:
    folder, items = build_shoot(cache, n, jobs)
    files = [p for _, names in items for p in names]
    configs = {"on": cache / "bursts-on.yaml", "off": cache / "bursts-off.yaml"}
    configs["on"].write_text("{}\n", encoding="utf-8")
    configs["off"].write_text("burst:\n  enabled: false\n", encoding="utf-8")
    for path in files:
        path.read_bytes()  # into the page cache, for both modes alike
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    groups_found = None
    for index in range(repeat):
        for mode in (("on", "off") if index % 2 == 0 else ("off", "on")):
            figures, records = _run(folder, files, configs[mode], jobs)
            runs[mode].append(figures)
            print(f"run {index + 1}/{repeat} bursts {mode:<3} {figures['seconds']:6.2f} s  "
                  f"{figures['cpu']:6.2f} CPU s  stage {figures['stage']:.2f} s", file=sys.stderr)
            if mode == "on":
                groups_found = _check_groups(items, records)

    def median(mode: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[mode])

    wall_on, wall_off = median("on", "seconds"), median("off", "seconds")
    capture_ms = median("on", "capture_ms")
    stage = median("on", "stage")
    moved_ms = median("off", "write_ms") - median("on", "write_ms")  # writes the stage does instead of the workers
    share = ((capture_ms - moved_ms) / 1000 * len(files) / jobs + stage) / wall_on
    print(f"\n--once on {len(files)} 24 MP JPEGs ({groups_found}), {jobs} workers, median of {repeat}:")
    print(f"  bursts on  {wall_on:6.2f} s wall, {median('on', 'cpu'):6.2f} CPU s")
    print(f"  bursts off {wall_off:6.2f} s wall, {median('off', 'cpu'):6.2f} CPU s")
    print(f"  capture facts + likeness hash in the workers: {capture_ms:.2f} ms a photo")
    print(f"  in the parent: neighbours in time before the jobs, the burst stage after them (grouping; the "
          f"sidecars of frames with neighbours written): {stage:.2f} s,"
          f" taking over {moved_ms:.2f} ms a photo of the workers' writing")
    cpu_on, cpu_off = median("on", "cpu"), median("off", "cpu")
    print(f"  grouping's share of the run: {100 * share:.1f} % of the wall time (target <= 5 %); "
          f"CPU time on / off {cpu_on / cpu_off:.3f} ({100 * (cpu_on - cpu_off) / cpu_on:.1f} % of the CPU), "
          f"wall time on / off {wall_on / wall_off:.3f}")
    return 0


def _run(folder: Path, files: list[Path], config: Path, jobs: int) -> tuple[dict[str, float], list[dict]]:
    for sidecar in folder.glob("*.xmp"):
        sidecar.unlink()
    command = [sys.executable, "-m", "blurwatch", "--config", str(config), "once", "--json", "--jobs", str(jobs),
               str(folder)]
    before = os.times()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT, check=False)
        seconds = time.perf_counter() - started
        out.seek(0)
        records = [json.loads(line) for line in out]
    after = os.times()
    if done.returncode != 0 or len(records) != len(files):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    stage = GROUPED_LINE.search(done.stderr)
    return {
        "seconds": seconds,
        "cpu": (after.children_user + after.children_system) - (before.children_user + before.children_system),
        "capture_ms": 1000 * statistics.mean(r["timings"]["group"] for r in records),
        "write_ms": 1000 * statistics.mean(r["timings"]["write"] for r in records),
        "stage": float(stage["seconds"]) if stage else 0.0,
    }, records


def _check_groups(items: list[tuple[str, list[Path]]], records: list[dict]) -> str:
    """The groups found against the plan: every burst and bracket exactly, no single frame grouped."""
    found: dict[str, set[str]] = {}
    for record in records:
        for kind in ("burst", "bracket"):
            if kind in record:
                found.setdefault(record[kind]["id"], set()).add(Path(record["path"]).name)
    planned = [set(p.name for p in names) for kind, names in items if kind != "single"]
    exact = sum(group in found.values() for group in planned)
    return f"{exact} of {len(planned)} planned groups found exactly, {len(found)} groups in all"


if __name__ == "__main__":
    sys.exit(main())
